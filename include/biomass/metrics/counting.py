"""Mergeable counts over a stream of documents: word counts, 64-bit key counts and distinct-key counts.

Each object takes documents (or keys) a batch at a time, merges with another of its kind, and holds memory in
proportion to what it counts (vocabulary, distinct keys), never to the text it has seen. Merging is exact:
the merged state is the state one object would have reached on all the batches (word ids in first-occurrence
order, provided the parts are merged in document order).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from biomass.metrics.arrays import unique_counts
from biomass.metrics.word_ids import Corpus, Encoder, word_hashes

# HyperLogLog with 2**16 one-byte registers: standard error 1.04 / 256 = 0.41 %.
HLL_PRECISION = 16
# distinct_2 stays an exact count of distinct bigram hashes up to this many (8 bytes each: 32 MB), then becomes
# a HyperLogLog estimate (docs/metrics.md).
EXACT_DISTINCT_LIMIT = 1 << 22


def sorted_union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct values of two sorted arrays (timsort merges the two runs in linear time)."""
    s = np.sort(np.concatenate((a, b)), kind="stable")
    if s.size == 0:
        return s
    return s[np.concatenate(([True], s[1:] != s[:-1]))]


def merge_counts(keys_a: np.ndarray, counts_a: np.ndarray, keys_b: np.ndarray,
                 counts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two (sorted distinct keys, counts) tables added together, still sorted and distinct."""
    keys = np.concatenate((keys_a, keys_b))
    counts = np.concatenate((counts_a, counts_b))
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    if keys.size == 0:
        return keys, counts
    starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
    return keys[starts], np.add.reduceat(counts, starts)


class TokenStats:
    """Exact word counts of a document stream, over one growing vocabulary (memory ~ vocabulary).

    ``encode`` tokenises a batch, adds its counts and returns the batch's ``Corpus`` (ids in the shared
    vocabulary) for figures that need token positions (n-grams, MSTTR); the batch itself is not kept.
    """

    def __init__(self) -> None:
        self.encoder = Encoder()
        self._counts = np.zeros(0, dtype=np.int64)
        self._hashes = np.zeros(0, dtype=np.uint64)
        self.docs = 0
        self.tokens = 0

    @property
    def counts(self) -> np.ndarray:
        """Occurrences of each word id (all > 0 once every id has been seen)."""
        return self._counts

    def words(self) -> list[str]:
        return self.encoder.words()

    @property
    def vocab_size(self) -> int:
        return len(self.encoder)

    def encode(self, texts: Sequence[str]) -> Corpus:
        corpus = self.encoder.encode(texts)
        self._add(np.bincount(corpus.ids, minlength=len(self.encoder)).astype(np.int64), corpus.docs, corpus.tokens)
        return corpus

    def update(self, texts: Sequence[str]) -> "TokenStats":
        self.encode(texts)
        return self

    def _add(self, counts: np.ndarray, docs: int, tokens: int) -> None:
        if counts.size > self._counts.size:
            self._counts = np.concatenate((self._counts, np.zeros(counts.size - self._counts.size, np.int64)))
        self._counts[: counts.size] += counts
        self.docs += docs
        self.tokens += tokens

    @classmethod
    def from_counts(cls, words: Sequence[str], counts: np.ndarray, docs: int, tokens: int) -> "TokenStats":
        """The state ``words()``, ``counts``, ``docs`` and ``tokens`` describe (e.g. read back from a stats file)."""
        if len(words) != counts.size:
            raise ValueError(f"{len(words)} words but {counts.size} counts")
        stats = cls()
        stats.encoder = Encoder.from_words(words)
        stats._counts = np.asarray(counts, dtype=np.int64).copy()
        stats.docs, stats.tokens = int(docs), int(tokens)
        return stats

    def hashes(self) -> np.ndarray:
        """64-bit hash of every word id (``tokens.word_hash``); each word is hashed once, when first needed."""
        have = self._hashes.size
        if have < len(self.encoder):
            self._hashes = np.concatenate((self._hashes, word_hashes(self.encoder.words(have))))
        return self._hashes

    def merge(self, other: "TokenStats") -> "TokenStats":
        """Add ``other``'s counts; its new words get ids after ours, in its id order."""
        ids = self.encoder.ids_of(other.words())
        counts = np.zeros(len(self.encoder), dtype=np.int64)
        counts[ids] = other.counts[: ids.size]
        self._add(counts, other.docs, other.tokens)
        return self


class KeyCounts:
    """Exact counts of 64-bit keys (n-gram hashes), memory ~ distinct keys.

    Batches become sorted runs; runs are merged log-structured (a run is merged into the one before it when it
    has grown to half its size), so n keys cost O(n log n) in all and at most ~2x the final table at a time.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []
        self.total = 0  # key occurrences added

    def add(self, keys: np.ndarray) -> None:
        self.total += int(keys.size)
        if keys.size:
            self._push(unique_counts(keys))

    def _push(self, run: tuple[np.ndarray, np.ndarray]) -> None:
        self._runs.append(run)
        while len(self._runs) >= 2 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            (kb, cb), (ka, ca) = self._runs.pop(), self._runs.pop()
            self._runs.append(merge_counts(ka, ca, kb, cb))

    def merge(self, other: "KeyCounts") -> "KeyCounts":
        self.total += other.total
        for run in other._runs:
            self._push(run)
        return self

    def table(self) -> tuple[np.ndarray, np.ndarray]:
        """(sorted distinct keys, their counts)."""
        while len(self._runs) > 1:
            (kb, cb), (ka, ca) = self._runs.pop(), self._runs.pop()
            self._runs.append(merge_counts(ka, ca, kb, cb))
        if not self._runs:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        return self._runs[0]


def _mix64(keys: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads structured keys (polynomial n-gram hashes) over all 64 bits."""
    z = keys.astype(np.uint64, copy=True)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


