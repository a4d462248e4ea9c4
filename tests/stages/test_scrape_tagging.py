"""The scrape's tagging as mapped steps: prepare_tagging (URL rule + detector reference, once), tag_scrape_shard
(one part per shard, any order, all or nothing) and finish_scrape (counts + quarantine).

The reference is the single-task merge as it was before the split (``merge_before_the_split``, kept here
verbatim but writing to paths of its own): the three steps must give exactly its rows, tags and quarantine.
Inputs are small JSONL dumps of real human text from the committed fixture.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline import (RunPlan, finish_scrape, load_counts, make_plan, merge_scrape, prepare_tagging,
                              run_scrape_shard, stage_output, stage_quarantine, tag_scrape_shard)
from biomass.pipeline import ingest
from biomass.pipeline.ingest import ScrapeShard, TaggingPlan, tagged_part
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from biomass.storage import ParquetStream, dataset_files, parquet_batches

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


# -- the merge as it was before the split (the reference) -------------------------------------------------------

def merge_before_the_split(plan: RunPlan, out_path: Path, quarantine_path: Path) -> StageCounts:
    total = StageCounts("scrape")
    duplicates = Quarantine("scrape", total)
    kept_by: dict[str, int] = {}
    shards = [ScrapeShard.of(plan, i) for i in range(len(plan.scrape_inputs))]
    tag = ingest._tagger_with(plan, ingest.detector_reference(plan, [s.out for s in shards]))
    with ParquetStream(out_path, RECORD_SCHEMA) as out:
        for i, shard in enumerate(shards):
            counts = StageCounts.from_dict(json.loads(shard.counts.read_text()))
            total.rows_in += counts.rows_in
            total.quarantined.update(counts.quarantined)
            for batch in ingest._stage_batches(shard.out):
                kept = _drop_urls_kept_earlier(plan, batch, i, kept_by, duplicates)
                total.rows_out += kept.num_rows
                out.write_table(conform(tag(kept)))
    quarantines = [s.quarantine for s in shards if s.quarantine.exists()]
    if quarantines or len(duplicates):
        with ParquetStream(quarantine_path, QUARANTINE_SCHEMA) as out:
            for path in quarantines:
                for batch in parquet_batches(path):
                    out.write_table(pa.Table.from_batches([batch]))
            out.write_table(duplicates.table())
    total.notes["inputs"] = len(plan.scrape_inputs)
    return total


def _drop_urls_kept_earlier(plan, table, index, kept_by, quarantine):
    from biomass.stages.scrape import record_locator

    keep = []
    for url in table.column("url").to_pylist():
        keep.append(not url or kept_by.setdefault(url, index) == index)
    dropped = [row for row, kept in enumerate(keep) if not kept]
    if not dropped:
        return table
    for row in table.take(pa.array(dropped, pa.int64())).select(["doc_id", "url", "provenance"]).to_pylist():
        first = kept_by[row["url"]]
        quarantine.add("duplicate_url", detail=f"already kept from shard {first:05d} ({plan.scrape_inputs[first]})",
                       doc_id=row["doc_id"], locator=record_locator(json.loads(row["provenance"])), url=row["url"])
    return table.filter(pa.array(keep, pa.bool_()))


# -- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(FIXTURE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh][:60]


def dump(path: Path, rows: list[tuple[str | None, str]]) -> str:
    with open(path, "w") as fh:
        for url, text in rows:
            fh.write(json.dumps({"text": text, **({"url": url} if url is not None else {})}) + "\n")
    return str(path)


@pytest.fixture
def inputs(tmp_path, texts) -> list[str]:
    """Three files: URLs shared across them (first wins), records without a URL, records each shard
    quarantines itself (empty, too short), and a file whose every record another file already kept."""
    a = dump(tmp_path / "a.jsonl", [(f"https://x/{i}", t) for i, t in enumerate(texts[:25])]
             + [(None, texts[25]), ("", texts[26]), ("https://x/empty", " "), ("https://x/short", "tiny")])
    b = dump(tmp_path / "b.jsonl", [(f"https://x/{i}", t) for i, t in enumerate(texts[30:36])]
             + [(f"https://y/{i}", t) for i, t in enumerate(texts[36:60])] + [(None, texts[25]), ("", texts[26])])
    c = dump(tmp_path / "c.jsonl", [(f"https://y/{i}", t) for i, t in enumerate(texts[:4])])
    return [a, b, c]


def scraped(tmp_path: Path, inputs: list[str], name: str = "data") -> RunPlan:
    plan = make_plan(2021, data_root=str(tmp_path / name), scrape_inputs=inputs, license_inputs=[])
    for i in range(len(plan.scrape_inputs)):
        run_scrape_shard(plan, i)
    return plan


def rows_of(files: list[Path]) -> list[dict]:
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def part_bytes(plan: RunPlan) -> list[bytes]:
    return [p.read_bytes() for p in dataset_files(stage_output(plan, "scrape"))]


# -- tests ------------------------------------------------------------------------------------------------------

def test_the_three_steps_give_the_single_merge_rows_tags_and_quarantine(tmp_path, inputs):
    plan = scraped(tmp_path, inputs)
    old_out, old_q = tmp_path / "old" / "scrape.parquet", tmp_path / "old" / "scrape.quarantine.parquet"
    old = merge_before_the_split(plan, old_out, old_q)

    decided = prepare_tagging(plan)
    assert len(decided.load_reference()) >= ingest.MIN_DETECTOR_REFERENCE, "the detector is calibrated here"
    for i in range(len(plan.scrape_inputs)):
        tag_scrape_shard(plan, i)
    new = finish_scrape(plan)

    files = dataset_files(stage_output(plan, "scrape"))
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert pq.read_table(files[2]).num_rows == 0, "the all-duplicate shard still has its (empty) part"
    assert rows_of(files) == pq.read_table(old_out).to_pylist()
    assert pq.read_table(stage_quarantine(plan, "scrape")).to_pylist() == pq.read_table(old_q).to_pylist()
    assert new.as_dict() == old.as_dict() == load_counts(plan, "scrape").as_dict()
    assert new.quarantined["duplicate_url"] == 6 + 4 and new.quarantined["empty"] == 1
    assert new.rows_in == new.rows_out + sum(new.quarantined.values()) == 29 + 32 + 4
    assert all(json.loads(r["tag_evidence"]) for r in rows_of(files)), "every row was tagged"


def test_merge_scrape_runs_the_three_steps(tmp_path, inputs):
    plan = scraped(tmp_path, inputs)
    counts = merge_scrape(plan)
    assert TaggingPlan.of(plan).reference.exists() and TaggingPlan.of(plan).duplicates.exists()
    assert counts.rows_out == sum(pq.read_metadata(f).num_rows for f in dataset_files(stage_output(plan, "scrape")))


def test_tagging_shard_by_shard_in_any_order_gives_the_same_bytes(tmp_path, inputs):
    plan = scraped(tmp_path, inputs)
    prepare_tagging(plan)
    for i in (0, 1, 2):
        tag_scrape_shard(plan, i)
    in_order = part_bytes(plan)
    prepare_tagging(plan)   # a new decision removes the old parts
    assert dataset_files(stage_output(plan, "scrape")) == []
    for i in (2, 0, 1):
        tag_scrape_shard(plan, i)
    assert part_bytes(plan) == in_order
    tag_scrape_shard(plan, 1)   # a retry of a finished shard rewrites the same bytes
    assert part_bytes(plan) == in_order


@pytest.mark.parametrize("earlier_attempt", [False, True], ids=["first-attempt", "retry-after-success"])
def test_a_tag_task_that_fails_midway_leaves_no_part_and_a_retry_works(tmp_path, inputs, monkeypatch,
                                                                      earlier_attempt):
    clean = scraped(tmp_path, inputs, "clean")
    merge_scrape(clean)

    plan = scraped(tmp_path, inputs)
    prepare_tagging(plan)
    if earlier_attempt:
        tag_scrape_shard(plan, 1)
        assert tagged_part(plan, 1).exists()
    real_parquet_batches, real_tagger = ingest.parquet_batches, ingest._tagger_with
    monkeypatch.setattr(ingest, "parquet_batches", lambda path, columns=None: real_parquet_batches(path, columns, 4))

    def tagger_that_dies(plan, reference):
        tag, calls = real_tagger(plan, reference), []

        def dying(table):
            calls.append(1)
            if len(calls) == 3:
                raise MemoryError("worker ran out of memory while tagging")
            return tag(table)

        return dying

    monkeypatch.setattr(ingest, "_tagger_with", tagger_that_dies)
    with pytest.raises(MemoryError):
        tag_scrape_shard(plan, 1)
    assert list(stage_output(plan, "scrape").iterdir()) == [], "no part, no temp file"

    monkeypatch.setattr(ingest, "_tagger_with", real_tagger)
    for i in (0, 2):
        tag_scrape_shard(plan, i)
    with pytest.raises(FileNotFoundError, match=r"\[1\] are not tagged"):
        finish_scrape(plan)
    tag_scrape_shard(plan, 1)   # the retry
    assert rows_of(dataset_files(stage_output(plan, "scrape"))) == rows_of(
        dataset_files(stage_output(clean, "scrape")))
    assert finish_scrape(plan).as_dict() == load_counts(clean, "scrape").as_dict()


def test_tagging_needs_the_prepared_reference(tmp_path, inputs):
    plan = scraped(tmp_path, inputs)
    with pytest.raises(FileNotFoundError, match="prepare_tagging"):
        tag_scrape_shard(plan, 0)
    ScrapeShard.of(plan, 2).remove()
    with pytest.raises(FileNotFoundError, match="00002.parquet"):
        prepare_tagging(plan)
