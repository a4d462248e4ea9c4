"""Stages 1 and 2 in the pipeline: scrape and license, both tagged.

The scrape runs as mapped steps: ``run_scrape_shard`` per input file, ``prepare_tagging`` once (the cross-shard
URL rule and the detector reference), ``tag_scrape_shard`` per shard (the costly part, spread across workers)
into the shard set ``staging/<year>/scrape/tagged/``, and ``finish_scrape`` once (counts and quarantine).
"""

from __future__ import annotations

import heapq
import json
import logging
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from biomass.storage import (SHARD_PREFIX, ParquetStream, concat_parquet, dataset_rows, parquet_batches,
                             write_json_atomic, write_parquet)

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
        write_json_atomic(shard.counts, counts.as_dict())
    except BaseException:
        shard.remove()
        raise
    return counts


def scrape_shards(plan: RunPlan) -> list[ScrapeShard]:
    return [ScrapeShard.of(plan, i) for i in range(len(plan.scrape_inputs))]


@dataclass(frozen=True)
class TaggingPlan:
    """What ``prepare_tagging`` decides once for the whole scrape, and every ``tag_scrape_shard`` reads.

    ``duplicates``: one row per record whose URL an earlier shard kept (shard, row in that shard, doc_id, url,
    first_shard, locator). ``reference``: the detector's human-era reference texts (JSON), fixed for all shards.
    """

    duplicates: Path
    reference: Path

    @classmethod
    def of(cls, plan: RunPlan) -> "TaggingPlan":
        folder = plan.staging / "scrape"
        return cls(folder / "duplicate_urls.parquet", folder / "detector_reference.json")

    def remove(self) -> None:
        for path in (self.reference, self.duplicates):
            path.unlink(missing_ok=True)

    def load_reference(self) -> list[str]:
        return json.loads(self.reference.read_text())["texts"]

    def dropped_rows(self, index: int) -> list[int]:
        table = pq.read_table(self.duplicates, columns=["shard", "row"], filters=[("shard", "=", index)])
        return table.column("row").to_pylist()


DUPLICATES_SCHEMA = pa.schema([("shard", pa.int32()), ("row", pa.int64()), ("doc_id", pa.string()),
                               ("url", pa.string()), ("first_shard", pa.int32()), ("locator", pa.string())])


def tagged_part(plan: RunPlan, index: int) -> Path:
    """Shard ``index`` of the scrape, tagged: one part per input file, in the stage's shard-set folder."""
    return stage_output(plan, "scrape") / f"{SHARD_PREFIX}{index:05d}.parquet"


def prepare_tagging(plan: RunPlan) -> TaggingPlan:
    """The reduction before tagging: decide the cross-shard URL rule and fix the detector reference, once.

    URL rule (from the url, doc_id and provenance columns, never the text): a record whose URL an earlier shard
    already kept (input order, first wins) is ``duplicate_url``, naming that shard; records without a URL stay.
    The reference is today's ``detector_reference`` over all scraped shards, saved so that every tag task fits
    the same detector. Old tagged parts are removed: they were tagged under an earlier decision.
    """
    from biomass.stages.scrape import record_locator

    decided = TaggingPlan.of(plan)
    decided.remove()
    folder = stage_output(plan, "scrape")
    if folder.exists():
        shutil.rmtree(folder)
    shards = scrape_shards(plan)
    missing = [s.out.name for s in shards if not s.counts.exists()]
    if missing:
        raise FileNotFoundError(f"scrape shards not finished (no counts file): {missing}; run their scrape first")
    kept_by: dict[str, int] = {}
    rows: list[dict] = []
    for i, shard in enumerate(shards):
        start = 0
        for batch in _stage_batches(shard.out, ["doc_id", "url", "provenance"]):
            urls = batch.column("url").to_pylist()
            for offset, url in enumerate(urls):
                if url and kept_by.setdefault(url, i) != i:   # no URL (None or ""): never a duplicate
                    rows.append({"shard": i, "row": start + offset, "url": url, "first_shard": kept_by[url],
                                 "doc_id": batch.column("doc_id")[offset].as_py(),
                                 "locator": record_locator(json.loads(batch.column("provenance")[offset].as_py()))})
            start += batch.num_rows
    write_parquet(pa.Table.from_pylist(rows, schema=DUPLICATES_SCHEMA), decided.duplicates)
    reference = detector_reference(plan, [s.out for s in shards])
    write_json_atomic(decided.reference, {"texts": reference})
    return decided


