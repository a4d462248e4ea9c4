"""The curation stage: the configured filter chain (``filters.chain``, ``biomass.filters``) over every new row of
the year, scraped, licensed and synthetic, before dedup.

Mapped like signing: ``filter_shard(plan, i)`` judges new-row file ``i`` (``new_row_files``: scrape's tagged
parts, the licence file, synthesize's parts) a record batch at a time into ``staging/<year>/filter/
part-NNNNN.parquet``, its dropped rows into ``filter/quarantine/NNNNN.parquet`` and its counts last (the file that
marks the shard done); ``finish_filter`` sums them into ``filter.counts.json`` and ``filter.quarantine.parquet``.
``assemble_inputs`` (dedup's input) is then the filtered parts.

A row is judged by the filters in order and counted against the first that drops it (``reason`` = that
filter's name, ``detail`` = what it said); later filters see only the rows still kept. Each filter's ``seen`` and
``dropped`` go into the stage counts' notes, so the gate can bound the share of what reaches a filter that it
drops. Kept rows then go through the stage's row transforms (``row_transforms``: text rewrites such as PII
placeholders, which keep every row), in order. No chain and no transform: the stage passes the files through as
they are (``assemble_inputs`` reads the stage inputs themselves), writing nothing but counts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.accounting import StageCounts
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, canonical_json, conform
from biomass.storage import SHARD_PREFIX, ParquetStream, concat_parquet, dataset_files, parquet_batches

log = logging.getLogger(__name__)

STAGE = "filter"
NEW_SOURCES = ("scrape", "license", "synthesize")
QUARANTINE_TEXT_CHARS = 2_000

# A row transform rewrites kept rows (e.g. their text) and keeps every one of them, in order, in RECORD_SCHEMA.
RowTransform = Callable[[pa.Table], pa.Table]


def new_row_files(plan: RunPlan) -> list[Path]:
    """The year's new rows as files, in the order dedup numbers them: scrape's tagged parts, the licence file,
    synthesize's parts. Known once synthesize has run; ``filter_shard`` judges one of them."""
    return [f for s in NEW_SOURCES for f in dataset_files(stage_output(plan, s))]


def row_transforms(plan: RunPlan) -> list[RowTransform]:
    """The transforms run on the kept rows after the chain, in order. The hook for text rewrites that keep the
    row (PII placeholders, ``biomass.filters.pii``): build them from ``plan.cfg`` here. None are configured yet."""
    return []


def passes_through(plan: RunPlan) -> bool:
    """No filter and no transform: the stage inputs are its outputs, unchanged and unwritten."""
    return not plan.cfg.filters.chain and not row_transforms(plan)


def filtered_files(plan: RunPlan) -> list[Path]:
    """What dedup reads: the filtered parts, one per new-row file (the new-row files themselves when the stage
    passes through)."""
    files = new_row_files(plan)
    if passes_through(plan):
        return files
    return [FilterShard.of(plan, i).out for i in range(len(files))]


@dataclass(frozen=True)
class FilterShard:
    """Where the filtered input file ``index`` lands; the counts file is written last and marks it done."""

    out: Path
    quarantine: Path
    counts: Path

    @classmethod
    def of(cls, plan: RunPlan, index: int) -> "FilterShard":
        folder = stage_output(plan, STAGE)
        return cls(folder / f"{SHARD_PREFIX}{index:05d}.parquet", folder / "quarantine" / f"{index:05d}.parquet",
                   folder / "counts" / f"{index:05d}.json")

    def remove(self) -> None:
        for path in (self.counts, self.quarantine, self.out):
            path.unlink(missing_ok=True)


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
            by_row[int(alive[i])] = (f.name, detail)
        keep[alive[gone]] = False
        alive = alive[~gone]
    dropped = np.flatnonzero(~keep)
    return Verdicts(keep, dropped, [by_row[int(i)][0] for i in dropped], [by_row[int(i)][1] for i in dropped])


def quarantine_rows(rows: pa.Table, reasons: list[str], details: list[str]) -> pa.Table:
    """The quarantine records of dropped rows: the filter's name as reason, its detail, text cut short."""
    m = rows.num_rows
    text = pc.utf8_slice_codeunits(pc.fill_null(rows.column("text"), ""), 0, QUARANTINE_TEXT_CHARS)
    columns = {"stage": pa.array([STAGE] * m, pa.string()), "reason": pa.array(reasons, pa.string()),
               "detail": pa.array(details, pa.string()), "doc_id": rows.column("doc_id"),
               "locator": pa.nulls(m, pa.string()), "url": rows.column("url"), "text": text}
    return pa.table({f.name: columns[f.name] for f in QUARANTINE_SCHEMA}).cast(QUARANTINE_SCHEMA)


