"""Diversity and drift measures on corpora small enough to compute by hand (values worked out in comments)."""

import math

import numpy as np
import pytest

from biomass.metrics.diversity import distinct_n, entropy_bits, msttr, zipf_exponent
from biomass.metrics.drift import js_divergence
from biomass.metrics.word_ids import Encoder

# FAKE two-document corpus: tokens a b a b | c a  -> a:3 b:2 c:1, 6 tokens
DOCS = ["a b a b", "c a"]


def _corpus():
    enc = Encoder()
    return enc.encode(DOCS), 3


def test_distinct_1_and_2_by_hand():
    corpus, v = _corpus()
    assert distinct_n(corpus, 1, v) == pytest.approx(3 / 6)  # 3 types / 6 tokens
    # bigrams inside documents: ab ba ab | ca -> 4 occurrences, 3 distinct ("b c" crosses a boundary: excluded)
    assert distinct_n(corpus, 2, v) == pytest.approx(3 / 4)
    # trigrams: aba bab | (none: "c a" is too short) -> 2 of 2 distinct
    assert distinct_n(corpus, 3, v) == pytest.approx(1.0)


def test_msttr_by_hand():
    corpus, v = _corpus()
    # window 2: [a b] [a b] | [c a] -> TTRs 1, 1, 1
    assert msttr(corpus, 2) == pytest.approx(1.0)
    # window 3: [a b a] (trailing b dropped) | doc 2 too short -> 2/3
    assert msttr(corpus, 3) == pytest.approx(2 / 3)
    # window 4: [a b a b] -> 2/4
    assert msttr(corpus, 4) == pytest.approx(0.5)
    assert msttr(corpus, 5) is None  # no document has a full segment


def test_msttr_segments_do_not_cross_documents():
    enc = Encoder()
    # window 2 over docs "a" | "a b" | "c c c": full segments [a b], [c c] -> (1 + 1/2) / 2
    corpus = enc.encode(["a", "a b", "c c c"])
    assert msttr(corpus, 2) == pytest.approx(0.75)


def test_entropy_by_hand():
    # p = 1/2, 1/3, 1/6: H = 1/2*1 + 1/3*log2(3) + 1/6*log2(6) = 1.459148 bits
    assert entropy_bits(np.array([3, 2, 1, 0])) == pytest.approx(0.5 + math.log2(3) / 3 + math.log2(6) / 6)
    assert entropy_bits(np.array([5])) == 0.0
    assert entropy_bits(np.array([1, 1, 1, 1])) == pytest.approx(2.0)
    assert entropy_bits(np.array([0, 0])) is None


def test_zipf_exponent_on_exact_power_laws():
    # f_r = 6 / r  (6, 3, 2): ln f = ln 6 - 1 * ln r exactly -> s = 1
    assert zipf_exponent(np.array([2, 6, 3]), 1, 100) == pytest.approx(1.0)
    # f_r = 12 / r^2 (12, 3): s = 2
    assert zipf_exponent(np.array([3, 12]), 1, 100) == pytest.approx(2.0)
    # min_count drops the hapaxes before the fit: (6, 3, 2, 1, 1) with min_count 2 is the 6/r case again
    assert zipf_exponent(np.array([6, 3, 2, 1, 1]), 2, 100) == pytest.approx(1.0)
    # max_rank keeps only the head: 12/r^2 then a flat tail; ranks 1..2 give s = 2
    assert zipf_exponent(np.array([12, 3, 3, 3]), 1, 2) == pytest.approx(2.0)
    assert zipf_exponent(np.array([4, 4, 4]), 1, 100) == 0.0  # flat: no decay
    assert zipf_exponent(np.array([7, 1]), 2, 100) is None  # one type left: no line


def test_js_divergence_by_hand():
    # P = (1/2, 1/2, 0), Q = (0, 1/2, 1/2), M = (1/4, 1/2, 1/4)
    # KL(P||M) = 1/2 log2(2) + 1/2 log2(1) = 1/2, likewise KL(Q||M); JS = 1/2
    assert js_divergence(np.array([1, 1, 0]), np.array([0, 5, 5])) == pytest.approx(0.5)
    assert js_divergence(np.array([1, 0]), np.array([0, 3])) == pytest.approx(1.0)  # disjoint
    assert js_divergence(np.array([2, 4, 6]), np.array([1, 2, 3])) == 0.0  # same distribution
    assert js_divergence(np.array([0, 0]), np.array([1, 1])) is None
    with pytest.raises(ValueError):
        js_divergence(np.array([1]), np.array([1, 2]))


def test_js_is_symmetric_and_bounded():
    rng = np.random.default_rng(7)
    for _ in range(20):
        p, q = rng.integers(0, 5, 12), rng.integers(0, 5, 12)
        if p.sum() == 0 or q.sum() == 0:
            continue
        a, b = js_divergence(p, q), js_divergence(q, p)
        assert a == pytest.approx(b) and 0.0 <= a <= 1.0