def tag_scrape_shard(plan: RunPlan, index: int) -> int:
    """Tag one scraped shard (one mapped task per shard) into its part of the stage's shard set; rows written.

    Drops the rows ``prepare_tagging`` found to be ``duplicate_url`` and tags the rest with the saved reference
    and the fingerprint archive, so shards can be tagged in any order, on any worker, with the same result.
    All or nothing: the part is written through a temp file renamed at the end, and an earlier attempt's part
    is removed first, so a failed attempt leaves nothing and a retry starts clean.
    """
    decided = TaggingPlan.of(plan)
    if not decided.reference.exists():
        raise FileNotFoundError(f"{decided.reference} is missing: run prepare_tagging before tagging shards")
    shard = ScrapeShard.of(plan, index)
    part = tagged_part(plan, index)
    part.unlink(missing_ok=True)
    dropped = np.asarray(sorted(decided.dropped_rows(index)), dtype=np.int64)
    tag = _tagger_with(plan, decided.load_reference())
    start = 0
    with ParquetStream(part, RECORD_SCHEMA) as out:
        for batch in _stage_batches(shard.out):
            stop = start + batch.num_rows
            drop = dropped[np.searchsorted(dropped, start):np.searchsorted(dropped, stop)] - start
            if drop.size:
                keep = np.ones(batch.num_rows, dtype=bool)
                keep[drop] = False
                batch = batch.filter(pa.array(keep))
            out.write_table(conform(tag(batch)))
            start = stop
    return out.count


def finish_scrape(plan: RunPlan) -> StageCounts:
    """The reduction after tagging: sum the shards' counts, write the stage's quarantine (every shard's own,
    then the ``duplicate_url`` rows) and ``scrape.counts.json``. Fails, naming them, if shards are not tagged."""
    decided = TaggingPlan.of(plan)
    shards = scrape_shards(plan)
    untagged = [i for i in range(len(shards)) if not tagged_part(plan, i).exists()]
    if untagged:
        raise FileNotFoundError(f"scrape shards {untagged} are not tagged: run tag_scrape_shard for them first")
    total = StageCounts("scrape")
    duplicates = Quarantine("scrape", total)
    opted_out: Counter = Counter()   # opted_out pages per signal (biomass.stages.optout), summed over the shards
    for shard in shards:
        counts = StageCounts.from_dict(json.loads(shard.counts.read_text()))
        total.rows_in += counts.rows_in
        total.quarantined.update(counts.quarantined)
        opted_out.update(counts.notes.get("opted_out", {}))
    for row in pq.read_table(decided.duplicates).to_pylist():
        first = row["first_shard"]
        duplicates.add("duplicate_url", detail=f"already kept from shard {first:05d} ({plan.scrape_inputs[first]})",
                       doc_id=row["doc_id"], locator=row["locator"], url=row["url"])
    total.rows_out = dataset_rows(stage_output(plan, "scrape"))
    quarantines = [s.quarantine for s in shards if s.quarantine.exists()]
    stage_quarantine(plan, "scrape").unlink(missing_ok=True)
    if quarantines or len(duplicates):
        concat_parquet(quarantines, stage_quarantine(plan, "scrape"), QUARANTINE_SCHEMA, tail=duplicates.table())
    total.notes["inputs"] = len(plan.scrape_inputs)
    if opted_out:
        total.notes["opted_out"] = dict(sorted(opted_out.items()))
    return save_counts(plan, total)