class HyperLogLog:
    """HyperLogLog (Flajolet et al., 2007) over 64-bit keys: mergeable by register maximum, so the registers,
    hence the estimate, depend only on the set of keys added, not on order, batching or grouping."""

    def __init__(self, precision: int = HLL_PRECISION) -> None:
        self.precision = precision
        self.registers = np.zeros(1 << precision, dtype=np.uint8)

    def add(self, keys: np.ndarray) -> None:
        if keys.size == 0:
            return
        z = _mix64(keys)
        low_bits = 64 - self.precision
        index = (z >> np.uint64(low_bits)).astype(np.intp)
        rest = (z & np.uint64((1 << low_bits) - 1)).astype(np.float64)  # < 2**53: exact in a float
        _, exponent = np.frexp(rest)  # bit length of rest (0 for 0)
        rank = (low_bits + 1 - exponent).astype(np.uint8)  # position of the first 1 bit, 1-based
        np.maximum.at(self.registers, index, rank)

    def merge(self, other: "HyperLogLog") -> "HyperLogLog":
        if other.precision != self.precision:
            raise ValueError(f"cannot merge HyperLogLog of precision {other.precision} into {self.precision}")
        np.maximum(self.registers, other.registers, out=self.registers)
        return self

    def estimate(self) -> float:
        m = float(self.registers.size)
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            return m * np.log(m / zeros)  # linear counting for small sets
        return raw


class DistinctKeys:
    """How many distinct 64-bit keys a stream holds: exact while that number is at most ``exact_limit``,
    a HyperLogLog estimate beyond it (``exact_limit=None``: always exact).

    The answer is a function of the set of keys alone (exact iff the set is small enough; the sketch of a set
    does not depend on how it was built), so any batching and any merge order give the same value.
    """

    def __init__(self, exact_limit: int | None = EXACT_DISTINCT_LIMIT, precision: int = HLL_PRECISION) -> None:
        self.exact_limit = exact_limit
        self.precision = precision
        self._runs: list[np.ndarray] = []
        self._sketch: HyperLogLog | None = None

    @property
    def is_exact(self) -> bool:
        return self._sketch is None

    def add_distinct(self, sorted_keys: np.ndarray) -> None:
        """Add keys that are already sorted and distinct (e.g. a batch's ``unique_sorted`` n-grams)."""
        if self._sketch is not None:
            self._sketch.add(sorted_keys)
        elif sorted_keys.size:
            self._push(sorted_keys)

    def _push(self, run: np.ndarray) -> None:
        self._runs.append(run)
        while len(self._runs) >= 2 and self._runs[-2].size <= 2 * self._runs[-1].size:
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(sorted_union(a, b))
        if self.exact_limit is not None and sum(r.size for r in self._runs) > 2 * self.exact_limit:
            self._collapse()

    def _collapse(self) -> None:
        """Merge every run; switch to the sketch if the set has outgrown the exact limit."""
        while len(self._runs) > 1:
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(sorted_union(a, b))
        if self.exact_limit is not None and self._runs and self._runs[0].size > self.exact_limit:
            self._sketch = HyperLogLog(self.precision)
            self._sketch.add(self._runs[0])
            self._runs = []

    def snapshot(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(sorted distinct keys, None) while exact, else (None, the HyperLogLog registers): all a merge needs."""
        if self._sketch is None:
            self._collapse()
        if self._sketch is not None:
            return None, self._sketch.registers
        return (self._runs[0] if self._runs else np.zeros(0, dtype=np.uint64)), None

    @classmethod
    def from_snapshot(cls, keys: np.ndarray | None, registers: np.ndarray | None,
                      exact_limit: int | None = EXACT_DISTINCT_LIMIT,
                      precision: int = HLL_PRECISION) -> "DistinctKeys":
        """The counter a ``snapshot`` was taken of (same count, same merges)."""
        out = cls(exact_limit, precision)
        if registers is not None:
            if registers.size != 1 << precision:
                raise ValueError(f"{registers.size} HyperLogLog registers for precision {precision}")
            out._sketch = HyperLogLog(precision)
            out._sketch.registers[:] = registers
        elif keys is not None and keys.size:
            out._runs = [np.asarray(keys, dtype=np.uint64)]
        return out

    def merge(self, other: "DistinctKeys") -> "DistinctKeys":
        if (other.exact_limit, other.precision) != (self.exact_limit, self.precision):
            raise ValueError("cannot merge distinct-key counters with different limits")
        if other._sketch is not None:
            if self._sketch is None:
                self._sketch = HyperLogLog(self.precision)
                for run in self._runs:
                    self._sketch.add(run)
                self._runs = []
            self._sketch.merge(other._sketch)
        elif self._sketch is not None:
            for run in other._runs:
                self._sketch.add(run)
        else:
            for run in other._runs:
                self._push(run)
        return self

    def count(self) -> float | int:
        """The exact number of distinct keys (int) or, past the exact limit, the HyperLogLog estimate (float)."""
        if self._sketch is None:
            self._collapse()
        if self._sketch is not None:
            return self._sketch.estimate()
        return int(self._runs[0].size) if self._runs else 0
