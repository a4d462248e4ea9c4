"""``biomass._langwalk``: py3langid's automaton walk in C gives, per text, exactly the Counter py3langid's own
``visit_counts`` builds (features, counts and insertion order, which fixes the float32 sum order of the score);
bad tables are refused, not read out of bounds."""

from __future__ import annotations

import numpy as np
import pytest
from py3langid.langid import visit_counts

from biomass._langwalk import visits
from biomass.text import _langid_tables

TEXTS = ["", "a", "1234 5678", "The quick brown fox jumps over the lazy dog. " * 40,
         "Привет, как дела? Это русский текст.", "日本語のテキストです。", "Das ist ein Text über Häuser.",
         "emoji 😀 text", "Ω" * 3000, "\x00 abc\n\ttab", "mixed English и русский 中文 text " * 20]


def _walk(encoded):
    ident, nextmove, rowbase, output, table = _langid_tables()
    bounds, feats, counts = (np.frombuffer(b, np.int64) for b in visits(encoded, nextmove, rowbase, output,
                                                                          len(table)))
    return [list(zip(feats[a:b].tolist(), counts[a:b].tolist())) for a, b in zip(bounds[:-1], bounds[1:])]


def test_visits_are_py3langids_counters_in_order():
    ident = _langid_tables()[0]
    rng = np.random.default_rng(7)
    noise = [bytes(rng.integers(0, 256, int(n)).astype(np.uint8)) for n in rng.integers(0, 3000, 25)]
    encoded = [ident._encode(t) for t in TEXTS] + noise   # 36 texts: more than one group of lanes, a short tail
    got = _walk(encoded)
    for text, row in zip(encoded, got):
        want = visit_counts(ident.tk_nextmove, ident._rowbase, ident.tk_output, text)
        assert row == (list(want.items()) if want else [])


def test_an_empty_batch_has_one_bound():
    assert _walk([]) == []


def test_bad_tables_and_inputs_are_refused():
    ident, nextmove, rowbase, output, table = _langid_tables()
    with pytest.raises(TypeError, match="int32"):
        visits([b"abc"], nextmove.astype(np.int64), rowbase, output, len(table))
    with pytest.raises(TypeError, match="not bytes"):
        visits(["abc"], nextmove, rowbase, output, len(table))
    with pytest.raises(ValueError, match="out of range"):
        visits([b"abc"], nextmove[:10], rowbase, output, len(table))
    with pytest.raises(ValueError, match="out of range"):
        visits([ident._encode(TEXTS[3])], nextmove, rowbase, output, 1)
    with pytest.raises(ValueError, match="one entry per state"):
        visits([b"abc"], nextmove, rowbase, output[:-1], len(table))
