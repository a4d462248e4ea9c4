"""Scrape on inputs that are broken in the ways a reliability probe found: every record counted, none crashes.

WARCs are written by warcio's WARCWriter (as a crawler would) and then broken byte by byte; dumps are written
with json/pyarrow and then given wrong types or cut; pages are real-looking text in the encoding they declare.
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
from biomass.stages.scrape import read_source, scrape

CONFIG = ScrapeConfig(min_chars=50)
PARAGRAPH = ("Le château de la reine se dresse au-dessus de la vallée ; les élèves déjeunent à côté de la "
             "façade, où l'on voit encore des tableaux du siècle passé. Ça coûte très peu d'entrer. ")


def page(text: str = PARAGRAPH, head: str = "") -> str:
    return f"<html><head>{head}<title>Page</title></head><body><p>{text * 3}</p></body></html>"


def warc_record(url: str, body: bytes, ctype: str = "text/html; charset=utf-8", gz: bool = True,
                rec_type: str = "response", i: int = 0) -> bytes:
    """One record as WARCWriter writes it (a gzip member of its own when ``gz``)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    http = (StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            if rec_type in ("response", "request") else None)
    headers = {"WARC-Date": "2021-05-01T12:00:00Z", "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"}
    if rec_type == "response":
        record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                           warc_headers_dict=headers)
    else:
        record = writer.create_warc_record(url, rec_type, payload=io.BytesIO(body), warc_content_type=ctype,
                                           warc_headers_dict=headers)
    writer.write_record(record)
    return buffer.getvalue()


def pages_warc(n: int, gz: bool) -> list[bytes]:
    return [warc_record(f"https://example.org/{i}.html", page(f"Page {i}. " + PARAGRAPH).encode(), gz=gz, i=i)
            for i in range(n)]


def run(tmp_path: Path, sources: list[Path], config: ScrapeConfig = CONFIG):
    out, q = tmp_path / "out.parquet", tmp_path / "q.parquet"
    counts = scrape([str(s) for s in sources], year=2021, config=config, out_path=str(out), quarantine_path=str(q))
    return counts, pq.read_table(out).to_pylist(), pq.read_table(q).to_pylist()


def gunzip(member: bytes) -> bytes:
    return gzip.decompress(member)


# -- WARC: every record counted ----------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [True, False], ids=["warc.gz", "warc"])
@pytest.mark.parametrize("breakage", [b"", b"WARC-Tpye: response\r\n", b"WARC-Type: respnse\r\n"],
                         ids=["missing", "misspelt-name", "misspelt-type"])
def test_a_response_with_a_missing_or_mangled_warc_type_is_counted(tmp_path, gz, breakage):
    records = pages_warc(3, gz=False)
    records[1] = records[1].replace(b"WARC-Type: response\r\n", breakage)
    if gz:
        records = [gzip.compress(r) for r in records]
    path = tmp_path / ("w.warc.gz" if gz else "w.warc")
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["malformed_record"]
    assert "WARC-Type" in q[0]["detail"]
    assert len(out) == 2 and counts.rows_in == 3


def test_records_that_are_no_document_are_counted_per_file_and_other_types_are_rows(tmp_path):
    records = pages_warc(2, gz=True) + [
        warc_record("https://example.org/0.html", b"GET / HTTP/1.1\r\n\r\n", "application/http; msgtype=request",
                    rec_type="request"),
        warc_record("https://example.org/0.html", b"fetchTimeMs: 12\r\n", "application/warc-fields",
                    rec_type="metadata"),
        warc_record("https://example.org/file.html", page().encode(), "text/html", rec_type="resource"),
    ]
    path = tmp_path / "mixed.warc.gz"
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert len(out) == 2 and [r["reason"] for r in q] == ["unsupported_record"]
    assert "resource" in q[0]["detail"]
    assert counts.notes["files"][str(path)] == {"records": 3, "quarantined": 1,
                                                 "not_documents": {"metadata": 1, "request": 1}}


