"""Fixtures for the metrics tests. All corpora here are FAKE: tiny hand-made texts or seeded random word salads."""

from __future__ import annotations

import numpy as np
import pytest

from biomass.config.metrics import MetricsConfig


def fake_zipf_corpus(seed: int, docs: int, words_per_doc: int, vocab: int = 400, s: float = 1.1) -> list[str]:
    """FAKE text: words ``w0..w{vocab-1}`` drawn with Zipfian probabilities, so the corpus has a real rare tail."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** s
    p /= p.sum()
    draws = rng.choice(vocab, size=(docs, words_per_doc), p=p)
    return [" ".join(f"w{i}" for i in row) for row in draws]


@pytest.fixture
def config() -> MetricsConfig:
    return MetricsConfig()


@pytest.fixture(scope="session")
def make_fake_corpus():
    return fake_zipf_corpus
