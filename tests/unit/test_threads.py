"""``biomass.threads``: order kept, streams read lazily, calls really side by side, errors raised in order."""

from __future__ import annotations

import threading

import pytest

from biomass.threads import ordered_map, prefetched


def test_ordered_map_keeps_input_order_whatever_finishes_first():
    import time

    def slow_first(i):
        time.sleep(0.02 if i % 3 == 0 else 0.0)
        return i * i

    assert list(ordered_map(slow_first, range(20), 4)) == [i * i for i in range(20)]
    assert list(ordered_map(slow_first, range(5), 1)) == [i * i for i in range(5)]
    assert list(ordered_map(slow_first, [], 3)) == []


def test_ordered_map_reads_items_only_as_slots_free_up():
    read = []

    def items():
        for i in range(1000):
            read.append(i)
            yield i

    it = ordered_map(lambda i: i, items(), 2)
    assert next(it) == 0
    assert len(read) <= 2 * 2 + 1   # a window of 2 * concurrency, not the whole stream
    it.close()


def test_ordered_map_runs_calls_side_by_side():
    barrier = threading.Barrier(3, timeout=5)   # passes only if three calls are in flight at once

    def meet(i):
        barrier.wait()
        return i

    assert list(ordered_map(meet, range(3), 3)) == [0, 1, 2]


def test_ordered_map_raises_the_first_error_in_order():
    def fn(i):
        if i == 3:
            raise KeyError(i)
        return i * 2

    it = ordered_map(fn, range(10), 4)
    assert [next(it) for _ in range(3)] == [0, 2, 4]
    with pytest.raises(KeyError):
        next(it)


def test_prefetched_yields_every_item_in_order_and_fetches_ahead():
    fetched = []

    def items():
        for i in range(5):
            fetched.append(i)
            yield i

    it = prefetched(items())
    assert next(it) == 0
    assert list(it) == [1, 2, 3, 4] and fetched == [0, 1, 2, 3, 4]
    assert list(prefetched([])) == []
