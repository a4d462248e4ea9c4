"""All per-generation collapse metrics, from mergeable statistics of a document stream, against a frozen reference.

``GenerationStats`` takes a generation a batch at a time (or one statistics object per shard, merged), holding
memory in proportion to the vocabulary, the reference's rare n-grams and the number of documents, never to the
text; ``finish`` gives the figures. ``collapse_metrics`` is the same for a list of texts held in memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Sequence

import numpy as np

from biomass.metrics.arrays import unique_sorted
from biomass.config.metrics import MetricsConfig
from biomass.metrics.counting import EXACT_DISTINCT_LIMIT, DistinctKeys, TokenStats
from biomass.metrics.diversity import entropy_bits, msttr_from, segment_types, zipf_exponent
from biomass.metrics.drift import js_divergence
from biomass.metrics.reference import ReferenceProfile
from biomass.schema import ORIGINS

# Keys in the order they are reported (manifests, asset events, CLI).
METRIC_KEYS = (
    "docs", "tokens", "types",
    "tail_coverage", "tail_coverage_expected", "tail_coverage_ngram", "rare_types", "rare_ngrams",
    "distinct_1", "distinct_2", "ttr_corrected", "unigram_entropy", "zipf_exponent",
    "js_divergence", "js_divergence_prev",
    "share_human", "share_licensed", "share_synthetic", "share_unknown",
    "duplicate_rate", "exact_duplicate_rate",
)


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """64-bit BLAKE2b of each text's UTF-8, to count distinct texts without keeping them."""
    blake = hashlib.blake2b
    return np.fromiter((int.from_bytes(blake(t.encode("utf-8"), digest_size=8).digest(), "little") for t in texts),
                       dtype=np.uint64, count=len(texts))


class GenerationStats:
    """Mergeable statistics of one generation, enough for every figure of ``collapse_metrics``.

    ``update(texts, origins)`` adds a batch; ``merge(other)`` adds another object's batches (same reference and
    config); ``finish(previous=...)`` computes the metrics. Fed the same documents in the same order -- in one
    batch, many, or as parts merged in order in any grouping -- the figures are bit-identical; parts merged out
    of order give the same counts, so the figures agree to float rounding (summation order of the entropy and
    JS sums). Exact except ``distinct_2`` past ``exact_distinct_limit`` distinct bigrams (a HyperLogLog
    estimate, docs/metrics.md).
    """

    def __init__(self, reference: ReferenceProfile, config: MetricsConfig, *,
                 exact_distinct_limit: int | None = EXACT_DISTINCT_LIMIT) -> None:
        reference.check(config)
        self.reference = reference
        self.config = config
        self.words = TokenStats()
        self.bigrams = 0  # in-document bigram occurrences
        self.distinct_bigrams = DistinctKeys(exact_distinct_limit)
        self.rare_ngram_seen = np.zeros(reference.rare_ngrams.size, dtype=bool)
        self.segment_types = 0  # MSTTR: types summed over full segments
        self.segments = 0
        self.distinct_texts = DistinctKeys(exact_limit=None)
        self.origins: Counter | None = None  # None: no batch (with documents) has said yet
        self._with_origins: bool | None = None

    @property
    def docs(self) -> int:
        return self.words.docs

    # -- adding documents ----------------------------------------------------------------------------
    def update(self, texts: Sequence[str], origins: Sequence[str | None] | None = None) -> "GenerationStats":
        """Add one batch of documents; ``origins`` (one per text, None = unknown) for the mix shares."""
        if origins is not None and len(origins) != len(texts):
            raise ValueError(f"origins has {len(origins)} entries for {len(texts)} texts")
        tally = _origin_tally(origins) if origins is not None else None
        corpus = self.words.encode(texts)
        hashes = self.words.hashes()
        bigrams = corpus.ngram_hashes(2, hashes)
        self.bigrams += int(bigrams.size)
        distinct = unique_sorted(bigrams)
        self.distinct_bigrams.add_distinct(distinct)
        n = self.config.ngram_n
        self._mark_rare_ngrams(distinct if n == 2 else unique_sorted(corpus.ngram_hashes(n, hashes)))
        types, segments = segment_types(corpus, self.config.ttr_window)
        self.segment_types += types
        self.segments += segments
        self.distinct_texts.add_distinct(unique_sorted(text_hashes(texts)))
        if len(texts):
            self._add_origins(tally)
        return self

    def _mark_rare_ngrams(self, distinct_ngrams: np.ndarray) -> None:
        rare = self.reference.rare_ngrams
        if rare.size == 0 or distinct_ngrams.size == 0:
            return
        pos = np.searchsorted(rare, distinct_ngrams)
        inside = pos < rare.size
        pos = pos[inside]
        self.rare_ngram_seen[pos[rare[pos] == distinct_ngrams[inside]]] = True

    def _add_origins(self, tally: Counter | None) -> None:
        with_origins = tally is not None
        if self._with_origins is None:
            self._with_origins = with_origins
            self.origins = Counter() if with_origins else None
        elif self._with_origins != with_origins:
            raise ValueError("some batches of the generation carry origins and others do not")
        if tally is not None:
            self.origins.update(tally)

    def merge(self, other: "GenerationStats") -> "GenerationStats":
        """Add ``other``'s documents, as if they had been fed to this object after its own."""
        if other.config.profile_settings() != self.config.profile_settings() or (
                other.config.ttr_window != self.config.ttr_window) or not _same_reference(self.reference,
                                                                                          other.reference):
            raise ValueError("cannot merge statistics measured against another reference or config")
        self.words.merge(other.words)
        self.bigrams += other.bigrams
        self.distinct_bigrams.merge(other.distinct_bigrams)
        self.rare_ngram_seen |= other.rare_ngram_seen
        self.segment_types += other.segment_types
        self.segments += other.segments
        self.distinct_texts.merge(other.distinct_texts)
        if other._with_origins is not None:
            self._add_origins(other.origins if other._with_origins else None)
        return self

    # -- the figures ---------------------------------------------------------------------------------
    def finish(self, previous: TokenStats | None = None,
               duplicate_rate: float | None = None) -> dict[str, float | int | None]:
        """The metrics (``METRIC_KEYS``), ``previous`` being the word counts of the generation before.

        Word ids are laid out as the whole-list computation laid them out (this generation's words, then the
        previous one's, then the reference's, each in first-occurrence order), so its float sums agree.
        """
        config, reference, gen = self.config, self.reference, self.words
        index = gen.encoder.copy()
        prev_ids = index.ids_of(previous.words()) if previous is not None else None
        ref_ids = index.ids_of(reference.words)
        size = len(index)

        gen_counts = np.zeros(size, dtype=np.int64)
        gen_counts[: gen.counts.size] = gen.counts
        ref_counts = np.zeros(size, dtype=np.int64)
        ref_counts[ref_ids] = reference.counts
        rare_mask = reference.rare_word_mask(config)
        rare_ids = ref_ids[rare_mask]
        types = int(np.count_nonzero(gen_counts))
        distinct_bigrams = self.distinct_bigrams.count()
        prev_drift = None
        if previous is not None:
            prev_counts = np.zeros(size, dtype=np.int64)
            prev_counts[prev_ids] = previous.counts[: prev_ids.size]
            prev_drift = js_divergence(prev_counts, gen_counts)
        docs = self.docs
        return {
            "docs": docs,
            "tokens": gen.tokens,
            "types": types,
            "tail_coverage": float(np.mean(gen_counts[rare_ids] > 0)) if rare_ids.size else None,
            "tail_coverage_expected": expected_coverage(reference.counts[rare_mask], reference.tokens, gen.tokens),
            "tail_coverage_ngram": float(np.mean(self.rare_ngram_seen)) if self.rare_ngram_seen.size else None,
            "rare_types": int(rare_ids.size),
            "rare_ngrams": int(reference.rare_ngrams.size),
            "distinct_1": types / gen.tokens if gen.tokens else None,
            "distinct_2": distinct_bigrams / self.bigrams if self.bigrams else None,
            "ttr_corrected": msttr_from(self.segment_types, self.segments, config.ttr_window),
            "unigram_entropy": entropy_bits(gen_counts),
            "zipf_exponent": zipf_exponent(gen_counts, config.zipf_min_count, config.zipf_max_rank),
            "js_divergence": js_divergence(ref_counts, gen_counts),
            "js_divergence_prev": prev_drift,
            **origin_shares(self.origins, docs),
            "duplicate_rate": None if duplicate_rate is None else float(duplicate_rate),
            "exact_duplicate_rate": (1.0 - self.distinct_texts.count() / docs) if docs else None,
        }


