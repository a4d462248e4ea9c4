"""Gates through Airflow's own CLI: `airflow dags test biomass_annual` with a run conf, as an operator would.

A good crawl publishes the year; a crawl of mostly empty pages fails at the scrape gate, publishes nothing, names
the gate and the failed expectation in the log, and the DAG run ends failed.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from biomass.stages.warc import iter_warc, parse_record
from biomass.storage import GenerationStore

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "crawl" / "crawl-2021.warc.gz"
pytestmark = pytest.mark.airflow


def _airflow(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    airflow = Path(sys.executable).parent / "airflow"
    return subprocess.run([str(airflow), *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())


def mostly_empty_crawl(path: Path, real_pages: int = 2, empty_pages: int = 18) -> Path:
    """A WARC.gz of 2 real pages (from the bundled sample) and 18 empty ones, as a broken crawler would write."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    with open(SAMPLE, "rb") as fh:
        pages = [r for r in (parse_record(raw) for raw in iter_warc(fh, 10_000_000))
                 if r.warc_type == "response" and r.content_type and "html" in r.content_type][:real_pages]
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=True)
    bodies = [(p.url, p.payload) for p in pages]
    bodies += [(f"https://empty.example.com/page-{i}.html", b"<html><body>  </body></html>")
               for i in range(empty_pages)]
    for i, (url, body) in enumerate(bodies):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict={"WARC-Date": f"2021-03-{1 + i % 28:02d}T00:00:00Z",
                               "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"}))
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def serialized(airflow_db, signing_key_env):
    proc = _airflow("dags", "reserialize")
    assert proc.returncode == 0, proc.stderr[-2000:]


def _run(year: int, data_root: Path, scrape_inputs: list[str]) -> subprocess.CompletedProcess:
    conf = {"year": year, "data_root": str(data_root), "scrape_inputs": scrape_inputs}
    return _airflow("dags", "test", "biomass_annual", f"{year}-01-01T00:00:00+00:00", "-c", json.dumps(conf))


def _run_state(year: int) -> str:
    proc = _airflow("dags", "list-runs", "biomass_annual", "-o", "json")
    runs = json.loads(next(line for line in reversed(proc.stdout.splitlines()) if line.startswith("[")))
    mine = [r for r in runs if r["logical_date"].startswith(f"{year}-01-01")]
    return sorted(mine, key=lambda r: r["run_after"])[-1]["state"]


def _run_note(year: int) -> str | None:
    """The note Airflow shows on the run (set by the biomass_run_notes listener plugin)."""
    from airflow.models import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(select(DagRun).where(DagRun.dag_id == "biomass_annual")).all()
        mine = sorted((r for r in runs if r.logical_date and r.logical_date.year == year), key=lambda r: r.run_after)
        return mine[-1].note


def test_good_crawl_publishes(serialized, tmp_path):
    proc = _run(2021, tmp_path, [str(SAMPLE)])
    assert (tmp_path / "generations" / "2021" / "manifest.json").exists(), proc.stdout[-4000:]
    assert _run_state(2021) == "success"
    note = _run_note(2021)
    assert note.startswith("**biomass 2021: published ")
    assert str(tmp_path / "generations" / "2021" / "manifest.json") in note


def test_mostly_empty_crawl_fails_at_the_scrape_gate(serialized, tmp_path):
    crawl = mostly_empty_crawl(tmp_path / "broken.warc.gz")
    proc = _run(2022, tmp_path / "data", [str(crawl)])
    log = proc.stdout + proc.stderr
    assert "gate 'scrape' FAILED" in log
    assert "quarantined_fraction" in log
    assert "Data Docs:" in log
    assert GenerationStore(tmp_path / "data").published_years() == []
    evidence = tmp_path / "data" / "staging" / "2022" / "gates"
    assert (evidence / "scrape.result.json").exists() and (evidence / "scrape.failing_rows.parquet").exists()
    assert _run_state(2022) == "failed"
    note = _run_note(2022)
    assert note.startswith("**biomass 2022: gate `scrape` failed. Nothing was published.**"), note
    assert "quarantined_fraction" in note and str(evidence) in note
    docs = note.split("[Data Docs: the failed validation](", 1)[1].split(")", 1)[0]
    assert docs.startswith("file://") and docs.endswith(".html")
    assert Path(docs[len("file://"):]).is_file()  # run's data root is not the served one: a file link
