"""Many documents sampled at once: the n-gram sampler as numpy steps over a pool of documents.

Why: one Python loop per word (and ~3 draws per word under the watermark's rejection step) caps the scalar
sampler near 100 documents a second. Here every step makes one draw for every document in a pool of ``slots``;
a finished document's slot takes the next job at once (continuous batching), so the pool stays full while
lengths differ. Jobs are read ``lookahead`` at a time and started longest first, so the run does not end on a
few long documents stepping alone.

Each document still owns its random stream (``default_rng(seed)``, read in order) and consumes it exactly as
``NgramModel.sample`` does: one uniform per seen context tried, highest order first, one for the unigram
fallback, one for the watermark's acceptance. So every document's words are those of the scalar sampler for
the same seed (a parity test holds this), whatever the pool size or the other jobs: output does not depend on
batching. Results come back in job order.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import islice
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

# accept(prev_ids, word_ids, uniforms) -> bool array: the watermark's rejection step, vectorised
VectorAccept = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Job:
    prompt: Sequence[int]  # token ids (all in the model's vocabulary)
    length: int            # words in all, prompt included
    seed: Sequence[int]


class _Level:
    """One context order as the draw needs it (the same arrays the scalar sampler builds)."""

    def __init__(self, lvl, base: int):
        self.k = lvl.k
        self.ctx_keys = lvl.ctx_keys
        self.start = lvl.ctx_start
        self.end = lvl.ctx_end
        self.backoff = lvl.discount * lvl.ctx_types / lvl.ctx_total if len(lvl.ctx_keys) else np.zeros(0)
        self.cum = np.cumsum(np.maximum(lvl.counts - lvl.discount, 0.0))
        self.words = (lvl.keys % base).astype(np.int32 if base < 2**31 else np.int64)  # word ids, exactly
        self.mult = base ** np.arange(self.k - 2, -1, -1, dtype=np.int64)  # context ids -> key
        self.rows = KeyIndex(self.ctx_keys)
        self.guide = Guide(self.cum, self.start, self.end)


class BatchSampler:
    """``slots``: documents stepped together; 8192 amortises the per-step numpy calls (~12% faster than 4096
    on a 100k-doc parent) for ~0.2 GB of pool state (the text buffer is slots x longest output)."""

    def __init__(self, model, accept: VectorAccept | None = None, slots: int = 8192, window: int = 512,
                 lookahead: int = 16384):
        self.model = model
        self.lookahead = max(lookahead, 1)
        self.accept = accept
        self.slots = slots
        self.window = window
        base = model._base
        self.levels = [_Level(lvl, base) for lvl in reversed(model.levels[1:])]  # highest order first
        uni = model.levels[0]
        n_cont = float(uni.counts.sum())
        self.uni_floor = uni.discount * len(uni.keys) / n_cont if n_cont else 1.0
        self.uni_cum = np.cumsum(np.maximum(uni.counts - uni.discount, 0.0))
        self.uni_words = uni.keys.astype(np.int64)
        self.uni_guide = Guide(self.uni_cum, np.zeros(1, np.int64), np.full(1, len(self.uni_cum), np.int64))
        self.n_vocab = len(model.vocab)
        self.ctx_len = max(model.order - 1, 1)

    def run(self, jobs: Iterable[Job]) -> Iterator[np.ndarray]:
        """Token ids of each job's text (its prompt, then sampled words up to ``length``), in job order."""
        return _Run(self, _longest_first(iter(jobs), self.lookahead)).outputs()


