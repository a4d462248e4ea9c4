"""``language/1``: keep documents in the configured languages, judged on the ``lang`` every stage already
detected (py3langid, ``biomass.text``), so the common case reads one short column and no text.

The optional ``min_score`` is datatrove's ``language_threshold``: records carry the detected label but not the
detector's confidence, so with a threshold set the filter computes it, for the record's own label, on the same
2,000-character sample the tagger read (``biomass.text.lang_confidences``: py3langid's normalised probability),
and only for rows whose language is in the list. Unset (the default), no text is read.
"""

from __future__ import annotations

from typing import Optional, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from biomass.filters.base import DocumentFilter, FilterParams


class LanguageParams(FilterParams):
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1,
                                 description="ISO 639-1 codes to keep (as ``lang`` holds them; 'und': no letters)")
    min_score: Optional[float] = Field(None, ge=0.0, le=1.0, description="drop rows whose detector confidence "
                                       "in their language is below this (datatrove's default: 0.65); None: off")

    @field_validator("languages")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not v or v != v.strip().lower()]
        if bad:
            raise ValueError(f"language codes are lower-case ISO 639-1 codes as detected (e.g. 'en'), not {bad}")
        return sorted(set(value))


class LanguageFilter(DocumentFilter):
    name = "language"
    version = 1
    Params = LanguageParams
    columns = ("lang",)

    def __init__(self, params: LanguageParams | dict | None = None) -> None:
        super().__init__(params)
        if self.params.min_score is not None:
            self.columns = ("lang", "text")   # the confidence needs the text

    def decide(self, batch: pa.RecordBatch | pa.Table) -> Sequence[str | None]:
        langs = batch.column("lang")
        keep = pc.fill_null(pc.is_in(langs, value_set=pa.array(self.params.languages, pa.string())), False)
        wanted = ", ".join(self.params.languages)
        out: list[str | None] = [None if k else f"lang {lang} not in [{wanted}]"
                                 for k, lang in zip(keep.to_pylist(), langs.to_pylist())]
        threshold = self.params.min_score
        if threshold is None:
            return out
        from biomass.text import lang_confidences

        rows = [i for i, d in enumerate(out) if d is None]
        if not rows:
            return out
        index = pa.array(rows, pa.int64())
        texts = batch.column("text").take(index).to_pylist()
        labels = langs.take(index).to_pylist()
        for i, label, score in zip(rows, labels, lang_confidences([t or "" for t in texts], labels)):
            if score < threshold:
                out[i] = f"lang {label} score {score:.3f} < {threshold}"
        return out
