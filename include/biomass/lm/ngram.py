"""The embedded generator: an interpolated Kneser-Ney word n-gram model, trained and sampled deterministically.

Why an n-gram model: it runs on CPU in seconds and shows the statistics behind model collapse honestly. It can
only reproduce n-grams it saw, every count is a finite sample, and the discounting takes mass from rare events
and gives it to frequent ones, so the tails thin out generation after generation.

Layout: for each order k the distinct k-grams are kept as sorted int64 keys (context first), so all the
continuations of one context are contiguous. The highest order stores raw counts, lower orders continuation
counts (how many distinct words precede the k-gram), as Kneser-Ney prescribes. One absolute discount per order
is estimated from counts-of-counts (Ney's D = n1 / (n1 + 2 n2)).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from biomass.lm.counting import BOS, Counts, NgramCounter
from biomass.lm.keyindex import KeyIndex, find_sorted
from biomass.lm.tokenize import TokenBatch, whitespace_tokens


@dataclass
class _Level:
    """All k-grams of one order k: keys sorted, grouped by context, with discounted cumulative counts."""

    k: int
    keys: np.ndarray  # int64, sorted: encode(ctx..., w)
    counts: np.ndarray  # float64 (raw for top order, continuation counts below)
    discount: float
    ctx_keys: np.ndarray  # int64, sorted unique contexts (k >= 2)
    ctx_start: np.ndarray  # int64 offsets into keys
    ctx_end: np.ndarray
    ctx_total: np.ndarray  # float64 sum of counts per context
    ctx_types: np.ndarray  # float64 number of distinct continuations per context


class NgramModel:
    """Interpolated Kneser-Ney word n-gram model; ``train`` and ``sample`` are deterministic."""

    def __init__(self, order: int, vocab: list[str], levels: list[_Level], n_docs: int, n_tokens: int,
                 doc_lengths: np.ndarray):
        self.order = order
        self.vocab = vocab  # id -> token; id 0 is BOS
        self.index = {w: i for i, w in enumerate(vocab)}
        self.levels = levels  # levels[k-1] is order k
        self.n_docs = n_docs
        self.n_tokens = n_tokens
        self.doc_lengths = doc_lengths
        self._base = len(vocab) + 1  # one extra id for out-of-vocabulary words in scoring
        self._sampler: _Sampler | None = None
        self._indexes: dict[tuple[int, str], KeyIndex] = {}  # built on first fast lookup
        self._uni_p: np.ndarray | None = None  # lowest-order probability of every id, on first fast lookup

    # -- training -----------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: Iterable[str], order: int = 3) -> "NgramModel":
        """Count n-grams of ``texts`` (whitespace words of normalised text) and estimate KN discounts."""
        counter = NgramCounter(order)
        batch: list[list[str]] = []
        for text in texts:
            batch.append(whitespace_tokens(text))
            if len(batch) >= 1024:
                counter.add(batch)
                batch = []
        counter.add(batch)
        return cls.from_counts(counter.finish())

    @classmethod
    def from_counts(cls, counts: Counts) -> "NgramModel":
        """The model of streamed counts: lower orders get continuation counts from the distinct top n-grams."""
        order, base = counts.order, len(counts.vocab) + 1
        levels: list[_Level] = [None] * order  # type: ignore[list-item]
        levels[order - 1] = _make_level(order, counts.keys, counts.counts.astype(np.float64), base)
        grams = counts.keys
        for k in range(order - 1, 0, -1):
            # continuation count of a k-gram = number of distinct (k+1)-grams it is the suffix of
            suffix = grams % (base ** k)
            lower, cont = np.unique(suffix, return_counts=True)
            levels[k - 1] = _make_level(k, lower, cont.astype(np.float64), base)
            grams = lower
        lengths = counts.doc_lengths
        return cls(order, counts.vocab, levels, len(lengths), int(lengths.sum()), lengths)

    # -- scoring ------------------------------------------------------------------------------------
    def token_logprobs(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Natural-log probability of every word of every text given its preceding words (vectorised)."""
        docs = [whitespace_tokens(t) for t in texts]
        pad = self.order - 1
        oov = self._base - 1
        seqs = [np.array([0] * pad + [self.index.get(w, oov) for w in d], dtype=np.int64) for d in docs]
        if not any(len(d) for d in docs):
            return [np.zeros(0) for _ in docs]
        windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(s, self.order)
                                  for s in seqs if len(s) > pad])
        logp = np.log(self._prob(windows))
        out, pos = [], 0
        for d in docs:
            out.append(logp[pos:pos + len(d)])
            pos += len(d)
        return out

    def batch_logprobs(self, batch: TokenBatch) -> np.ndarray:
        """``token_logprobs`` of every text of ``batch``, one flat array in token order (ids mapped per distinct
        token, not per token)."""
        oov = self._base - 1
        model_ids = np.fromiter((self.index.get(w, oov) for w in batch.vocab), np.int64, len(batch.vocab))
        ids = model_ids[batch.ids]
        if not len(ids):
            return np.zeros(0)
        pos = np.arange(len(ids), dtype=np.int64) - np.repeat(batch.offsets[:-1], batch.lengths)
        windows = np.zeros((len(ids), self.order), dtype=np.int64)
        windows[:, -1] = ids
        for back in range(1, self.order):  # the word `back` places earlier, BOS (0) before the text starts
            windows[back:, -1 - back] = np.where(pos[back:] >= back, ids[:-back], 0)
        return np.log(self._prob(windows, fast=True))

    def perplexity(self, texts: Sequence[str], chunk: int = 1_024) -> float:
        """exp of the mean negative log-probability per word over all ``texts`` (inf for no words).

        Scored ``chunk`` texts at a time, so memory follows the chunk, not the held-out set (a 1M-document
        generation's held-out reference is ~30M words: its windows and probabilities at once took ~4 GB). Each
        word's log-probability does not depend on the chunking, and the per-text sums are added in text order,
        so the result is the one scoring all texts at once gives."""
        total, n = 0, 0
        for lo in range(0, len(texts), chunk):
            for x in self.token_logprobs(texts[lo:lo + chunk]):
                n += len(x)
                total += float(x.sum())
        if n == 0:
            return math.inf
        return float(math.exp(-total / n))

    def _prob(self, windows: np.ndarray, fast: bool = False) -> np.ndarray:
        """P_KN(w | context) for rows of ``windows`` (ids; last column is the predicted word). ``fast`` finds
        n-grams with ``KeyIndex`` tables instead of binary search; the probabilities are the same."""
        base = self._base
        w = windows[:, -1]
        # lowest order: continuation unigram interpolated with a uniform over vocab + OOV
        if fast:
            if self._uni_p is None:  # the same expression for every id at once, then one gather per word
                self._uni_p = self._unigram_p(np.arange(base, dtype=np.int64), fast=False)
            p = self._uni_p[w]
        else:
            p = self._unigram_p(w, fast=False)
        for k in range(2, self.order + 1):
            lvl = self.levels[k - 1]
            grams = np.zeros(len(w), dtype=np.int64)
            for j in range(self.order - k, self.order):
                grams = grams * base + windows[:, j]
            ctx = grams // base
            ci, has_ctx = self._find(k - 1, "ctx_keys", ctx, fast)
            gi, has_gram = self._find(k - 1, "keys", grams, fast)
            cnt = _pick(lvl.counts, gi, has_gram, 0.0)
            total = _pick(lvl.ctx_total, ci, has_ctx, 1.0)
            types = _pick(lvl.ctx_types, ci, has_ctx, 0.0)
            d = lvl.discount
            interp = (np.maximum(cnt - d, 0.0) + d * types * p) / total
            p = np.where(has_ctx, interp, p)
        return p

    def _unigram_p(self, w: np.ndarray, fast: bool) -> np.ndarray:
        uni = self.levels[0]
        n_cont = float(uni.counts.sum()) or 1.0
        d1 = uni.discount
        pos, found = self._find(0, "keys", w, fast)
        c = _pick(uni.counts, pos, found, 0.0)
        return np.maximum(c - d1, 0.0) / n_cont + d1 * len(uni.keys) / n_cont / self._base

    def _find(self, level: int, field: str, queries: np.ndarray, fast: bool) -> tuple[np.ndarray, np.ndarray]:
        keys = getattr(self.levels[level], field)
        if not fast:
            return find_sorted(keys, queries)
        index = self._indexes.get((level, field))
        if index is None:
            index = self._indexes[(level, field)] = KeyIndex(keys)
        return index.find(queries)

    # -- sampling -----------------------------------------------------------------------------------
    def sample(self, prompt: Sequence[str], length: int, seed: int | Sequence[int],
               accept: Callable[[int, int, float], bool] | None = None) -> list[str]:
        """Continue ``prompt`` until the text has ``length`` words; ``accept(prev_id, word_id, u)`` is the
        watermark's rejection step (None: plain sampling). Same arguments, same words."""
        if self._sampler is None:
            self._sampler = _Sampler(self)
        return self._sampler.run(list(prompt), length, seed, accept)

    def token_id(self, token: str) -> int:
        return self.index.get(token, -1)


