"""FineWeb's own quality heuristics (Penedo et al. 2024), decision for decision as datatrove 0.10.1's
``FineWebQualityFilter``: lines ending in terminal punctuation, short lines, characters in duplicated lines,
and line breaks per word (list-like pages)."""

from __future__ import annotations

from biomass.filters.base import DocumentFilter, FilterParams
from biomass.filters.textual import TERMINAL_PUNCTUATION, detail, find_duplicates, texts
from biomass.filters.words import word_tokenize


class FineWebQualityParams(FilterParams):
    """datatrove's defaults; ``stop_chars`` None means datatrove's terminal punctuation set."""

    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: tuple[str, ...] | None = None
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class FineWebQualityFilter(DocumentFilter):
    """Drops pages whose lines rarely end a sentence, are mostly short, repeat, or are one word each."""

    name = "fineweb_quality"
    version = 1
    Params = FineWebQualityParams

    def decide(self, batch):
        stops = self.params.stop_chars if self.params.stop_chars is not None else TERMINAL_PUNCTUATION
        return [self._one(text, stops) for text in texts(batch)]

    def _one(self, text: str, stops: tuple[str, ...]) -> str | None:
        p = self.params
        lines = [line for line in text.split("\n") if line.strip() != ""]
        if not lines:
            return "empty"
        ratio = sum(1 for line in lines if line.endswith(stops)) / len(lines)
        if ratio < p.line_punct_thr and not (ratio == 0 and p.line_punct_exclude_zero):
            return detail("line_punct_ratio", ratio, "<", p.line_punct_thr)
        ratio = sum(1 for line in lines if len(line) <= p.short_line_length) / len(lines)
        if ratio > p.short_line_thr:
            return detail("short_line_ratio", ratio, ">", p.short_line_thr)
        ratio = find_duplicates(lines)[1] / len(text.replace("\n", ""))
        if ratio > p.char_duplicates_ratio:
            return detail("char_dup_ratio", ratio, ">", p.char_duplicates_ratio)
        n_words = len(word_tokenize(text))
        ratio = text.count("\n") / n_words
        if ratio > p.new_line_ratio:
            return detail("list_ratio", ratio, ">", p.new_line_ratio)
        return None
