"""Dedup from Parquet files to Parquet files without ever holding the inputs' text (``biomass dedup``).

Same clusters and kept rows as ``deduplicate`` on the concatenated inputs, in passes over the files:

1. ``text`` in record batches -> signatures; the small columns the keep rule reads (doc_id, origin,
   collected_at) whole.
2. LSH candidates from the signatures; exact verification re-reads ``text`` and hashes candidate rows' shingle
   sets as the batches come (never gathering their text), whole candidate components at a time and about
   ``VERIFY_TEXT_BYTES`` of their text per round (a bigger input takes more rounds, not more memory; one
   component bigger than that is held whole).
3. With an output for the kept rows: every column batch by batch, dropped rows filtered out, the rest written
   as they come (without one, only the text column is ever read).

Resident: the signatures (``num_perm`` x 4 bytes a row), a few small arrays per row, one round of candidate
shingle hashes (8 bytes a word) and a few batches in flight, whatever the size of the input.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.dedup.engine import ORIGIN_PRIORITY, DedupResult, cluster_and_keep, components, verified_pairs
from biomass.dedup.minhash import (GrowingTable, _csr_concat, as_string_array, default_threads, jaccard_pairs,
                                   shingle_set_parts, signatures)
from biomass.schema import COLUMNS, RECORD_SCHEMA, conform
from biomass.storage import (_WRITE_OPTS, SHARD_ROWS, batch_rows_for, move, naming_the_file, parquet_batches,
                             write_parquet)
from biomass.threads import prefetched

if TYPE_CHECKING:
    from biomass.dedup.index import SignatureIndex

KEY_COLUMNS = ("doc_id", "origin", "collected_at")
BATCH_BYTES = 16 << 20            # uncompressed bytes per batch read
HOLD_INPUT_BYTES = 512 << 20      # ``biomass dedup``: inputs up to this size (uncompressed) are decoded only once
VERIFY_TEXT_BYTES = 128 << 20     # candidate text held per verification round
ROW_GROUP_BYTES = 32 << 20        # kept rows buffered before a row group is written (one more being written)
# The kept rows are nearly all of the input's text, so compressing them is the biggest single cost of a run: zstd
# level 3 (the project's default) took 3.3 s of CPU for 73k documents (224 MB), level 1 1.2 s for a file 15%
# bigger (79 MB vs 69 MB; ``make bench-dedup``). Same codec, same bytes for the same input.
KEPT_COMPRESSION_LEVEL = 1


class Inputs:
    """The input files as one table: a unified schema (missing columns become nulls) and global row numbers.

    ``hold_bytes``: if the inputs' uncompressed size is at most this, the first pass over them decodes every
    column and keeps the batches, and later passes (verification, writing) reuse them instead of decoding the
    files again; bigger inputs are streamed on every pass, so memory stays bounded by the larger of the two."""

    def __init__(self, paths: Sequence[str | os.PathLike[str]], hold_bytes: int = 0,
                 columns: Sequence[str] | None = None):
        if not paths:
            raise ValueError("dedup needs at least one input file")
        self.paths = [Path(p) for p in paths]
        metas = [pq.read_metadata(p) for p in self.paths]
        schemas = [m.schema.to_arrow_schema() for m in metas]
        for path, schema in zip(self.paths, schemas):
            for col in ("doc_id", "text"):
                if col not in schema.names:
                    raise ValueError(f"dedup input {path} needs a {col!r} column; it has {schema.names}")
        self.schema = schemas[0] if len(schemas) == 1 else pa.unify_schemas(schemas, promote_options="permissive")
        self.starts = np.concatenate([[0], np.cumsum([m.num_rows for m in metas])]).astype(np.int64)
        self.num_rows = int(self.starts[-1])
        # ``columns``: the only columns any pass will read (None: all), so the held pass decodes no others
        self.columns = None if columns is None else list(columns)
        groups = [m.row_group(g) for m in metas for g in range(m.num_row_groups)]
        size = (sum(rg.total_byte_size for rg in groups) if self.columns is None else
                sum(rg.column(c).total_uncompressed_size for rg in groups for c in range(rg.num_columns)
                    if rg.column(c).path_in_schema in self.columns))
        self.holding = size <= hold_bytes
        self._held: list[tuple[int, pa.RecordBatch]] | None = None

    def keys(self) -> pa.Table:
        """The columns the keep rule reads, for every row (small: no text)."""
        wanted = [c for c in KEY_COLUMNS if c in self.schema.names]
        # ParquetFile.read, not pq.read_table: that goes through pyarrow.dataset, which imports pandas (~0.3 s)
        files = [pq.ParquetFile(p) for p in self.paths]
        tables = [f.read(columns=[c for c in wanted if c in f.schema_arrow.names], use_threads=False) for f in files]
        table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
        return table.select(wanted)

    def batches(self, columns: list[str] | None = None) -> Iterator[tuple[int, pa.RecordBatch]]:
        """``(first row, batch)`` over all files in order; with ``columns=None`` batches have ``self.schema``."""
        if self.columns is not None and (columns is None or not set(columns) <= set(self.columns)):
            raise ValueError(f"these inputs read only the columns {self.columns}, not {columns or 'all'}")
        if self.holding:
            if self._held is None:
                held = []
                for row, batch in self._read(self.columns):
                    held.append((row, batch))
                    yield row, (batch if columns is None else batch.select(columns))
                self._held = held
            else:
                for row, batch in self._held:
                    yield row, (batch if columns is None else batch.select(columns))
            return
        yield from self._read(columns)

    def _read(self, columns: list[str] | None) -> Iterator[tuple[int, pa.RecordBatch]]:
        for path, start in zip(self.paths, self.starts[:-1]):
            row = int(start)
            rows = batch_rows_for(pq.ParquetFile(path), columns, BATCH_BYTES)
            for batch in prefetched(parquet_batches(path, columns=columns, batch_rows=rows)):
                yield row, (batch if columns is not None else _to_schema(batch, self.schema))
                row += batch.num_rows

    def texts(self, rows: np.ndarray, lengths: np.ndarray) -> pa.Array:
        """The texts of ``rows`` (ascending; ``lengths`` their UTF-8 sizes) as one ``large_string`` array, from
        one more pass over the text column, copied straight into place (the text is never held twice)."""
        rows = np.asarray(rows, dtype=np.int64)
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        data = np.empty(int(offsets[-1]), dtype=np.uint8)
        for start, batch in self.batches(["text"]):
            lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
            if hi > lo:
                part = batch.column(0).take(pa.array(rows[lo:hi] - start))
                part = pc.fill_null(part, "") if part.null_count else part    # as signatures saw it
                _, part_offsets, part_data = part.buffers()
                width = np.int64 if pa.types.is_large_string(part.type) else np.int32
                first, last = np.frombuffer(part_offsets, dtype=width)[[part.offset, part.offset + len(part)]]
                data[offsets[lo]:offsets[hi]] = np.frombuffer(part_data, dtype=np.uint8)[first:last]
        return pa.LargeStringArray.from_buffers(len(rows), pa.py_buffer(offsets), pa.py_buffer(data))


def _to_schema(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema, check_metadata=False):
        return batch
    arrays = [batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
              for f in schema]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def file_signatures(inputs: Inputs, num_perm: int, seed: int, threads: int | None,
                    table: GrowingTable) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of every row and its text's UTF-8 length, from the text column batch by batch; ``table``
    ends up covering every code point of the text."""
    sigs = np.empty((inputs.num_rows, num_perm), dtype=np.uint32)
    lengths = np.zeros(inputs.num_rows, dtype=np.int64)

    def covered() -> Iterator[tuple[int, pa.Array, tuple]]:
        # the code point table grows in input order; each batch's tuple stays valid after later growth
        for start, batch in inputs.batches(["text"]):
            arr = as_string_array(batch.column(0))
            yield start, arr, table.covering(arr)

    # ``covering`` (a scan of the batch, new code points classified in Python) runs in the prefetch thread for the
    # next batch while the kernel threads sign this one: on the caller's thread it left both kernel threads idle
    # for ~0.2 s of a 91k-document run (``make bench-dedup``)
    for start, arr, cps in prefetched(covered()):
        stop = start + len(arr)
        sigs[start:stop] = signatures(arr, num_perm=num_perm, seed=seed, threads=threads, table=cps)
        lengths[start:stop] = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    return sigs, lengths


