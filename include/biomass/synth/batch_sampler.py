"""Many documents sampled at once: the n-gram sampler as numpy steps over a pool of documents.

Why: one Python loop per word (and ~3 draws per word under the watermark's rejection step) caps the scalar
sampler near 100 documents a second. Here every step makes one draw for every document in a pool of ``slots``;
a finished document's slot takes the next job at once (continuous batching), so the pool stays full while
lengths differ.

Each document still owns its random stream (``default_rng(seed)``, read in order) and consumes it exactly as
``NgramModel.sample`` does: one uniform per seen context tried, highest order first, one for the unigram
fallback, one for the watermark's acceptance. So every document's words are those of the scalar sampler for
the same seed (a parity test holds this), whatever the pool size or the other jobs: output does not depend on
batching. Results come back in job order.
"""

from __future__ import annotations

from dataclasses import dataclass
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
        self.words = (lvl.keys % base).astype(np.int64)
        self.mult = base ** np.arange(self.k - 2, -1, -1, dtype=np.int64)  # context ids -> key


class BatchSampler:
    def __init__(self, model, accept: VectorAccept | None = None, slots: int = 4096, window: int = 512):
        self.model = model
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
        self.n_vocab = len(model.vocab)
        self.ctx_len = max(model.order - 1, 1)

    def run(self, jobs: Iterable[Job]) -> Iterator[np.ndarray]:
        """Token ids of each job's text (its prompt, then sampled words up to ``length``), in job order."""
        return _Run(self, iter(jobs)).outputs()


class _Run:
    """The pool's state: one row per slot."""

    def __init__(self, sampler: BatchSampler, jobs: Iterator[Job]):
        self.s = sampler
        self.jobs = jobs
        self.next_job = 0
        self.next_out = 0
        self.done: dict[int, np.ndarray] = {}
        n, w, c = sampler.slots, sampler.window, sampler.ctx_len
        self.job = np.full(n, -1, np.int64)
        self.hist = np.zeros((n, c), np.int64)
        self.length = np.zeros(n, np.int64)
        self.pos = np.zeros(n, np.int64)
        self.out: list[list[int]] = [[] for _ in range(n)]
        self.u = np.zeros(n * w)
        self.uptr = np.zeros(n, np.int64)
        self.gens: list[np.random.Generator | None] = [None] * n
        m = len(sampler.levels)
        self.found = np.zeros((m, n), bool)
        self.boff = np.zeros((m, n))
        self.lo = np.zeros((m, n))
        self.scale = np.zeros((m, n))
        self.start = np.zeros((m, n), np.int64)
        self.end = np.zeros((m, n), np.int64)
        self.exhausted = False

    # -- slots ----------------------------------------------------------------------------------------
    def _load(self, slot: int) -> bool:
        """Give ``slot`` the next job that needs sampling; jobs already long enough finish at once."""
        s = self.s
        while not self.exhausted:
            job = next(self.jobs, None)
            if job is None:
                self.exhausted = True
                break
            i = self.next_job
            self.next_job += 1
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
            self.out[slot] = prompt
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
            row = np.searchsorted(lvl.ctx_keys, ctx)
            row_c = np.minimum(row, max(len(lvl.ctx_keys) - 1, 0))
            found = (lvl.ctx_keys[row_c] == ctx) if len(lvl.ctx_keys) else np.zeros(len(slots), bool)
            start, end = lvl.start[row_c], lvl.end[row_c]
            lo = np.where(start > 0, lvl.cum[np.maximum(start - 1, 0)], 0.0) if len(lvl.cum) else np.zeros(len(slots))
            boff = lvl.backoff[row_c] if len(lvl.ctx_keys) else np.zeros(len(slots))
            hi = lvl.cum[np.maximum(end - 1, 0)] if len(lvl.cum) else np.zeros(len(slots))
            self.found[j, slots] = found
            self.boff[j, slots] = boff
            self.lo[j, slots] = lo
            self.scale[j, slots] = (hi - lo) / (1.0 - boff)
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
            i = np.minimum(np.searchsorted(lvl.cum, x, side="right"), self.end[j, slots] - 1)
            word[m] = lvl.words[i]
            pending[m] = False
        m = np.flatnonzero(pending)
        if len(m):
            u = self._take(act[m])
            floor = s.uni_floor
            low = u < floor
            flat_ids = 1 + np.minimum((u / floor * (s.n_vocab - 1)).astype(np.int64), s.n_vocab - 2)
            i = np.searchsorted(s.uni_cum, (u - floor) / (1.0 - floor) * s.uni_cum[-1], side="right")
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
            self.pos[act] += 1
            for slot, w in zip(act.tolist(), word.tolist()):
                self.out[slot].append(w)
            finished = act[self.pos[act] >= self.length[act]]
            for slot in finished.tolist():
                self.done[int(self.job[slot])] = np.array(self.out[slot], np.int64)
                self._load(slot)
            dirty = act
            yield from self._ready()
        yield from self._ready()

    def _ready(self) -> Iterator[np.ndarray]:
        while self.next_out in self.done:
            yield self.done.pop(self.next_out)
            self.next_out += 1
