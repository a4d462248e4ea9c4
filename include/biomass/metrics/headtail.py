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
from collections import Counter
from typing import Any, Mapping, Protocol, Sequence

import numpy as np

from biomass.metrics.config import MetricsConfig
from biomass.metrics.reference import ReferenceProfile
from biomass.metrics.tokens import words

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
        counts = Counter(w for text in reference_texts for s in sentences(text) for w in words(s))
    # One sentence's tokens at a time: a 1M-document generation's held-out reference is ~1.5M sentences and
    # ~30M words, ~3 GB as lists of Python strings. The scores are the same sums in the same order.
    pieces: list[str] = []
    eligible: list[int] = []
    score_list: list[float] = []
    for text in reference_texts:
        for sentence in sentences(text):
            ws = words(sentence)
            if len(ws) >= config.min_sentence_tokens:
                eligible.append(len(pieces))
                score_list.append(sum(math.log1p(counts.get(w, 0)) for w in ws) / len(ws))
            pieces.append(sentence)
    scores = np.array(score_list, dtype=np.float64)
    k = min(max(1, int(config.head_tail_fraction * len(eligible))), len(eligible) // 2)
    order = np.lexsort((np.arange(len(eligible)), scores))  # ascending score, then position
    tail_idx, head_idx = order[:k], order[len(order) - k:] if k else order[:0]
    figures = {
        "sentences": len(pieces),
        "sentences_scored": len(eligible),
        "head_sentences": int(k),
        "tail_sentences": int(k),
        "head_mean_log_count": float(scores[head_idx].mean()) if k else None,
        "tail_mean_log_count": float(scores[tail_idx].mean()) if k else None,
    }
    return ([pieces[eligible[i]] for i in sorted(head_idx)], [pieces[eligible[i]] for i in sorted(tail_idx)],
            figures)


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
