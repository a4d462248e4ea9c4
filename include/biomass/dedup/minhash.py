"""MinHash signatures of many texts at once, bit-identical to datasketch 2.0.0's default ``MinHash``.

The per-shingle work (tokenise, sha1, 128 permutations) runs in the compiled ``_minhash`` kernel over the
Arrow buffers with the GIL released. Python only touches documents that are not plain ASCII, to apply
``unicodedata.normalize("NFKC", ...)`` and ``str.lower()`` exactly as the reference definition does.
"""

from __future__ import annotations

import re
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NGRAM = 5
_WORD = re.compile(r"\w+")
_BUILD_HINT = (
    "the compiled MinHash kernel biomass.dedup._minhash is missing; build it with `make venv` "
    "(or `uv pip install -e .` / `python setup.py build_ext --inplace` in the repo root; needs gcc and "
    "the Python headers)"
)


def kernel():
    """The compiled extension, or an ImportError that says how to build it."""
    try:
        from biomass.dedup import _minhash
    except ImportError as exc:  # pragma: no cover - exercised only on a broken install
        raise ImportError(_BUILD_HINT) from exc
    return _minhash


# -- the reference definition, in plain Python (used by tests and as documentation) ----------------------
def normalize_for_shingles(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def shingles(text: str) -> list[str]:
    """Word 5-grams of NFKC+lowercased ``\\w+`` tokens; fewer than 5 tokens (even 0) make one shingle."""
    tokens = _WORD.findall(normalize_for_shingles(text))
    if len(tokens) < NGRAM:
        return [" ".join(tokens)]
    return [" ".join(tokens[i:i + NGRAM]) for i in range(len(tokens) - NGRAM + 1)]


# -- permutations ----------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch 2.0.0's affine32 parameters ``(a, b)`` for ``MinHash(num_perm, seed)``; ``a`` is odd."""
    if num_perm < 1:
        raise ValueError("num_perm must be positive")
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    a.setflags(write=False)
    b.setflags(write=False)
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


# -- Arrow plumbing --------------------------------------------------------------------------------------
def as_string_array(texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous ``large_string`` array; nulls become empty strings (they have no words)."""
    if isinstance(texts, pa.ChunkedArray):
        arr = texts.combine_chunks() if texts.num_chunks != 1 else texts.chunk(0)
    elif isinstance(texts, pa.Array):
        arr = texts
    else:
        arr = pa.array(list(texts), type=pa.large_string())
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        pass
    elif pa.types.is_string_view(arr.type) or pa.types.is_null(arr.type):
        arr = arr.cast(pa.large_string())
    else:
        raise TypeError(f"texts must be strings, got Arrow type {arr.type}")
    if arr.null_count:
        arr = pc.fill_null(arr, "")
    return arr


def _buffers(arr: pa.Array) -> tuple[memoryview, memoryview, int, int]:
    _validity, offsets, data = arr.buffers()
    width = 8 if pa.types.is_large_string(arr.type) else 4
    empty = memoryview(b"\0" * 8)
    return (memoryview(offsets) if offsets is not None else empty,
            memoryview(data) if data is not None else memoryview(b""), width, arr.offset)


def _normalized_copy(arr: pa.Array, rows: np.ndarray) -> pa.Array:
    """NFKC + lowercase the given rows in Python: the only per-document Python, and only for non-ASCII."""
    values = arr.take(pa.array(rows, type=pa.uint32())).to_pylist()
    return pa.array([normalize_for_shingles(v) for v in values], type=pa.large_string())


def default_threads() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def _run(k, arr: pa.Array, rows: np.ndarray, out_rows: np.ndarray, a: np.ndarray, b: np.ndarray,
         out: np.ndarray, threads: int) -> None:
    off, data, width, base = _buffers(arr)
    rows = np.ascontiguousarray(rows, dtype=np.uint32)
    out_rows = np.ascontiguousarray(out_rows, dtype=np.uint32)
    n = len(rows)
    if n == 0:
        return
    parts = 1 if threads <= 1 or n < 256 else min(threads * 4, n // 64)
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    jobs = [(rows[lo:hi], out_rows[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
    if len(jobs) == 1:
        k.minhash_rows(off, data, width, base, jobs[0][0], jobs[0][1], a, b, out)
        return
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda j: k.minhash_rows(off, data, width, base, j[0], j[1], a, b, out), jobs))


def signatures(texts: Sequence[str] | pa.Array | pa.ChunkedArray, num_perm: int = 128, seed: int = 1,
               *, threads: int | None = None) -> np.ndarray:
    """``(n, num_perm)`` uint32 signatures equal to datasketch ``MinHash(num_perm, seed)`` over ``shingles``."""
    k = kernel()
    arr = as_string_array(texts)
    n = len(arr)
    a, b = permutations(num_perm, seed)
    out = np.empty((n, num_perm), dtype=np.uint32)
    if n == 0:
        return out
    threads = default_threads() if threads is None else max(1, int(threads))
    ascii_mask = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    ascii_rows = np.flatnonzero(ascii_mask)
    other_rows = np.flatnonzero(~ascii_mask)
    _run(k, arr, ascii_rows, ascii_rows, a, b, out, threads)
    if len(other_rows):
        norm = _normalized_copy(arr, other_rows)
        _run(k, norm, np.arange(len(other_rows)), other_rows, a, b, out, threads)
    return out


def shingle_sets(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                 rows: Iterable[int] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct 64-bit shingle hashes (first 8 sha1 bytes) of ``rows``: CSR ``(offsets, hashes)``."""
    k = kernel()
    arr = as_string_array(texts)
    rows = np.arange(len(arr), dtype=np.uint32) if rows is None else np.asarray(rows, dtype=np.uint32)
    if len(rows) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    sub = arr.take(pa.array(rows, type=pa.uint32()))
    ascii_mask = pc.string_is_ascii(sub).to_numpy(zero_copy_only=False)
    if not ascii_mask.all():
        other = np.flatnonzero(~ascii_mask)
        values = sub.to_pylist()
        for i in other:
            values[i] = normalize_for_shingles(values[i])
        sub = pa.array(values, type=pa.large_string())
    off, data, width, base = _buffers(sub)
    offsets, hashes = k.shingle_sets(off, data, width, base, np.arange(len(sub), dtype=np.uint32))
    return np.frombuffer(offsets, dtype=np.int64), np.frombuffer(hashes, dtype=np.uint64)


def jaccard_pairs(offsets: np.ndarray, hashes: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the shingle sets ``left[i]`` and ``right[i]`` (indices into ``offsets``)."""
    left = np.ascontiguousarray(left, dtype=np.uint32)
    right = np.ascontiguousarray(right, dtype=np.uint32)
    out = np.empty(len(left), dtype=np.float64)
    kernel().jaccard_pairs(np.ascontiguousarray(offsets, dtype=np.int64),
                           np.ascontiguousarray(hashes, dtype=np.uint64), left, right, out)
    return out
