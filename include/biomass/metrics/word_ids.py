"""Words as integer ids: tokenise once, then every metric is numpy over one id array.

A token is one of ``biomass.lm.tokenize.nfkc_word_tokens`` (a maximal run of ``\\w`` characters of the
NFKC-normalised, lowercased text, the same words the dedup shingles use). Python touches each token once
(regex + one dict lookup in C via ``map``); everything after that is array arithmetic, which is what lets 100k
documents finish in seconds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from biomass.lm.tokenize import nfkc_word_tokens

# Odd 64-bit multiplier for the polynomial n-gram hash (the FNV-1a 64-bit prime).
_NGRAM_MULT = np.uint64(0x100000001B3)
_CHUNK_TOKENS = 1 << 20


class _AutoIndex(dict):
    """word -> dense id; a missing word gets the next id, so ``map(index.__getitem__, words)`` runs in C.

    ``order`` lists the words by id, so the words added since id ``k`` are a slice, not a walk of the dict.
    """

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def __missing__(self, word: str) -> int:
        value = self[word] = len(self)
        self.order.append(word)
        return value


@dataclass(frozen=True)
class Corpus:
    """A tokenised corpus: ``ids`` is every token of every document in order, ``lengths`` tokens per document."""

    ids: np.ndarray  # int64, shape (tokens,)
    lengths: np.ndarray  # int64, shape (docs,)

    @property
    def docs(self) -> int:
        return int(self.lengths.size)

    @property
    def tokens(self) -> int:
        return int(self.ids.size)

    def counts(self, size: int) -> np.ndarray:
        """Occurrences of each id, as an array of ``size`` (the shared vocabulary's size)."""
        return np.bincount(self.ids, minlength=size).astype(np.int64)

    def starts_mask(self, n: int) -> np.ndarray:
        """True at every position where an n-gram starts and stays inside its document."""
        total = self.ids.size
        if total < n:
            return np.zeros(0, dtype=bool)
        mask = np.ones(total, dtype=bool)
        ends = np.cumsum(self.lengths)
        # the last n-1 positions of each document would run into the next one
        for k in range(1, n):
            has = self.lengths >= k
            mask[ends[has] - k] = False
        return mask[: total - n + 1]

    def ngram_ids(self, n: int, vocab_size: int) -> np.ndarray:
        """Exact keys of every in-document n-gram (mixed-radix over the vocabulary); only for small n * log V."""
        if vocab_size ** n >= 2**63:
            raise ValueError(f"{n}-gram keys over {vocab_size} types overflow int64; use ngram_hashes")
        mask = self.starts_mask(n)
        m = mask.size
        key = np.zeros(m, dtype=np.int64)
        for j in range(n):
            key = key * vocab_size + self.ids[j: j + m]
        return key[mask]

    def ngram_hashes(self, n: int, word_hashes: np.ndarray) -> np.ndarray:
        """64-bit hashes of every in-document n-gram, from per-word hashes (stable across corpora and runs)."""
        mask = self.starts_mask(n)
        m = mask.size
        h = word_hashes[self.ids]
        key = np.zeros(m, dtype=np.uint64)
        for j in range(n):
            key = key * _NGRAM_MULT + h[j: j + m]
        return key[mask]


class Encoder:
    """Tokenises texts into ids over one growing shared vocabulary."""

    def __init__(self) -> None:
        self._index = _AutoIndex()

    def __len__(self) -> int:
        return len(self._index)

    def id_of(self, word: str) -> int:
        return self._index[word]

    def ids_of(self, words_: Iterable[str]) -> np.ndarray:
        return np.fromiter(map(self._index.__getitem__, words_), dtype=np.int64)

    def words(self, start: int = 0) -> list[str]:
        """The words with ids ``start, start + 1, ...`` (id order is first-occurrence order)."""
        return self._index.order[start:]

    @classmethod
    def from_words(cls, words_: Sequence[str]) -> "Encoder":
        """The encoder whose ids are ``0, 1, ...`` for ``words_`` (distinct, in id order), as ``words()`` gave them."""
        other = cls()
        dict.update(other._index, zip(words_, range(len(words_))))
        other._index.order = list(words_)
        if len(other._index) != len(words_):
            raise ValueError("an encoder's words must be distinct")
        return other

    def copy(self) -> "Encoder":
        """An independent encoder with the same ids, to extend without touching this one."""
        other = Encoder()
        dict.update(other._index, self._index)
        other._index.order = list(self._index.order)
        return other

    def encode(self, texts: Sequence[str]) -> Corpus:
        getitem = self._index.__getitem__
        lengths = np.zeros(len(texts), dtype=np.int64)
        chunks: list[np.ndarray] = []
        pending: list[int] = []
        for i, text in enumerate(texts):
            if text is None:
                raise ValueError(f"document {i} has no text (None)")
            toks = nfkc_word_tokens(text)
            lengths[i] = len(toks)
            pending.extend(map(getitem, toks))
            if len(pending) >= _CHUNK_TOKENS:
                chunks.append(np.array(pending, dtype=np.int64))
                pending = []
        if pending or not chunks:
            chunks.append(np.array(pending, dtype=np.int64))
        return Corpus(ids=np.concatenate(chunks), lengths=lengths)


def word_hash(word: str) -> int:
    """Stable 64-bit hash of one word (blake2b), the building block of n-gram hashes."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def word_hashes(words_: Sequence[str]) -> np.ndarray:
    return np.fromiter((word_hash(w) for w in words_), dtype=np.uint64, count=len(words_))


def ngram_hash(tokens: Sequence[str]) -> int:
    """The hash ``Corpus.ngram_hashes`` gives the n-gram ``tokens`` (used by tests and tools)."""
    key = 0
    for w in tokens:
        key = (key * int(_NGRAM_MULT) + word_hash(w)) % (1 << 64)
    return key
