"""Threads that overlap work the GIL does not hold: Arrow decoding and compute, compression, numpy kernels and
network waits. Two shapes, both keeping the input's order so the output stays deterministic:

- ``prefetched``: the next item of a stream fetched by one thread while the caller works on this one;
- ``ordered_map``: ``map`` with a bounded number of calls in flight.

Stdlib only: any layer may use it.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")
_END = object()


def prefetched(items: Iterable[T]) -> Iterator[T]:
    """``items``, the next one fetched by a thread while the caller works on this one (Parquet decoding,
    compression and the kernels all release the GIL, so on two cores they overlap)."""
    it = iter(items)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="biomass-prefetch") as pool:
        pending = pool.submit(next, it, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, it, _END)
            yield item


def ordered_map(fn: Callable[[T], R], items: Iterable[T], concurrency: int, name: str = "biomass-map"
                ) -> Iterator[R]:
    """``map(fn, items)`` with up to ``concurrency`` calls in flight, results in input order. Items are read
    only as slots free up, so a long stream is never held whole (at most ``2 * concurrency`` items and results
    are in flight); the first error is raised in order."""
    if concurrency <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=name) as pool:
        window: deque[Future] = deque()
        try:
            for item in items:
                window.append(pool.submit(fn, item))
                if len(window) >= 2 * concurrency:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
