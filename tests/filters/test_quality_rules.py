"""Hand-written fixtures (FAKE text, written for these tests) that each quality filter must keep, and ones each
rule must drop, with the rule named in the detail. These need no datatrove."""

from __future__ import annotations

import pyarrow as pa
import pytest

from biomass.filters import build_chain

PROSE = ("The history of the town is long and varied. Its people have worked the land and the river for centuries, "
         "and the market that they built still opens with the first light of every Saturday morning. Visitors come "
         "to see the old bridge, to walk along the water, and to taste the bread that the bakers have made the same "
         "way for generations. In winter the streets are quiet; in summer they are full of music and voices. The "
         "bells ring at noon, and the children run home for lunch.")
Q4 = "vermilion lanterns drifted slowly"   # a 4-gram repeated just often enough for top_4_gram alone
LONG = ("Seventeen quiet herons waited beside marble fountains while distant trumpets announced evening "
        "festivities downtown")
PAGE = ".\n".join(PROSE.split(". "))


def decide(name: str, text: str, **params) -> str | None:
    (f,) = build_chain([{"name": name, "params": params}])
    (d,) = f.decide(pa.table({"text": [text]}))
    return d


@pytest.mark.parametrize("name", ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality"])
def test_ordinary_prose_is_kept(name):
    assert decide(name, PAGE) is None


@pytest.mark.parametrize("text, rule", [
    ("Too short to be a page, with the and of.", "gopher_short_doc"),
    (" ".join(["the"] * 30 + ["extraordinarily", "incomprehensibilities", "internationalization"] * 10),
     "gopher_above_avg_threshold"),
    (" ".join(["a", "of", "to", "be", "is", "it"] * 20), "gopher_below_avg_threshold"),
    (PROSE + " " + "#history " * 15, "gopher_too_many_hashes"),
    (PROSE + " " + "wait... " * 20, "gopher_too_many_ellipsis"),
    ("\n".join(f"- the item {w} of the list" for w in PROSE.split()[:60]), "gopher_too_many_bullets"),
    ("\n".join(f"the {w} and the {w} of the town and then..." for w in PROSE.split()[:60]),
     "gopher_too_many_end_ellipsis"),
    (PROSE + " " + " ".join(["1999", "2000", "3.14", "42"] * 40), "gopher_below_alpha_threshold"),
    (" ".join(["river", "bread", "market", "music", "bridge"] * 20), "gopher_enough_stop_words"),
])
def test_gopher_quality_rules_drop(text, rule):
    d = decide("gopher_quality", text)
    assert d is not None and d.startswith(rule + ":"), d


@pytest.mark.parametrize("text, rule", [
    ("\n\n".join(["A paragraph that repeats itself here."] * 4 + [PROSE]), "dup_para_frac"),
    ("\n\n".join([PROSE, PROSE.upper(), PROSE.lower(), PROSE]), "dup_para_char_frac"),
    ("\n".join(["same."] * 4 + PROSE.split(". ")), "dup_line_frac"),
    ("\n".join([PROSE, PROSE] + [f"Line {w}." for w in "one two three four five six".split()]), "dup_line_char_frac"),
    (PROSE + " " + "new york " * 30, "top_2_gram"),
    (" ".join(f"{Q4} " + " ".join(PROSE.split()[i:i + 22]) for i in range(0, 88, 22)), "top_4_gram"),
    (PROSE + " " + ". ".join([LONG] * 3) + ".", "duplicated_5_n_grams"),
])
def test_gopher_repetition_rules_drop(text, rule):
    d = decide("gopher_repetition", text)
    assert d is not None and d.startswith(rule + ":"), d


@pytest.mark.parametrize("text, rule", [
    (PAGE + "\nLorem ipsum dolor sit amet, consectetur adipiscing elit.", "lorem_ipsum"),
    (PAGE + "\nThe function f() { return 1; } is tiny.", "curly_bracket"),
    ("One sentence here.\nTwo sentences there.\nno punctuation at the end of this line", "too_few_sentences"),
])
def test_c4_rules_drop(text, rule):
    d = decide("c4_quality", text)
    assert d is not None and d.startswith(rule + ":"), d


def test_c4_line_rules_only_remove_lines_from_the_count():
    # a '{' in a line without terminal punctuation is removed with the line, so it cannot drop the page
    assert decide("c4_quality", PAGE + "\nconfig = { a: 1 }") is None
    # 'javascript' lines are removed, not fatal, but then they do not count as sentences
    assert decide("c4_quality", PAGE + "\nPlease enable JavaScript to see this page.") is None
    assert decide("c4_quality", "Please enable JavaScript. It is needed. Really.\n" * 3).startswith("too_few")


@pytest.mark.parametrize("text, rule", [
    ("\n".join(PROSE.split()[:40]), "line_punct_ratio"),
    ("\n".join(["Yes.", "No.", "Maybe so.", PROSE]), "short_line_ratio"),
    ("\n".join([PROSE, "A line that appears twice in the page.", "A line that appears twice in the page."]),
     "char_dup_ratio"),
])
def test_fineweb_rules_drop(text, rule):
    d = decide("fineweb_quality", text)
    assert d is not None and d.startswith(rule + ":"), d


def test_fineweb_list_ratio_drops_one_word_lines():
    text = "\n".join(w.capitalize() + "." for w in "apple pear plum fig lime kiwi date".split())
    assert decide("fineweb_quality", text, short_line_thr=1.0, char_duplicates_ratio=1.0).startswith("list_ratio")


def test_detail_names_the_value_and_threshold():
    assert decide("gopher_quality", "Too short, with the and of.") == "gopher_short_doc: 6 < 50"
    assert decide("gopher_quality", PAGE, min_doc_words=1000) .startswith("gopher_short_doc: ")


def test_rules_can_be_switched_off():
    text = PROSE + " " + "#history " * 15
    assert decide("gopher_quality", text).startswith("gopher_too_many_hashes")
    assert decide("gopher_quality", text, max_symbol_word_ratio=None) is None
    assert decide("c4_quality", PAGE + "\nThe function f() { return 1; } is tiny.", filter_curly_bracket=False) is None
