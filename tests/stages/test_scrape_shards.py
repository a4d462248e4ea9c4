"""The pipeline's scrape: one shard per input file, then a merge; a shard is all or nothing.

Inputs are small JSONL text dumps of real human text from the committed fixture.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from biomass.pipeline import (RunPlan, load_counts, make_plan, merge_scrape, run_scrape_shard, stage_output,
                             stage_quarantine)
from biomass.stages import scrape as scrape_stage
from biomass.storage import dataset_files
from biomass.text import normalize

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(FIXTURE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh][:10]


def dump(path: Path, rows: list[tuple[str | None, str]]) -> str:
    """A JSONL text dump: one {url, text} object per line (url left out when None)."""
    with open(path, "w") as fh:
        for url, text in rows:
            fh.write(json.dumps({"text": text, **({"url": url} if url is not None else {})}) + "\n")
    return str(path)


def read_rows(path: Path) -> list[dict]:
    """A stage output's rows, file or shard set, in order."""
    return [row for file in dataset_files(path) for row in pq.read_table(file).to_pylist()]


def plan_for(tmp_path: Path, inputs: list[str]) -> RunPlan:
    return make_plan(2021, data_root=str(tmp_path / "data"), scrape_inputs=inputs, license_inputs=[])


@pytest.mark.parametrize("earlier_attempt", [False, True], ids=["first-attempt", "retry"])
def test_a_shard_whose_reader_fails_midway_leaves_no_files(tmp_path, monkeypatch, texts, earlier_attempt):
    source = dump(tmp_path / "a.jsonl", [(f"https://x/{i}", t) for i, t in enumerate(texts[:5])])
    plan = plan_for(tmp_path, [source])
    shard_dir = plan.staging / "scrape"
    if earlier_attempt:  # a complete earlier attempt must not survive a failed retry
        run_scrape_shard(plan, 0)
        assert sorted(p.name for p in shard_dir.iterdir()) == [
            "00000.counts.json", "00000.parquet", "00000.quarantine.parquet"]

    real_reader = scrape_stage.read_jsonl

    def reader_that_dies(path: str):
        for i, page in enumerate(real_reader(path)):
            if i == 3:
                raise OSError("connection reset while reading the crawl file")
            yield page

    monkeypatch.setattr(scrape_stage, "read_jsonl", reader_that_dies)
    with pytest.raises(OSError, match="connection reset"):
        run_scrape_shard(plan, 0)
    assert not (shard_dir / "00000.parquet").exists()
    assert not (shard_dir / "00000.quarantine.parquet").exists()
    assert not (shard_dir / "00000.counts.json").exists()
    assert list(shard_dir.iterdir()) == [], "no temp file left behind either"


def scrape_and_merge(plan: RunPlan):
    for i in range(len(plan.scrape_inputs)):
        run_scrape_shard(plan, i)
    return merge_scrape(plan)


def test_merge_drops_a_url_an_earlier_shard_kept(tmp_path, texts):
    shared = "https://x/shared"
    # Records without a URL (missing or "") are never duplicates, even with the same text.
    a = dump(tmp_path / "a.jsonl", [("https://x/a", texts[0]), (shared, texts[1]), (None, texts[2]), ("", texts[5])])
    b = dump(tmp_path / "b.jsonl", [(shared, texts[3]), ("https://x/b", texts[4]), (None, texts[2]), ("", texts[5])])
    plan = plan_for(tmp_path, [b, a])  # the plan sorts its inputs: a is shard 0, b is shard 1
    assert plan.scrape_inputs == [a, b]

    total = scrape_and_merge(plan)

    out = read_rows(stage_output(plan, "scrape"))
    assert sorted(str(r["url"]) for r in out) == ["", "", "None", "None", "https://x/a", "https://x/b", shared]
    kept = next(r for r in out if r["url"] == shared)
    assert kept["text"] == normalize(texts[1]) and json.loads(kept["provenance"])["source_file"] == a
    [dup] = pq.read_table(stage_quarantine(plan, "scrape")).to_pylist()
    assert dup["stage"] == "scrape" and dup["reason"] == "duplicate_url" and dup["url"] == shared
    assert dup["locator"] == f"{b}:1" and "shard 00000" in dup["detail"] and a in dup["detail"]
    assert dup["doc_id"] not in {r["doc_id"] for r in out}
    assert (total.rows_in, total.rows_out, dict(total.quarantined)) == (8, 7, {"duplicate_url": 1})
    assert total.rows_in == total.rows_out + sum(total.quarantined.values())
    assert load_counts(plan, "scrape").as_dict() == total.as_dict()


RERUN = textwrap.dedent("""
    import sys
    from biomass.pipeline import make_plan, merge_scrape, run_scrape_shard
    plan = make_plan(2021, data_root=sys.argv[1], scrape_inputs=sys.argv[2:], license_inputs=[])
    for i in range(len(plan.scrape_inputs)):
        run_scrape_shard(plan, i)
    merge_scrape(plan)
""")


def test_merge_is_byte_identical_across_reruns(tmp_path, texts):
    """Each run in its own process with its own hash seed: set or dict order must not reach the output."""
    shared = [f"https://x/shared-{i}" for i in range(4)]
    a = dump(tmp_path / "a.jsonl", [(u, t) for u, t in zip(shared, texts)])
    b = dump(tmp_path / "b.jsonl", [(u, t) for u, t in zip(reversed(shared), texts[4:])])
    root = tmp_path / "data"
    runs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run([sys.executable, "-c", RERUN, str(root), a, b], env=env, check=True)
        plan = RunPlan.load(root / "staging" / "2021" / "plan.json")
        assert len(pq.read_table(stage_quarantine(plan, "scrape"))) == len(shared)
        runs.append([*(p.read_bytes() for p in dataset_files(stage_output(plan, "scrape"))),
                     stage_quarantine(plan, "scrape").read_bytes()])
    assert runs[0] == runs[1]


def test_merge_streams_and_its_output_does_not_depend_on_batch_size(tmp_path, monkeypatch, texts):
    """The merge reads, tags and writes a batch at a time; one-row batches must give the same rows, tags and
    quarantine as whole-file batches (the detector's reference and the archive are fixed once per stage)."""
    from biomass import storage
    from biomass.pipeline import ingest

    a = dump(tmp_path / "a.jsonl", [(f"https://x/{i}", t) for i, t in enumerate(texts[:6])])
    b = dump(tmp_path / "b.jsonl", [("https://x/2", texts[7]), (None, texts[8]), ("https://y/1", texts[9])])

    def build(batch_rows: int | None) -> tuple[list[dict], list[dict]]:
        plan = make_plan(2021, data_root=str(tmp_path / f"data-{batch_rows}"), scrape_inputs=[a, b],
                         license_inputs=[])
        real = storage.parquet_batches
        monkeypatch.setattr(ingest, "parquet_batches",
                            lambda path, columns=None, rows=None: real(path, columns, batch_rows or rows))
        counts = scrape_and_merge(plan)
        assert counts.rows_in == 9 and counts.rows_out == 8 and counts.quarantined["duplicate_url"] == 1
        out = read_rows(stage_output(plan, "scrape"))
        quarantine = pq.read_table(stage_quarantine(plan, "scrape")).to_pylist()
        return out, quarantine

    whole, whole_q = build(None)
    single, single_q = build(1)
    assert [r["doc_id"] for r in whole] == [r["doc_id"] for r in single]
    assert whole == single and whole_q == single_q
    assert all(r["tag_evidence"] != "{}" for r in whole), "every row was tagged"