def filter_batches(batches: Iterator[pa.RecordBatch | pa.Table], chain: Sequence,
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
        yield kept, quarantine_rows(dropped, verdicts.reasons, verdicts.details), seen


def stage_counts(chain: Sequence, rows_in: int, rows_out: int, dropped: dict[str, int],
                 seen: dict[str, int]) -> StageCounts:
    """Counts of a filtered file (or the stage): quarantined by filter name; each filter's key, seen, dropped."""
    counts = StageCounts(STAGE, rows_in=rows_in, rows_out=rows_out)
    counts.quarantined.update({k: v for k, v in dropped.items() if v})
    counts.notes["chain"] = [f.key for f in chain]   # notes are saved with sorted keys: this keeps the order
    counts.notes["filters"] = {f.name: {"key": f.key, "seen": int(seen.get(f.name, 0)),
                                        "dropped": int(dropped.get(f.name, 0))} for f in chain}
    return counts.check()


def filter_file(path: str | Path, chain: Sequence, out: str | Path, quarantine: str | Path,
                transforms: Sequence[RowTransform] = ()) -> StageCounts:
    """Filter one record file, streamed a batch at a time, into ``out`` (kept rows) and ``quarantine``."""
    rows_in = 0
    dropped: dict[str, int] = {}
    seen: dict[str, int] = {}
    with ParquetStream(out, RECORD_SCHEMA) as kept_out, ParquetStream(quarantine, QUARANTINE_SCHEMA) as q_out:
        for kept, qrows, batch_seen in filter_batches(parquet_batches(path), chain, transforms):
            rows_in += kept.num_rows + qrows.num_rows
            kept_out.write_table(kept)
            q_out.write_table(qrows)
            for name, n in batch_seen.items():
                seen[name] = seen.get(name, 0) + n
            for reason in qrows.column("reason").to_pylist():
                dropped[reason] = dropped.get(reason, 0) + 1
    return stage_counts(chain, rows_in, kept_out.count, dropped, seen)


def _chain(plan: RunPlan):
    from biomass.filters import build_chain

    return build_chain(plan.cfg.filters.specs())


def filter_shard(plan: RunPlan, index: int) -> dict[str, Any]:
    """The mapped step: run the chain over new-row file ``index`` (one task per file); returns its counts.

    All or nothing, like the scrape shards: an earlier attempt's files are removed first and a failure removes
    this one's, so ``finish_filter`` never reads half a shard. Passing through, only the counts are written."""
    source = new_row_files(plan)[index]
    shard = FilterShard.of(plan, index)
    shard.remove()
    try:
        if passes_through(plan):
            n = pq.ParquetFile(source).metadata.num_rows
            counts = stage_counts([], n, n, {}, {})
        else:
            counts = filter_file(source, _chain(plan), shard.out, shard.quarantine, row_transforms(plan))
        counts.notes["input"] = source.relative_to(plan.staging).as_posix()
        shard.counts.parent.mkdir(parents=True, exist_ok=True)
        shard.counts.write_text(canonical_json(counts.as_dict()) + "\n")
    except BaseException:
        shard.remove()
        raise
    return counts.as_dict()


def finish_filter(plan: RunPlan) -> StageCounts:
    """The reduction: sum the shards' counts into ``filter.counts.json`` and their quarantines, in input order,
    into ``filter.quarantine.parquet``. Fails, naming them, if shards have not run."""
    files = new_row_files(plan)
    shards = [FilterShard.of(plan, i) for i in range(len(files))]
    missing = [i for i, s in enumerate(shards) if not s.counts.exists()]
    if missing:
        raise FileNotFoundError(f"filter shards {missing} have not run (of {len(files)}): run filter_shard first")
    chain = [] if not plan.cfg.filters.chain else _chain(plan)
    rows_in = rows_out = 0
    dropped: dict[str, int] = {}
    seen: dict[str, int] = {}
    for shard in shards:
        part = StageCounts.from_dict(json.loads(shard.counts.read_text()))
        rows_in += part.rows_in
        rows_out += part.rows_out
        for name, n in part.quarantined.items():
            dropped[name] = dropped.get(name, 0) + n
        for name, f in part.notes.get("filters", {}).items():
            seen[name] = seen.get(name, 0) + f["seen"]
    quarantine = stage_quarantine(plan, STAGE)
    quarantine.unlink(missing_ok=True)
    if not passes_through(plan):
        concat_parquet([s.quarantine for s in shards], quarantine, QUARANTINE_SCHEMA)
    counts = stage_counts(chain, rows_in, rows_out, dropped, seen)
    counts.notes.update({"files": len(files), "passed_through": passes_through(plan)})
    return save_counts(plan, counts)


def run_filter(plan: RunPlan) -> StageCounts:
    """The whole stage in this process: every file in turn, then the reduction."""
    for i in range(len(new_row_files(plan))):
        filter_shard(plan, i)
    return finish_filter(plan)


def drop_shares(counts: StageCounts) -> dict[str, float]:
    """Each filter's dropped share of the rows that reached it (0.0 when none did), by filter name."""
    return {name: (f["dropped"] / f["seen"] if f["seen"] else 0.0)
            for name, f in counts.notes.get("filters", {}).items()}
