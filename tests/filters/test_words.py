"""biomass's port of datatrove's English word/sentence splitting equals datatrove (spaCy) itself: on real human
documents, on crafted edge cases and on fuzzed strings. Skipped where datatrove or spaCy is not installed."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from biomass.filters.words import count_sentences, word_tokenize
from tests.filters.crafted import CRAFTED
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)

pytest.importorskip("spacy")
pytest.importorskip("datatrove")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dt():
    from datatrove.utils.text import split_into_sentences
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    tok = load_word_tokenizer("eng")
    return tok.word_tokenize, (lambda s: len(split_into_sentences(s)))


def test_generated_rules_are_what_the_installed_spacy_and_datatrove_give():
    spec = importlib.util.spec_from_file_location("gen_rules", ROOT / "scripts" / "gen_spacy_en_rules.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    committed = (ROOT / "include" / "biomass" / "filters" / "_spacy_en_rules.py").read_text(encoding="utf-8")
    assert gen.render() == committed, "regenerate with: python scripts/gen_spacy_en_rules.py"


def test_words_equal_datatrove_on_real_documents(human_docs, dt):
    word_tok, _ = dt
    bad = [i for i, t in enumerate(human_docs) if word_tokenize(t) != word_tok(t)]
    assert not bad, f"{len(bad)} of {len(human_docs)} real documents tokenized differently, e.g. #{bad[:5]}"


def test_sentences_equal_datatrove_on_real_lines(human_docs, dt):
    _, sents = dt
    lines = [ln.strip() for t in human_docs[:120] for ln in t.splitlines() if ln.strip()]
    bad = [ln for ln in lines if count_sentences(ln) != sents(ln)]
    assert not bad, f"{len(bad)} of {len(lines)} lines: {bad[:3]!r}"


@pytest.mark.parametrize("text", CRAFTED)
def test_words_and_sentences_equal_datatrove_on_crafted_edges(text, dt):
    word_tok, sents = dt
    assert word_tokenize(text) == word_tok(text)
    assert count_sentences(text) == sents(text)


# Fuzz over the characters the tokenizer rules care about, including the emoticon/abbreviation pieces that make the
# special-case matcher cross spaces.
_ALPHABET = list("aAbz09.,;:!?'\"()[]{}<>-_/\\%$&*#@=+^~`|") + [" ", " ", " ", "  ", "\n", "\t", "…", "’", "“", "é", "ツ", "¯"]
_PIECES = ["Mr.", "a.m.", "e.g.", "don't", "can't", ":)", ":')", "):", "<3", "http://x.org", "www.a.com", "10km",
           "U.S.", "'s", "n't", "--", "...", "^_^"]


@settings(max_examples=400)
@given(st.lists(st.one_of(st.sampled_from(_ALPHABET), st.sampled_from(_PIECES)), max_size=40))
def test_words_and_sentences_equal_datatrove_on_fuzzed_strings(parts):
    from datatrove.utils.text import split_into_sentences
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    text = "".join(parts)
    assert word_tokenize(text) == load_word_tokenizer("eng").word_tokenize(text)
    if text.strip():
        assert count_sentences(text) == len(split_into_sentences(text))


# Texts stored two bytes a character (a curly quote, a dash, a non-ASCII space somewhere), whose ASCII chunks the
# kernel scans, hashes and compares to its cached (one-byte) keys in that width, split by spaces spaCy does not split
# on (no-break, thin, ideographic, line separator, NEL).
_WIDE = ["“Hello,” she said — it’s 10km (see e.g. x.com).", "a\u00a0b c\u2009d\u3000e\u2028f\x85g — :) (: <3",
         "Mr. Smith’s km/h don't — U.S. a.m. 1+2 x:y ‘quoted’ “it”", "— e.g. e.g. e.g. http://x.org/a?b=c ...",
         "x\u2002=\u2002(1) — don't can't won't ’s n’t", "\u3000\u3000lead and trail — ok.\u3000"]


@pytest.mark.parametrize("text", _WIDE)
def test_words_and_sentences_equal_datatrove_on_two_byte_texts(text, dt):
    word_tok, sents = dt
    assert word_tokenize(text) == word_tok(text)
    assert count_sentences(text) == sents(text)


@settings(max_examples=300)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.sampled_from(list("aA0.,:()'-"))), min_size=1, max_size=12),
       st.lists(st.sampled_from([" ", "  ", "\u00a0", "\u2009", "\u3000", "\u2028", "\n"]), min_size=12, max_size=12),
       st.sampled_from(["—", "’", "“", "…"]))
def test_words_equal_datatrove_on_fuzzed_two_byte_texts(parts, gaps, wide):
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    text = wide + "".join(p + g for p, g in zip(parts, gaps))
    assert word_tokenize(text) == load_word_tokenizer("eng").word_tokenize(text)


# Curly quotes, dashes and the ellipsis inside chunks (the kernel's C cold path reads these itself).
_IN_CHUNK = list("aAbZ09.,;:!?'\"()-/+") + ["“", "”", "‘", "’", "—", "–", "…", "——", "……", "’s", "n’t", "Don’t",
                                             "it’s", "I’m", ":’)", "e.g.", "U.S.", "km", " ", " ", "\u00a0"]


@settings(max_examples=400)
@given(st.lists(st.sampled_from(_IN_CHUNK), min_size=1, max_size=30))
def test_words_and_sentences_equal_datatrove_on_fuzzed_quotes_dashes_and_ellipses(parts):
    from datatrove.utils.text import split_into_sentences
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    text = "".join(parts)
    assert word_tokenize(text) == load_word_tokenizer("eng").word_tokenize(text)
    if text.strip():
        assert count_sentences(text) == len(split_into_sentences(text))


def test_real_debian_documents_when_installed(dt):
    """The Debian python3.11-doc / debian-reference pages themselves (a larger sample), when the packages are here."""
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from realtext import load_real_docs

    docs = load_real_docs()
    if not docs:
        pytest.skip("python3.11-doc / debian-reference-en not installed")
    word_tok, _ = dt
    sample = random.Random(15).sample(docs, min(60, len(docs)))
    bad = [d["path"] for d in sample if word_tokenize(d["text"]) != word_tok(d["text"])]
    assert not bad, bad[:5]
