"""Vendi score of a set of documents with a word n-gram kernel: the effective number of distinct documents.

Vendi (Friedman & Dieng 2023) = exp(Shannon entropy of the eigenvalues of K / n), where K is an n x n positive
semi-definite similarity matrix with K_ii = 1. Here K is the cosine similarity of the documents' bags of word
n-grams (bigrams by default; tokens as everywhere in the metrics: NFKC, lowercase, runs of \\w). n identical
documents score 1; n documents with no n-gram in common score n. Unlike distinct-n, which pools every token,
it sees the output *as a set*: a generation of near-copies of a few documents scores low even when each copy
is locally varied.

Cost is O(n^2) kernel entries plus an n x n eigendecomposition, so it is measured on a fixed-size seeded
sample of each generation (``sample_docs``); memory and time stay bounded whatever the generation's size.
"""

from __future__ import annotations

import random
from typing import Sequence

import numpy as np

from biomass.lm.tokenize import nfkc_word_tokens


def ngram_matrix(texts: Sequence[str], n: int = 2):
    """Rows = documents, columns = distinct word n-grams, L2-normalised counts (scipy CSR). Empty rows stay 0."""
    from scipy.sparse import csr_matrix

    index: dict[tuple[str, ...], int] = {}
    indptr, cols, vals = [0], [], []
    for text in texts:
        toks = nfkc_word_tokens(text)
        counts: dict[int, int] = {}
        for i in range(len(toks) - n + 1):
            j = index.setdefault(tuple(toks[i:i + n]), len(index))
            counts[j] = counts.get(j, 0) + 1
        row = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
        norm = float(np.sqrt((row * row).sum())) if row.size else 0.0
        cols.extend(counts.keys())
        vals.extend((row / norm).tolist() if norm else [])
        indptr.append(len(cols))
    return csr_matrix((np.asarray(vals, dtype=np.float64), np.asarray(cols, dtype=np.int64), np.asarray(indptr)),
                      shape=(len(texts), max(len(index), 1)))


def vendi_from_kernel(kernel: np.ndarray) -> float:
    """exp(-sum l_i log l_i) over the eigenvalues l_i of K / n (K symmetric PSD, unit diagonal)."""
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] == 0:
        raise ValueError(f"kernel must be a non-empty square matrix, got shape {k.shape}")
    eig = np.linalg.eigvalsh(k / k.shape[0])
    eig = eig[eig > 1e-12]  # round-off below zero; 0 log 0 = 0
    return float(np.exp(-np.sum(eig * np.log(eig))))


def vendi_score(texts: Sequence[str], n: int = 2) -> float | None:
    """Vendi score of ``texts`` with the cosine kernel on word n-gram counts; None for no documents. A document
    with fewer than n tokens has no n-grams; it is treated as its own distinct item (similarity 1 to itself only)."""
    if not texts:
        return None
    x = ngram_matrix(texts, n)
    kernel = (x @ x.T).toarray()
    np.fill_diagonal(kernel, 1.0)
    return vendi_from_kernel(kernel)


def sample_docs(texts: Sequence[str], k: int, seed: int) -> list[str]:
    """A seeded uniform sample of ``k`` texts (all of them, in order, when there are no more than ``k``)."""
    if len(texts) <= k:
        return list(texts)
    return [texts[i] for i in sorted(random.Random(seed).sample(range(len(texts)), k))]
