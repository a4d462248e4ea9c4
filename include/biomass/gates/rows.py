"""What a gate validates: a text-free projection of a stage's output, and the way back to its full records.

A year's stage output holds tens of GB of document text. The gates only need figures about that text (its length,
whether it is there, whether a signature over it verifies), so they read the Parquet file batch by batch, compute
those figures per batch, drop the text, and keep only the columns the suites check. No more than one batch of text
is held at a time, and none of it ever reaches pandas. The failing-rows evidence is read back from the file by row
position, text included, for the few rows an expectation flagged.

A stage output is one Parquet file or a shard-set folder (``biomass.storage.ShardWriter``): a folder is read shard
after shard, in name order, as if its shards were one file; a row position is global, counted across the shards.

A derived column is ``name -> Derive(inputs, fn)``: ``fn`` gets a batch (a ``pa.Table`` holding at least
``inputs``) and returns one value per row. A derived column whose inputs are missing from the file is left out,
so the expectations on it fail (as they would on a missing column) instead of the gate crashing.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.storage import dataset_batches, dataset_files, parquet_batches

BATCH_ROWS = 1_024  # for in-memory tables; Parquet files are read in batches of about storage.BATCH_BYTES


@dataclass(frozen=True)
class Derive:
    """A column a gate computes from a batch of the stage's own columns."""

    inputs: tuple[str, ...]
    fn: Callable[[pa.Table], pa.Array | pa.ChunkedArray]


def text_chars(batch: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Characters (code points, as Python's ``len``) per text; null where the text is null."""
    return pc.cast(pc.utf8_length(batch.column("text")), pa.int64())


# Every gate derives these; a null ``text_chars`` stands for a null text.
TEXT_DERIVED: dict[str, Derive] = {"text_chars": Derive(("text",), text_chars)}


@dataclass
class GateRows:
    """A stage output as the gate sees it.

    ``table``: one row per stage record, in file order, holding the projected and derived columns (never
    ``text``); ``columns``: the stage output's own column names, in order (what the schema check validates);
    ``source``: the Parquet file or shard-set folder, or the in-memory table, the full records are read back from.
    """

    table: pa.Table
    columns: tuple[str, ...]
    source: Path | pa.Table

    @property
    def num_rows(self) -> int:
        return self.table.num_rows

    def records(self, indices: Sequence[int]) -> pa.Table:
        """The full records (text included) at these row positions, in the order given."""
        if isinstance(self.source, pa.Table):
            return self.source.take(pa.array(indices, pa.int64()))
        return take_from_dataset(self.source, indices)

    def head(self, n: int) -> pa.Table:
        """The first ``n`` full records (across shard boundaries)."""
        if isinstance(self.source, pa.Table):
            return self.source.slice(0, n)
        batches, got = [], 0
        for batch in dataset_batches(self.source, batch_rows=max(n, 1)):  # may stop short at a row-group end
            if got >= n:
                break
            batches.append(batch.slice(0, n - got))
            got += batches[-1].num_rows
        return pa.Table.from_batches(batches, schema=dataset_schema(self.source))


def _plan(available: Sequence[str], keep: Iterable[str],
          derive: Mapping[str, Derive]) -> tuple[list[str], list[str], dict[str, Derive]]:
    """(columns to read, stage columns to keep, derived columns that can be computed) for this file."""
    keep = list(dict.fromkeys(keep))
    if "text" in keep:
        raise ValueError("a gate never keeps document text; check a column derived from it (text_chars)")
    derivable = {name: d for name, d in derive.items() if name in keep and all(c in available for c in d.inputs)}
    kept = [c for c in keep if c in available and c not in derive]
    needed = set(kept) | {c for d in derivable.values() for c in d.inputs}
    return [c for c in available if c in needed], kept, derivable


def _project_batch(batch: pa.Table, kept: list[str], derive: Mapping[str, Derive]) -> pa.Table:
    out = batch.select(kept)
    for name, d in derive.items():
        values = d.fn(batch)
        out = out.append_column(name, values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values]))
    return out


def project_table(table: pa.Table, keep: Iterable[str], derive: Mapping[str, Derive] | None = None,
                  batch_rows: int = BATCH_ROWS) -> GateRows:
    """The projection of an in-memory table (tests, small inputs): same columns as ``project_parquet``."""
    read, kept, derivable = _plan(table.column_names, keep, {**TEXT_DERIVED, **(derive or {})})
    parts = [_project_batch(table.select(read).slice(i, batch_rows), kept, derivable)
             for i in range(0, table.num_rows, batch_rows)] or [_project_batch(table.select(read), kept, derivable)]
    return GateRows(pa.concat_tables(parts), tuple(table.column_names), table)


