"""The curation stage: the configured filter chain (``filters.chain``, ``biomass.filters``) over every new row of
the year, scraped, licensed and synthetic, before dedup.

The chain itself (judging a batch, streaming a file) is ``biomass.filters.run``, which ``biomass filter`` uses
too. Mapped like signing: ``filter_shard(plan, i)`` judges new-row file ``i`` (``new_row_files``: scrape's tagged
parts, the licence file, synthesize's parts) a record batch at a time into ``staging/<year>/filter/
part-NNNNN.parquet``, its dropped rows into ``filter/quarantine/NNNNN.parquet`` and its counts last (the file that
marks the shard done); ``finish_filter`` sums them into ``filter.counts.json`` and ``filter.quarantine.parquet``.
``assemble_inputs`` (dedup's input) is then the filtered parts.

A row is judged by the filters in order and counted against the first that drops it (``reason`` = that
filter's name, or the reason it names, e.g. ``contaminated``; ``detail`` = what it said); later filters see only the rows still kept. Each filter's ``seen`` and
``dropped`` go into the stage counts' notes, so the gate can bound the share of what reaches a filter that it
drops. Kept rows then go through the stage's row transforms (``row_transforms``: text rewrites such as PII
placeholders, ``filters.pii``, which keep every row), in order; their totals (PII replaced per kind) go into the
notes under ``transforms``. No chain and no transform: the stage passes the files through as
they are (``assemble_inputs`` reads the stage inputs themselves), writing nothing but counts.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from biomass.accounting import StageCounts
from biomass.filters.run import STAGE, RowTransform, filter_file, stage_counts
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import QUARANTINE_SCHEMA
from biomass.storage import SHARD_PREFIX, concat_parquet, dataset_files, write_json_atomic

log = logging.getLogger(__name__)

NEW_SOURCES = ("scrape", "license", "synthesize")


def new_row_files(plan: RunPlan) -> list[Path]:
    """The year's new rows as files, in the order dedup numbers them: scrape's tagged parts, the licence file,
    synthesize's parts. Known once synthesize has run; ``filter_shard`` judges one of them."""
    return [f for s in NEW_SOURCES for f in dataset_files(stage_output(plan, s))]


def row_transforms(plan: RunPlan) -> list[RowTransform]:
    """The transforms run on the kept rows after the chain, in order: PII placeholders (``filters.pii``) when
    enabled. Fresh objects each call: their totals are one shard's."""
    pii = plan.cfg.filters.pii
    if not pii.enabled:
        return []
    from biomass.filters.pii_records import PIIRowTransform

    return [PIIRowTransform(pii.params, plan.cfg.provenance)]


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
        write_json_atomic(shard.counts, counts.as_dict())
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
    chain = _chain(plan)
    rows_in = rows_out = 0
    dropped: dict[str, int] = {}
    seen: dict[str, int] = {}
    transforms: dict[str, dict] = {}
    for shard in shards:
        part = StageCounts.from_dict(json.loads(shard.counts.read_text()))
        rows_in += part.rows_in
        rows_out += part.rows_out
        for name, f in part.notes.get("filters", {}).items():
            seen[name] = seen.get(name, 0) + f["seen"]
            dropped[name] = dropped.get(name, 0) + f["dropped"]
        for name, figures in part.notes.get("transforms", {}).items():
            total = transforms.setdefault(name, {"key": figures["key"]})
            for k, v in figures.items():
                if k != "key":
                    total[k] = total.get(k, 0) + v
    quarantine = stage_quarantine(plan, STAGE)
    quarantine.unlink(missing_ok=True)
    if not passes_through(plan):
        concat_parquet([s.quarantine for s in shards], quarantine, QUARANTINE_SCHEMA)
    counts = stage_counts(chain, rows_in, rows_out, dropped, seen, transforms)
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