def test_a_gzip_member_holding_part_of_its_content_length_is_truncated_record(tmp_path):
    """The member is valid gzip, so only the WARC's own length can tell that half the page is missing."""
    records = pages_warc(3, gz=True)
    whole = gunzip(records[1])
    records[1] = gzip.compress(whole[: len(whole) // 2])
    path = tmp_path / "short.warc.gz"
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["truncated_record"]
    assert [r["url"] for r in out] == ["https://example.org/0.html", "https://example.org/2.html"]
    assert counts.rows_in == 3


def test_an_oversize_gzip_member_short_of_its_content_length_is_truncated_record(tmp_path):
    big = page("x" * 300_000).encode()
    member = gunzip(warc_record("https://example.org/big.html", big))
    path = tmp_path / "bigshort.warc.gz"
    path.write_bytes(gzip.compress(member[:-1000]) + pages_warc(1, gz=True)[0])
    counts, out, q = run(tmp_path, [path], ScrapeConfig(min_chars=50, max_record_bytes=100_000))
    assert [r["reason"] for r in q] == ["truncated_record"] and len(out) == 1


def test_a_gzip_member_holding_two_records_yields_both(tmp_path):
    first, second = (gunzip(r) for r in pages_warc(2, gz=True))
    path = tmp_path / "two.warc.gz"
    path.write_bytes(gzip.compress(first + second))
    counts, out, q = run(tmp_path, [path])
    assert [r["url"] for r in out] == ["https://example.org/0.html", "https://example.org/1.html"] and not q


def test_a_warc_gz_whose_first_bytes_are_broken_is_still_read_as_gzip(tmp_path):
    """Found by the property test: a damaged first member made the whole file one malformed plain record."""
    data = bytearray(b"".join(pages_warc(3, gz=True)))
    data[0] = 0
    path = tmp_path / "head.warc.gz"
    path.write_bytes(bytes(data))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["corrupt_gzip"] and len(out) == 2


def with_content_length(record: bytes, delta: int) -> bytes:
    head, sep, rest = record.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    for i, line in enumerate(lines):
        if line.lower().startswith(b"content-length:"):
            lines[i] = b"Content-Length: %d" % (int(line.split(b":")[1]) + delta)
    return b"\r\n".join(lines) + sep + rest


@pytest.mark.parametrize("delta", [+5, +60, +2_000, -40, -1])
def test_a_plain_warc_content_length_that_is_wrong_never_publishes_the_next_records_headers(tmp_path, delta):
    records = pages_warc(3, gz=False)
    records[0] = with_content_length(records[0], delta)
    path = tmp_path / "p.warc"
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["length_mismatch"]
    assert [r["url"] for r in out] == ["https://example.org/1.html", "https://example.org/2.html"]
    assert not any("WARC" in r["text"] for r in out)
    assert counts.rows_in == 3


def test_a_content_length_that_swallows_the_next_record_exactly_is_caught(tmp_path):
    """The length lands on a clean record boundary, but the block holds another record's start."""
    records = pages_warc(3, gz=False)
    records[0] = with_content_length(records[0], len(records[1]))
    records[0] = records[0].replace(b"WARC-Block-Digest", b"X-Digest-Removed")
    path = tmp_path / "swallow.warc"
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["length_mismatch"]
    assert [r["url"] for r in out] == ["https://example.org/1.html", "https://example.org/2.html"]


def test_a_crawled_warc_file_as_payload_is_one_record_not_many(tmp_path):
    """A payload that is itself WARC text is vouched for by the block digest: no inner record is published."""
    inner = b"".join(pages_warc(2, gz=False))
    records = [warc_record("https://example.org/crawl.warc", inner, "application/warc", gz=False),
               pages_warc(1, gz=False)[0]]
    path = tmp_path / "nested.warc"
    path.write_bytes(b"".join(records))
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["non_html"] and len(out) == 1 and counts.rows_in == 2


def test_a_plain_warc_cut_inside_its_last_record_is_truncated_record(tmp_path):
    data = b"".join(pages_warc(3, gz=False))
    path = tmp_path / "cut.warc"
    path.write_bytes(data[:-200])
    counts, out, q = run(tmp_path, [path])
    assert [r["reason"] for r in q] == ["truncated_record"] and len(out) == 2


# -- JSONL / Parquet: wrong types and cut files -----------------------------------------------------------------

TEXT = PARAGRAPH * 2


@pytest.mark.parametrize("row, field", [
    ({"text": 12345}, "text"), ({"text": ["a", "list"]}, "text"), ({"text": {"an": "object"}}, "text"),
    ({"text": True}, "text"), ({"html": 7}, "html"), ({"html": ["<p>"]}, "html"),
    ({"text": TEXT, "url": 42}, "url"), ({"text": TEXT, "url": ["https://x"]}, "url"),
    ({"text": TEXT, "collected_at": 20200101}, "collected_at"), ({"text": TEXT, "collected_at": {}}, "collected_at"),
])
def test_a_dump_field_of_the_wrong_type_is_quarantined_naming_the_field(tmp_path, row, field):
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"text": TEXT, "url": "https://x/ok"}, row]) + "\n")
    counts, out, q = run(tmp_path, [path])
    assert len(out) == 1 and [r["reason"] for r in q] == ["bad_field"]
    assert repr(field) in q[0]["detail"] and type(row[field]).__name__ in q[0]["detail"]
    assert q[0]["locator"] == f"{path}:2"


