import numpy as np
from hypothesis import given, settings, strategies as st

from biomass.lm.keyindex import KeyIndex, find_sorted


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-2**40, 2**40), max_size=300), st.lists(st.integers(-2**40, 2**40), max_size=100),
       st.booleans())
def test_key_index_finds_what_binary_search_finds(keys, extra, small):
    keys = np.unique(np.abs(np.array(keys, np.int64)) % 500 if small else np.array(keys, np.int64))
    queries = np.concatenate([keys, np.array(extra, np.int64), keys[::3] + 1]).astype(np.int64)
    pos, found = find_sorted(keys, queries)
    ipos, ifound = KeyIndex(keys).find(queries)
    assert ifound.tolist() == found.tolist()
    assert ipos[found].tolist() == pos[found].tolist()


def test_both_layouts_are_used():
    assert KeyIndex(np.arange(0, 1000, 3)).dense
    assert not KeyIndex(np.arange(0, 10**9, 10**5)).dense
