"""Drift: how far one token distribution has moved from another."""

from __future__ import annotations

import numpy as np


def js_divergence(p_counts: np.ndarray, q_counts: np.ndarray) -> float | None:
    """Jensen-Shannon divergence in bits (0 = identical, 1 = disjoint) between two count vectors over one vocab.

    JS(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M), M = (P + Q) / 2, log base 2. None if either side is empty.
    """
    p_counts = np.asarray(p_counts, dtype=np.float64)
    q_counts = np.asarray(q_counts, dtype=np.float64)
    if p_counts.shape != q_counts.shape:
        raise ValueError(f"count vectors differ in shape: {p_counts.shape} vs {q_counts.shape}")
    p_total, q_total = p_counts.sum(), q_counts.sum()
    if p_total == 0 or q_total == 0:
        return None
    p, q = p_counts / p_total, q_counts / q_total
    m = (p + q) / 2
    return float(min(1.0, max(0.0, (_kl(p, m) + _kl(q, m)) / 2)))


def _kl(p: np.ndarray, m: np.ndarray) -> float:
    nz = p > 0  # m > 0 wherever p > 0
    return float(np.sum(p[nz] * np.log2(p[nz] / m[nz])))