class _Run:
    """The pool's state: one row per slot."""

    def __init__(self, sampler: BatchSampler, jobs: Iterator[tuple[int, Job]]):
        self.s = sampler
        self.jobs = jobs
        self.next_out = 0
        self.done: dict[int, np.ndarray] = {}
        n, w, c = sampler.slots, sampler.window, sampler.ctx_len
        self.job = np.full(n, -1, np.int64)
        self.hist = np.zeros((n, c), np.int64)
        self.length = np.zeros(n, np.int64)
        self.pos = np.zeros(n, np.int64)
        self.buf = np.zeros((n, 64), np.int64)  # row = a slot's text so far; widened for longer jobs
        self.u = np.zeros(n * w)
        self.uptr = np.zeros(n, np.int64)
        self.gens: list[np.random.Generator | None] = [None] * n
        m = len(sampler.levels)
        self.found = np.zeros((m, n), bool)
        self.boff = np.zeros((m, n))
        self.lo = np.zeros((m, n))
        self.scale = np.zeros((m, n))
        self.hi = np.zeros((m, n))
        self.row = np.zeros((m, n), np.int64)
        self.start = np.zeros((m, n), np.int64)
        self.end = np.zeros((m, n), np.int64)
        self.exhausted = False

    # -- slots ----------------------------------------------------------------------------------------
    def _load(self, slot: int) -> bool:
        """Give ``slot`` the next job that needs sampling; jobs already long enough finish at once."""
        s = self.s
        while not self.exhausted:
            item = next(self.jobs, None)
            if item is None:
                self.exhausted = True
                break
            i, job = item
            prompt = [int(t) for t in job.prompt]
            if len(prompt) >= job.length:
                self.done[i] = np.array(prompt, np.int64)
                continue
            if not len(s.uni_cum):
                raise ValueError("cannot sample from a model trained on no words")
            hist = ([0] * s.ctx_len + prompt)[-s.ctx_len:]
            self.job[slot] = i
            self.hist[slot] = hist
            self.length[slot] = job.length
            self.pos[slot] = len(prompt)
            if job.length > self.buf.shape[1]:
                self.buf = np.pad(self.buf, ((0, 0), (0, job.length - self.buf.shape[1])))
            self.buf[slot, :len(prompt)] = prompt
            gen = np.random.default_rng(list(job.seed))
            self.gens[slot] = gen
            w = s.window
            self.u[slot * w:(slot + 1) * w] = gen.random(w)
            self.uptr[slot] = 0
            return True
        self.job[slot] = -1
        return False

    def _refill(self, act: np.ndarray) -> None:
        """Slots that may run out of uniforms this step get the next part of their stream."""
        s = self.s
        w = s.window
        need = act[self.uptr[act] > w - (len(s.levels) + 3)]
        for slot in need.tolist():
            p = int(self.uptr[slot])
            row = self.u[slot * w:(slot + 1) * w]
            rest = row[p:].copy()
            row[:len(rest)] = rest
            row[len(rest):] = self.gens[slot].random(p)
            self.uptr[slot] = 0

    def _plan(self, slots: np.ndarray) -> None:
        """Which contexts of each slot's history the model has seen, and what a draw from each needs."""
        for j, lvl in enumerate(self.s.levels):
            ctx = self.hist[slots, self.s.ctx_len - (lvl.k - 1):] @ lvl.mult
            row = lvl.rows.find(ctx)
            found = row >= 0
            row_c = np.maximum(row, 0)
            start, end = lvl.start[row_c], lvl.end[row_c]
            lo = np.where(start > 0, lvl.cum[np.maximum(start - 1, 0)], 0.0) if len(lvl.cum) else np.zeros(len(slots))
            boff = lvl.backoff[row_c] if len(lvl.ctx_keys) else np.zeros(len(slots))
            hi = lvl.cum[np.maximum(end - 1, 0)] if len(lvl.cum) else np.zeros(len(slots))
            self.found[j, slots] = found
            self.boff[j, slots] = boff
            self.lo[j, slots] = lo
            self.scale[j, slots] = (hi - lo) / (1.0 - boff)
            self.hi[j, slots] = hi
            self.row[j, slots] = row_c
            self.start[j, slots] = start
            self.end[j, slots] = end

    def _take(self, slots: np.ndarray) -> np.ndarray:
        """The next uniform of each slot's stream."""
        flat = slots * self.s.window + self.uptr[slots]
        self.uptr[slots] += 1
        return self.u[flat]

    def _draw(self, act: np.ndarray) -> np.ndarray:
        """One proposal per active slot: back off through the seen contexts, then the unigram distribution."""
        s = self.s
        word = np.full(len(act), -1, np.int64)
        pending = np.ones(len(act), bool)
        for j, lvl in enumerate(s.levels):
            m = np.flatnonzero(pending & self.found[j, act])
            if not len(m):
                continue
            slots = act[m]
            u = self._take(slots)
            boff = self.boff[j, slots]
            take = u >= boff
            m, slots, u, boff = m[take], slots[take], u[take], boff[take]
            x = self.lo[j, slots] + (u - boff) * self.scale[j, slots]
            start, end = self.start[j, slots], self.end[j, slots]
            a, b = lvl.guide.bounds(self.row[j, slots], x, self.lo[j, slots], self.hi[j, slots], start, end)
            i = np.minimum(search(lvl.cum, x, a, b, right=True), end - 1)
            word[m] = lvl.words[i]
            pending[m] = False
        m = np.flatnonzero(pending)
        if len(m):
            u = self._take(act[m])
            floor = s.uni_floor
            low = u < floor
            flat_ids = 1 + np.minimum((u / floor * (s.n_vocab - 1)).astype(np.int64), s.n_vocab - 2)
            x = (u - floor) / (1.0 - floor) * s.uni_cum[-1]
            zero, n = np.zeros(len(x), np.int64), np.full(len(x), len(s.uni_cum))
            a, b = s.uni_guide.bounds(zero, x, np.zeros(len(x)), np.full(len(x), s.uni_cum[-1]), zero, n)
            i = search(s.uni_cum, x, a, b, right=True)
            word[m] = np.where(low, flat_ids, s.uni_words[np.minimum(i, len(s.uni_words) - 1)])
        return word

    # -- the loop -------------------------------------------------------------------------------------
    def outputs(self) -> Iterator[np.ndarray]:
        s = self.s
        for slot in range(s.slots):
            if not self._load(slot):
                break
        yield from self._ready()
        dirty = np.flatnonzero(self.job >= 0)
        while True:
            act = np.flatnonzero(self.job >= 0)
            if not len(act):
                break
            self._refill(act)
            if len(dirty):
                self._plan(dirty)
            word = self._draw(act)
            if s.accept is not None:
                ok = s.accept(self.hist[act, -1], word, self._take(act))
                act, word = act[ok], word[ok]
            self.hist[act, :-1] = self.hist[act, 1:]
            self.hist[act, -1] = word
            self.buf[act, self.pos[act]] = word
            self.pos[act] += 1
            finished = act[self.pos[act] >= self.length[act]]
            for slot in finished.tolist():
                self.done[int(self.job[slot])] = self.buf[slot, :self.length[slot]].copy()
                self._load(slot)
            dirty = act
            yield from self._ready()
        yield from self._ready()

    def _ready(self) -> Iterator[np.ndarray]:
        while self.next_out in self.done:
            yield self.done.pop(self.next_out)
            self.next_out += 1


