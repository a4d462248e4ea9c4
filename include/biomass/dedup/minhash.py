"""MinHash signatures of many texts at once, bit-identical to datasketch 2.0.0's default ``MinHash``.

The per-shingle work (tokenise, sha1, 128 permutations) runs in the compiled ``_minhash`` kernel over the
Arrow buffers with the GIL released. Python only touches documents that are not plain ASCII, to apply
``unicodedata.normalize("NFKC", ...)`` and ``str.lower()`` exactly as the reference definition does.
"""

from __future__ import annotations

import importlib
import re
import threading
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NGRAM = 5
_FALLBACK_CHUNK = 64   # documents normalised in Python at a time
_WORD = re.compile(r"\w+")
_BUILD_HINT = (
    "the compiled MinHash kernel biomass.dedup._minhash is missing; build it with `make venv` "
    "(or `uv pip install -e .` / `python setup.py build_ext --inplace` in the repo root; needs gcc and "
    "the Python headers)"
)


def kernel():
    """The compiled extension, or an ImportError that says how to build it."""
    try:
        return importlib.import_module("biomass.dedup._minhash")
    except ImportError as exc:
        raise ImportError(_BUILD_HINT) from exc


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
        # large_string first: combining many string chunks could overflow 32-bit offsets
        arr = texts.chunk(0) if texts.num_chunks == 1 else texts.cast(pa.large_string()).combine_chunks()
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
    """NFKC + lowercase the given rows in Python: only for documents the code point table cannot handle."""
    values = arr.take(pa.array(rows, type=pa.uint32())).to_pylist()
    return pa.array([normalize_for_shingles(v) for v in values], type=pa.large_string())


# -- per-code-point normalisation table ------------------------------------------------------------------
# NFKC can be applied code point by code point wherever every code point starts a normalisation segment of its
# own: its NFKD begins with a starter that nothing before it can compose with (ICU's "boundary before"). Then
# NFKC(text) = concat(NFKC(c)), and str.lower() is per code point too, except for U+03A3 (final sigma looks at
# the neighbours). Such "safe" code points map to lower(NFKC(c)), one or more code points; a document with any
# other non-ASCII code point is normalised by Python itself.
_CP_CACHE: dict[int, tuple[int, ...] | None] = {}
_EMPTY_TABLE = (np.zeros(0, np.uint32), np.zeros(0, np.uint32), np.zeros(0, np.uint32))
_SIGMA = "\u03a3"


@lru_cache(maxsize=1)
def composition_seconds() -> frozenset[int]:
    """Code points that canonically compose with a preceding character (from this Python's Unicode data)."""
    seconds = set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))   # Hangul V and T jamo (algorithmic)
    for cp in range(0x110000):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            parts = d.split()
            if len(parts) == 2:
                seconds.add(int(parts[1], 16))
    return frozenset(seconds)


def combines_backward(ch: str) -> bool:
    """Could ``ch`` compose with, or reorder around, what precedes it? (non-starters and composition seconds)"""
    if unicodedata.combining(ch) != 0:
        return True
    cp = ord(ch)
    if 0x1161 <= cp <= 0x1175 or 0x11A8 <= cp <= 0x11C2:
        return True
    # every other composition second is a mark; only marks need the table
    return unicodedata.category(ch).startswith("M") and cp in mark_composition_seconds()


