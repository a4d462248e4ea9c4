"""LSH banding over flat numpy arrays: band keys, candidate pairs, and the band/row choice for a threshold.

Instead of datasketch's dict-of-lists buckets (~3 KB/doc) each band is a sorted uint64 key array plus a row
permutation: 12 bytes per doc per band, and equal keys sit next to each other.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from biomass.dedup.minhash import _map, default_threads, kernel

# Pairs inside one bucket are compared to up to this many following members (in row order). Buckets of up
# to WINDOW+1 docs get all their pairs; a bigger bucket is still chained together, but in O(n*WINDOW).
WINDOW = 16
_PARALLEL_ROWS = 20_000   # below this, one kernel call over every band is faster than splitting them


def _collision(s: np.ndarray, b: int, r: int) -> np.ndarray:
    return 1.0 - (1.0 - s ** r) ** b


@lru_cache(maxsize=64)
def choose_bands(threshold: float, num_perm: int, max_miss: float = 5e-4) -> tuple[int, int]:
    """``(bands, rows)``: the fewest false candidates below ``threshold`` such that a pair AT the threshold
    is missed with probability <= ``max_miss``. Candidates are verified afterwards, so recall is what counts.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    grid = np.linspace(0.0, threshold, 200)
    best: tuple[float, int, int] | None = None
    fallback: tuple[float, int, int] | None = None
    for r in range(1, num_perm + 1):
        b = num_perm // r
        miss = float(1.0 - _collision(np.array([threshold]), b, r)[0])
        false_pos = float(np.trapezoid(_collision(grid, b, r), grid))
        if miss <= max_miss and (best is None or false_pos < best[0]):
            best = (false_pos, b, r)
        if fallback is None or miss < fallback[0]:
            fallback = (miss, b, r)
    chosen = best if best is not None else fallback
    assert chosen is not None
    return chosen[1], chosen[2]


def band_keys(sigs: np.ndarray, bands: int, rows: int, *, first: int = 0, count: int | None = None) -> np.ndarray:
    """``(count, n)`` uint64: one hash of each band's ``rows`` signature values, for bands first..first+count."""
    sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
    n, num_perm = sigs.shape
    if bands * rows > num_perm:
        raise ValueError(f"{bands} bands x {rows} rows needs {bands * rows} permutations, have {num_perm}")
    count = bands - first if count is None else count
    out = np.empty((count, n), dtype=np.uint64)
    kernel().band_keys(sigs, num_perm, first, count, rows, out)
    return out


def sorted_band(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys sorted (stable, so ties keep row order) and the rows they came from."""
    order = np.argsort(keys, kind="stable").astype(np.uint32)
    return keys[order], order


def pairs_from_band(keys: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """One band's share of ``candidate_pairs``, from its keys (``band_keys``) alone: distinct packed
    ``i << 32 | j`` (``i < j``), sorted. Same rule as the kernel: keys sorted stably (ties in row order), each
    row paired with the next ``window`` rows of its run of equal keys."""
    keys = np.asarray(keys, dtype=np.uint64)
    if len(keys) < 2:
        return np.zeros(0, dtype=np.uint64)
    order = np.argsort(keys, kind="stable")
    ks = keys[order]
    at = np.flatnonzero(ks[1:] == ks[:-1])     # rows whose run goes on; only they can pair
    del keys
    found = []
    for d in range(1, window + 1):
        if d > 1:
            at = at[at + d < len(ks)]
            at = at[ks[at + d] == ks[at]]      # sorted keys: once a run ends at distance d, it ended for d+1
        if len(at) == 0:
            break
        found.append((order[at].astype(np.uint64) << np.uint64(32)) | order[at + d].astype(np.uint64))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)


def candidate_pairs(sigs: np.ndarray, bands: int, rows: int, *, threads: int | None = None) -> np.ndarray:
    """Distinct ``(i, j)`` row pairs, ``i < j``, sharing a band key; shape ``(m, 2)``, sorted.

    Per band (in the kernel): keys sorted with their rows, ties in row order; each row of a run of equal keys
    is paired with the next ``WINDOW`` rows of the run. Only one band's keys exist at a time (per thread).
    ``threads``: the bands are split into that many ranges run side by side (the kernel releases the GIL),
    and their pairs merged: the same pairs as one call over every band.
    """
    sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
    n, num_perm = sigs.shape
    if bands * rows > num_perm:
        raise ValueError(f"{bands} bands x {rows} rows needs {bands * rows} permutations, have {num_perm}")
    if n == 0:
        return np.zeros((0, 2), dtype=np.uint32)
    threads = default_threads() if threads is None else max(1, int(threads))
    parts = min(threads, bands) if n >= _PARALLEL_ROWS else 1
    if parts <= 1:
        packed = np.frombuffer(kernel().candidate_pairs(sigs, num_perm, bands, rows, WINDOW), dtype=np.uint64)
    else:
        cuts = np.linspace(0, bands, parts + 1).astype(int)
        found = _map(lambda span: np.frombuffer(kernel().candidate_pairs(sigs, num_perm, bands, rows, WINDOW,
                                                                         span[0], span[1] - span[0]),
                                                dtype=np.uint64),
                     list(zip(cuts[:-1].tolist(), cuts[1:].tolist())), parts)
        packed = np.unique(np.concatenate(found))
    return np.stack([(packed >> np.uint64(32)).astype(np.uint32), (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)],
                    axis=1)