def _longest_first(jobs: Iterator[Job], lookahead: int) -> Iterator[tuple[int, Job]]:
    """(index, job) pairs, each block of ``lookahead`` jobs in decreasing length (ties in job order)."""
    i = 0
    while True:
        block = [(i + k, job) for k, job in enumerate(islice(jobs, lookahead))]
        if not block:
            return
        i += len(block)
        yield from sorted(block, key=lambda item: -item[1].length)


class KeyIndex:
    """Row of each key in a sorted unique int64 array, by open addressing (linear probing, load <= 1/2): one
    or two probes a lookup where a binary search over a large array takes twenty cache misses."""

    _MULT = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, keys: np.ndarray):
        self.bits = max(int(2 * len(keys)).bit_length(), 4)
        self.mask = (1 << self.bits) - 1
        self.keys = np.full(1 << self.bits, -1, np.int64)  # keys are >= 0: -1 marks an empty slot
        self.rows = np.full(1 << self.bits, -1, np.int32 if len(keys) < 2**31 else np.int64)
        todo = np.arange(len(keys), dtype=np.int64)
        pos = self._home(keys)
        while len(todo):  # place in rounds: one key per free slot a round, the rest probe on
            free = self.keys[pos] < 0
            slots, first = np.unique(pos[free], return_index=True)
            won = np.flatnonzero(free)[first]
            self.keys[slots] = keys[todo[won]]
            self.rows[slots] = todo[won]
            lost = np.ones(len(todo), bool)
            lost[won] = False
            todo, pos = todo[lost], (pos[lost] + 1) & self.mask

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = keys.astype(np.uint64) * self._MULT
        return (h >> np.uint64(64 - self.bits)).astype(np.int64)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Row of each key, -1 where it is absent."""
        out = np.full(len(keys), -1, np.int64)
        todo = np.arange(len(keys), dtype=np.int64)
        pos = self._home(keys)
        while len(todo):
            slot_keys = self.keys[pos]
            hit = slot_keys == keys[todo]
            out[todo[hit]] = self.rows[pos[hit]]
            more = ~hit & (slot_keys >= 0)
            todo, pos = todo[more], (pos[more] + 1) & self.mask
        return out


class Guide:
    """A guide table (Chen's method) per segment of a cumulative array: where each of r equal slices of the
    segment's mass begins, r = its number of entries. A draw then searches three slices instead of the whole
    segment; the search itself is exact, so the guide only saves steps, it never changes an answer."""

    CHUNK = 1 << 20  # table entries built at once: the temporaries of a whole 1M-document model's table
    #                  (seven arrays of ~6M entries) were the shard's peak

    def __init__(self, cum: np.ndarray, start: np.ndarray, end: np.ndarray):
        r = (end - start).astype(np.int64)
        self.offset = start.astype(np.int64) + np.arange(len(start), dtype=np.int64)  # r + 1 entries each
        size = int(r.sum()) + len(r)
        lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0) if len(cum) else np.zeros(len(start))
        hi = cum[np.maximum(end - 1, 0)] if len(cum) else np.zeros(len(start))
        # entries are positions in cum: int32 holds them exactly below 2**31 (half the memory of int64)
        self.table = np.empty(size, np.int32 if len(cum) < 2**31 else np.int64)
        first = 0
        while first < len(r):  # whole segments, about CHUNK entries at a time: the same values as all at once
            stop = max(int(np.searchsorted(self.offset, self.offset[first] + self.CHUNK, side="right")), first + 1)
            part = np.arange(first, stop)
            seg = np.repeat(part, r[part] + 1)
            base = int(self.offset[first])
            j = np.arange(base, base + len(seg), dtype=np.int64) - np.repeat(self.offset[part], r[part] + 1)
            t = lo[seg] + (hi[seg] - lo[seg]) * j / np.maximum(r[seg], 1)
            self.table[base:base + len(seg)] = np.clip(np.searchsorted(cum, t, side="right"), start[seg], end[seg])
            first = stop

    def bounds(self, seg: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, start: np.ndarray,
               end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[a, b] holding bisect_right(cum, x, start, end): the slice x falls in, one slice of slack each side
        (for rounding), the segment's own ends at its edges."""
        r = end - start
        j = np.clip(((x - lo) / (hi - lo) * r).astype(np.int64), 0, np.maximum(r - 1, 0))
        off = self.offset[seg]
        a = np.where(j >= 2, self.table[off + np.maximum(j - 1, 0)], start)
        b = np.where(j + 2 < r, self.table[off + np.minimum(j + 2, r)], end)
        return a, b


def search(a: np.ndarray, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, right: bool) -> np.ndarray:
    """Per element, ``bisect_right(a, x, lo, hi)`` (or ``bisect_left``) as a lockstep binary search.

    Equal to ``np.searchsorted`` where the bounds are the whole array, but bounded by each element's own range
    (a context's continuations), so it takes log2(widest range) steps, and it is several times faster than
    ``searchsorted`` for unsorted needles in a large array.
    """
    lo = lo.astype(np.int64, copy=True)
    hi = hi.astype(np.int64, copy=True)
    if not len(x):
        return lo
    last = len(a) - 1
    for _ in range(int((hi - lo).max(initial=0)).bit_length()):
        mid = (lo + hi) >> 1
        open_ = lo < hi
        v = a[np.minimum(mid, last)]
        go = open_ & ((v <= x) if right else (v < x))
        lo = np.where(go, mid + 1, lo)
        hi = np.where(open_ & ~go, mid, hi)
    return lo
