"""Text normalisation and language identification shared by every stage."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200b\u3000]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalize(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def detect_lang(text: str, sample_chars: int = 2000) -> str:
    """ISO 639-1 code from py3langid's bundled model (deterministic), or 'und' for text with no letters."""
    sample = text[:sample_chars]
    if not any(ch.isalpha() for ch in sample):
        return "und"
    import py3langid

    return py3langid.classify(sample)[0]
