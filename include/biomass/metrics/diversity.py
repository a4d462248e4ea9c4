"""Diversity of one corpus: distinct-n, MSTTR, unigram entropy, Zipf exponent. Pure numpy over token ids."""

from __future__ import annotations

import numpy as np

from biomass.metrics.arrays import count_unique
from biomass.metrics.word_ids import Corpus


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


def segment_types(corpus: Corpus, window: int) -> tuple[int, int]:
    """(types summed over all full segments, number of full segments) for MSTTR: each document is cut into
    consecutive ``window``-token segments, its last partial segment dropped. Integer sums, so batches add up
    exactly in any order."""
    segs = corpus.lengths // window
    total_segs = int(segs.sum())
    if total_segs == 0:
        return 0, 0
    # first token position of every full segment: document start + 0, W, 2W, ...
    doc_starts = np.cumsum(corpus.lengths) - corpus.lengths
    seg_doc = np.repeat(np.arange(segs.size), segs)
    seg_rank = np.arange(total_segs) - np.repeat(np.cumsum(segs) - segs, segs)
    seg_start = doc_starts[seg_doc] + seg_rank * window
    # (segments x window) token matrix; sorting each short row makes distinct types = 1 + value changes
    rows = np.sort(corpus.ids[seg_start[:, None] + np.arange(window)], axis=1)
    types = 1 + np.count_nonzero(rows[:, 1:] != rows[:, :-1], axis=1)
    return int(types.sum()), total_segs


def msttr_from(types: int, segments: int, window: int) -> float | None:
    """MSTTR = (1/S) sum_s types(s) / W = (sum of types) / (S W), rounded once; None without a full segment."""
    return types / (segments * window) if segments else None


def msttr(corpus: Corpus, window: int) -> float | None:
    """Mean segmental type-token ratio: each document is cut into consecutive ``window``-token segments (its
    last partial segment is dropped), and the TTR of every full segment is averaged. None without a full segment.

    A fixed segment length removes TTR's dependence on text length, and keeping segments inside documents makes
    the value independent of document order.
    """
    return msttr_from(*segment_types(corpus, window), window)


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
