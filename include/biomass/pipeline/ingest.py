"""Stages 1 and 2 in the pipeline: scrape (one task per input file, then a merge) and license, both tagged."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline.plan import RunPlan, read_stage, save_counts, stage_output, stage_quarantine
from biomass.schema import canonical_json, empty_table
from biomass.storage import write_parquet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScrapeShard:
    """Where one input file's scrape lands; the counts file is written last and marks the shard complete."""

    out: Path
    quarantine: Path
    counts: Path

    @classmethod
    def of(cls, plan: RunPlan, index: int) -> "ScrapeShard":
        folder, stem = plan.staging / "scrape", f"{index:05d}"
        return cls(folder / f"{stem}.parquet", folder / f"{stem}.quarantine.parquet", folder / f"{stem}.counts.json")

    def remove(self) -> None:
        for path in (self.counts, self.quarantine, self.out):
            path.unlink(missing_ok=True)


def run_scrape_shard(plan: RunPlan, index: int) -> StageCounts:
    """Scrape one input file (one mapped task per file); the merge step sums the shards.

    All or nothing: a failure removes the shard's files, and a retry first removes an earlier attempt's, so the
    merge can never read half a shard or a stale one.
    """
    from biomass.stages.scrape import scrape

    shard = ScrapeShard.of(plan, index)
    shard.remove()
    try:
        counts = scrape([plan.scrape_inputs[index]], year=plan.year, config=plan.cfg.scrape,
                        out_path=str(shard.out), quarantine_path=str(shard.quarantine))
        counts.check()
        shard.counts.write_text(canonical_json(counts.as_dict()) + "\n")
    except BaseException:
        shard.remove()
        raise
    return counts


def merge_scrape(plan: RunPlan) -> StageCounts:
    """Concatenate the scraped shards in input order, drop URLs already seen in an earlier shard, tag.

    Each shard only knows its own file's URLs. Here a record whose URL an earlier shard already kept (input
    order, first wins) goes to quarantine as ``duplicate_url``, naming that shard; records without a URL stay.
    """
    total = StageCounts("scrape")
    duplicates = Quarantine("scrape", total)
    kept_by: dict[str, int] = {}
    tables, quarantines = [], []
    for i in range(len(plan.scrape_inputs)):
        shard = ScrapeShard.of(plan, i)
        counts = StageCounts.from_dict(json.loads(shard.counts.read_text()))
        total.rows_in += counts.rows_in
        total.quarantined.update(counts.quarantined)
        tables.append(_drop_urls_kept_earlier(plan, read_stage(shard.out), i, kept_by, duplicates))
        if shard.quarantine.exists():
            quarantines.append(pq.read_table(shard.quarantine))
    if len(duplicates):
        quarantines.append(duplicates.table())
    table = pa.concat_tables(tables) if tables else empty_table()
    total.rows_out = table.num_rows
    write_parquet(_tag(plan, table), stage_output(plan, "scrape"))
    if quarantines:
        write_parquet(pa.concat_tables(quarantines), stage_quarantine(plan, "scrape"))
    total.notes["inputs"] = len(plan.scrape_inputs)
    return save_counts(plan, total)


def _drop_urls_kept_earlier(plan: RunPlan, table: pa.Table, index: int, kept_by: dict[str, int],
                            quarantine: Quarantine) -> pa.Table:
    """Shard ``index`` without the records whose URL an earlier shard kept; ``kept_by`` learns this shard's URLs."""
    from biomass.stages.scrape import record_locator

    keep = []
    for url in table.column("url").to_pylist():
        keep.append(not url or kept_by.setdefault(url, index) == index)  # no URL (None or ""): never a duplicate
    dropped = [row for row, kept in enumerate(keep) if not kept]
    if not dropped:
        return table
    for row in table.take(pa.array(dropped, pa.int64())).select(["doc_id", "url", "provenance"]).to_pylist():
        first = kept_by[row["url"]]
        quarantine.add("duplicate_url", detail=f"already kept from shard {first:05d} ({plan.scrape_inputs[first]})",
                       doc_id=row["doc_id"], locator=record_locator(json.loads(row["provenance"])), url=row["url"])
    return table.filter(pa.array(keep, pa.bool_()))


def run_license(plan: RunPlan) -> StageCounts:
    from biomass.stages.license import license_stage

    out = stage_output(plan, "license")
    counts = license_stage(plan.license_inputs, year=plan.year, config=plan.cfg.license, out_path=str(out),
                           quarantine_path=str(stage_quarantine(plan, "license")),
                           report_path=str(plan.staging / "license.report.json"))
    if out.exists():
        write_parquet(_tag(plan, pq.read_table(out)), out)
    return save_counts(plan, counts)


def _tag(plan: RunPlan, table: pa.Table) -> pa.Table:
    """Run the provenance tagger on a stage's input: `origin` must come from evidence, not from the label."""
    if table.num_rows == 0:
        return table
    from biomass.provenance import tag_table

    return tag_table(table, config=plan.cfg.provenance, reference=detector_reference(plan, table) or None)


DETECTOR_REFERENCE_DOCS = 400
MIN_DETECTOR_REFERENCE = 20


def detector_reference(plan: RunPlan, table: pa.Table) -> list[str]:
    """Human-era text to calibrate the foreign-generator detector: the chain's first generation, else this input.
    Too little of it (see StatDetector.fit) gives []: the detector then reports itself uncalibrated."""
    from biomass.provenance.detector import BUCKET_EDGES

    years = plan.store.published_years()
    source = plan.store.read(years[0], columns=["text", "human_era"]) if years else table
    texts = [t for t in source.filter(source.column("human_era")).column("text").to_pylist()
             if len(t.split()) >= BUCKET_EDGES[0]]
    return sorted(texts)[:DETECTOR_REFERENCE_DOCS] if len(texts) >= MIN_DETECTOR_REFERENCE else []