def merge_scrape(plan: RunPlan) -> StageCounts:
    """The scrape's three steps after the shards, in one process: prepare, tag every shard, finish (the shell
    and tests use this; the DAG maps the tagging over the shards)."""
    prepare_tagging(plan)
    for i in range(len(plan.scrape_inputs)):
        tag_scrape_shard(plan, i)
    return finish_scrape(plan)


def _stage_batches(path: Path, columns: list[str] | None = None) -> Iterator[pa.Table]:
    if path.exists():
        for batch in parquet_batches(path, columns):
            yield pa.Table.from_batches([batch])


def run_license(plan: RunPlan) -> StageCounts:
    from biomass.stages.license import license_stage

    out = stage_output(plan, "license")
    counts = license_stage(plan.license_inputs, year=plan.year, config=plan.cfg.license, out_path=str(out),
                           quarantine_path=str(stage_quarantine(plan, "license")),
                           report_path=str(plan.staging / "license.report.json"))
    if out.exists():
        tag = _tagger_with(plan, _license_reference(plan, out))
        tagged = out.with_name(f".{out.name}.tagged")
        with ParquetStream(tagged, RECORD_SCHEMA) as stream:
            for batch in _stage_batches(out):
                stream.write_table(conform(tag(batch)))
        tagged.replace(out)
    return save_counts(plan, counts)


def _license_reference(plan: RunPlan, out: Path) -> list[str]:
    """Once a chain has a first generation, the reference is picked from it, as ``prepare_tagging`` already did
    for this run: read its choice rather than stream the first generation again."""
    saved = TaggingPlan.of(plan).reference
    if plan.store.published_years() and saved.exists():
        return TaggingPlan.of(plan).load_reference()
    return detector_reference(plan, [out])


def _tagger_with(plan: RunPlan, reference: list[str]) -> Callable[[pa.Table], pa.Table]:
    """Tag a stage's input batch by batch: `origin` must come from evidence, not from the label.

    The detector's reference (fixed once for the whole stage, e.g. saved by ``prepare_tagging``) and the
    fingerprint archive are the same for every batch, so the result does not depend on how the input is
    batched."""
    from biomass.provenance import tag_table
    from biomass.provenance.fitted import fit_cached
    from biomass.provenance.fingerprint import FingerprintArchive

    config = plan.cfg.provenance
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


def smallest_texts(batches: Iterable[pa.ChunkedArray | pa.Array], k: int, min_words: int) -> list[str]:
    """``heapq.nsmallest(k, texts of >= min_words words)`` over a stream of text arrays, without turning every
    text into a Python string: each batch is sorted by Arrow (UTF-8 byte order is code-point order, Python's
    string order), only texts below the current k-th are looked at, and words are counted (``str.split``, as
    the detector counts them) only until k are found."""
    best: list[str] = []
    for texts in batches:
        texts = texts.combine_chunks() if isinstance(texts, pa.ChunkedArray) else texts
        if len(best) == k:
            texts = texts.filter(pc.less_equal(texts, pa.scalar(best[-1], texts.type)))
        if len(texts) == 0:
            continue
        ordered = texts.take(pc.sort_indices(texts))
        found: list[str] = []
        for lo in range(0, len(ordered), 256):
            found.extend(t for t in ordered.slice(lo, 256).to_pylist() if len(t.split()) >= min_words)
            if len(found) >= k:
                break
        best = list(heapq.merge(best, found[:k]))[:k]
    return best


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
    human = (b.filter(b.column("human_era")).column("text") for b in batches)
    texts = smallest_texts(human, DETECTOR_REFERENCE_DOCS, BUCKET_EDGES[0])
    return texts if len(texts) >= MIN_DETECTOR_REFERENCE else []
