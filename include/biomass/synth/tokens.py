"""Word tokens shared by the generator and the watermark detector.

Both sides must split text identically, or the detector counts the wrong (previous word, word) pairs.
A token is a run of non-space characters of the normalised text; generated text joins tokens with one space,
so ``words(join(ws)) == ws`` for every token list ``ws`` the generator emits.
"""

from __future__ import annotations

import re
import unicodedata

# What ``biomass.text.normalize`` changes that ``str.split`` can see: it deletes control characters (after NFC)
# and turns U+200B (not whitespace to ``str.split``) into a space. Line handling, space runs and stripping only
# move whitespace around, which ``split`` ignores. So ``words`` equals ``normalize(text).split()`` (a property
# test holds it to that) at one regex pass instead of one per line: training tokenises the whole parent.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def words(text: str) -> list[str]:
    """Whitespace tokens of the normalised text (punctuation stays attached, as written)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\u200b", " ").split()


def join(tokens: list[str]) -> str:
    return " ".join(tokens)