@pytest.mark.parametrize("url", ["https://exa[mple.org/p", "http://[::1/x"])
def test_a_url_that_cannot_be_parsed_is_quarantined(tmp_path, url):
    """Found by the property test: urlsplit raises on an unbalanced '[' (read as a broken IPv6 host)."""
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps({"text": TEXT, "url": url}) + "\n")
    counts, out, q = run(tmp_path, [path])
    assert not out and [r["reason"] for r in q] == ["malformed_url"] and counts.rows_in == 1


def test_a_parquet_text_column_of_integers_is_quarantined_per_record(tmp_path):
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"url": ["https://x/1", "https://x/2"], "text": [1, 2]}), path)
    counts, out, q = run(tmp_path, [path])
    assert not out and [r["reason"] for r in q] == ["bad_field", "bad_field"]
    assert "'text' is int" in q[0]["detail"] and counts.rows_in == 2


def test_a_parquet_collected_at_date_column_is_read(tmp_path):
    import datetime as dt

    path = tmp_path / "dates.parquet"
    pq.write_table(pa.table({"text": [TEXT], "collected_at": [dt.date(2019, 3, 4)]}), path)
    _, out, q = run(tmp_path, [path])
    assert not q and out[0]["collected_at"].date() == dt.date(2019, 3, 4)


def test_a_truncated_jsonl_gz_keeps_the_lines_before_the_cut_and_names_the_file(tmp_path):
    whole = tmp_path / "whole.jsonl.gz"
    with gzip.open(whole, "wt") as fh:
        for i in range(400):
            fh.write(json.dumps({"url": f"https://x/{i}", "text": f"Line {i}. {TEXT}"}) + "\n")
    data = whole.read_bytes()
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    counts, out, q = run(tmp_path, [cut])
    assert [r["reason"] for r in q] == ["truncated_gzip"]
    assert str(cut) in q[0]["detail"] and q[0]["locator"] == f"{cut}:{len(out) + 1}"
    assert 0 < len(out) < 400 and [r["url"] for r in out] == [f"https://x/{i}" for i in range(len(out))]
    assert counts.rows_in == len(out) + 1


@pytest.mark.parametrize("data", [b'{"text": "plain, not gzip"}\n', gzip.compress(b"")[:10] + b"\xff" * 200],
                         ids=["not-gzip", "bad-deflate"])
def test_a_jsonl_gz_that_is_not_gzip_is_one_quarantined_row(tmp_path, data):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(data)
    counts, out, q = run(tmp_path, [path])
    assert not out and [r["reason"] for r in q] == ["corrupt_gzip"] and str(path) in q[0]["detail"]


def test_a_file_that_is_not_parquet_is_a_clear_error_naming_it(tmp_path):
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"this is not a parquet file")
    with pytest.raises(ValueError, match=f"{path}.*not a readable Parquet file"):
        run(tmp_path, [path])


