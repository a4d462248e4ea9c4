"""Tokenisation and the id/n-gram plumbing every metric stands on."""

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from biomass.lm.tokenize import nfkc_word_tokens
from biomass.metrics.word_ids import Encoder, ngram_hash, word_hashes


@pytest.fixture(scope="module")
def fixture_texts():
    path = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh]


def test_words_are_nfkc_lowercase_word_runs():
    # "ﬁ" (U+FB01) becomes "fi" under NFKC; punctuation splits; digits and underscores are word characters
    assert nfkc_word_tokens("Hello, WORLD! It's ﬁne_2024.") == ["hello", "world", "it", "s", "fine_2024"]
    assert nfkc_word_tokens("") == [] and nfkc_word_tokens("... --- !!!") == []


def test_encoder_shares_ids_across_corpora():
    enc = Encoder()
    a = enc.encode(["b a b"])
    b = enc.encode(["a c"])
    assert a.ids.tolist() == [0, 1, 0] and b.ids.tolist() == [1, 2]
    assert enc.words() == ["b", "a", "c"]
    assert a.lengths.tolist() == [3] and b.lengths.tolist() == [2]


def test_ngrams_never_cross_documents():
    # docs of lengths 3, 1, 2 -> tokens x y z | q | r s ; valid bigram starts: 0 (x y), 1 (y z), 4 (r s)
    corpus = Encoder().encode(["x y z", "q", "r s"])
    assert corpus.starts_mask(2).tolist() == [True, True, False, False, True]
    # trigrams: only "x y z" fits inside a document
    assert corpus.starts_mask(3).tolist() == [True, False, False, False]
    assert corpus.ngram_ids(2, 6).tolist() == [0 * 6 + 1, 1 * 6 + 2, 4 * 6 + 5]


def test_empty_documents_and_corpora():
    corpus = Encoder().encode(["", "a", ""])
    assert corpus.tokens == 1 and corpus.docs == 3
    assert corpus.starts_mask(2).size == 0
    empty = Encoder().encode([])
    assert empty.tokens == 0 and empty.docs == 0


def test_ngram_hash_matches_vectorised_hashes():
    enc = Encoder()
    corpus = enc.encode(["the cat sat", "on the mat"])
    hashes = corpus.ngram_hashes(2, word_hashes(enc.words()))
    expected = [ngram_hash(p) for p in (("the", "cat"), ("cat", "sat"), ("on", "the"), ("the", "mat"))]
    assert hashes.tolist() == expected
    assert len(set(expected)) == 4
    # order matters: "cat the" is a different bigram from "the cat"
    assert ngram_hash(("cat", "the")) != ngram_hash(("the", "cat"))
    assert hashes.dtype == np.uint64


def _one_text_at_a_time(batches):
    """The definition: ``nfkc_word_tokens`` of each text, ids given in first-occurrence order over the whole stream."""
    index, out = {}, []
    for texts in batches:
        ids = [[index.setdefault(w, len(index)) for w in nfkc_word_tokens(t)] for t in texts]
        out.append(([i for d in ids for i in d], [len(d) for d in ids]))
    return out, list(index)


_ALPHABET = "aZ_09 .,-'\n\t" + "éÉßİıΣς" + "\ufb01\u0301\u00b2\u2163\uff21" + "日本"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.text(alphabet=_ALPHABET, max_size=30), max_size=8), min_size=1, max_size=4))
def test_batch_encoding_gives_the_tokens_and_ids_of_words_per_text(batches):
    """Arrow splits all-ASCII texts, Python the others; mixed batches keep document and first-occurrence order."""
    enc = Encoder()
    got = [enc.encode(texts) for texts in batches]
    want, vocab = _one_text_at_a_time(batches)
    assert [(c.ids.tolist(), c.lengths.tolist()) for c in got] == want
    assert enc.words() == vocab


def test_batch_encoding_on_real_text_matches_words(fixture_texts):
    texts = fixture_texts + ["naïve Café ﬁne", "", "   ", "Œuvre ÆON"]   # REAL text, then a few non-ASCII ones
    enc = Encoder()
    corpus = enc.encode(texts)
    want, vocab = _one_text_at_a_time([texts])
    assert (corpus.ids.tolist(), corpus.lengths.tolist()) == want[0] and enc.words() == vocab
