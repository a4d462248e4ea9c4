"""Streaming n-gram counts: documents go in a batch at a time, only the distinct n-grams stay in memory.

Why: training on a whole parent generation (50k-1M documents) must not hold its text, its token lists or one
window per token. Each batch becomes int64 keys (token ids packed ``bits`` to a slot, ids in first-seen order),
is reduced to (distinct key, count), and is merged into one sorted table in linear time. ``finish`` renumbers the
vocabulary in sorted order and re-packs the keys in the model's compact base, so the result does not depend on
the order documents arrived in, and equals counting everything at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.lm.tokenize import TokenBatch

BOS = "\x00s"  # cannot occur in a token: normalisation strips control characters


@dataclass
class Counts:
    """What a Kneser-Ney model is estimated from: vocabulary (id 0 is BOS) and the top-order n-gram counts."""

    order: int
    vocab: list[str]
    keys: np.ndarray    # int64, sorted, unique: sum(id_j * base ** (order - 1 - j)), base = len(vocab) + 1
    counts: np.ndarray  # int64
    doc_lengths: np.ndarray  # int64 words per document that had any


class NgramCounter:
    """Accumulate top-order n-gram counts over token lists; ``merge_every`` bounds the unmerged buffer."""

    def __init__(self, order: int, merge_every: int = 4_000_000):
        if order < 1:
            raise ValueError("order must be >= 1")
        self.order = order
        self.bits = 63 // order
        self.max_ids = 1 << self.bits  # ids while streaming, BOS included
        self.first_seen: dict[str, int] = {BOS: 0}
        self.merge_every = merge_every
        self.keys = np.zeros(0, np.int64)
        self.counts = np.zeros(0, np.int64)
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._lengths: list[np.ndarray] = []  # one int64 array a batch (a list of ints took 36 bytes a document)
        self._n_docs = 0
        self._known: pa.Array | None = None

    def add(self, docs: Iterable[list[str]]) -> None:
        """Count the n-grams of a batch of token lists (empty lists are skipped: they hold no n-gram)."""
        ids: list[int] = []
        seen = self.first_seen
        lengths: list[int] = []
        for ws in docs:
            if not ws:
                continue
            ids.extend([seen.setdefault(w, len(seen)) for w in ws])
            lengths.append(len(ws))
        self._add_ids(np.array(ids, dtype=np.int64), np.array(lengths, dtype=np.int64))

    def add_batch(self, batch: TokenBatch) -> None:
        """``add`` of a ``TokenBatch``'s texts: the same counts, with the batch's distinct tokens looked up in
        one Arrow ``index_in`` and only tokens never seen before added in Python (the cost of training on a
        whole parent was one dict lookup per token)."""
        used = np.zeros(len(batch.vocab), bool)
        used[batch.ids] = True   # a batch's vocab may hold tokens no text uses ("")
        rows = np.flatnonzero(used)
        tokens = pa.array([batch.vocab[j] for j in rows.tolist()], pa.large_string())
        known = self._known_tokens()
        found = pc.fill_null(pc.index_in(tokens, value_set=known), -1).to_numpy(zero_copy_only=False)
        remap = np.zeros(len(batch.vocab), np.int64)
        new = found < 0
        seen = self.first_seen
        remap[rows[~new]] = found[~new]
        for j in rows[new].tolist():
            remap[j] = seen.setdefault(batch.vocab[j], len(seen))
        lengths = batch.lengths
        self._add_ids(remap[batch.ids], lengths[lengths > 0])

    def _known_tokens(self) -> pa.Array:
        """Every token seen so far, position = id (refreshed when ``add`` or ``add_batch`` met new ones)."""
        if self._known is None or len(self._known) != len(self.first_seen):
            self._known = pa.array(list(self.first_seen), pa.large_string())
        return self._known

    def _add_ids(self, tokens: np.ndarray, lengths: np.ndarray) -> None:
        """Count the n-grams of documents given as their token ids one after another (``lengths`` > 0 each)."""
        if len(self.first_seen) > self.max_ids:
            raise ValueError(f"order {self.order} with a vocabulary of {len(self.first_seen) - 1} words does not "
                             "fit int64 keys; lower the order or train on fewer documents")
        if not len(lengths):
            return
        self._lengths.append(np.asarray(lengths, np.int64))
        self._n_docs += len(lengths)
        pad = self.order - 1
        padded = lengths + pad
        starts = np.concatenate([[0], np.cumsum(padded)[:-1]]).astype(np.int64)
        flat = np.zeros(int(padded.sum()), np.int64)   # BOS (0) before each document
        doc_first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        flat[np.repeat(starts + pad - doc_first, lengths) + np.arange(len(tokens), dtype=np.int64)] = tokens
        real = np.ones(len(flat), bool)
        for j in range(pad):  # the BOS padding before each document ends no n-gram
            real[starts + j] = False
        # the window ending at position p, oldest id in the highest bits; the padding keeps windows in one document
        keys = np.zeros(len(flat), np.int64)
        for j in range(self.order - 1, -1, -1):
            shifted = np.concatenate([np.zeros(j, np.int64), flat[:len(flat) - j]])
            keys = (keys << self.bits) | shifted
        self._pending.append(keys[real])
        self._pending_n += int(real.sum())
        if self._pending_n >= self.merge_every:
            self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        new, cnt = np.unique(np.concatenate(self._pending), return_counts=True)
        self._pending, self._pending_n = [], 0
        self.keys, self.counts = merge_sorted_counts(self.keys, self.counts, new, cnt.astype(np.int64))

    @property
    def n_docs(self) -> int:
        return self._n_docs

    def finish(self) -> Counts:
        """Sorted vocabulary and keys re-packed in base ``len(vocab) + 1`` (one id spare for unknown words)."""
        self._merge()
        order, bits = self.order, self.bits
        tokens = list(self.first_seen)  # first-seen order; tokens[0] is BOS
        vocab = [BOS] + sorted(tokens[1:])
        index = {w: i for i, w in enumerate(vocab)}
        remap = np.array([index[w] for w in tokens], dtype=np.int64)
        base = len(vocab) + 1
        if base ** order >= 2**63:
            raise ValueError(f"order {order} with a vocabulary of {len(vocab)} words does not fit int64 keys; "
                             "lower the order or train on fewer documents")
        mask = (1 << bits) - 1
        keys = np.zeros(len(self.keys), np.int64)
        for j in range(order - 1, -1, -1):
            keys = keys * base + remap[(self.keys >> (bits * j)) & mask]
        perm = np.argsort(keys, kind="stable")
        return Counts(order, vocab, keys[perm], self.counts[perm], _concat(self._lengths))


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)


def merge_sorted_counts(keys: np.ndarray, counts: np.ndarray, new: np.ndarray,
                        new_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of two sorted unique key arrays, counts added where keys meet: linear in their sizes."""
    if not len(keys):
        return new, new_counts
    pos = np.searchsorted(keys, new)
    hit = pos < len(keys)
    hit[hit] = keys[pos[hit]] == new[hit]
    counts = counts.copy()
    counts[pos[hit]] += new_counts[hit]  # positions are distinct: ``new`` is unique
    miss = ~hit
    return np.insert(keys, pos[miss], new[miss]), np.insert(counts, pos[miss], new_counts[miss])
