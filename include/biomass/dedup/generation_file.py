"""Write one generation file of the MinHash index in bounded memory, byte for byte what pyarrow writes for the
whole table.

The file is one Arrow IPC record batch: doc_id, signature, and per band its sorted keys and their rows. Held
at once, a 1M-document generation is over 1 GB (512 bytes of signature and 12 bytes a band per document). So:

1. pyarrow writes the file for a table of the right shapes whose bodies are untouched zero pages
   (``np.zeros``: reading them maps the kernel's zero page, which costs no memory). The IPC metadata depends
   only on types, lengths, null counts and buffer sizes, so header, padding and footer are already the final
   bytes.
2. Each column's body is then written into its place in the file a chunk at a time: the signatures read in
   input order and scattered to the window of rows they belong to, then window by window put in doc_id order
   with their ids, each band's keys hashed per window into the key column's place, then read back one band
   at a time, sorted and written again with their rows.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from biomass.dedup.lsh import band_keys

# Rows of ids and signatures handled at a time (8,192 signatures of 128 values: 4 MB). Small, because
# freed blocks of a few MB stay with the allocator: 32,768 (16 MB a window) left ~70 MB more resident at 1M.
CHUNK_ROWS = 8_192


def _zeros(nbytes: int) -> pa.Buffer:
    """``nbytes`` of zeros that take no memory until written (and this module never writes them)."""
    return pa.py_buffer(np.zeros(max(nbytes, 1), dtype=np.uint8))[:nbytes]


def _placeholder(n: int, id_bytes: int, num_perm: int, bands: int) -> dict[str, pa.Array]:
    """Columns of the final types and sizes, no nulls, zero bodies (the doc_id offsets end at ``id_bytes``, which
    is all the IPC writer reads of them)."""
    offsets = np.zeros(n + 1, dtype=np.int32)
    offsets[-1] = id_bytes
    columns = {"doc_id": pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), _zeros(id_bytes)],
                                               null_count=0)}
    values = pa.Array.from_buffers(pa.uint32(), n * num_perm, [None, _zeros(n * num_perm * 4)], null_count=0)
    columns["signature"] = pa.FixedSizeListArray.from_arrays(values, num_perm)
    keys, rows = _zeros(n * 8), _zeros(n * 4)
    for b in range(bands):
        columns[f"key_{b:03d}"] = pa.Array.from_buffers(pa.uint64(), n, [None, keys], null_count=0)
        columns[f"row_{b:03d}"] = pa.Array.from_buffers(pa.uint32(), n, [None, rows], null_count=0)
    return columns


def _body_offsets(path: Path) -> dict[str, int]:
    """File offset of each column's value buffer (doc_id: ``doc_id.offsets`` and ``doc_id.data``)."""
    source = pa.memory_map(str(path), "r")
    base = source.read_buffer(source.size()).address if source.size() else 0
    batch = ipc.open_file(source).get_batch(0)
    where: dict[str, int] = {}
    for name, column in zip(batch.schema.names, batch.columns):
        if name == "doc_id":
            _validity, offsets, data = column.buffers()
            where["doc_id.offsets"], where["doc_id.data"] = offsets.address - base, data.address - base
        elif name == "signature":
            where[name] = column.values.buffers()[1].address - base
        else:
            where[name] = column.buffers()[1].address - base
    return where


def _pwrite(fd: int, data: Any, offset: int) -> None:
    view = memoryview(data).cast("B")
    while len(view):
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _drop_pages(signatures: np.ndarray) -> None:
    """A read-only memory map's pages read so far stop counting as this process's memory (page cache keeps them)."""
    source = getattr(signatures, "_mmap", None)
    if source is not None and hasattr(source, "madvise"):
        source.madvise(mmap.MADV_DONTNEED)


