"""Where int64 keys sit in a sorted array of distinct keys, for millions of queries at once.

``find_sorted`` is the definition (binary search). ``KeyIndex`` answers the same question with one or two
gathers per query: a dense table when the keys are small integers (word ids), else an open-addressing hash
table (linear probing, load <= 1/2) probed for all queries together. Scoring a batch of text against an n-gram
model makes about five such lookups per word, and binary search over a cold array was most of its time.
"""

from __future__ import annotations

import numpy as np

_FIB = np.uint64(0x9E3779B97F4A7C15)


def find_sorted(keys: np.ndarray, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position, found) of each query in sorted distinct ``keys``; position is a valid index (0 if not found
    and the array is empty it is 0 too, so callers must mask with ``found``)."""
    if not len(keys):
        return np.zeros(len(queries), np.int64), np.zeros(len(queries), bool)
    pos = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return pos, keys[pos] == queries


class KeyIndex:
    """``find_sorted(keys, q)`` for a fixed ``keys``, by table lookup instead of binary search."""

    def __init__(self, keys: np.ndarray):
        self.keys = np.ascontiguousarray(keys, dtype=np.int64)
        n = len(self.keys)
        self.dense = n == 0 or (self.keys[0] >= 0 and int(self.keys[-1]) < 4 * n + 64)
        if self.dense:
            size = int(self.keys[-1]) + 1 if n else 0
            self.table = np.full(size, -1, np.int64)
            self.table[self.keys] = np.arange(n, dtype=np.int64)
            return
        self.bits = max(4, (2 * n - 1).bit_length())
        self.table = np.full(1 << self.bits, -1, np.int64)
        mask = (1 << self.bits) - 1
        slot = self._slot(self.keys)
        pending = np.arange(n, dtype=np.int64)
        while len(pending):  # each round: every free slot asked for goes to its first asker, the rest move on
            s = slot[pending]
            free = self.table[s] == -1
            asking, wanted = pending[free], s[free]
            _, first = np.unique(wanted, return_index=True)
            self.table[wanted[first]] = asking[first]
            placed = np.zeros(n, bool)
            placed[asking[first]] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & mask

    def _slot(self, q: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return ((q.astype(np.uint64) * _FIB) >> np.uint64(64 - self.bits)).astype(np.int64)

    def find(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same (position, found) as ``find_sorted``, wherever found is True (elsewhere position is 0)."""
        q = np.asarray(queries, dtype=np.int64)
        if not len(self.keys):
            return np.zeros(len(q), np.int64), np.zeros(len(q), bool)
        if self.dense:
            inside = (q >= 0) & (q < len(self.table))
            hit = self.table[np.where(inside, q, 0)]
            found = inside & (hit >= 0)
            return np.where(found, hit, 0), found
        mask = len(self.table) - 1
        slot = self._slot(q)
        row = self.table[slot]
        hit = (row >= 0) & (self.keys[np.maximum(row, 0)] == q)  # first probe for all, without indirection
        pos = np.where(hit, row, 0)
        found = hit
        active = np.flatnonzero((row >= 0) & ~hit)  # an empty slot ends the probe: the key is absent
        slot = (slot[active] + 1) & mask
        while len(active):
            row = self.table[slot]
            hit = (row >= 0) & (self.keys[np.maximum(row, 0)] == q[active])
            pos[active[hit]] = row[hit]
            found[active[hit]] = True
            go_on = (row >= 0) & ~hit
            active, slot = active[go_on], (slot[go_on] + 1) & mask
        return pos, found
