"""``_textstats.line_stats`` (GopherQualityFilter's bullet and ellipsis line counts, in C) equals the pure-Python
datatrove expressions (``gopher.line_stats_reference``) on real documents and fuzzed strings."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from biomass.filters import _textstats
from biomass.filters.gopher import dup_stats_reference, line_stats_reference
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)

# every line break str.splitlines knows, whitespace that strip() removes, and the characters the rules look at
_ALPHABET = ["a", "b", ".", "..", "...", "…", "•", "-", " ", "\t", "\xa0", "\u3000", "\n", "\r", "\r\n", "\v", "\f",
             "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "é", "ツ", "\U0001F600"]


def test_line_stats_equal_the_reference_on_real_documents(human_docs):
    bad = [i for i, t in enumerate(human_docs) if _textstats.line_stats(t) != line_stats_reference(t)]
    assert not bad, bad[:5]


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=40))
def test_line_stats_equal_the_reference_on_fuzzed_strings(parts):
    text = "".join(parts)
    assert _textstats.line_stats(text) == line_stats_reference(text)


def test_line_stats_edges():
    for text in ["", "\n", "a\r\nb", "a\r\rb", " - x\n• y\n z...\n w…  \n", "...", "..", "-"]:
        assert _textstats.line_stats(text) == line_stats_reference(text), repr(text)


# -- dup_stats: GopherRepetitionFilter's duplicate paragraphs and lines --------------------------------------------
_DUP_ALPHABET = ["a", "b", "para", "\n", "\n", "\n\n", "\n\n\n", " ", "\t", "\r", "\r\n", "\xa0", "\u2028", "é", "ツ",
                 "\U0001F600"]


def test_dup_stats_equal_the_reference_on_real_documents(human_docs):
    from benchmarks.realtext import pieces

    texts = human_docs + pieces(human_docs)
    bad = [i for i, t in enumerate(texts) if _textstats.dup_stats(t) != dup_stats_reference(t)]
    assert not bad, bad[:5]
    text = "a\nb\na\n\nx\n\nx\n"   # repeats: paragraph "x"; lines "a" and "x"; a trailing empty line
    assert _textstats.dup_stats(text) == dup_stats_reference(text) == (3, 1, 1, 6, 2, 2)


@settings(max_examples=2000)
@given(st.lists(st.sampled_from(_DUP_ALPHABET), max_size=40))
def test_dup_stats_equal_the_reference_on_fuzzed_strings(parts):
    text = "".join(parts)
    assert _textstats.dup_stats(text) == dup_stats_reference(text)