def verify_from_files(inputs: Inputs, sigs: np.ndarray, lengths: np.ndarray, pairs: np.ndarray, threshold: float,
                      verify: str, threads: int | None, table=None, budget: int | None = None):
    """``verified_pairs`` with the texts fetched from the files: rounds of whole candidate components, each
    holding about ``budget`` bytes of text."""
    if verify != "exact" or len(pairs) == 0:
        return verified_pairs(None, sigs, pairs, threshold, verify, threads)
    involved = np.unique(pairs.ravel())
    local = np.searchsorted(involved, pairs).astype(np.int64)
    round_of_doc = text_rounds(components(len(involved), local[:, 0], local[:, 1]), lengths[involved],
                               VERIFY_TEXT_BYTES if budget is None else budget)
    pair_round = round_of_doc[local[:, 0]]
    ok = np.zeros(len(pairs), dtype=bool)
    for r in range(int(round_of_doc.max()) + 1):
        sel = np.flatnonzero(pair_round == r)
        docs = np.flatnonzero(round_of_doc == r)          # positions in involved: rows ascending
        pos = np.full(len(involved), -1, dtype=np.int64)
        pos[docs] = np.arange(len(docs))
        sub = np.stack([pos[local[sel, 0]], pos[local[sel, 1]]], axis=1)
        offsets, hashes = streamed_shingle_sets(inputs, involved[docs], threads, table)
        ok[sel] = jaccard_pairs(offsets, hashes, sub[:, 0], sub[:, 1],
                                threads=default_threads() if threads is None else threads) >= threshold
        del offsets, hashes
    return pairs[ok, 0], pairs[ok, 1]


