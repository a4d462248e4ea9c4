"""How far a generation's text lengths and languages moved from its parent's, computed batch by batch.

Plain numpy/pyarrow (no pandas, no GX): the figures go into a gate's summary and so into the manifest, which must
be byte-identical across re-runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LENGTH_BINS = np.logspace(1, 7, 25)  # characters, log-spaced: 10 .. 10M
Profile = tuple[np.ndarray, Counter]


def length_lang_profile(batches: Iterable[pa.Table]) -> Profile:
    """Text-length histogram counts (over LENGTH_BINS) and language counts, accumulated batch by batch.

    A batch gives its lengths as ``text_chars`` (a gate's projection) or else as ``text``, measured and dropped
    batch by batch. Null texts are not counted in the histogram.
    """
    counts = np.zeros(len(LENGTH_BINS) - 1, dtype=np.int64)
    langs: Counter = Counter()
    for batch in batches:
        lengths = batch.column("text_chars") if "text_chars" in batch.column_names \
            else pc.utf8_length(batch.column("text"))
        counts += np.histogram(pc.drop_null(lengths).to_numpy(), bins=LENGTH_BINS)[0]
        for entry in pc.value_counts(batch.column("lang")).to_pylist():
            langs[entry["values"]] += entry["counts"]
    return counts, langs


def distribution_drift(before: Profile, after: Profile) -> dict[str, float]:
    """Jensen-Shannon divergence (bits) of text-length histograms, and total variation of language shares."""
    def share(counts: np.ndarray) -> np.ndarray:
        return counts / max(counts.sum(), 1)

    p, q = share(before[0]), share(after[0])
    m = (p + q) / 2
    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
    langs_before, langs_after = before[1], after[1]
    nb, na = max(sum(langs_before.values()), 1), max(sum(langs_after.values()), 1)
    # Summed in sorted order: set order changes with the hash seed, and the sum's last bits with the order.
    tv = 0.5 * sum(abs(langs_before[k] / nb - langs_after[k] / na)
                   for k in sorted(set(langs_before) | set(langs_after), key=lambda k: (k is None, k or "")))
    return {"length_drift": 0.5 * kl(p, m) + 0.5 * kl(q, m), "lang_drift": tv}
