"""What the quality filters share: reading a batch's texts, datatrove's punctuation sets, duplicate counting and
the detail format (the rule that fired, as datatrove names it, and the measured value against its threshold)."""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from biomass.filters import _spacy_en_rules as R
from biomass.filters import _textstats

PUNCTUATION_SET = frozenset(R.DATATROVE_PUNCTUATION) | frozenset(R.DATATROVE_TERMINAL_PUNCTUATION)
TERMINAL_PUNCTUATION = tuple(R.DATATROVE_TERMINAL_PUNCTUATION)
_textstats.set_punctuation("".join(sorted(PUNCTUATION_SET)))


def texts(batch: pa.RecordBatch | pa.Table) -> list[str]:
    """The ``text`` column as Python strings (a null text is the empty string)."""
    return ["" if t is None else t for t in batch.column("text").to_pylist()]


def find_duplicates(items: Sequence[str]) -> tuple[int, int]:
    """datatrove's ``find_duplicates``: (repeated elements, their characters), a first occurrence not counted."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def detail(rule: str, value: float | int, op: str, threshold: float | int) -> str:
    """``rule: value op threshold``, e.g. ``gopher_short_doc: 12 < 50`` (ratios to 4 decimals)."""
    fmt = (lambda v: f"{v:.4f}") if isinstance(value, float) or isinstance(threshold, float) else str
    return f"{rule}: {fmt(value)} {op} {threshold}"
