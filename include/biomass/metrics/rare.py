"""Which reference types are "rare": one rule for words and n-grams alike (see ``MetricsConfig``)."""

from __future__ import annotations

import numpy as np

from biomass.metrics.arrays import unique_counts
from biomass.config.metrics import MetricsConfig


def rare_mask(counts: np.ndarray, config: MetricsConfig) -> np.ndarray:
    """True for each type (count > 0) that is rare under ``config``.

    Count rule: ``count <= rare_max_count``. Tail-mass rule: the largest count level ``c*`` such that all types
    with ``count <= c*`` together hold at most ``rare_tail_mass`` of all occurrences; rare = ``count <= c*``.
    Both rules set: a type must pass both (AND).
    """
    counts = np.asarray(counts, dtype=np.int64)
    mask = counts > 0
    if config.rare_max_count is not None:
        mask &= counts <= config.rare_max_count
    if config.rare_tail_mass is not None:
        mask &= counts <= tail_mass_level(counts, config.rare_tail_mass)
    return mask


def tail_mass_level(counts: np.ndarray, share: float) -> int:
    """Largest count level whose cumulative token mass (counting from the rarest types) is <= ``share``; 0 if none."""
    counts = np.asarray(counts, dtype=np.int64)
    counts = counts[counts > 0]
    total = int(counts.sum())
    if total == 0:
        return 0
    levels, per_level = unique_counts(counts)
    mass = np.cumsum(levels * per_level)  # mass held by all types with count <= level
    # mass / total <= share, with a hair of tolerance so share=0.3 of 10 tokens admits exactly 3
    ok = mass <= share * total + 1e-9 * total
    return int(levels[ok][-1]) if ok.any() else 0
