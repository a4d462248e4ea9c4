"""Head versus tail: a generator's perplexity on frequent-word and rare-word held-out reference sentences.

The average perplexity can improve while the tail gets worse; scoring the two ends separately shows it.
Held-out reference text is cut into sentences; each sentence scores the mean of ``ln(1 + c(w))`` over its
tokens, with ``c`` the reference count of word ``w``. The ``head_tail_fraction`` highest-scoring sentences are the
head, the same number of lowest-scoring ones the tail (ties broken by position, so the split is deterministic).
"""

from __future__ import annotations

import hashlib
import math
import re
from array import array
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

import numpy as np

from biomass.config.metrics import MetricsConfig
from biomass.lm.tokenize import nfkc_word_tokens
from biomass.metrics.reference import ReferenceProfile

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n\s*\n")


class PerplexityModel(Protocol):
    def perplexity(self, texts: Sequence[str]) -> float: ...


def sentences(text: str) -> list[str]:
    """Split on ., ! or ? followed by whitespace, and on blank lines; strip and drop empty pieces."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def split_head_tail(reference_texts: Sequence[str], config: MetricsConfig,
                    counts: Mapping[str, int] | None = None) -> tuple[list[str], list[str], dict[str, Any]]:
    """(head sentences, tail sentences, figures). ``counts`` defaults to the word counts of the texts themselves."""
    if counts is None:
        counts = Counter(w for text in reference_texts for s in sentences(text) for w in nfkc_word_tokens(s))
    split = HeadTailSplit.score(reference_texts, config, counts)
    head: list[str] = []
    tail: list[str] = []
    for is_head, sentence in split.selected(reference_texts):
        (head if is_head else tail).append(sentence)
    return head, tail, split.figures


class HeadTailSplit:
    """The head/tail split of a stream of held-out texts, found without holding their sentences.

    ``score`` walks the texts once and keeps one float per scored sentence and one byte per sentence (a 1M-document
    generation's held-out reference is ~1.5M sentences and ~30M words: ~3 GB as lists of Python strings);
    ``selected`` walks the same texts again and yields the head and tail sentences in text order. The scores are
    the same sums in the same order as scoring every sentence at once, so the split is the same.
    """

    def __init__(self, scored: bytearray, scores: np.ndarray, config: MetricsConfig) -> None:
        self._scored = scored  # per sentence: 1 if it was scored (long enough)
        self.scores = scores  # per scored sentence, in text order
        eligible = scores.size
        k = min(max(1, int(config.head_tail_fraction * eligible)), eligible // 2)
        order = np.lexsort((np.arange(eligible), scores))  # ascending score, then position
        tail_idx, head_idx = order[:k], order[len(order) - k:] if k else order[:0]
        self._pick = np.zeros(eligible, dtype=np.uint8)  # per scored sentence: 1 head, 2 tail, 0 neither
        self._pick[head_idx] = 1
        self._pick[tail_idx] = 2
        self.figures = {
            "sentences": len(scored),
            "sentences_scored": int(eligible),
            "head_sentences": int(k),
            "tail_sentences": int(k),
            "head_mean_log_count": float(scores[head_idx].mean()) if k else None,
            "tail_mean_log_count": float(scores[tail_idx].mean()) if k else None,
        }

    @classmethod
    def score(cls, reference_texts: Iterable[str], config: MetricsConfig,
              counts: Mapping[str, int]) -> "HeadTailSplit":
        """Each sentence's mean ``ln(1 + c(w))``, one sentence's tokens at a time."""
        scored = bytearray()
        scores = array("d")
        for text in reference_texts:
            for sentence in sentences(text):
                ws = nfkc_word_tokens(sentence)
                long_enough = len(ws) >= config.min_sentence_tokens
                if long_enough:
                    scores.append(sum(math.log1p(counts.get(w, 0)) for w in ws) / len(ws))
                scored.append(long_enough)
        return cls(scored, np.frombuffer(scores, dtype=np.float64) if scores else np.zeros(0), config)

    def selected(self, reference_texts: Iterable[str]) -> Iterator[tuple[bool, str]]:
        """(True for head / False for tail, sentence) for the split's sentences, in text order; ``reference_texts``
        must be the texts ``score`` walked, in the same order."""
        position, rank = 0, 0
        scored, pick = self._scored, self._pick
        for text in reference_texts:
            for sentence in sentences(text):
                if scored[position]:
                    if pick[rank]:
                        yield bool(pick[rank] == 1), sentence
                    rank += 1
                position += 1
        if position != len(scored):
            raise ValueError(f"the reference texts gave {position} sentences the second time, {len(scored)} the first")


class _StreamedPerplexity:
    """exp of the mean negative log-probability per word of texts added one at a time, scored ``chunk`` at a time
    through ``model.token_logprobs``: the calls, hence the figure, of ``NgramModel.perplexity`` on the list."""

    def __init__(self, model: Any, chunk: int = 1_024) -> None:
        self.model, self.chunk = model, chunk
        self._pending: list[str] = []
        self._total, self._n = 0.0, 0

    def add(self, text: str) -> None:
        self._pending.append(text)
        if len(self._pending) >= self.chunk:
            self._flush()

    def _flush(self) -> None:
        for x in self.model.token_logprobs(self._pending) if self._pending else ():
            self._n += len(x)
            self._total += float(x.sum())
        self._pending = []

    def value(self) -> float:
        self._flush()
        return math.inf if self._n == 0 else float(math.exp(-self._total / self._n))


def streamed_head_tail_perplexity(model: Callable[[], Any], reference_texts: Callable[[], Iterable[str]],
                                  config: MetricsConfig, reference: ReferenceProfile,
                                  chunk: int = 1_024) -> dict[str, Any]:
    """``head_tail_perplexity`` (without perplexity_all) for held-out texts too many to hold: ``reference_texts()``
    gives a fresh iterator over the same texts each call (walked twice), ``model()`` the model (a
    ``token_logprobs`` scorer such as ``NgramModel``), asked for only when both ends have sentences. Only one
    chunk of sentences per end is held; the figures are those of ``head_tail_perplexity`` (the model scores
    each text alone, so the chunking does not change them)."""
    split = HeadTailSplit.score(reference_texts(), config, reference.count_of)
    ppl_head = ppl_tail = None
    if split.figures["head_sentences"]:
        scorer = model()
        head, tail = _StreamedPerplexity(scorer, chunk), _StreamedPerplexity(scorer, chunk)
        for is_head, sentence in split.selected(reference_texts()):
            (head if is_head else tail).add(sentence)
        ppl_head, ppl_tail = _finite(head.value()), _finite(tail.value())
    ratio = ppl_tail / ppl_head if ppl_head and ppl_tail is not None else None
    return {"perplexity_head": ppl_head, "perplexity_tail": ppl_tail, "tail_head_ratio": ratio, **split.figures}


def head_tail_perplexity(model: PerplexityModel, reference_texts: Sequence[str], config: MetricsConfig, *,
                         reference: ReferenceProfile | None = None) -> dict[str, Any]:
    """Perplexity of ``model`` on the head and the tail of held-out ``reference_texts``.

    Word frequencies come from ``reference`` if given (the frozen profile), else from the held-out texts.
    Returns perplexity_head, perplexity_tail, perplexity_all (head + tail), tail_head_ratio (> 1: the model
    finds rare text harder) and the split's figures; perplexities are None when no sentence qualifies or the
    model returns a non-finite value.
    """
    counts = reference.count_of if reference is not None else None
    head, tail, figures = split_head_tail(reference_texts, config, counts)
    if not head or not tail:
        ppl_head = ppl_tail = ppl_all = None
    else:
        ppl_head = _finite(model.perplexity(head))
        ppl_tail = _finite(model.perplexity(tail))
        ppl_all = _finite(model.perplexity(head + tail))
    ratio = ppl_tail / ppl_head if ppl_head and ppl_tail is not None else None
    return {"perplexity_head": ppl_head, "perplexity_tail": ppl_tail, "perplexity_all": ppl_all,
            "tail_head_ratio": ratio, **figures}


def is_held_out(doc_id: str, share: float = 0.1) -> bool:
    """Deterministic held-out split by document id: sha256(doc_id) read as a number in [0, 1) is below ``share``.

    Keep these reference documents out of every generator's training data, then score them here; the same id is
    held out in every run and on every machine.
    """
    digest = hashlib.sha256(doc_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
