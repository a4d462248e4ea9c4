"""``c4_quality``'s line loop with the ``_textstats.c4_lines`` kernel decides as the pure-Python loop
(``C4QualityFilter.reference_one``, datatrove's expressions; test_quality_parity.py compares with datatrove
itself) on real documents and fuzzed strings, under the default parameters and with rules turned off."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from biomass.filters.c4 import C4QualityFilter
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)

PARAMS = [{}, {"filter_no_terminal_punct": False}, {"remove_citations": False, "min_words_per_line": 1},
          {"max_word_length": 5, "min_num_sentences": -1}, {"min_num_sentences": 1, "filter_curly_bracket": False,
                                                            "filter_lorem_ipsum": False, "max_word_length": -1}]
FILTERS = [C4QualityFilter(p) for p in PARAMS]

# line breaks and whitespace str.splitlines/strip/split know, citation marks, unicode digits, end punctuation
_ALPHABET = ["a", "word", "Lorem ipsum", "JavaScript", "{", "[1]", "[12]", "[]", "[١٢]", "[edit]", "[citation needed]",
             "[x]", "[", "]", ".", "...", "?", "!", '"', "'", " ", "  ", "\t", "\xa0", "\u3000", "\n", "\r\n", "\r",
             "\v", "\x85", "\u2028", "é", "ツ", "uses cookies", "Terms of Use", "U.S.", "Mr. X."]


def test_kernel_loop_equals_the_reference_on_real_documents(human_docs):
    for f in FILTERS:
        bad = [i for i, t in enumerate(human_docs) if f._one(t) != f.reference_one(t)]
        assert not bad, (f.params, bad[:5])


@settings(max_examples=1500)
@given(st.lists(st.sampled_from(_ALPHABET), max_size=60))
def test_kernel_loop_equals_the_reference_on_fuzzed_strings(parts):
    text = "".join(parts)
    for f in FILTERS:
        assert f._one(text) == f.reference_one(text), f.params
