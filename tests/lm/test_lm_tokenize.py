"""TokenBatch (Arrow tokeniser for many texts) against ``whitespace_tokens``, the definition."""

import sys

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings, strategies as st

from biomass.lm import tokenize
from biomass.lm.tokenize import TokenBatch, whitespace_tokens

# every kind of character normalisation or splitting treats specially, plus ordinary ones
SPECIAL = ["\x00", "\x01", "\x0b", "\x0c", "\r", "\n", "\r\n", "\t", "\x1c", "\x1f", "\x7f", "\x85", "\xa0",
           "\u1680", "\u180e", "\u2000", "\u200a", "\u200b", "\u2028", "\u202f", "\u3000", "\ufeff",
           "e\u0301", "\u0301", "\u212b", "caf\u00e9", " ", "  ", "a", "word", "\U0001f600"]
TEXT = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(SPECIAL), max_size=30).map("".join),
                 st.sampled_from(["", " ", "one", "  one  ", "\u200b", "\x01"]))


def test_arrow_whitespace_is_python_whitespace_for_every_code_point():
    cps = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    split = pc.utf8_split_whitespace(pa.array(["a" + chr(c) + "b" for c in cps]))
    n = pc.list_value_length(split).to_numpy()
    assert [hex(c) for c, k in zip(cps, n) if (k == 2) != chr(c).isspace()] == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, st.none()), max_size=8))
def test_batch_tokens_are_words(texts):
    batch = TokenBatch.encode(texts)
    assert len(batch) == len(texts)
    for i, t in enumerate(texts):
        assert batch.tokens(i) == whitespace_tokens(t or "")
        assert batch.split_counts[i] == len((t or "").split())


@settings(max_examples=100, deadline=None)
@given(st.lists(TEXT, max_size=6))
def test_distinct_pairs_without_packed_keys(texts):
    packed = TokenBatch.encode(texts).distinct_pairs()
    old, tokenize._KEY_LIMIT = tokenize._KEY_LIMIT, 0
    try:
        sorted_path = TokenBatch.encode(texts).distinct_pairs()
    finally:
        tokenize._KEY_LIMIT = old
    for a, b in zip(packed, sorted_path):
        assert a.tolist() == b.tolist()
    # and both are each text's distinct (previous word, word) pairs
    batch = TokenBatch.encode(texts)
    got = {(int(d), batch.vocab[p], batch.vocab[w]) for d, p, w in zip(*packed)}
    want = {(i, a, b) for i, t in enumerate(texts) for a, b in zip(whitespace_tokens(t), whitespace_tokens(t)[1:])}
    assert got == want and len(packed[0]) == len(want)


def test_chunked_and_sliced_arrow_input(human_docs):
    texts = human_docs[:5] + [None, ""]
    chunked = pa.chunked_array([pa.array(texts[:3]), pa.array(texts[3:])])
    for given_texts in (chunked, pa.array(["x"] + texts).slice(1)):
        batch = TokenBatch.encode(given_texts)
        assert [batch.tokens(i) for i in range(len(texts))] == [whitespace_tokens(t or "") for t in texts]


def test_non_ascii_batches_split_as_python_does():
    """Found by the property test: Arrow's utf8_split_whitespace gave '  one  ' the tokens ['one', ' '] after
    this run of C1 controls and astral characters, so batch tokens (and watermark z-scores) left the spec."""
    texts = ["", None, "$", "V\U00032b0f·T", " ", "  one  ",
             "0000\x80\x80\x80\x80\x80\x80\x8f¢\U000114e8𑖃𓍆\U000161f7𗰊", "  one  "]
    batch = TokenBatch.encode(texts)
    assert [batch.tokens(i) for i in range(len(texts))] == [whitespace_tokens(t or "") for t in texts]