# The composition seconds that are marks, for the Unicode data of CPython 3.11 (tests/dedup/test_signatures.py
# checks them against ``composition_seconds``): computing them scans every code point, ~0.3 s a process.
_MARK_SECONDS_UNIDATA = "14.0.0"
_MARK_SECONDS = frozenset((
    0x300, 0x301, 0x302, 0x303, 0x304, 0x306, 0x307, 0x308, 0x309, 0x30a, 0x30b, 0x30c, 0x30f, 0x311, 0x313,
    0x314, 0x31b, 0x323, 0x324, 0x325, 0x326, 0x327, 0x328, 0x32d, 0x32e, 0x330, 0x331, 0x338, 0x342, 0x345,
    0x5b4, 0x5b7, 0x5b8, 0x5b9, 0x5bc, 0x5bf, 0x5c1, 0x5c2, 0x653, 0x654, 0x655, 0x93c, 0x9bc, 0x9be, 0x9d7,
    0xa3c, 0xb3c, 0xb3e, 0xb56, 0xb57, 0xbbe, 0xbd7, 0xc56, 0xcc2, 0xcd5, 0xcd6, 0xd3e, 0xd57, 0xdca, 0xdcf,
    0xddf, 0xf72, 0xf74, 0xf80, 0xfb5, 0xfb7, 0x102e, 0x1b35, 0x3099, 0x309a, 0x110ba, 0x11127, 0x1133e,
    0x11357, 0x114b0, 0x114ba, 0x114bd, 0x115af, 0x11930, 0x1d165, 0x1d16e, 0x1d16f, 0x1d170, 0x1d171, 0x1d172,
))


@lru_cache(maxsize=1)
def mark_composition_seconds(unidata_version: str | None = None) -> frozenset[int]:
    """The composition seconds that are marks (``unidata_version``: this Python's, unless given for a test)."""
    version = unicodedata.unidata_version if unidata_version is None else unidata_version
    if version == _MARK_SECONDS_UNIDATA == unicodedata.unidata_version:
        return _MARK_SECONDS
    return frozenset(cp for cp in composition_seconds() if unicodedata.category(chr(cp)).startswith("M"))


def classify_codepoint(cp: int) -> tuple[int, ...] | None:
    """``lower(NFKC(chr(cp)))`` as items ``code point << 1 | is_word``, or None if ``cp`` is not safe."""
    if cp in _CP_CACHE:
        return _CP_CACHE[cp]
    c = chr(cp)
    result = None
    if not 0xD800 <= cp <= 0xDFFF:
        decomposed = unicodedata.normalize("NFKD", c)
        composed = unicodedata.normalize("NFKC", c)
        if not combines_backward(decomposed[0]) and _SIGMA not in composed:
            low = composed.lower()
            if 0 < len(low) < 256:
                result = tuple((ord(ch) << 1) | (1 if _WORD.fullmatch(ch) else 0) for ch in low)
    _CP_CACHE[cp] = result
    return result


