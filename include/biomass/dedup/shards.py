"""Signatures as mapped per-shard steps, read back by the LSH reduction in bounded chunks.

One input file of the new rows -> one signed shard in a folder (``sign_file``), files named ``NNNNN.*``:

    sigs.npy      (rows, num_perm) uint32 MinHash signatures, written batch by batch (never held whole)
    keys.npy      (bands, rows) uint64 LSH band keys, band-major: the reduction reads one band at a time
    lengths.npy   (rows,) int64 UTF-8 length of each text (sizes the verification rounds)
    cps.npy       distinct code points of the shard's text (the code point table verification needs)
    json          what was signed (source file, rows, parameters), written last: its presence marks the shard done

``SignedShards`` is the reduction's view of them: one signature matrix in input order that is never loaded
whole. A band's keys for every row (8 bytes a row) are the most it holds at once; rows' signatures are
gathered through short-lived memory maps, a window of rows at a time, so what was read does not stay resident.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.dedup.lsh import WINDOW, band_keys, choose_bands, pairs_from_band
from biomass.dedup.minhash import GrowingTable, as_string_array, codepoint_table, signatures
from biomass.storage import batch_rows_for, write_bytes_atomic, write_file_atomic, parquet_batches

BATCH_BYTES = 16 << 20        # text bytes per batch signed
WINDOW_ROWS = 65_536          # rows of a shard's signatures mapped at a time when gathering
_PARTS = ("sigs.npy", "keys.npy", "lengths.npy", "cps.npy")


def shard_paths(folder: Path, index: int) -> dict[str, Path]:
    stem = f"{index:05d}"
    return {part: folder / f"{stem}.{part}" for part in (*_PARTS, "json")}


def _npy_header(f, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    """The header ``np.save`` writes for such an array (version 1.0), so a streamed file has np.save's bytes."""
    np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                             "fortran_order": False, "shape": tuple(int(s) for s in shape)})