def project_parquet(path: str | os.PathLike[str], keep: Iterable[str], derive: Mapping[str, Derive] | None = None,
                    batch_rows: int | None = None) -> GateRows:
    """Read only the columns needed, batch by batch (shard after shard for a folder), deriving per batch; the text
    is never held whole. Shards whose schemas disagree raise ``ValueError`` before anything is read."""
    path = Path(path)
    schema = dataset_schema(path)
    read, kept, derivable = _plan(schema.names, keep, {**TEXT_DERIVED, **(derive or {})})
    parts = [_project_batch(pa.Table.from_batches([b]), kept, derivable)
             for b in dataset_batches(path, read, batch_rows)]
    if not parts:
        parts = [_project_batch(pa.schema([schema.field(c) for c in read]).empty_table(), kept, derivable)]
    return GateRows(pa.concat_tables(parts), tuple(schema.names), path)


def dataset_schema(path: str | os.PathLike[str]) -> pa.Schema:
    """The schema of a Parquet file, or of a shard set's first shard once every shard is found to agree with it.

    Shards that disagree (names, order or types) are one stage output with no single schema: the schema check
    cannot validate it, so this is an error naming the shard, never a check of the first shard alone.
    """
    path = Path(path)
    if not path.is_dir():
        return pq.read_schema(path)
    files = dataset_files(path)
    if not files:
        raise FileNotFoundError(f"{path} is a shard-set folder without shards (no {path}/part-*.parquet)")
    first = pq.read_schema(files[0])
    for file in files[1:]:
        other = pq.read_schema(file)
        if not other.equals(first, check_metadata=False):
            what = (f"columns {other.names}" if other.names != first.names
                    else f"column types {[str(t) for t in other.types]}")
            want = first.names if other.names != first.names else [str(t) for t in first.types]
            raise ValueError(f"shard {file} does not match the first shard {files[0].name} of {path}: it has "
                             f"{what}, the first shard has {want}; a stage output must have one schema")
    return first


def take_from_dataset(path: str | os.PathLike[str], indices: Sequence[int],
                      batch_rows: int | None = None) -> pa.Table:
    """``take_from_parquet`` over a file or a shard-set folder: a global row position is mapped to its shard (by
    each shard's row count in its Parquet footer), and each shard reads only the row groups that hold its rows."""
    path = Path(path)
    if not path.is_dir():
        return take_from_parquet(path, indices, batch_rows)
    files = dataset_files(path)
    starts, total = [], 0
    for file in files:
        starts.append(total)
        total += pq.ParquetFile(file).metadata.num_rows
    missing = [i for i in indices if not 0 <= i < total]
    if missing:
        raise IndexError(f"rows {missing[:5]} are not in {path} ({total} rows in {len(files)} shards)")
    if not indices:
        return dataset_schema(path).empty_table()
    by_shard: dict[int, list[int]] = {}
    for i in sorted(set(indices)):
        by_shard.setdefault(bisect.bisect_right(starts, i) - 1, []).append(i)
    found: dict[int, pa.Table] = {}
    for shard, wanted in by_shard.items():
        rows = take_from_parquet(files[shard], [i - starts[shard] for i in wanted], batch_rows)
        found.update({i: rows.slice(k, 1) for k, i in enumerate(wanted)})
    return pa.concat_tables([found[i] for i in indices])


def take_from_parquet(path: str | os.PathLike[str], indices: Sequence[int],
                      batch_rows: int | None = None) -> pa.Table:
    """Rows by position from a Parquet file, reading only the row groups that hold them, one batch at a time."""
    pf = pq.ParquetFile(path)
    wanted = sorted(set(indices))
    starts, offset = [], 0
    for rg in range(pf.metadata.num_row_groups):
        starts.append(offset)
        offset += pf.metadata.row_group(rg).num_rows
    found: dict[int, pa.Table] = {}
    for rg, start in enumerate(starts):
        end = start + pf.metadata.row_group(rg).num_rows
        hits = [i for i in wanted if start <= i < end]
        if not hits:
            continue
        for batch in parquet_batches(path, batch_rows=batch_rows, row_groups=[rg]):
            local = [i - start for i in hits if start <= i < start + batch.num_rows]
            if local:
                rows = pa.Table.from_batches([batch]).take(pa.array(local, pa.int64()))
                found.update({start + j: rows.slice(k, 1) for k, j in enumerate(local)})
            start += batch.num_rows
    missing = [i for i in indices if i not in found]
    if missing:
        raise IndexError(f"rows {missing[:5]} are not in {path} ({offset} rows)")
    if not indices:
        return pf.schema_arrow.empty_table()
    return pa.concat_tables([found[i] for i in indices])

