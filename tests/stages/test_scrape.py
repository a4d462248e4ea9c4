"""Scrape on real pages (from the bundled sample crawl) and on a fixture for every kind of bad input.

Bad inputs are built here, deterministically, from real pages: a WARC writer makes each file the way a crawler
would, then the test breaks it the way real files break (a cut tail, flipped bytes, a bad header line).
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.config import ScrapeConfig
from biomass.stages import scrape as scrape_stage
from biomass.stages.scrape import read_source, record_locator, scrape
from biomass.stages.warc import iter_warc, parse_record

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "crawl" / "crawl-2021.warc.gz"
CONFIG = ScrapeConfig(optout_domains=["optout.example.org"], optout_url_patterns=["https://*/private/*"],
                      max_record_bytes=400_000)


@pytest.fixture(scope="module")
def pages() -> list[tuple[str, bytes]]:
    """(url, html) of the real Python-docs pages in the bundled 2021 crawl."""
    with open(SAMPLE, "rb") as fh:
        records = [parse_record(raw) for raw in iter_warc(fh, 10_000_000)]
    return [(r.url, r.payload) for r in records if r.warc_type == "response" and r.url.startswith(
        "https://docs.python.org") and r.content_type.startswith("text/html") and len(r.payload) > 5_000][:6]


def write_warc(path: Path, records: list[tuple[str, bytes, str]], gz: bool = True) -> Path:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    for i, (url, body, ctype) in enumerate(records):
        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict={"WARC-Date": "2021-05-01T12:00:00Z",
                               "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"}))
    path.write_bytes(buffer.getvalue())
    return path


def run(tmp_path: Path, sources: list[str], config: ScrapeConfig = CONFIG):
    out, q = tmp_path / "out.parquet", tmp_path / "q.parquet"
    counts = scrape(sources, year=2021, config=config, out_path=str(out), quarantine_path=str(q))
    return counts, pq.read_table(out), pq.read_table(q)


HTML = "text/html; charset=utf-8"


def test_real_crawl_every_response_accounted_for(tmp_path):
    counts, out, q = run(tmp_path, [str(SAMPLE)])
    with open(SAMPLE, "rb") as fh:
        responses = sum(parse_record(raw).warc_type == "response" for raw in iter_warc(fh, 10_000_000))
    assert counts.rows_in == responses == out.num_rows + q.num_rows
    assert {"non_html", "empty", "opted_out"} <= set(q.column("reason").to_pylist())
    row = out.slice(0, 1).to_pylist()[0]
    assert row["url"].startswith("https://") and row["collected_at"].year == 2021 and row["human_era"]
    prov = json.loads(row["provenance"])
    assert prov["source_file"] == str(SAMPLE) and prov["offset"] >= 0 and prov["warc_record_id"]


def test_extraction_drops_navigation_and_keeps_the_body(tmp_path, pages):
    url, html = pages[0]
    counts, out, _ = run(tmp_path, [str(write_warc(tmp_path / "one.warc.gz", [(url, html, HTML)]))])
    text = out.column("text")[0].as_py()
    assert "Navigation" not in text and "Quick search" not in text and "Report a Bug" not in text
    assert "©" not in text and "Copyright" not in text
    assert len(text) > 1_000


def test_each_bad_record_is_quarantined_with_its_reason(tmp_path, pages):
    url, html = pages[1]
    records = [
        (url, html, HTML),                                                   # fine
        ("https://docs.python.org/x.pdf", b"%PDF-1.4 fake", "application/pdf"),  # non_html
        ("https://docs.python.org/latin1.html", html.replace(b"the", b"th\xe9", 1), HTML),  # invalid_utf8
        ("https://docs.python.org/empty.html", b"<html><body></body></html>", HTML),      # empty
        ("https://docs.python.org/huge.html", b"<html><body>" + b"<p>big</p>" * 50_000 + b"</body></html>", HTML),
        (url, html, HTML),                                                   # duplicate_url
        ("https://optout.example.org/page.html", html, HTML),               # opted_out (domain)
        ("https://docs.python.org/private/notes.html", html, HTML),         # opted_out (URL pattern)
        ("https://docs.python.org/short.html", b"<html><body><p>Too short.</p></body></html>", HTML),
    ]
    counts, out, q = run(tmp_path, [str(write_warc(tmp_path / "bad.warc.gz", records))])
    assert out.num_rows == 1
    assert q.column("reason").to_pylist() == ["non_html", "invalid_utf8", "empty", "too_large", "duplicate_url",
                                             "opted_out", "opted_out", "too_short"]
    assert counts.rows_in == len(records) == out.num_rows + q.num_rows


def test_truncated_tail_is_reported_and_the_rest_kept(tmp_path, pages):
    data = write_warc(tmp_path / "full.warc.gz", [(u, h, HTML) for u, h in pages[:4]]).read_bytes()
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(data[:-300])
    counts, out, q = run(tmp_path, [str(cut)])
    assert out.num_rows == 3
    assert q.column("reason").to_pylist() == ["truncated_gzip"]
    assert counts.rows_in == 4


def test_corrupt_member_in_the_middle_does_not_abandon_the_file(tmp_path, pages):
    path = write_warc(tmp_path / "c.warc.gz", [(u, h, HTML) for u, h in pages[:4]])
    data = bytearray(path.read_bytes())
    offsets = [raw.offset for raw in iter_warc(io.BytesIO(bytes(data)), 10_000_000)]
    data[offsets[1] + 40: offsets[1] + 60] = b"\x00" * 20  # break the second member's deflate stream
    path.write_bytes(bytes(data))
    counts, out, q = run(tmp_path, [str(path)])
    assert q.column("reason").to_pylist() == ["corrupt_gzip"]
    assert out.num_rows == 3 and counts.rows_in == 4


def test_malformed_headers_in_a_plain_warc_resync_at_the_next_record(tmp_path, pages):
    path = write_warc(tmp_path / "p.warc", [(u, h, HTML) for u, h in pages[:3]], gz=False)
    data = path.read_bytes()
    second = data.index(b"WARC/1.", 10)
    broken = data[:second] + data[second:].replace(b"Content-Length:", b"Content-Lenght:", 1)
    path.write_bytes(broken)
    counts, out, q = run(tmp_path, [str(path)])
    assert q.column("reason").to_pylist() == ["malformed_headers"]
    assert out.num_rows == 2 and counts.rows_in == 3


def test_html_dir_jsonl_and_parquet_inputs(tmp_path, pages):
    site = tmp_path / "site"
    site.mkdir()
    for i, (_, html) in enumerate(pages[:2]):
        (site / f"p{i}.html").write_bytes(html)
    (site / "notes.txt").write_text("not html, not read")
    text = "A plain text dump line that is long enough to be kept by the scraper. " * 5
    jsonl = tmp_path / "dump.jsonl.gz"
    with gzip.open(jsonl, "wt") as fh:
        fh.write(json.dumps({"url": "https://example.com/a", "text": text, "collected_at": "2020-02-02"}) + "\n")
        fh.write("{not json\n")
        fh.write(json.dumps({"url": "https://example.com/b"}) + "\n")
    parquet = tmp_path / "dump.parquet"
    pq.write_table(pa.table({"url": ["https://example.com/c"], "html": [pages[2][1].decode()]}), parquet)
    counts, out, q = run(tmp_path, [str(site), str(jsonl), str(parquet)])
    assert counts.rows_in == 2 + 3 + 1
    assert out.num_rows == 4
    assert sorted(q.column("reason").to_pylist()) == ["malformed_json", "no_text"]
    assert counts.notes["files"][str(jsonl)] == {"records": 3, "quarantined": 2}


def test_human_era_cutoff_and_determinism(tmp_path, pages):
    url, html = pages[0]
    path = write_warc(tmp_path / "d.warc.gz", [(url, html, HTML)])
    _, out, _ = run(tmp_path / "a", [str(path)])
    assert out.column("human_era").to_pylist() == [True] and out.column("origin").to_pylist() == ["human"]
    late = ScrapeConfig(human_era_cutoff="2021-01-01")
    _, out2, _ = run(tmp_path / "b", [str(path)], late)
    assert out2.column("human_era").to_pylist() == [False] and out2.column("origin").to_pylist() == ["unknown"]
    _, again, _ = run(tmp_path / "c", [str(path)])
    assert (tmp_path / "a" / "out.parquet").read_bytes() == (tmp_path / "c" / "out.parquet").read_bytes()


def test_cli_writes_quarantine_with_reasons(tmp_path):
    from biomass.cli import main

    out, q = tmp_path / "o.parquet", tmp_path / "q.parquet"
    assert main(["scrape", str(SAMPLE), "--out", str(out), "--quarantine", str(q), "--year", "2021"]) == 0
    assert "reason" in pq.read_table(q).column_names and pq.read_table(out).num_rows > 10


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scrape([str(tmp_path / "nope")], year=2021, config=CONFIG, out_path=str(tmp_path / "o.parquet"))
    assert not (tmp_path / "o.parquet").exists()


def test_a_reader_failing_midway_publishes_no_output(tmp_path, monkeypatch, pages):
    """A reader error is not a bad record: nothing is written, rather than the pages read before it."""
    path = write_warc(tmp_path / "w.warc.gz", [(u, h, HTML) for u, h in pages[:4]])
    real_reader = scrape_stage.read_warc

    def reader_that_dies(*args):
        for i, page in enumerate(real_reader(*args)):
            if i == 2:
                raise OSError("connection reset")
            yield page

    monkeypatch.setattr(scrape_stage, "read_warc", reader_that_dies)
    with pytest.raises(OSError, match="connection reset"):
        run(tmp_path / "run", [str(path)])
    assert list((tmp_path / "run").iterdir()) == [], "neither the output nor its temp file"


def test_record_locator_rebuilds_the_locator_each_reader_gave(tmp_path, pages):
    """prepare_tagging quarantines duplicate URLs by their provenance: it must name them as the reader did."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "p.HTML").write_bytes(pages[0][1])
    jsonl = tmp_path / "d.jsonl.gz"
    with gzip.open(jsonl, "wt") as fh:
        fh.write("\n" + json.dumps({"url": "https://example.com/a", "text": "x", "id": 7}) + "\n")
    parquet = tmp_path / "d.parquet"
    pq.write_table(pa.table({"url": ["https://example.com/b", "https://example.com/c"], "text": ["x", "y"]}), parquet)
    warc = write_warc(tmp_path / "w.warc.gz", [(u, h, HTML) for u, h in pages[:2]])
    seen = 0
    for source in (site, jsonl, parquet, warc):
        for page in read_source(str(source), CONFIG):
            assert record_locator(page.provenance) == page.locator
            seen += 1
    assert seen == 1 + 1 + 2 + 2
