"""Stages 1 and 2 in the pipeline: scrape (one task per input file, then a merge) and license, both tagged."""

from __future__ import annotations

import heapq
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pyarrow as pa

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, canonical_json, conform
from biomass.storage import ParquetStream, parquet_batches

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
    Streams: a batch at a time is read, tagged and written, so memory does not grow with the crawl.
    """
    total = StageCounts("scrape")
    duplicates = Quarantine("scrape", total)
    kept_by: dict[str, int] = {}
    shards = [ScrapeShard.of(plan, i) for i in range(len(plan.scrape_inputs))]
    tag = _tagger(plan, [s.out for s in shards])
    with ParquetStream(stage_output(plan, "scrape"), RECORD_SCHEMA) as out:
        for i, shard in enumerate(shards):
            counts = StageCounts.from_dict(json.loads(shard.counts.read_text()))
            total.rows_in += counts.rows_in
            total.quarantined.update(counts.quarantined)
            for batch in _stage_batches(shard.out):
                kept = _drop_urls_kept_earlier(plan, batch, i, kept_by, duplicates)
                total.rows_out += kept.num_rows
                out.write_table(conform(tag(kept)))
    quarantines = [s.quarantine for s in shards if s.quarantine.exists()]
    if quarantines or len(duplicates):
        with ParquetStream(stage_quarantine(plan, "scrape"), QUARANTINE_SCHEMA) as out:
            for path in quarantines:
                for batch in parquet_batches(path):
                    out.write_table(pa.Table.from_batches([batch]))
            out.write_table(duplicates.table())
    total.notes["inputs"] = len(plan.scrape_inputs)
    return save_counts(plan, total)


def _stage_batches(path: Path) -> Iterator[pa.Table]:
    if path.exists():
        for batch in parquet_batches(path):
            yield pa.Table.from_batches([batch])


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
        tag = _tagger(plan, [out])
        tagged = out.with_name(f".{out.name}.tagged")
        with ParquetStream(tagged, RECORD_SCHEMA) as stream:
            for batch in _stage_batches(out):
                stream.write_table(conform(tag(batch)))
        tagged.replace(out)
    return save_counts(plan, counts)


def _tagger(plan: RunPlan, inputs: list[Path]) -> Callable[[pa.Table], pa.Table]:
    """Tag a stage's input batch by batch: `origin` must come from evidence, not from the label.

    The detector's reference and the fingerprint archive are fixed once for the whole stage, so every batch is
    judged by the same evidence and the result does not depend on how the input is batched.
    """
    from biomass.provenance import tag_table
    from biomass.provenance.detector import fit_cached
    from biomass.provenance.fingerprint import FingerprintArchive

    config = plan.cfg.provenance
    reference = detector_reference(plan, inputs)
    detector = fit_cached(reference, config.detector) if reference and config.detector.enabled else None
    archive = (FingerprintArchive(config.fingerprint_archive, config.fingerprint_num_perm, config.fingerprint_seed)
               if config.fingerprint_archive else None)

    def tag(table: pa.Table) -> pa.Table:
        if table.num_rows == 0:
            return table
        return tag_table(table, config=config, detector=detector, archive=archive)

    return tag


DETECTOR_REFERENCE_DOCS = 400
MIN_DETECTOR_REFERENCE = 20


def detector_reference(plan: RunPlan, inputs: list[Path]) -> list[str]:
    """Human-era text to calibrate the foreign-generator detector: the chain's first generation, else this
    stage's inputs. Too little of it (see StatDetector.fit) gives []: the detector then reports itself
    uncalibrated. The DETECTOR_REFERENCE_DOCS smallest texts (in code-point order) of enough words, picked from a
    stream with a bounded heap, so the choice is the same however the text is stored or batched."""
    from biomass.provenance.detector import BUCKET_EDGES

    years = plan.store.published_years()
    if years:
        batches = plan.store.iter_batches(years[0], ["text", "human_era"])
    else:
        batches = (b for path in inputs for b in _stage_batches(path))

    def candidates() -> Iterator[str]:
        for batch in batches:
            batch = batch.select(["text", "human_era"])
            for text in batch.filter(batch.column("human_era")).column("text").to_pylist():
                if len(text.split()) >= BUCKET_EDGES[0]:
                    yield text

    texts = heapq.nsmallest(DETECTOR_REFERENCE_DOCS, candidates())
    return texts if len(texts) >= MIN_DETECTOR_REFERENCE else []