def _pick(values: np.ndarray, pos: np.ndarray, found: np.ndarray, default: float) -> np.ndarray:
    """values[pos] where found, else default."""
    if not len(values):
        return np.full(len(pos), default)
    return np.where(found, values[pos], default)


def _make_level(k: int, keys: np.ndarray, counts: np.ndarray, base: int) -> _Level:
    n1 = int((counts == 1).sum())
    n2 = int((counts == 2).sum())
    discount = n1 / (n1 + 2 * n2) if n1 and n2 else 0.5
    discount = float(min(max(discount, 0.05), 0.95))
    if k >= 2 and len(keys):
        ctx = keys // base
        ctx_keys, start, types = np.unique(ctx, return_index=True, return_counts=True)
        end = start + types
        total = np.add.reduceat(counts, start)
    else:
        ctx_keys = np.zeros(0, np.int64)
        start = end = np.zeros(0, np.int64)
        total = types = np.zeros(0)
    return _Level(k, keys, counts, discount, ctx_keys, start.astype(np.int64), end.astype(np.int64),
                  np.asarray(total, np.float64), np.asarray(types, np.float64))


class _Sampler:
    """Compact views of the model for per-word sampling: ``array`` buffers (8 bytes an entry, C-speed indexing
    for ``bisect``) and one dict from context key to row, instead of numpy calls per word."""

    def __init__(self, model: NgramModel):
        self.model = model
        self.base = model._base
        self.levels = []
        for lvl in model.levels:
            cum = array("d", np.cumsum(np.maximum(lvl.counts - lvl.discount, 0.0)).tobytes())
            words = array("q", (lvl.keys % self.base).astype(np.int64).tobytes())
            if lvl.k >= 2:
                rows = dict(zip(lvl.ctx_keys.tolist(), range(len(lvl.ctx_keys))))
                ctx = (array("q", lvl.ctx_start.tobytes()), array("q", lvl.ctx_end.tobytes()),
                       array("d", (lvl.discount * lvl.ctx_types / lvl.ctx_total).tobytes()))
            else:
                rows, ctx = {}, None
            self.levels.append((lvl.k, cum, words, rows, ctx))
        # unigram level as scored: discounted continuation counts plus a uniform floor. The floor is drawn over
        # real words only (scoring also gives BOS and the OOV slot a share of it: 2 / (vocab + 1) of the floor)
        uni = model.levels[0]
        n_cont = float(uni.counts.sum())
        self.uni_floor = uni.discount * len(uni.keys) / n_cont if n_cont else 1.0
        self.uni_cum = array("d", np.cumsum(np.maximum(uni.counts - uni.discount, 0.0)).tobytes())
        self.uni_words = array("q", uni.keys.astype(np.int64).tobytes())
        self.n_vocab = len(model.vocab)

    def _plan(self, hist: list[int]) -> list[tuple]:
        """The contexts of ``hist`` that the model has seen, highest order first, with what a draw needs."""
        base = self.base
        plan = []
        for k, cum, wlist, rows, ctx_arrays in reversed(self.levels[1:]):
            ctx = 0
            for t in hist[len(hist) - (k - 1):]:
                ctx = ctx * base + t
            row = rows.get(ctx)
            if row is None:
                continue
            starts, ends, backoffs = ctx_arrays
            start, end, backoff = starts[row], ends[row], backoffs[row]
            lo = cum[start - 1] if start else 0.0
            plan.append((backoff, lo, (cum[end - 1] - lo) / (1.0 - backoff), start, end, cum, wlist))
        return plan

    def _draw(self, plan: list[tuple], rand: Iterator[float]) -> int:
        for backoff, lo, scale, start, end, cum, wlist in plan:
            u = next(rand)
            if u < backoff:
                continue
            i = bisect_right(cum, lo + (u - backoff) * scale, start, end)
            return wlist[i if i < end else end - 1]
        if not self.uni_cum:
            raise ValueError("cannot sample from a model trained on no words")
        u = next(rand)
        if u < self.uni_floor:
            return 1 + min(int(u / self.uni_floor * (self.n_vocab - 1)), self.n_vocab - 2)
        i = bisect_right(self.uni_cum, (u - self.uni_floor) / (1.0 - self.uni_floor) * self.uni_cum[-1])
        return self.uni_words[min(i, len(self.uni_words) - 1)]

    def run(self, prompt: list[str], length: int, seed: int | Sequence[int],
            accept: Callable[[int, int, float], bool] | None) -> list[str]:
        model = self.model
        order = model.order
        rand = _uniforms(seed)
        hist = [0] * (order - 1) + [model.index.get(w, 0) for w in prompt]
        out = list(prompt)
        while len(out) < length:
            prev = hist[-1]
            plan = self._plan(hist)
            while True:
                w = self._draw(plan, rand)
                if accept is None or accept(prev, w, next(rand)):
                    break
            hist.append(w)
            out.append(model.vocab[w])
        return out


def _uniforms(seed: int | Sequence[int], block: int = 4096) -> Iterator[float]:
    rng = np.random.default_rng(seed if isinstance(seed, int) else list(seed))
    while True:
        yield from rng.random(block).tolist()
