"""Gopher's quality and repetition heuristics (Rae et al. 2021, table A1), decision for decision as datatrove
0.10.1's ``GopherQualityFilter`` and ``GopherRepetitionFilter`` (tests/filters/test_parity.py proves it).

Rules run in datatrove's order and the first that fires is the reason. A threshold set to None (or 0) is off,
as in datatrove. Word counts come from datatrove's English tokenizer (``biomass.filters.words``); the counting
is the ``_textstats`` kernel.
"""

from __future__ import annotations

import math
import re

from biomass.filters.base import DocumentFilter, FilterParams
from biomass.filters import _textstats
from biomass.filters.textual import detail, find_duplicates, texts
from biomass.filters.words import word_tokenize

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityParams(FilterParams):
    """datatrove's defaults."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: tuple[str, ...] = STOP_WORDS


class GopherQualityFilter(DocumentFilter):
    """Word count and length, '#' and ellipsis density, bullet and ellipsis lines, alphabetic words, stop words.

    Where datatrove would divide by zero (no words at all, possible only with ``min_doc_words`` off) the
    document is dropped as ``gopher_no_words`` instead of failing the batch."""

    name = "gopher_quality"
    version = 1
    Params = GopherQualityParams

    def decide(self, batch):
        stop = frozenset(self.params.stop_words)
        return [self._one(text, stop) for text in texts(batch)]

    def _one(self, text: str, stop: frozenset[str]) -> str | None:
        p = self.params
        words = word_tokenize(text)
        n_words = len(words)
        n_real, real_chars, n_alpha = _textstats.word_stats(words)
        if p.min_doc_words and n_real < p.min_doc_words:
            return detail("gopher_short_doc", n_real, "<", p.min_doc_words)
        if p.max_doc_words and n_real > p.max_doc_words:
            return detail("gopher_long_doc", n_real, ">", p.max_doc_words)
        avg = real_chars / n_real if n_real else math.nan
        if p.min_avg_word_length and avg < p.min_avg_word_length:
            return detail("gopher_below_avg_threshold", avg, "<", p.min_avg_word_length)
        if p.max_avg_word_length and avg > p.max_avg_word_length:
            return detail("gopher_above_avg_threshold", avg, ">", p.max_avg_word_length)
        if n_words == 0:
            return "gopher_no_words: 0 words"
        if p.max_symbol_word_ratio:
            ratio = text.count("#") / n_words
            if ratio > p.max_symbol_word_ratio:
                return detail("gopher_too_many_hashes", ratio, ">", p.max_symbol_word_ratio)
            ratio = (text.count("...") + text.count("…")) / n_words
            if ratio > p.max_symbol_word_ratio:
                return detail("gopher_too_many_ellipsis", ratio, ">", p.max_symbol_word_ratio)
        n_lines, bullet_lines, ellipsis_lines = _textstats.line_stats(text)
        if p.max_bullet_lines_ratio:
            ratio = bullet_lines / n_lines
            if ratio > p.max_bullet_lines_ratio:
                return detail("gopher_too_many_bullets", ratio, ">", p.max_bullet_lines_ratio)
        if p.max_ellipsis_lines_ratio:
            ratio = ellipsis_lines / n_lines
            if ratio > p.max_ellipsis_lines_ratio:
                return detail("gopher_too_many_end_ellipsis", ratio, ">", p.max_ellipsis_lines_ratio)
        if p.max_non_alpha_words_ratio:
            ratio = n_alpha / n_words
            if ratio < p.max_non_alpha_words_ratio:
                return detail("gopher_below_alpha_threshold", ratio, "<", p.max_non_alpha_words_ratio)
        if p.min_stop_words:
            found = len(stop.intersection(words))
            if found < p.min_stop_words:
                return detail("gopher_enough_stop_words", found, "<", p.min_stop_words)
        return None


def line_stats_reference(text: str) -> tuple[int, int, int]:
    """Pure-Python ``_textstats.line_stats`` (datatrove's expressions): lines, bullet lines, ellipsis-ended lines."""
    lines = text.splitlines()
    return (len(lines), sum(s.lstrip().startswith(("•", "-")) for s in lines),
            sum(s.rstrip().endswith(("...", "…")) for s in lines))


class GopherRepetitionParams(FilterParams):
    """datatrove's defaults: fractions of the text's characters (or of its lines and paragraphs)."""

    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: tuple[tuple[int, float], ...] = ((2, 0.2), (3, 0.18), (4, 0.16))
    dup_n_grams: tuple[tuple[int, float], ...] = ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))


_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")


def dup_stats_reference(text: str) -> tuple[int, int, int, int, int, int]:
    """Pure-Python ``_textstats.dup_stats`` (datatrove's expressions): paragraphs, their repeats and repeated
    characters, then the same for lines."""
    paragraphs, lines = _PARAGRAPHS.split(text.strip()), _LINES.split(text)
    return (len(paragraphs), *find_duplicates(paragraphs), len(lines), *find_duplicates(lines))


class GopherRepetitionFilter(DocumentFilter):
    """Repeated paragraphs and lines (by count and by characters), the most frequent 2-4-gram, and the characters
    in repeated 5-10-grams."""

    name = "gopher_repetition"
    version = 1
    Params = GopherRepetitionParams

    def decide(self, batch):
        p = self.params
        top_ns = tuple(n for n, _ in p.top_n_grams)
        dup_ns = tuple(n for n, _ in p.dup_n_grams)
        return [self._one(text, top_ns, dup_ns) for text in texts(batch)]

    def _one(self, text: str, top_ns, dup_ns) -> str | None:
        p = self.params
        if not text:
            return "empty"
        size = len(text)
        n_paras, n_dup, dup_chars, n_lines, n_dup_lines, dup_line_chars = _textstats.dup_stats(text)
        if p.dup_para_frac and n_dup / n_paras > p.dup_para_frac:
            return detail("dup_para_frac", n_dup / n_paras, ">", p.dup_para_frac)
        if p.dup_para_char_frac and dup_chars / size > p.dup_para_char_frac:
            return detail("dup_para_char_frac", dup_chars / size, ">", p.dup_para_char_frac)
        n_dup, dup_chars = n_dup_lines, dup_line_chars
        if p.dup_line_frac and n_dup / n_lines > p.dup_line_frac:
            return detail("dup_line_frac", n_dup / n_lines, ">", p.dup_line_frac)
        if p.dup_line_char_frac and dup_chars / size > p.dup_line_char_frac:
            return detail("dup_line_char_frac", dup_chars / size, ">", p.dup_line_char_frac)
        top, dup = _textstats.ngram_stats(word_tokenize(text), top_ns, dup_ns)
        for (n, frac), chars in zip(p.top_n_grams, top):
            if chars >= 0 and chars / size > frac:
                return detail(f"top_{n}_gram", chars / size, ">", frac)
        for (n, frac), chars in zip(p.dup_n_grams, dup):
            if chars / size > frac:
                return detail(f"duplicated_{n}_n_grams", chars / size, ">", frac)
        return None
