"""Word tokens shared by the generator and the watermark detector.

Both sides must split text identically, or the detector counts the wrong (previous word, word) pairs.
A token is a run of non-space characters of the normalised text; generated text joins tokens with one space,
so ``words(join(ws)) == ws`` for every token list ``ws`` the generator emits.
"""

from __future__ import annotations

from biomass.text import normalize


def words(text: str) -> list[str]:
    """Whitespace tokens of the normalised text (punctuation stays attached, as written)."""
    return normalize(text).split()


def join(tokens: list[str]) -> str:
    return " ".join(tokens)