# -- encodings: decode by the declaration, quarantine only what fails it ----------------------------------------

LATIN1 = page().encode("latin-1")


@pytest.mark.parametrize("ctype, head", [
    ("text/html; charset=ISO-8859-1", ""),
    ("text/html; charset=\"latin1\"", ""),
    ("text/html", '<meta charset="iso-8859-1">'),
    ("text/html", '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'),
], ids=["http", "http-quoted-alias", "meta-charset", "meta-http-equiv"])
def test_a_page_declaring_latin1_is_decoded_not_quarantined(tmp_path, ctype, head):
    body = page(head=head).encode("latin-1")
    assert b"\xe9" in body
    path = tmp_path / "l.warc.gz"
    path.write_bytes(warc_record("https://example.org/fr.html", body, ctype))
    counts, out, q = run(tmp_path, [path])
    assert not q and "château" in out[0]["text"]


def test_every_latin1_byte_decodes_including_those_windows1252_leaves_unassigned(tmp_path):
    body = page(PARAGRAPH + "Octets: \x81\x8d\x8f\x90\x9d. ").encode("latin-1")
    path = tmp_path / "c1.warc.gz"
    path.write_bytes(warc_record("https://example.org/c1.html", body, "text/html; charset=iso-8859-1"))
    _, out, q = run(tmp_path, [path])
    assert not q and "château" in out[0]["text"]


def test_windows1252_and_cyrillic_pages_decode_by_their_declaration(tmp_path):
    ru = page("Москва — столица России, крупнейший по численности населения город страны. ")
    records = [warc_record("https://example.org/fr.html", page(PARAGRAPH + "“œuvre” €5 ").encode("cp1252"),
                           "text/html; charset=windows-1252", i=0),
               warc_record("https://example.org/ru.html", ru.encode("cp1251"), "text/html; charset=windows-1251", i=1)]
    path = tmp_path / "w.warc.gz"
    path.write_bytes(b"".join(records))
    _, out, q = run(tmp_path, [path])
    assert not q and "“œuvre” €5" in out[0]["text"] and "Москва" in out[1]["text"]


@pytest.mark.parametrize("bom, codec", [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                                        (b"\xfe\xff", "utf-16-be")])
def test_a_byte_order_mark_wins_over_the_declared_charset(tmp_path, bom, codec):
    body = bom + page().encode(codec)
    path = tmp_path / "bom.warc.gz"
    path.write_bytes(warc_record("https://example.org/bom.html", body, "text/html; charset=iso-8859-1"))
    _, out, q = run(tmp_path, [path])
    assert not q and out[0]["text"].startswith("Le château") and "\ufeff" not in out[0]["text"]


@pytest.mark.parametrize("ctype, body, reason", [
    ("text/html; charset=utf-8", LATIN1, "invalid_utf8"),
    ("text/html", LATIN1, "invalid_utf8"),  # nothing declared: UTF-8 is assumed, never guessed past
    ("text/html; charset=shift_jis", page().encode("latin-1") + b"\x82", "invalid_encoding"),
    ("text/html; charset=x-klingon", page().encode(), "unknown_charset"),
    ("text/html; charset=base64", page().encode(), "unknown_charset"),  # a Python codec, not a text encoding
])
def test_only_text_that_fails_its_own_declaration_is_quarantined(tmp_path, ctype, body, reason):
    path = tmp_path / "bad.warc.gz"
    path.write_bytes(warc_record("https://example.org/bad.html", body, ctype))
    _, out, q = run(tmp_path, [path])
    assert not out and [r["reason"] for r in q] == [reason]


def test_an_html_folder_page_is_decoded_by_its_meta_charset(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "fr.html").write_bytes(page(head="<meta charset='windows-1252'>").encode("cp1252"))
    _, out, q = run(tmp_path, [site])
    assert not q and "château" in out[0]["text"]


def test_every_reader_yields_pages_for_the_new_cases(tmp_path):
    """read_source stays a plain generator of pages: no reader raises for a bad record."""
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": 1}) + "\n")
    assert [p.error for p in read_source(str(path), CONFIG)] == ["bad_field"]
