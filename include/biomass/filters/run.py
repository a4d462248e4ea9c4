"""Running a filter chain over records: judge a batch, stream a file. Shared by the pipeline's filter stage
(``biomass.pipeline.filtering``) and ``biomass filter``.

A row is judged by the filters in order and counted against the first that drops it (``reason`` = that filter's
``drop_reason``, its name unless it names another, ``detail`` = what it said); later filters see only the rows still kept, and only the columns they read.
Kept rows then go through the row transforms, in order (text rewrites that keep every row, e.g. PII
placeholders). Output is deterministic: the same rows, chain and batches give the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa

from biomass.accounting import StageCounts, quarantine_table
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from biomass.storage import ParquetStream, dataset_batches

STAGE = "filter"

# A row transform rewrites kept rows (e.g. their text) and keeps every one of them, in order, in RECORD_SCHEMA.
# One with ``name``, ``key`` and ``totals`` (counts it adds to, e.g. PII replaced per kind) gets them reported in
# the counts' notes under ``transforms``.
RowTransform = Callable[[pa.Table], pa.Table]


def transform_totals(transforms: Sequence[RowTransform]) -> dict[str, dict]:
    """The counting transforms' totals so far, by name, with their key."""
    return {t.name: {"key": t.key, **t.totals} for t in transforms if hasattr(t, "totals")}


def _totals_since(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    return {name: {k: (v if k == "key" else v - before[name].get(k, 0)) for k, v in figures.items()}
            for name, figures in after.items()}


@dataclass
class Verdicts:
    """The chain's judgement of one batch: which rows stay, and for each dropped row its reason and detail."""

    keep: np.ndarray
    dropped: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))   # row positions, ascending
    reasons: list[str] = field(default_factory=list)                              # one per dropped row
    details: list[str] = field(default_factory=list)


def judge(chain: Sequence, table: pa.Table, seen: dict[str, int] | None = None) -> Verdicts:
    """Run ``chain`` over ``table`` in order: each filter sees only the rows no earlier filter dropped (the
    columns it reads), a row is the first dropping filter's. ``seen``: rows that reached each filter, added to."""
    alive = np.arange(table.num_rows, dtype=np.int64)
    keep = np.ones(table.num_rows, dtype=bool)
    by_row: dict[int, tuple[str, str]] = {}
    for f in chain:
        if seen is not None:
            seen[f.name] = seen.get(f.name, 0) + len(alive)
        if not len(alive):
            continue
        view = table.select(list(f.columns))
        if len(alive) != table.num_rows:
            view = view.take(pa.array(alive))
        decisions = list(f.decide(view))
        if len(decisions) != len(alive):
            raise RuntimeError(f"filter {f.key} gave {len(decisions)} decisions for {len(alive)} rows")
        gone = np.fromiter((d is not None for d in decisions), dtype=bool, count=len(decisions))
        for i in np.flatnonzero(gone):
            detail = decisions[i]
            if not isinstance(detail, str):
                raise TypeError(f"filter {f.key} must return None or a str per row, not {type(detail).__name__}")
            by_row[int(alive[i])] = (f.drop_reason, detail)
        keep[alive[gone]] = False
        alive = alive[~gone]
    dropped = np.flatnonzero(~keep)
    return Verdicts(keep, dropped, [by_row[int(i)][0] for i in dropped], [by_row[int(i)][1] for i in dropped])


def filter_batches(batches: Iterable[pa.RecordBatch | pa.Table], chain: Sequence,
                   transforms: Sequence[RowTransform] = ()) -> Iterator[tuple[pa.Table, pa.Table, dict[str, int]]]:
    """``(kept rows, quarantine rows, seen per filter)`` for each batch: the chain, then the transforms on what
    it kept. The one loop the pipeline step and ``biomass filter`` share."""
    for batch in batches:
        table = conform(batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch]))
        seen: dict[str, int] = {}
        verdicts = judge(chain, table, seen)
        kept = table.filter(pa.array(verdicts.keep)) if len(verdicts.dropped) else table
        for transform in transforms:
            before = kept.num_rows
            kept = conform(transform(kept))
            if kept.num_rows != before:
                raise RuntimeError(f"row transform {transform!r} turned {before} rows into {kept.num_rows}")
        dropped = table.take(pa.array(verdicts.dropped)) if len(verdicts.dropped) else table.slice(0, 0)
        yield kept, quarantine_table(STAGE, dropped, verdicts.reasons, verdicts.details), seen


def stage_counts(chain: Sequence, rows_in: int, rows_out: int, dropped: dict[str, int],
                 seen: dict[str, int], transforms: dict[str, dict] | None = None) -> StageCounts:
    """Counts of a filtered file (or the stage) from what each filter (by name) saw and dropped: quarantined by
    reason, as the quarantine rows say; each filter's key, seen, dropped in the notes; the counting transforms'
    figures (``transform_totals``), when there are any."""
    counts = StageCounts(STAGE, rows_in=rows_in, rows_out=rows_out)
    counts.quarantined.update({f.drop_reason: int(dropped[f.name]) for f in chain if dropped.get(f.name)})
    counts.notes["chain"] = [f.key for f in chain]   # notes are saved with sorted keys: this keeps the order
    counts.notes["filters"] = {f.name: {"key": f.key, "seen": int(seen.get(f.name, 0)),
                                        "dropped": int(dropped.get(f.name, 0))} for f in chain}
    if transforms:
        counts.notes["transforms"] = transforms
    return counts.check()


def filter_file(path: str | Path, chain: Sequence, out: str | Path, quarantine: str | Path,
                transforms: Sequence[RowTransform] = ()) -> StageCounts:
    """Filter one record file (or shard-set folder), streamed a batch at a time, into ``out`` (kept rows) and
    ``quarantine``."""
    rows_in = 0
    dropped: dict[str, int] = {}
    seen: dict[str, int] = {}
    before = transform_totals(transforms)
    by_reason = {f.drop_reason: f.name for f in chain}
    with ParquetStream(out, RECORD_SCHEMA) as kept_out, ParquetStream(quarantine, QUARANTINE_SCHEMA) as q_out:
        for kept, qrows, batch_seen in filter_batches(dataset_batches(path), chain, transforms):
            rows_in += kept.num_rows + qrows.num_rows
            kept_out.write_table(kept)
            q_out.write_table(qrows)
            for name, n in batch_seen.items():
                seen[name] = seen.get(name, 0) + n
            for reason in qrows.column("reason").to_pylist():
                dropped[by_reason[reason]] = dropped.get(by_reason[reason], 0) + 1
    return stage_counts(chain, rows_in, kept_out.count, dropped, seen,
                        _totals_since(before, transform_totals(transforms)))