def streamed_shingle_sets(inputs: Inputs, rows: np.ndarray, threads: int | None, table=None):
    """CSR shingle sets of ``rows`` (ascending), hashed batch by batch as the text column is read: the next batch
    is decoded by the prefetch thread while the kernel hashes this one, and the rows' text is never gathered."""
    parts = []
    for start, batch in inputs.batches(["text"]):
        lo, hi = np.searchsorted(rows, [start, start + batch.num_rows])
        if hi > lo:
            arr = as_string_array(batch.column(0))            # nulls as "", as the signatures saw them
            parts.extend(shingle_set_parts(arr, rows[lo:hi] - start, threads=threads, table=table))
    if not parts:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return _csr_concat(parts)


def text_rounds(comp: np.ndarray, lengths: np.ndarray, budget: int) -> np.ndarray:
    """Round number per doc: whole components (``comp`` labels), a new round once ``budget`` bytes would be
    passed; a component bigger than ``budget`` gets a round of its own."""
    by_comp = np.argsort(comp, kind="stable")
    comp_sorted = comp[by_comp]
    ends = np.flatnonzero(np.append(comp_sorted[1:] != comp_sorted[:-1], True)) + 1
    cum = np.concatenate([[0], np.cumsum(lengths[by_comp])])
    rounds = np.empty(len(comp), dtype=np.int64)
    rnd, round_begin, prev = 0, 0, 0
    for end in ends.tolist():
        if cum[end] - cum[round_begin] > budget and prev > round_begin:
            rnd, round_begin = rnd + 1, prev
        rounds[by_comp[prev:end]] = rnd
        prev = end
    return rounds


class _BatchSink:
    """Write batches with the project's fixed options (zstd at ``KEPT_COMPRESSION_LEVEL``) into a temp file
    renamed into place on success. Kept rows are buffered to about ``ROW_GROUP_BYTES`` (so row groups are not
    tiny) and each buffer is encoded and compressed by a thread while the next one is read."""

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        self.schema = schema
        opts = {k: v for k, v in _WRITE_OPTS.items() if k != "row_group_size"}
        opts["compression_level"] = KEPT_COMPRESSION_LEVEL
        with naming_the_file(self.tmp):
            self.writer = pq.ParquetWriter(self.tmp, schema, **opts)
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="biomass-write")
        self.pending: Future | None = None
        self.buffer: list[pa.RecordBatch] = []
        self.buffered_bytes = self.buffered_rows = self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.buffer.append(batch)
        self.buffered_bytes += batch.nbytes
        self.buffered_rows += batch.num_rows
        if self.buffered_bytes >= ROW_GROUP_BYTES or self.buffered_rows >= SHARD_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        if self.buffer:
            table = pa.Table.from_batches(self.buffer, schema=self.schema)
            self.pending = self.pool.submit(self.writer.write_table, table, row_group_size=SHARD_ROWS)
            self.rows += table.num_rows
            self.buffer, self.buffered_bytes, self.buffered_rows = [], 0, 0

    def __enter__(self) -> "_BatchSink":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.flush()
            with naming_the_file(self.tmp):
                if self.pending is not None:
                    self.pending.result()
                self.writer.close()
            if exc_type is None:
                move(self.tmp, self.path)
        finally:
            self.pool.shutdown()
            if self.tmp.exists():
                self.tmp.unlink()


def write_kept(inputs: Inputs, kept_rows: np.ndarray, out: str | os.PathLike[str]) -> int:
    """Stream every input row whose number is in ``kept_rows`` to ``out``; record tables are conformed to
    RECORD_SCHEMA (extra columns dropped), anything else keeps the inputs' unified schema."""
    keep = np.zeros(inputs.num_rows, dtype=bool)
    keep[kept_rows] = True
    records = all(c in inputs.schema.names for c in COLUMNS)
    with _BatchSink(out, RECORD_SCHEMA if records else inputs.schema) as sink:
        for start, batch in inputs.batches():
            mask = keep[start:start + batch.num_rows]
            if not mask.any():
                continue
            batch = batch.filter(pa.array(mask)) if not mask.all() else batch
            if records:
                batch = conform(pa.Table.from_batches([batch])).combine_chunks().to_batches()[0]
            sink.write(batch)
    return sink.rows


