"""The detector reference is picked without a Python string per text: same picks as heapq.nsmallest."""

from __future__ import annotations

import heapq

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from biomass.pipeline.ingest import smallest_texts

WORDS = st.sampled_from(["a", "b", "zeta", "Ärger", "naïve", "数据", "x\u00a0y", "end.", "B", "é", "\U0001f600"])
SPACES = st.sampled_from([" ", "  ", "\n", "\t", "\u2003", "\u3000", "\x1c"])


@st.composite
def text(draw) -> str:
    words = draw(st.lists(WORDS, min_size=0, max_size=8))
    out = draw(SPACES) if draw(st.booleans()) else ""
    for w in words:
        out += w + draw(SPACES)
    return out


@given(texts=st.lists(text(), max_size=60), k=st.integers(1, 12), min_words=st.integers(0, 5),
       cuts=st.lists(st.integers(0, 60), max_size=5))
def test_the_same_texts_as_nsmallest_whatever_the_batching(texts, k, min_words, cuts):
    expected = heapq.nsmallest(k, (t for t in texts if len(t.split()) >= min_words))
    bounds = sorted({0, len(texts), *(c for c in cuts if c <= len(texts))})
    batches = [pa.chunked_array([pa.array(texts[a:b], pa.string())]) for a, b in zip(bounds, bounds[1:])]
    assert smallest_texts(batches, k, min_words) == expected


def test_unicode_whitespace_counts_as_python_counts_it():
    # "\u3000" and "\x1c" separate words for str.split; a byte-level split would see one word each.
    texts = ["b\u3000c\x1cd", "a b", "a", "ab\u00a0cd"]
    assert smallest_texts([pa.array(texts)], 2, 3) == ["b\u3000c\x1cd"]
    assert smallest_texts([pa.array(texts)], 3, 1) == ["a", "a b", "ab\u00a0cd"]