def collapse_metrics(texts: Sequence[str], reference: ReferenceProfile, *, previous: Sequence[str] | None = None,
                     origins: Sequence[str | None] | None = None, duplicate_rate: float | None = None,
                     config: MetricsConfig) -> dict[str, float | int | None]:
    """Measure one generation's ``texts`` against ``reference`` (and the ``previous`` generation, if given).

    ``origins`` (one per text, values from ``biomass.schema.ORIGINS``, None = unknown) gives the mix shares;
    ``duplicate_rate`` (from the dedup stage) is passed through. A metric that is undefined for this input
    (e.g. entropy of an empty generation) is None, never NaN. For a generation too large to hold, feed
    ``GenerationStats`` batch by batch instead.
    """
    stats = GenerationStats(reference, config).update(texts, origins)
    prev = TokenStats().update(previous) if previous is not None else None
    return stats.finish(previous=prev, duplicate_rate=duplicate_rate)


def expected_coverage(rare_counts: np.ndarray, reference_tokens: int, tokens: int) -> float | None:
    """Tail coverage of ``tokens`` words drawn i.i.d. from the reference's own distribution (the size baseline).

    mean over rare w of 1 - (1 - c_R(w) / N_R) ** N. An upper bound: real rare words are topical and bursty, so
    fresh human text stays far below it; compare generations of different sizes by coverage / expected.
    """
    if rare_counts.size == 0:
        return None
    p = rare_counts.astype(np.float64) / reference_tokens
    return float(np.mean(-np.expm1(tokens * np.log1p(-p))))


def _origin_tally(origins: Sequence[str | None]) -> Counter:
    """Documents per origin (None counts as unknown); any value outside ``ORIGINS`` is an error."""
    tally = Counter("unknown" if o is None else o for o in origins)
    for value in tally:
        if value not in ORIGINS:
            raise ValueError(f"origin {value!r} is not one of {ORIGINS}")
    return tally


def origin_shares(tally: Counter | None, docs: int) -> dict[str, float | None]:
    """Share of documents per origin; all None when origins are not known (or there is no document)."""
    keys = [f"share_{o}" for o in ORIGINS]
    if tally is None or docs == 0:
        return dict.fromkeys(keys)
    return {f"share_{o}": tally[o] / docs for o in ORIGINS}


def _same_reference(a: ReferenceProfile, b: ReferenceProfile) -> bool:
    return a is b or (a.settings == b.settings and a.tokens == b.tokens and a.words == b.words
                      and np.array_equal(a.rare_ngrams, b.rare_ngrams))