def deduplicate_inputs(inputs: Inputs, *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                       index: SignatureIndex | None = None, year: int | None = None, verify: str = "exact",
                       threads: int | None = None, origin_priority: Sequence[str] = ORIGIN_PRIORITY,
                       earlier_texts=None) -> DedupResult:
    """Clusters and keep decisions for the concatenated inputs, text read in passes; nothing is written.

    ``earlier_texts(year, doc_ids)``: texts of earlier generations' documents, so index matches are verified on
    exact Jaccard (the query rows' texts are re-read from the inputs for the candidates only)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    keys = inputs.keys()
    table = GrowingTable()
    sigs, lengths = file_signatures(inputs, num_perm, seed, threads, table)
    texts = (lambda rows: inputs.texts(rows, lengths[rows])) if earlier_texts is not None else None
    return cluster_and_keep(
        keys, sigs,
        lambda pairs: verify_from_files(inputs, sigs, lengths, pairs, threshold, verify, threads, table.table),
        threshold=threshold, num_perm=num_perm, seed=seed, index=index, year=year, scope="all",
        origin_priority=origin_priority, verify=verify, bands=None, rows=None, threads=threads,
        texts=texts, earlier_texts=earlier_texts)


def deduplicate_signed(inputs: Inputs, shards, *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                       index: SignatureIndex | None = None, year: int | None = None, verify: str = "exact",
                       threads: int | None = None, origin_priority: Sequence[str] = ORIGIN_PRIORITY,
                       earlier_texts=None) -> DedupResult:
    """``deduplicate_inputs`` from signatures already computed per shard (``shards.SignedShards``, the mapped
    step's output): the reduction only. Signatures stay on disk, so ``kept_signatures`` is None; stream the
    kept rows' out of ``shards`` (``shards.take_chunks``). ``clusters`` is None too: write them with
    ``engine.cluster_parts`` (or build them with ``engine.cluster_table``)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    if len(shards) != inputs.num_rows:
        raise ValueError(f"signed shards hold {len(shards)} rows, the inputs {inputs.num_rows}")
    keys = inputs.keys()
    lengths = shards.lengths()
    table = shards.codepoint_table()
    texts = (lambda rows: inputs.texts(rows, lengths[rows])) if earlier_texts is not None else None
    return cluster_and_keep(
        keys, shards,
        lambda pairs: verify_from_files(inputs, shards, lengths, pairs, threshold, verify, threads, table),
        threshold=threshold, num_perm=num_perm, seed=seed, index=index, year=year, scope="all",
        origin_priority=origin_priority, verify=verify, bands=None, rows=None, threads=threads,
        texts=texts, earlier_texts=earlier_texts, build_clusters=False)


def deduplicate_files(paths: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str] | None, *,
                      threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                      index: SignatureIndex | None = None, year: int | None = None,
                      verify: str = "exact", threads: int | None = None,
                      origin_priority: Sequence[str] = ORIGIN_PRIORITY,
                      hold_bytes: int = HOLD_INPUT_BYTES, clusters_out: str | os.PathLike[str] | None = None,
                      dropped_out: str | os.PathLike[str] | None = None) -> DedupResult:
    """Dedup the concatenated ``paths`` and write the kept rows to ``out`` (None: no kept rows are written, and
    only the text column is ever read); the result's ``kept`` holds only the key columns (doc_id, origin,
    collected_at) of the kept rows. Inputs up to ``hold_bytes`` (uncompressed) are decoded once and held for the
    later passes (see ``Inputs``). ``clusters_out`` / ``dropped_out``: where to write the clusters and dropped
    tables (``write_parquet``), by a thread while the kept rows are streamed."""
    inputs = Inputs(paths, hold_bytes=hold_bytes, columns=None if out is not None else ["text"])
    result = deduplicate_inputs(inputs, threshold=threshold, num_perm=num_perm, seed=seed, index=index, year=year,
                                verify=verify, threads=threads, origin_priority=origin_priority)
    decisions = [(table, path) for table, path in ((result.clusters, clusters_out), (result.dropped, dropped_out))
                 if path is not None]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="biomass-decisions") as pool:
        pending = [pool.submit(write_parquet, table, path) for table, path in decisions]
        if out is not None:
            written = write_kept(inputs, result.kept_rows, out)
            if written != result.kept.num_rows:
                raise RuntimeError(f"wrote {written} kept rows, dedup kept {result.kept.num_rows}")
        for done in pending:
            done.result()
    return result
