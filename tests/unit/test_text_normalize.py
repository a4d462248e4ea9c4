"""``biomass.text.normalize`` (written for speed) gives exactly what the straightforward version gives: one
regex sub per line of every space run, then strip, then blank lines folded."""

from __future__ import annotations

import random
import re
import unicodedata

from biomass.text import normalize

_REF_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_REF_BLANK = re.compile(r"\n{3,}")
_REF_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def reference_normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _REF_CONTROL.sub("", text)
    lines = [_REF_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _REF_BLANK.sub("\n\n", "\n".join(lines)).strip()


ALPHABET = list("ab Z.") + [" ", " ", "\t", "\f", "\v", "\u00a0", "\u2000", "\u2005", "\u200b", "\u3000", "\u200c",
                            "\n", "\n", "\r", "\r\n", "\x00", "\x1f", "\x7f", "\x85", "\u2028", "\u1680", "e\u0301", "-"]


def test_normalize_equals_the_reference_on_random_whitespace_soup():
    rng = random.Random(13)
    texts = ["", " ", "\n\n\n", "a  b", "a\u00a0b", "a \t b", "a\n\n\n\nb", " \n \n \n x", "x\u200by"]
    texts += ["".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 60))) for _ in range(3000)]
    bad = [t for t in texts if normalize(t) != reference_normalize(t)]
    assert not bad, [repr(t) for t in bad[:5]]
