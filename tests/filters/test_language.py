"""language/1: keep the configured languages (the detected ``lang``), and with ``min_score`` the detector's
confidence in that language, which matches py3langid's own normalised probability."""

from __future__ import annotations

import pytest

from biomass.filters import FilterError, build_chain
from biomass.text import detect_langs, lang_confidences

# Real sentences (Debian's German and French package descriptions, as apt shows them) for the non-English rows.
GERMAN = ("Dieses Paket enthält die Dokumentation für die Programmiersprache Python. Es umfasst die Anleitung, "
          "die Bibliotheksreferenz und die Sprachreferenz.")
FRENCH = ("Ce paquet contient la documentation du langage de programmation Python, y compris le tutoriel, la "
          "référence de la bibliothèque et la référence du langage.")


def test_keeps_listed_languages_and_drops_the_rest_with_the_language_in_the_detail(human_docs, records):
    texts = [human_docs[0], GERMAN, FRENCH, human_docs[1]]
    table = records(texts, langs=detect_langs(texts))
    (f,) = build_chain([{"name": "language/1", "params": {"languages": ["en", "fr"]}}])
    assert f.decide(table) == [None, "lang de not in [en, fr]", None, None]


def test_without_a_threshold_only_the_lang_column_is_read(records):
    (f,) = build_chain(["language"])
    assert f.columns == ("lang",)
    assert f.decide(records(["x", "y", "z"], langs=["en", "und", "de"]).select(["lang"])) == [
        None, "lang und not in [en]", "lang de not in [en]"]


def test_min_score_drops_rows_the_detector_was_unsure_of(human_docs, records):
    unsure = "ok"   # two letters: py3langid labels it, with almost no confidence
    texts = [human_docs[2], unsure]
    table = records(texts, langs=detect_langs(texts))
    (f,) = build_chain([{"name": "language", "params": {"languages": sorted(set(detect_langs(texts))),
                                                        "min_score": 0.65}}])
    assert f.columns == ("lang", "text")
    decisions = f.decide(table)
    assert decisions[0] is None
    assert decisions[1] is not None and "score 0.0" in decisions[1] and "< 0.65" in decisions[1]


def test_confidences_are_py3langids_normalised_probabilities(human_docs):
    import py3langid.langid as langid

    ident = langid.LanguageIdentifier.from_model_file(langid.MODEL_FILE, norm_probs=True)
    texts = human_docs[:40] + [GERMAN, FRENCH]
    langs = detect_langs(texts)
    got = lang_confidences(texts, langs)
    checked = 0
    for text, lang, conf in zip(texts, langs, got):
        label, expected = ident.classify(text[:2000])
        if label == lang:      # raw and normalised decisions agree but for aliased labels
            assert conf == pytest.approx(expected, rel=1e-5, abs=1e-7)
            checked += 1
    assert checked >= 40
    assert lang_confidences(["12345 !!!"], ["und"]) == [0.0]


@pytest.mark.parametrize("params", [{"languages": []}, {"languages": ["EN"]}, {"min_score": 1.5},
                                    {"languages": ["en"], "threshold": 0.5}])
def test_bad_parameters_are_refused(params):
    with pytest.raises(FilterError, match="language/1: bad parameters"):
        build_chain([{"name": "language", "params": params}])