def _scatter_signatures(fd: int, signatures: np.ndarray, order: np.ndarray, at: int, window: int) -> None:
    """Each signature into the window of ``window`` output rows it belongs to (output row ``p`` holds input
    row ``order[p]``), read in input order a block at a time. Within a window rows land in input order, which
    the caller undoes window by window. Reading in order matters: gathering random rows from a memory map
    maps 64 KB around each (fault-around), so a block of 8,192 random rows of a 1M-row map made ~370 MB
    resident at once."""
    n, num_perm = signatures.shape
    row_bytes = num_perm * 4
    index_type = np.uint32 if n < 2 ** 32 else np.int64
    destination = np.empty(n, dtype=index_type)
    destination[order] = np.arange(n, dtype=index_type)
    filled = np.zeros((n + window - 1) // window, dtype=np.int64)
    for lo in range(0, n, window):
        block = np.ascontiguousarray(signatures[lo:lo + window], dtype=np.uint32)
        _drop_pages(signatures)
        windows = destination[lo:lo + len(block)] // window
        by_window = np.argsort(windows, kind="stable")
        found, starts = np.unique(windows[by_window], return_index=True)
        for w, rows in zip(found, np.split(by_window, starts[1:])):
            _pwrite(fd, block[rows], at + (int(w) * window + int(filled[w])) * row_bytes)
            filled[w] += len(rows)
        del block


def write_generation_file(path: Path, ids: pa.Array | pa.ChunkedArray, signatures: np.ndarray, bands: int, rows: int,
                          metadata: dict[bytes, str], chunk_rows: int | None = None) -> None:
    """The generation file at ``path``: rows in doc_id order (stable: equal ids keep their order), the
    signature of each, and per band its keys sorted (stable) with the rows they came from.

    ``ids``: ``string`` ids without nulls (an array, or the chunks read from Parquet); ``signatures``: ``(len(ids), num_perm)`` uint32, may be a
    read-only memory map (read a chunk at a time, its pages dropped as it goes)."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    n, num_perm = len(ids), signatures.shape[1]
    id_bytes = int(pc.sum(pc.binary_length(ids)).as_py() or 0) if n else 0
    if id_bytes >= 2 ** 31:
        raise ValueError(f"{id_bytes} bytes of doc ids: more than a string column holds (2 GiB)")
    table = pa.table(_placeholder(n, id_bytes, num_perm, bands)).replace_schema_metadata(metadata)
    with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    del table
    if n == 0:   # no record batch, nothing to fill in
        return
    where = _body_offsets(path)
    order = pc.sort_indices(ids).to_numpy().astype(np.int64)    # stable
    fd = os.open(path, os.O_RDWR)
    try:
        _scatter_signatures(fd, signatures, order, where["signature"], chunk_rows)
        written = 0
        for lo in range(0, n, chunk_rows):
            take = order[lo:lo + chunk_rows]
            part = ids.take(pa.array(take))
            if isinstance(part, pa.ChunkedArray):
                part = part.combine_chunks()
            offsets = np.frombuffer(part.buffers()[1], dtype=np.int32, count=len(part) + 1, offset=part.offset * 4)
            _pwrite(fd, (offsets[:-1] - offsets[0] + written).astype(np.int32), where["doc_id.offsets"] + lo * 4)
            size = int(offsets[-1] - offsets[0])
            if size:
                _pwrite(fd, part.buffers()[2][int(offsets[0]):int(offsets[-1])], where["doc_id.data"] + written)
            written += size
            # the window's signatures as the scatter left them (in input order), put in doc_id order
            arrived = np.fromfile(path, dtype=np.uint32, count=len(take) * num_perm,
                                  offset=where["signature"] + lo * num_perm * 4).reshape(len(take), num_perm)
            sigs = np.empty_like(arrived)
            sigs[np.argsort(take, kind="stable")] = arrived
            del arrived
            _pwrite(fd, sigs, where["signature"] + lo * num_perm * 4)
            keys = band_keys(sigs, bands, rows)
            for b in range(bands):   # unsorted, in place of the sorted keys until the band is sorted below
                _pwrite(fd, keys[b], where[f"key_{b:03d}"] + lo * 8)
            del part, sigs, keys
        _pwrite(fd, np.array([written], dtype=np.int32), where["doc_id.offsets"] + n * 4)
        del order
        for b in range(bands):
            keys = np.fromfile(path, dtype=np.uint64, count=n, offset=where[f"key_{b:03d}"])
            sorted_order = np.argsort(keys, kind="stable")
            for lo in range(0, n, chunk_rows):
                part = sorted_order[lo:lo + chunk_rows]
                _pwrite(fd, keys[part], where[f"key_{b:03d}"] + lo * 8)
                _pwrite(fd, part.astype(np.uint32), where[f"row_{b:03d}"] + lo * 4)
            del keys, sorted_order
    finally:
        os.close(fd)
