"""Mapped steps on worker processes, for ``run_year``: what Airflow's mapped tasks on Celery workers do for the DAG.

A mapped step is a module-level function ``fn(plan, index)`` whose shards share state only through files under
staging, so running them in any order, in any process, gives the same bytes. ``Workers`` runs them in a pool of
processes (``workers`` > 1) or one after another in this process (``workers`` = 1, the default for tests and
for debugging). The pool starts once per run from a fork server that has imported the pipeline, so a shard
costs a fork, not an interpreter start-up; workers are reused across steps.

Each shard is profiled in the process that ran it (its wall time, its own peak RSS, its bytes written); the
step's own record covers the whole map (wall time, the largest shard peak, the sum of bytes written).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Sequence, TypeVar

from biomass.profiling import Step, StepProfile

T = TypeVar("T")

# What the fork server imports once, so every worker starts with it loaded.
PRELOAD = ["biomass.pipeline", "biomass.stages.scrape", "pyarrow.parquet", "pyarrow.compute", "numpy"]


def default_workers() -> int:
    """The CPUs this process may run on (a container's or taskset's limit, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # not Linux
        return max(1, os.cpu_count() or 1)


def _run_shard(plan, fn: Callable[[Any, int], T], index: int, name: str,
               environ: dict[str, str] | None = None) -> tuple[T, Step]:
    """In a worker: one shard, profiled in this process. ``environ``: the caller's environment, which the shard
    sees instead of the fork server's (that server is one per process and keeps the environment it started with;
    keys such as $BIOMASS_SIGNING_KEY, from which the watermark key derives, are read from it)."""
    if environ is not None and environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    profile = StepProfile()
    with profile.step(name):
        result = fn(plan, index)
    return result, profile.steps[0]


class Workers:
    """Runs mapped steps, in parallel when ``workers`` > 1. Use as a context manager (the pool is shut down on
    exit; a failing shard cancels the shards not yet started and its exception is raised here)."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD)
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)
        return self._pool

    def map(self, plan, name: str, fn: Callable[[Any, int], T], shards: int | Sequence[int],
            profile: StepProfile | None = None) -> list[T]:
        """``fn(plan, i)`` for each shard index (``shards``: a count, or the indices in the order to start them),
        results in that order; shards recorded as ``name[i]`` under a step ``name`` in ``profile``."""
        indices = list(range(shards)) if isinstance(shards, int) else list(shards)
        shard_steps: dict[int, Step] = {}
        try:
            with (profile or StepProfile()).group(name, shard_steps.values()):
                if self.workers == 1 or len(indices) <= 1:
                    return [self._in_process(plan, name, fn, i, shard_steps) for i in indices]
                return self._in_pool(plan, name, fn, indices, shard_steps)
        finally:
            if profile is not None:
                profile.steps.extend(shard_steps[i] for i in sorted(shard_steps))

    @staticmethod
    def _in_process(plan, name: str, fn, index: int, steps: dict[int, Step]):
        result, steps[index] = _run_shard(plan, fn, index, f"{name}[{index}]")
        return result

    def _in_pool(self, plan, name: str, fn, indices: list[int], steps: dict[int, Step]) -> list:
        pool = self._executor()
        environ = dict(os.environ)
        futures: list[Future] = [pool.submit(_run_shard, plan, fn, i, f"{name}[{i}]", environ) for i in indices]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
        if failed:
            for f in pending:
                f.cancel()
            wait(pending)
            exc = failed[0].exception()
            if isinstance(exc, BrokenProcessPool):
                self._pool = None
                raise RuntimeError(f"a worker process running {name} died (killed, or out of memory?)") from exc
            raise exc
        results = []
        for i, f in zip(indices, futures):
            result, steps[i] = f.result()
            results.append(result)
        return results

