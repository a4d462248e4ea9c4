"""The pipeline's scrape: one shard per input file, then a merge; a shard is all or nothing.

Inputs are small JSONL text dumps of real human text from the committed fixture.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from biomass.pipeline import RunPlan, make_plan, run_scrape_shard
from biomass.stages import scrape as scrape_stage

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(FIXTURE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh][:10]


def dump(path: Path, rows: list[tuple[str | None, str]]) -> str:
    """A JSONL text dump: one {url, text} object per line (url left out when None)."""
    with open(path, "w") as fh:
        for url, text in rows:
            fh.write(json.dumps({"text": text, **({"url": url} if url else {})}) + "\n")
    return str(path)


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
