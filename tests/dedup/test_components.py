"""The numpy union-find gives the same partition as scipy's connected_components (the library it replaced)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from biomass.dedup.engine import components


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


@pytest.mark.parametrize("n,m,seed", [(1, 0, 0), (50, 0, 1), (200, 150, 2), (5000, 4000, 3), (3000, 9000, 4)])
def test_components_match_scipy(n, m, seed):
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, n, m), rng.integers(0, n, m)
    _, want = connected_components(coo_matrix((np.ones(m), (left, right)), shape=(n, n)), directed=False)
    assert _same_partition(components(n, left, right), want)


def test_long_chain_in_shuffled_order_is_one_component():
    order = np.random.default_rng(5).permutation(20_000)
    labels = components(20_000, order[:-1], order[1:])
    assert len(np.unique(labels)) == 1