def _save(path: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:     # a handle: np.save would add ".npy" to the temp name
            np.save(f, array, allow_pickle=False)

    write_file_atomic(path, write)


def sign_file(source: str | os.PathLike[str], folder: str | os.PathLike[str], index: int, *, num_perm: int,
              seed: int, threshold: float, threads: int | None = None) -> dict:
    """Sign one Parquet file's ``text`` column into shard ``index`` of ``folder``; returns the shard's record.

    An earlier attempt's files are removed first and the record is written last, so a shard is complete or
    absent. Same file and parameters, same bytes, whichever process signs it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = shard_paths(folder, index)
    for path in paths.values():
        path.unlink(missing_ok=True)
    source = Path(source)
    pf = pq.ParquetFile(source)
    n = pf.metadata.num_rows
    bands, rows = choose_bands(threshold, num_perm)
    keys = np.empty((bands, n), dtype=np.uint64)
    lengths = np.zeros(n, dtype=np.int64)
    table = GrowingTable()

    def write_sigs(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            _npy_header(f, np.uint32, (n, num_perm))
            start = 0
            batch_rows = batch_rows_for(pf, ["text"], BATCH_BYTES)
            for batch in parquet_batches(source, columns=["text"], batch_rows=batch_rows):
                arr = as_string_array(batch.column(0))
                stop = start + len(arr)
                sigs = signatures(arr, num_perm=num_perm, seed=seed, threads=threads, table=table.covering(arr))
                f.write(sigs.tobytes())
                keys[:, start:stop] = band_keys(sigs, bands, rows)
                lengths[start:stop] = pc.binary_length(arr).to_numpy(zero_copy_only=False)
                start = stop
            if start != n:
                raise RuntimeError(f"{source}: read {start} rows, its metadata says {n}")

    write_file_atomic(paths["sigs.npy"], write_sigs)
    _save(paths["keys.npy"], keys)
    _save(paths["lengths.npy"], lengths)
    _save(paths["cps.npy"], table.cps.astype(np.uint32))
    record = {"source": source.name, "source_bytes": source.stat().st_size, "rows": n, "num_perm": num_perm,
              "seed": seed, "threshold": threshold, "bands": bands, "rows_per_band": rows}
    write_bytes_atomic(paths["json"], (json.dumps(record, sort_keys=True) + "\n").encode(), unique_tmp=False)
    return record


def write_npy_rows(chunks: Iterator[np.ndarray], n: int, width: int, path: Path) -> None:
    """``np.save`` of the ``(n, width)`` uint32 matrix the chunks make, written as they come (atomically)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            _npy_header(f, np.uint32, (n, width))
            written = 0
            for chunk in chunks:
                f.write(np.ascontiguousarray(chunk, dtype=np.uint32).tobytes())
                written += len(chunk)
            if written != n:
                raise RuntimeError(f"{path}: {written} rows written, {n} expected")

    write_file_atomic(path, write)


class SignedShards:
    """The signed shards of a list of input files, as one signature matrix in input order (never loaded)."""

    def __init__(self, folder: str | os.PathLike[str], sources: Sequence[str | os.PathLike[str]], *,
                 num_perm: int, seed: int):
        self.folder = Path(folder)
        self.records, self.paths = [], []
        for i, source in enumerate(sources):
            paths = shard_paths(self.folder, i)
            if not paths["json"].exists():
                raise FileNotFoundError(f"shard {i} ({source}) has not been signed: no {paths['json']}")
            record = json.loads(paths["json"].read_text())
            source = Path(source)
            want = {"source": source.name, "source_bytes": source.stat().st_size,
                    "rows": pq.ParquetFile(source).metadata.num_rows, "num_perm": num_perm, "seed": seed}
            stale = {k: (record.get(k), v) for k, v in want.items() if record.get(k) != v}
            if stale:
                raise ValueError(f"signed shard {i} does not match {source} (got, want): {stale}; sign it again")
            self.records.append(record)
            self.paths.append(paths)
        sizes = [r["rows"] for r in self.records]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.num_perm = num_perm
        self.shape = (int(self.starts[-1]), num_perm)
        self.ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    # -- per row small data ----------------------------------------------------------------------------
    def lengths(self) -> np.ndarray:
        parts = [np.load(p["lengths.npy"]) for p in self.paths]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def codepoint_table(self):
        cps = np.zeros(0, dtype=np.uint32)
        for p in self.paths:
            cps = np.union1d(cps, np.load(p["cps.npy"])).astype(np.uint32)
        return codepoint_table(cps)

    # -- LSH ------------------------------------------------------------------------------------------
    def band_keys(self, bands: int, rows: int, band: int) -> np.ndarray:
        """Band ``band``'s keys of every row: read from the shards when they were keyed with these bands,
        else hashed from the signatures a window at a time."""
        out = np.empty(len(self), dtype=np.uint64)
        for i, (record, paths) in enumerate(zip(self.records, self.paths)):
            lo, hi = self.starts[i], self.starts[i + 1]
            if hi == lo:
                continue
            if (record["bands"], record["rows_per_band"]) == (bands, rows):
                keys = np.load(paths["keys.npy"], mmap_mode="r")
                out[lo:hi] = keys[band]
                del keys
            else:
                for start, sigs in self._windows(i):
                    out[lo + start:lo + start + len(sigs)] = band_keys(sigs, bands, rows, first=band, count=1)[0]
        return out

    def candidate_pairs(self, bands: int, rows: int, window: int = WINDOW) -> np.ndarray:
        """``lsh.candidate_pairs`` over all shards, one band's keys in memory at a time."""
        if bands * rows > self.num_perm:
            raise ValueError(f"{bands} bands x {rows} rows needs {bands * rows} permutations, have {self.num_perm}")
        packed = np.zeros(0, dtype=np.uint64)
        for b in range(bands):
            found = pairs_from_band(self.band_keys(bands, rows, b), window)
            if len(found):
                packed = np.union1d(packed, found)
        return np.stack([(packed >> np.uint64(32)).astype(np.uint32),
                         (packed & np.uint64(0xFFFFFFFF)).astype(np.uint32)], axis=1)

    # -- signatures -----------------------------------------------------------------------------------
    def _windows(self, i: int) -> Iterator[tuple[int, np.ndarray]]:
        """Shard ``i``'s signatures as copies of ``WINDOW_ROWS`` rows, each from a map dropped right after."""
        for start in range(0, self.records[i]["rows"], WINDOW_ROWS):
            sigs = np.load(self.paths[i]["sigs.npy"], mmap_mode="r")
            part = np.array(sigs[start:start + WINDOW_ROWS])
            del sigs
            yield start, part

    def __getitem__(self, rows) -> np.ndarray:
        """Signatures of ``rows`` (an integer array, any order, repeats allowed)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.num_perm), dtype=np.uint32)
        if len(rows) == 0:
            return out
        if rows.min() < 0 or rows.max() >= len(self):
            raise IndexError(f"rows out of range 0..{len(self) - 1}")
        order = np.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        shard = np.searchsorted(self.starts, sorted_rows, side="right") - 1
        for i in np.unique(shard).tolist():
            sel = order[shard == i]
            local = rows[sel] - self.starts[i]
            windows = local // WINDOW_ROWS
            for w in np.unique(windows).tolist():
                here = windows == w
                sigs = np.load(self.paths[i]["sigs.npy"], mmap_mode="r")
                out[sel[here]] = sigs[local[here]]
                del sigs
        return out

    def take_chunks(self, rows: np.ndarray) -> Iterator[np.ndarray]:
        """Signatures of ascending ``rows``, a window at a time (for writing them out without holding them)."""
        rows = np.asarray(rows, dtype=np.int64)
        for lo in range(0, len(rows), WINDOW_ROWS):
            yield self[rows[lo:lo + WINDOW_ROWS]]
