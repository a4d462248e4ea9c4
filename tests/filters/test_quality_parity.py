"""The four quality filters decide as datatrove 0.10.1 does, with the same parameters: on real human documents
(whole and cut into ~3 KB pieces), on crafted edge cases and with non-default parameters. The rule a drop names
is datatrove's reason. Skipped where datatrove is not installed (it is in the test extra)."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from benchmarks.realtext import pieces
from biomass.filters import build_chain
from tests.filters.crafted import CRAFTED
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)

pytest.importorskip("datatrove")
pytest.importorskip("spacy")


def _datatrove(name: str, params: dict):
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    cls = {"gopher_quality": GopherQualityFilter, "gopher_repetition": GopherRepetitionFilter,
           "c4_quality": C4QualityFilter, "fineweb_quality": FineWebQualityFilter}[name]
    return cls(**params)


def _reasons(filt, texts: list[str]) -> list[str | None]:
    from datatrove.data import Document

    out = []
    for i, text in enumerate(texts):
        res = filt.filter(Document(text=text, id=str(i)))
        out.append(None if res is True else res[1] if isinstance(res, tuple) else "dropped")
    return out


def _compare(name: str, texts: list[str], params: dict | None = None, dt_params: dict | None = None):
    params = params or {}
    (ours,) = build_chain([{"name": name, "params": params}])
    mine = [None if d is None else d.split(":")[0] for d in ours.decide(pa.table({"text": texts}))]
    theirs = _reasons(_datatrove(name, dt_params if dt_params is not None else params), texts)
    return [(i, a, b) for i, (a, b) in enumerate(zip(mine, theirs)) if a != b], theirs


NAMES = ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"]


@pytest.fixture(scope="module")
def real_texts(human_docs):
    return human_docs + pieces(human_docs)


@pytest.mark.parametrize("name", NAMES)
def test_same_decisions_and_reasons_as_datatrove_on_real_documents(name, real_texts):
    diff, theirs = _compare(name, real_texts)
    agreement = 1 - len(diff) / len(real_texts)
    assert agreement == 1.0, f"{name}: {agreement:.4%} agreement; first disagreements {diff[:5]}"
    # the comparison means something only if both outcomes occur
    assert any(r is None for r in theirs) and any(r is not None for r in theirs)


@pytest.mark.parametrize("name", NAMES)
def test_same_decisions_as_datatrove_on_crafted_edges(name):
    texts = [t for t in CRAFTED if name != "gopher_quality" or t.strip()]  # datatrove divides by zero there
    diff, _ = _compare(name, texts)
    assert not diff, diff


PARAMS = {
    "gopher_quality": ({"min_doc_words": 10, "max_doc_words": 400, "min_avg_word_length": 4,
                        "max_avg_word_length": 8, "max_symbol_word_ratio": 0.05, "max_bullet_lines_ratio": 0.5,
                        "max_ellipsis_lines_ratio": 0.1, "max_non_alpha_words_ratio": 0.9, "min_stop_words": 4,
                        "stop_words": ["the", "a", "is"]}, None),
    "gopher_repetition": ({"dup_line_frac": None, "dup_para_frac": 0.1, "dup_line_char_frac": 0.1,
                           "dup_para_char_frac": None, "top_n_grams": [[2, 0.05], [5, 0.04]],
                           "dup_n_grams": [[3, 0.05], [11, 0.02]]},
                          {"dup_line_frac": None, "dup_para_frac": 0.1, "dup_line_char_frac": 0.1,
                           "dup_para_char_frac": None, "top_n_grams": ((2, 0.05), (5, 0.04)),
                           "dup_n_grams": ((3, 0.05), (11, 0.02))}),
    "c4_quality": ({"filter_no_terminal_punct": False, "min_num_sentences": 40, "min_words_per_line": 6,
                    "max_word_length": 30, "remove_citations": False, "filter_policy": False}, None),
    "fineweb_quality": ({"line_punct_thr": 0.3, "line_punct_exclude_zero": True, "stop_chars": [".", ":"],
                         "short_line_thr": 0.4, "short_line_length": 50, "char_duplicates_ratio": 0.05,
                         "new_line_ratio": 0.1},
                        {"line_punct_thr": 0.3, "line_punct_exclude_zero": True, "stop_chars": (".", ":"),
                         "short_line_thr": 0.4, "short_line_length": 50, "char_duplicates_ratio": 0.05,
                         "new_line_ratio": 0.1}),
}


@pytest.mark.parametrize("name", NAMES)
def test_same_decisions_as_datatrove_with_other_parameters(name, human_docs):
    params, dt_params = PARAMS[name]
    texts = pieces(human_docs[:120], 1500) + [t for t in CRAFTED if t.strip()]
    diff, theirs = _compare(name, texts, params, dt_params)
    assert not diff, diff[:5]
    assert len({r for r in theirs}) > 1


@settings(max_examples=150)
@given(st.lists(st.sampled_from(["the cat sat", "on the mat.", "the cat", "sat on", "mat", "a", "bc", "ab", "c",
                                 "\n", "\n\n", " ", "...", "#", "- ", "{", "x y z w."]), max_size=60))
def test_repetition_counts_equal_datatrove_on_fuzzed_repeats(parts):
    text = "".join(parts)
    if not text.strip():
        return
    params = {"dup_line_frac": None, "dup_para_frac": None, "dup_line_char_frac": None, "dup_para_char_frac": None,
              "top_n_grams": [[1, 0.01], [2, 0.02], [3, 0.5]], "dup_n_grams": [[2, 0.2], [3, 0.05], [4, 0.01]]}
    dt_params = {k: (tuple(map(tuple, v)) if isinstance(v, list) else v) for k, v in params.items()}
    diff, _ = _compare("gopher_repetition", [text], params, dt_params)
    assert not diff
    from datatrove.pipeline.filters.gopher_repetition_filter import find_all_duplicate, find_top_duplicate, get_n_grams
    from datatrove.utils.text import split_into_words

    from biomass.filters import _textstats

    words = split_into_words(text)
    top, dup = _textstats.ngram_stats(list(words), (1, 2, 3), (1, 2, 3, 4))
    assert top == [find_top_duplicate(get_n_grams(words, n)) if len(words) >= n else -1 for n in (1, 2, 3)]
    assert dup == [find_all_duplicate(words, n) for n in (1, 2, 3, 4)]
