"""Ground truth for dedup accuracy: exact Jaccard clusters without MinHash, and pairwise precision/recall.

``exact_similar_pairs`` is an exact all-pairs similarity join (prefix filtering): if J(x, y) >= t then x and y
share a shingle among the first ``|x| - ceil(t|x|) + 1`` shingles of each under any fixed global order, so
indexing only those prefixes finds every qualifying pair; each is then checked with exact Jaccard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from biomass.dedup.engine import components
from biomass.dedup.minhash import as_string_array, jaccard_pairs, shingle_sets


def exact_similar_pairs(texts, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """All ``(i, j)``, ``i < j``, whose exact shingle Jaccard is >= ``threshold``."""
    arr = as_string_array(texts)
    offsets, hashes = shingle_sets(arr)
    n = len(offsets) - 1
    sizes = np.diff(offsets)
    doc_of = np.repeat(np.arange(n, dtype=np.int64), sizes)
    # global order: rare shingles first (small posting lists), ties by hash value
    uniq, inverse, freq = np.unique(hashes, return_inverse=True, return_counts=True)
    order_key = freq[inverse].astype(np.int64) * (len(uniq) + 1) + inverse
    by = np.lexsort((order_key, doc_of))
    pos_in_doc = np.arange(len(hashes)) - np.repeat(offsets[:-1], sizes)
    prefix_len = sizes - np.ceil(threshold * sizes - 1e-9).astype(np.int64) + 1
    in_prefix = pos_in_doc < np.repeat(prefix_len, sizes)
    tok = inverse[by][in_prefix]
    doc = doc_of[by][in_prefix]
    grp = np.lexsort((doc, tok))
    tok, doc = tok[grp], doc[grp]
    starts = np.flatnonzero(np.concatenate([[True], tok[1:] != tok[:-1]]))
    ends = np.append(starts[1:], len(tok))
    left, right = [], []
    for s, e in zip(starts, ends):
        if e - s < 2:
            continue
        members = doc[s:e]
        a, b = np.triu_indices(e - s, k=1)
        left.append(members[a])
        right.append(members[b])
    if not left:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    packed = np.unique((np.concatenate(left) << 32) | np.concatenate(right))
    li, ri = packed >> 32, packed & 0xFFFFFFFF
    sim = jaccard_pairs(offsets, hashes, li, ri)
    ok = sim >= threshold
    return li[ok], ri[ok]


def exact_clusters(texts, threshold: float) -> np.ndarray:
    arr = as_string_array(texts)
    left, right = exact_similar_pairs(arr, threshold)
    return components(len(arr), left, right)


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    f1: float
    predicted_pairs: int
    true_pairs: int


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int(np.sum(counts * (counts - 1) // 2))


def pairwise_scores(predicted, truth) -> PairScores:
    """Precision/recall/F1 over document pairs placed in the same cluster (labels of any type)."""
    pred = np.unique(np.asarray(predicted), return_inverse=True)[1]
    true = np.unique(np.asarray(truth), return_inverse=True)[1]
    joint = np.unique(pred.astype(np.int64) * (true.max(initial=0) + 1) + true, return_counts=True)[1]
    tp = _pairs(joint)
    pp = _pairs(np.bincount(pred))
    tpairs = _pairs(np.bincount(true))
    precision = tp / pp if pp else 1.0
    recall = tp / tpairs if tpairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return PairScores(precision, recall, f1, pp, tpairs)


def cluster_labels(clusters: pa.Table, doc_ids) -> np.ndarray:
    """Map a ``clusters`` table (doc_id, cluster_id) onto ``doc_ids`` order as integer labels."""
    mapping = dict(zip(clusters.column("doc_id").to_pylist(), clusters.column("cluster_id").to_pylist()))
    ids = doc_ids.to_pylist() if hasattr(doc_ids, "to_pylist") else list(doc_ids)
    return np.unique(np.array([mapping[d] for d in ids], dtype=object), return_inverse=True)[1]


__all__ = ["PairScores", "cluster_labels", "components", "exact_clusters", "exact_similar_pairs",
           "pairwise_scores"]
