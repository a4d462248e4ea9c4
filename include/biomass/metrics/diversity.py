"""Diversity of one corpus: distinct-n, MSTTR, unigram entropy, Zipf exponent. Pure numpy over token ids."""

from __future__ import annotations

import numpy as np

from biomass.metrics.arrays import count_unique, unique_sorted
from biomass.metrics.tokens import Corpus


def distinct_n(corpus: Corpus, n: int, vocab_size: int) -> float | None:
    """Distinct n-grams / n-gram occurrences, n-grams inside documents only; None when there is no n-gram."""
    if n == 1:
        if corpus.tokens == 0:
            return None
        return int(np.count_nonzero(np.bincount(corpus.ids, minlength=vocab_size))) / corpus.tokens
    keys = corpus.ngram_ids(n, vocab_size)
    if keys.size == 0:
        return None
    return count_unique(keys) / int(keys.size)


def msttr(corpus: Corpus, window: int, vocab_size: int) -> float | None:
    """Mean segmental type-token ratio: each document is cut into consecutive ``window``-token segments (its
    last partial segment is dropped), and the TTR of every full segment is averaged. None without a full segment.

    A fixed segment length removes TTR's dependence on text length, and keeping segments inside documents makes
    the value independent of document order.
    """
    segs = corpus.lengths // window
    total_segs = int(segs.sum())
    if total_segs == 0:
        return None
    starts = np.cumsum(corpus.lengths) - corpus.lengths
    seg_offset = np.cumsum(segs) - segs
    docs_with = np.flatnonzero(segs)
    # token positions of all full segments, built per document as starts + 0..segs*W-1, all vectorised
    kept_len = segs[docs_with] * window
    doc_of = np.repeat(docs_with, kept_len)
    pos_in_doc = np.arange(int(kept_len.sum())) - np.repeat(np.cumsum(kept_len) - kept_len, kept_len)
    seg_id = seg_offset[doc_of] + pos_in_doc // window
    token = corpus.ids[starts[doc_of] + pos_in_doc]
    pairs = unique_sorted(seg_id * np.int64(vocab_size) + token)
    types_per_seg = np.bincount(pairs // vocab_size, minlength=total_segs)
    return float(np.mean(types_per_seg / window))


def entropy_bits(counts: np.ndarray) -> float | None:
    """Shannon entropy (base 2) of the empirical distribution given by ``counts``; None for an empty one."""
    counts = np.asarray(counts)
    counts = counts[counts > 0]
    total = counts.sum()
    if total == 0:
        return None
    p = counts / total
    return float(max(0.0, -np.sum(p * np.log2(p))))


def zipf_exponent(counts: np.ndarray, min_count: int, max_rank: int) -> float | None:
    """Zipf's s from an ordinary least-squares fit of ``ln f_r = c - s ln r`` on the rank-frequency list.

    Only types with count >= ``min_count`` enter (the hapax plateau bends the line), at most the first
    ``max_rank`` ranks. None when fewer than two types qualify.
    """
    counts = np.asarray(counts)
    freq = np.sort(counts[counts >= max(min_count, 1)])[::-1][:max_rank]
    if freq.size < 2:
        return None
    x = np.log(np.arange(1, freq.size + 1, dtype=np.float64))
    y = np.log(freq.astype(np.float64))
    dx = x - x.mean()
    slope = float(np.sum(dx * (y - y.mean())) / np.sum(dx * dx))
    return -slope + 0.0  # + 0.0 turns -0.0 into 0.0
