"""Vendi score with a word-bigram cosine kernel, on inputs whose answer can be worked out by hand."""

import math

import numpy as np
import pytest

from biomass.metrics.vendi import sample_docs, vendi_from_kernel, vendi_score


def test_identical_documents_score_one():
    assert vendi_score(["the cat sat on the mat"] * 7) == pytest.approx(1.0)


def test_documents_without_a_shared_bigram_score_their_number():
    docs = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"]
    assert vendi_score(docs) == pytest.approx(4.0)


def test_two_copies_of_each_of_three_documents_score_three():
    docs = ["a b c", "d e f", "g h i"] * 2
    assert vendi_score(docs) == pytest.approx(3.0)


def test_partial_overlap_by_hand():
    # one shared bigram of two in each: cosine 1/2; K/2 = [[.5,.25],[.25,.5]] has eigenvalues 3/4 and 1/4
    docs = ["x y z", "x y w"]
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert vendi_score(docs) == pytest.approx(expected)
    assert 1.0 < vendi_score(docs) < 2.0


def test_word_order_matters_through_bigrams_and_case_does_not():
    assert vendi_score(["Red Green Blue", "red green blue"]) == pytest.approx(1.0)
    assert vendi_score(["red green blue", "blue green red"]) == pytest.approx(2.0)


def test_kernel_form_and_errors():
    assert vendi_from_kernel(np.eye(5)) == pytest.approx(5.0)
    assert vendi_from_kernel(np.ones((5, 5))) == pytest.approx(1.0)
    assert vendi_score([]) is None
    with pytest.raises(ValueError):
        vendi_from_kernel(np.ones((2, 3)))


def test_sample_is_seeded_and_bounded():
    texts = [f"doc {i}" for i in range(100)]
    a = sample_docs(texts, 10, seed=3)
    assert a == sample_docs(texts, 10, seed=3) and len(a) == 10 and len(set(a)) == 10
    assert a != sample_docs(texts, 10, seed=4)
    assert sample_docs(texts[:5], 10, seed=3) == texts[:5]
