"""Steps on worker processes, for ``run_year``: what Airflow's tasks on Celery workers do for the DAG.

A mapped step is a module-level function ``fn(plan, index)`` whose shards share state only through files under
staging, so running them in any order, in any process, gives the same bytes. ``Workers`` runs them in a pool of
processes (``workers`` > 1) or one after another in this process (``workers`` = 1, the default for tests and
for debugging). Every other step (``fn(plan)``) runs, with ``workers`` > 1, in a fresh process of its own, as an
Airflow task does: what a step allocates is given back to the system when it ends, so a year's peak memory is
its largest step's, not the sum of what earlier steps left in one long-lived process (CPython and Arrow's
allocator keep freed memory mapped). Processes are forked from a fork server that has imported the pipeline, so
a step or shard costs a fork, not an interpreter start-up; each mapped step gets its own pool for the same
reason.

Each shard and step is profiled in the process that ran it (its wall time, its own peak RSS, its bytes
written); a mapped step's own record covers the whole map (wall time, the largest shard peak, the sum of bytes
written).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Sequence, TypeVar

from biomass.cpus import usable_cpus
from biomass.profiling import Step, StepProfile

T = TypeVar("T")

# What the fork server imports once, so every worker starts with it loaded.
PRELOAD = ["biomass.pipeline", "biomass.stages.scrape", "pyarrow.parquet", "pyarrow.compute", "numpy"]


def default_workers() -> int:
    """Workers for ``run-year`` when none are asked for: every CPU this process may use."""
    return usable_cpus()


class StepError(RuntimeError):
    """A step failed in a worker with an exception that cannot travel back to the caller as itself (it does not
    pickle); its type, message and traceback are kept in the message."""


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the trip back through a pipe as the same type and message, else a ``StepError``
    that says what it was (an exception that fails to unpickle in the caller would break the whole pool)."""
    try:
        back = pickle.loads(pickle.dumps(exc))
        if type(back) is type(exc) and str(back) == str(exc):
            return exc
    except Exception:   # noqa: BLE001 - any failure to round-trip means: send a description instead
        pass
    import traceback

    return StepError("".join(traceback.format_exception(exc)).rstrip())


def _die_with_the_run() -> None:
    """In a new worker: exit as soon as the run that started it is gone. Without this, a run killed mid-step
    (SIGKILL, the OOM killer) leaves its workers finishing their shards and writing into a staging folder that
    the next run, having taken the stale lock over, writes too. (The fork server is no help: every worker holds
    its liveness pipe open, so it outlives the run as long as they do.) A thread waits on the parent's sentinel,
    a pipe whose other end only the run holds, so the wait ends exactly when the run's process does."""
    import multiprocessing.connection
    import threading

    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="die-with-the-run", daemon=True).start()


def _run_shard(plan, fn: Callable[..., T], index: int | None, name: str,
               environ: dict[str, str] | None = None) -> tuple[T, Step]:
    """In a worker: one shard (``fn(plan, index)``), or one step (``fn(plan)``, ``index`` None), profiled in this
    process. ``environ``: the caller's environment, which the shard sees instead of the fork server's (that server
    is one per process and keeps the environment it started with; keys such as $BIOMASS_SIGNING_KEY, from which
    the watermark key derives, are read from it)."""
    if environ is not None and environ != os.environ:
        os.environ.clear()
        os.environ.update(environ)
    profile = StepProfile()
    try:
        with profile.step(name):
            result = fn(plan) if index is None else fn(plan, index)
    except Exception as exc:
        if environ is None:   # in the caller's own process: nothing to carry across
            raise
        raise _portable(exc) from None
    finally:
        if environ is not None:
            _end_leftover_children(name)
    return result, profile.steps[0]


def _end_leftover_children(name: str) -> None:
    """A worker's process joins its live children when it exits: a step that left a pool running would hang the
    run there, forever. End them, and say which step left them."""
    import logging
    import multiprocessing

    for child in multiprocessing.active_children():
        logging.getLogger(__name__).warning("%s left child process %s running; ending it", name, child.pid)
        child.terminate()
        child.join(10)


class Workers:
    """Runs steps and mapped steps, each in fresh processes when ``workers`` > 1. Use as a context manager. A
    failing shard cancels the shards not yet started and its exception is raised here; a step's exception is
    raised here as itself."""

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers

    def __enter__(self) -> "Workers":
        return self

    def __exit__(self, *exc) -> None:
        return None

    @staticmethod
    def _executor(processes: int) -> ProcessPoolExecutor:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ProcessPoolExecutor(processes, mp_context=ctx, initializer=_die_with_the_run)

    def run(self, plan, name: str, fn: Callable[[Any], T], profile: StepProfile | None = None) -> T:
        """``fn(plan)``, recorded as step ``name`` in ``profile``: in a fresh process when ``workers`` > 1 (its
        peak and bytes written are the step's), else in this one."""
        profile = profile if profile is not None else StepProfile()
        if self.workers == 1:
            with profile.step(name):
                return fn(plan)
        with profile.step(name):
            with self._executor(1) as pool:
                result, child = self._collect(name, pool.submit(_run_shard, plan, fn, None, name, dict(os.environ)))
        own = profile.steps[-1]   # this process only waited: the step's figures are its process's
        own.peak_rss_mb = child.peak_rss_mb
        if own.written_mb is not None and child.written_mb is not None:
            own.written_mb = round(own.written_mb + child.written_mb, 1)
        return result

    def map(self, plan, name: str, fn: Callable[[Any, int], T], shards: int | Sequence[int],
            profile: StepProfile | None = None) -> list[T]:
        """``fn(plan, i)`` for each shard index (``shards``: a count, or the indices in the order to start them),
        results in that order; shards recorded as ``name[i]`` under a step ``name`` in ``profile``."""
        indices = list(range(shards)) if isinstance(shards, int) else list(shards)
        shard_steps: dict[int, Step] = {}
        try:
            with (profile or StepProfile()).group(name, shard_steps.values()):
                if self.workers == 1:
                    return [self._in_process(plan, name, fn, i, shard_steps) for i in indices]
                return self._in_pool(plan, name, fn, indices, shard_steps)
        finally:
            if profile is not None:
                profile.steps.extend(shard_steps[i] for i in sorted(shard_steps))

    @staticmethod
    def _in_process(plan, name: str, fn, index: int, steps: dict[int, Step]):
        result, steps[index] = _run_shard(plan, fn, index, f"{name}[{index}]")
        return result

    @staticmethod
    def _collect(name: str, future: Future):
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise RuntimeError(f"a worker process running {name} died (killed, or out of memory?)") from exc

    def _in_pool(self, plan, name: str, fn, indices: list[int], steps: dict[int, Step]) -> list:
        if not indices:
            return []
        environ = dict(os.environ)
        with self._executor(min(self.workers, len(indices))) as pool:
            futures = [pool.submit(_run_shard, plan, fn, i, f"{name}[{i}]", environ) for i in indices]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in futures if f.done() and not f.cancelled() and f.exception() is not None]
            if failed:
                for f in pending:
                    f.cancel()
                wait(pending)
                self._collect(name, failed[0])
            results = []
            for i, f in zip(indices, futures):
                result, steps[i] = f.result()
                results.append(result)
            return results
