"""C4's page heuristics (Raffel et al. 2020), deciding as datatrove 0.10.1's ``C4QualityFilter``.

datatrove's C4 filter also *rewrites* a kept page: it removes the lines that fail the line rules (no terminal
punctuation, fewer than 3 words, 'javascript', a cookie/terms-of-use phrase, a word over 1000 characters) and
strips citation marks. biomass filters only keep or drop, so ``c4_quality`` is the drop decision alone: a page is
dropped exactly when datatrove drops it (lorem ipsum or a curly bracket in a line that survived the line rules,
or fewer than ``min_num_sentences`` sentences in the surviving lines), and a kept page keeps all its text.
Rewriting records here would change their text after provenance was computed; a user who wants C4's line removal
gets its page decision, and can turn the line rules off (``filter_no_terminal_punct=False`` etc.) to make the
sentence count run over more of the page, as FineWeb did.
"""

from __future__ import annotations

import re

from biomass.filters import _textstats
from biomass.filters.base import DocumentFilter, FilterParams
from biomass.filters.textual import detail, texts
from biomass.filters.words import count_sentences

CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
END_PUNCTUATION = (".", "?", "!", '"', "'")
ELLIPSIS = "..."
POLICY_SUBSTRINGS = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies",
                     "use cookies")


class C4QualityParams(FilterParams):
    """datatrove's defaults; -1 turns a count rule off. Lines are split on line breaks (datatrove's default
    ``split_paragraph=True``; its sentence-split mode is not implemented)."""

    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5
    min_words_per_line: int = 3
    max_word_length: int = 1000
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


class C4QualityFilter(DocumentFilter):
    """Drops pages with 'lorem ipsum' or '{' in a surviving line, or too few sentences in the surviving lines."""

    name = "c4_quality"
    version = 1
    Params = C4QualityParams

    def decide(self, batch):
        return [self._one(text) for text in texts(batch)]

    def _one(self, text: str) -> str | None:
        """The line rules that need no lower-casing run in the ``_textstats`` kernel (``c4_lines``)."""
        p = self.params
        return self._judge(_textstats.c4_lines(text, p.max_word_length, p.remove_citations,
                                               p.filter_no_terminal_punct, p.min_words_per_line))

    def reference_one(self, text: str) -> str | None:
        """The same decision as datatrove's loop in pure Python: what the kernel path is tested against."""
        return self._judge(self._reference_lines(text))

    def _reference_lines(self, text: str):
        """The lines ``c4_lines`` keeps, in Python: stripped, no over-long word, citations cut, ending in terminal
        punctuation, long enough."""
        p = self.params
        for line in text.splitlines():
            line = line.strip()
            words = line.split()
            if p.max_word_length != -1 and any(len(w) > p.max_word_length for w in words):
                continue
            if p.remove_citations:
                line = CITATION.sub("", line)
            if p.filter_no_terminal_punct and (not line.endswith(END_PUNCTUATION) or line.endswith(ELLIPSIS)):
                continue
            if len(words) < p.min_words_per_line:
                continue
            yield line

    def _judge(self, lines) -> str | None:
        """The rules on the kept lines, in datatrove's order, shared by both paths."""
        p = self.params
        need = p.min_num_sentences
        sentences = 0
        for line in lines:
            lower = line.lower()
            if p.filter_lorem_ipsum and "lorem ipsum" in lower:
                return "lorem_ipsum: a kept line contains 'lorem ipsum'"
            if p.filter_javascript and "javascript" in lower:
                continue
            if p.filter_curly_bracket and "{" in line:
                return "curly_bracket: a kept line contains '{'"
            if p.filter_policy and any(s in lower for s in POLICY_SUBSTRINGS):
                continue
            if need != -1 and sentences < need:   # past the threshold the count cannot change the decision
                sentences += count_sentences(line)
        if sentences < need:
            return detail("too_few_sentences", sentences, "<", need)
        return None
