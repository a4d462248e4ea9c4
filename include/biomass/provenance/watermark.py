"""Keyed green-list watermark (Kirchenbauer et al. 2023) for word-level generators, and its detector.

A word ``w`` after the word ``prev`` is *green* when a keyed hash of the pair falls below ``gamma``; sampling
multiplies green words' probabilities by ``exp(delta)`` (done exactly by rejection: a red draw is kept with
probability ``exp(-delta)``). The detector needs only the text and the key: it counts green pairs among the
*distinct* (previous word, word) pairs, so repeated phrases cannot inflate the score, and returns the z-score
of that count against Binomial(T, gamma). Text written without the key is green at rate gamma whatever it says.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from biomass.lm.tokenize import TokenBatch, whitespace_tokens
from biomass.schema import canonical_json

SCHEME = "kgw-wordpair-v1"
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: int) -> int:
    """splitmix64 finaliser: spreads the pair hash over all 64 bits."""
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _mix_np(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


@dataclass(frozen=True)
class WatermarkScore:
    z: float
    green: int
    pairs: int

    def as_dict(self) -> dict:
        return {"z": round(self.z, 4), "green": self.green, "pairs": self.pairs}


class Watermarker:
    """Green-list membership for (previous word, word) pairs under one secret key and settings."""

    def __init__(self, key: bytes, gamma: float = 0.25, delta: float = 2.0):
        if not key:
            raise ValueError("watermark key must not be empty")
        if not 0.0 < gamma < 1.0:
            raise ValueError("gamma must be in (0, 1)")
        self._key = hashlib.sha256(b"biomass-watermark-v1\x00" + key).digest()
        self.gamma = float(gamma)
        self.delta = float(delta)
        self.threshold = int(self.gamma * 2**64)
        self.keep_red = math.exp(-self.delta)
        self._hash_cache: dict[str, int] = {}

    @property
    def key_id(self) -> str:
        """Public fingerprint of the key (a hash of a hash of it): names the key without revealing it."""
        return hashlib.sha256(b"key-id\x00" + self._key).hexdigest()[:16]

    def settings(self) -> dict:
        return {"scheme": SCHEME, "gamma": self.gamma, "delta": self.delta, "key_id": self.key_id}

    def settings_id(self) -> str:
        """What the detector must match: scheme, gamma, delta and key (by id). Stored with every generation."""
        return hashlib.sha256(canonical_json(self.settings()).encode()).hexdigest()[:16]

    def token_hash(self, token: str) -> int:
        h = self._hash_cache.get(token)
        if h is None:
            h = int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=8, key=self._key).digest(),
                               "little")
            if len(self._hash_cache) < 1_000_000:
                self._hash_cache[token] = h
        return h

    def is_green_hashed(self, h_prev: int, h_word: int) -> bool:
        return _mix(((h_prev * _GOLDEN) + h_word) & _M64) < self.threshold

    def acceptor(self, vocab: Sequence[str]):
        """The rejection step for ``NgramModel.sample``: keep green draws, keep red ones w.p. exp(-delta)."""
        hashes = [self.token_hash(t) for t in vocab]
        thr, keep_red, golden, mix = self.threshold, self.keep_red, _GOLDEN, _mix

        def accept(prev: int, word: int, u: float) -> bool:
            return mix(((hashes[prev] * golden) + hashes[word]) & _M64) < thr or u < keep_red

        return accept

    def vector_acceptor(self, vocab: Sequence[str]):
        """``acceptor`` over arrays (previous ids, word ids, uniforms), for the batch sampler: same decisions."""
        hashes = np.array([self.token_hash(t) for t in vocab], dtype=np.uint64)
        thr, keep_red, golden = np.uint64(self.threshold), self.keep_red, np.uint64(_GOLDEN)

        def accept(prev: np.ndarray, word: np.ndarray, u: np.ndarray) -> np.ndarray:
            with np.errstate(over="ignore"):
                return (_mix_np(hashes[prev] * golden + hashes[word]) < thr) | (u < keep_red)

        return accept

    def score_tokens(self, tokens: Sequence[str]) -> WatermarkScore:
        pairs = sorted(set(zip(tokens, tokens[1:])))
        t = len(pairs)
        if t == 0:
            return WatermarkScore(0.0, 0, 0)
        hp = np.array([self.token_hash(a) for a, _ in pairs], dtype=np.uint64)
        hw = np.array([self.token_hash(b) for _, b in pairs], dtype=np.uint64)
        with np.errstate(over="ignore"):
            mixed = _mix_np(hp * np.uint64(_GOLDEN) + hw)
        green = int((mixed < np.uint64(self.threshold)).sum())
        z = (green - self.gamma * t) / math.sqrt(t * self.gamma * (1.0 - self.gamma))
        return WatermarkScore(float(z), green, t)

    def score(self, text: str) -> WatermarkScore:
        """z-score of the text's green pairs; needs no metadata, only the same key and settings."""
        return self.score_tokens(whitespace_tokens(text))

    def score_batch(self, batch: TokenBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, green, pairs) per text of ``batch``: ``score`` of each text, computed for all at once.

        Each distinct token is hashed once per batch, each text's distinct pairs are found by one sort, and z
        is the same float expression as in ``score_tokens``, element by element, so the floats are identical.
        """
        doc, prev, word = batch.distinct_pairs()
        hashes = np.array([self.token_hash(t) for t in batch.vocab], dtype=np.uint64)
        with np.errstate(over="ignore"):
            mixed = _mix_np(hashes[prev] * np.uint64(_GOLDEN) + hashes[word])
        n = len(batch)
        green = np.bincount(doc[mixed < np.uint64(self.threshold)], minlength=n).astype(np.int64)
        pairs = np.bincount(doc, minlength=n).astype(np.int64)
        t = pairs.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (green.astype(np.float64) - self.gamma * t) / np.sqrt(t * self.gamma * (1.0 - self.gamma))
        z[pairs == 0] = 0.0
        return z, green, pairs