def codepoint_table(cps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cps, meta, seq)`` for the kernel: ``meta = start << 8 | count`` into ``seq``, 0 = not safe."""
    if len(cps) == 0:
        return _EMPTY_TABLE
    meta = np.zeros(len(cps), dtype=np.uint32)
    seq: list[int] = []
    for i, cp in enumerate(cps.tolist()):
        items = classify_codepoint(cp)
        if items is not None:
            meta[i] = (len(seq) << 8) | len(items)
            seq.extend(items)
    return np.ascontiguousarray(cps, dtype=np.uint32), meta, np.array(seq, dtype=np.uint32)


class GrowingTable:
    """One code point table for a stream of text batches, grown with the code points each batch brings: a
    batch then costs a scan of its text and the classification of its new code points, not a rebuild of the
    table (a table covering more code points than a text has gives the kernel the same answers). New code
    points' sequences are appended to ``seq``; ``meta`` keeps pointing at the old ones."""

    def __init__(self) -> None:
        self.cps = np.zeros(0, dtype=np.uint32)
        self.table = _EMPTY_TABLE
        self._meta = np.zeros(0, dtype=np.uint32)
        self._seq: list[int] = []

    def covering(self, arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        off, data, width, base = _buffers(arr)
        cps = np.frombuffer(kernel().distinct_codepoints(off, data, width, base,
                                                         np.arange(len(arr), dtype=np.uint32)), dtype=np.uint32)
        new = np.setdiff1d(cps, self.cps, assume_unique=True)
        if len(new):
            meta = np.zeros(len(new), dtype=np.uint32)
            for i, cp in enumerate(new.tolist()):
                items = classify_codepoint(cp)
                if items is not None:
                    meta[i] = (len(self._seq) << 8) | len(items)
                    self._seq.extend(items)
            all_cps = np.concatenate([self.cps, new.astype(np.uint32)])
            order = np.argsort(all_cps, kind="stable")
            self.cps = np.ascontiguousarray(all_cps[order])
            self._meta = np.ascontiguousarray(np.concatenate([self._meta, meta])[order])
            self.table = (self.cps, self._meta, np.array(self._seq, dtype=np.uint32))
        return self.table


def default_threads() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


_POOL: ThreadPoolExecutor | None = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _map(fn, items: list, threads: int) -> list:
    """Run ``fn`` over ``items`` on a shared pool (the kernels release the GIL); in order."""
    global _POOL, _POOL_SIZE
    if threads <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < threads:
            _POOL_SIZE = max(threads, default_threads())
            _POOL = ThreadPoolExecutor(max_workers=_POOL_SIZE, thread_name_prefix="biomass-dedup")
        pool = _POOL
    return list(pool.map(fn, items))


def _split(n: int, threads: int) -> list[tuple[int, int]]:
    parts = 1 if threads <= 1 or n < 256 else min(threads * 4, n // 64)
    bounds = np.linspace(0, n, parts + 1).astype(np.int64)
    return [(int(lo), int(hi)) for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]


def _run(k, arr: pa.Array, rows: np.ndarray, out_rows: np.ndarray, a: np.ndarray, b: np.ndarray,
         out: np.ndarray, threads: int, table) -> np.ndarray:
    """Fill ``out[out_rows]``; returns the positions (into ``rows``) the kernel left for Python."""
    off, data, width, base = _buffers(arr)
    rows = np.ascontiguousarray(rows, dtype=np.uint32)
    out_rows = np.ascontiguousarray(out_rows, dtype=np.uint32)
    if len(rows) == 0:
        return np.zeros(0, np.int64)

    def one(span: tuple[int, int]) -> np.ndarray:
        lo, hi = span
        failed = k.minhash_rows(off, data, width, base, rows[lo:hi], out_rows[lo:hi], a, b, out, *table)
        return np.frombuffer(failed, dtype=np.uint32).astype(np.int64) + lo

    return np.concatenate(_map(one, _split(len(rows), threads), threads))


def text_table(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The code point table for every row of ``texts`` (reusable across kernel calls on the same text)."""
    arr = as_string_array(texts)
    return _table_for(kernel(), arr, np.arange(len(arr), dtype=np.uint32))


def _table_for(k, arr: pa.Array, rows: np.ndarray):
    off, data, width, base = _buffers(arr)
    cps = np.frombuffer(k.distinct_codepoints(off, data, width, base, np.ascontiguousarray(rows, np.uint32)),
                        dtype=np.uint32)
    return codepoint_table(cps)


def signatures(texts: Sequence[str] | pa.Array | pa.ChunkedArray, num_perm: int = 128, seed: int = 1,
               *, threads: int | None = None,
               table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """``(n, num_perm)`` uint32 signatures equal to datasketch ``MinHash(num_perm, seed)`` over ``shingles``."""
    k = kernel()
    arr = as_string_array(texts)
    n = len(arr)
    a, b = permutations(num_perm, seed)
    out = np.empty((n, num_perm), dtype=np.uint32)
    if n == 0:
        return out
    threads = default_threads() if threads is None else max(1, int(threads))
    rows = np.arange(n, dtype=np.uint32)
    table = _table_for(k, arr, rows) if table is None else table
    failed = rows[_run(k, arr, rows, rows, a, b, out, threads, table)]
    for lo in range(0, len(failed), _FALLBACK_CHUNK):   # bounded Python copies of the rest
        part = failed[lo:lo + _FALLBACK_CHUNK]
        norm = _normalized_copy(arr, part)
        _run(k, norm, np.arange(len(part)), part, a, b, out, threads, _EMPTY_TABLE)
    return out


def _csr_concat(parts: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    if len(parts) == 1:
        return parts[0]
    sizes = np.concatenate([np.diff(off) for off, _ in parts])
    return (np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            np.concatenate([h for _, h in parts]))


def shingle_sets(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                 rows: Iterable[int] | np.ndarray | None = None, *, threads: int | None = None,
                 table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct 64-bit shingle hashes of ``rows`` as CSR ``(offsets, hashes)``, for exact Jaccard.

    The hashes identify shingles (a hash of the 5 token hashes), they are not datasketch's sha1 values.
    ``table``: a code point table from ``text_table`` covering these rows, to skip rescanning the text.
    """
    return _csr_concat(shingle_set_parts(texts, rows, threads=threads, table=table))


def shingle_set_parts(texts: Sequence[str] | pa.Array | pa.ChunkedArray,
                      rows: Iterable[int] | np.ndarray | None = None, *, threads: int | None = None,
                      table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
                      ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``shingle_sets`` as consecutive CSR pieces (``_csr_concat`` joins them), as the kernel calls left them:
    a caller hashing many batches joins all the pieces once, so the hashes are copied once, not per batch."""
    k = kernel()
    arr = as_string_array(texts)
    rows = np.arange(len(arr), dtype=np.uint32) if rows is None else np.ascontiguousarray(rows, dtype=np.uint32)
    if len(rows) == 0:
        return [(np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint64))]
    threads = default_threads() if threads is None else max(1, int(threads))
    off, data, width, base = _buffers(arr)
    table = _table_for(k, arr, rows) if table is None else table

    def one(span: tuple[int, int]):
        lo, hi = span
        o, h, f = k.shingle_sets(off, data, width, base, rows[lo:hi], *table)
        return (np.frombuffer(o, dtype=np.int64), np.frombuffer(h, dtype=np.uint64),
                np.frombuffer(f, dtype=np.uint32).astype(np.int64) + lo)

    results = _map(one, _split(len(rows), threads), threads)
    failed = np.concatenate([f for _, _, f in results])
    if len(failed) == 0:
        return [(o, h) for o, h, _ in results]
    offsets, hashes = _csr_concat([(o, h) for o, h, _ in results])
    # redo the documents that needed Python normalisation, then splice them in
    norm = _normalized_copy(arr, rows[failed])
    noff, ndata, nwidth, nbase = _buffers(norm)
    f_off, f_hash, _ = k.shingle_sets(noff, ndata, nwidth, nbase, np.arange(len(norm), dtype=np.uint32),
                                      *_EMPTY_TABLE)
    f_off = np.frombuffer(f_off, dtype=np.int64)
    f_hash = np.frombuffer(f_hash, dtype=np.uint64)
    # the kernel gave the failed rows empty sets: insert their hashes at those rows' (empty) positions
    sizes = np.diff(offsets)
    sizes[failed] = np.diff(f_off)
    at = np.repeat(offsets[failed], np.diff(f_off))
    return [(np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64), np.insert(hashes, at, f_hash))]


def jaccard_pairs(offsets: np.ndarray, hashes: np.ndarray, left: np.ndarray, right: np.ndarray, *,
                  threads: int = 1) -> np.ndarray:
    """Exact Jaccard of the shingle sets ``left[i]`` and ``right[i]`` (indices into ``offsets``); ``threads``
    splits the pairs into ranges run side by side (the kernel releases the GIL; each range fills its own slots)."""
    left = np.ascontiguousarray(left, dtype=np.uint32)
    right = np.ascontiguousarray(right, dtype=np.uint32)
    out = np.empty(len(left), dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)

    def one(span: tuple[int, int]) -> None:
        lo, hi = span
        kernel().jaccard_pairs(offsets, hashes, left[lo:hi], right[lo:hi], out[lo:hi])

    spans = _split(len(left), threads) if len(left) >= 4096 else [(0, len(left))]
    _map(one, spans, threads)
    return out
