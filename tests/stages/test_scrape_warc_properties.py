"""Property tests of the WARC reader: random well-formed files, then one random corruption each.

Whatever the damage, reading never raises, the stage's counts balance, every record the damage did not touch is
read exactly as written (published bytes, or counted as no document), no page text carries WARC headers, and
damage always leaves at least one quarantined row behind.
"""

from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biomass.config import ScrapeConfig
from biomass.stages.scrape import read_warc, scrape

WORDS = ["lorem", "ipsum", "dolor", "sit", "amet", "<p>", "</p>", "\r\n", "\n", "château", "WARC", "1.0"]
MAX_BYTES = 50_000


def record_bytes(i: int, kind: str, body: bytes, gz: bool) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=gz)
    headers = {"WARC-Date": "2021-05-01T12:00:00Z", "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>"}
    if kind == "response":
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
        rec = writer.create_warc_record(f"https://example.org/{i}", "response", payload=io.BytesIO(body),
                                        http_headers=http, warc_headers_dict=headers)
    else:
        rec = writer.create_warc_record(f"https://example.org/{i}", "metadata", payload=io.BytesIO(body),
                                        warc_content_type="application/warc-fields", warc_headers_dict=headers)
    writer.write_record(rec)
    return buffer.getvalue()


bodies = st.lists(st.sampled_from(WORDS), max_size=60).map(lambda ws: " ".join(ws).encode())
records = st.lists(st.tuples(st.sampled_from(["response", "response", "metadata"]), bodies), min_size=1, max_size=6)
corruptions = st.one_of(
    st.just(("none",)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("overwrite"), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("length"), st.integers(0, 5), st.integers(-300, 300)),
    st.tuples(st.just("type"), st.integers(0, 5), st.sampled_from([b"", b"WARC-Type: respons\r\n", b"WARC-Typ: x\r\n"])),
)


def corrupt(plain: list[bytes], gz: bool, how: tuple) -> tuple[bytes, set[int], set[int]]:
    """The file's bytes after ``how``, the indexes of the records it damaged, and of those it cut away whole."""
    import gzip

    plain = list(plain)
    damaged: set[int] = set()
    if how[0] in ("length", "type") and how[1] < len(plain):
        k = how[1]
        head, sep, rest = plain[k].partition(b"\r\n\r\n")
        if how[0] == "length":
            length = int(head.rsplit(b"Content-Length: ", 1)[1])
            head = head.replace(b"Content-Length: %d" % length, b"Content-Length: %d" % max(0, length + how[2]))
        else:
            head = head.replace(b"WARC-Type: " + (b"response" if b"response" in head else b"metadata") + b"\r\n",
                                how[2])
        if head + sep + rest != plain[k]:
            damaged.add(k)
        plain[k] = head + sep + rest
    chunks = [gzip.compress(p, mtime=0) if gz else p for p in plain]
    data = b"".join(chunks)
    spans, at = [], 0
    for chunk in chunks:
        spans.append((at, at + len(chunk)))
        at += len(chunk)
    gone: set[int] = set()
    if how[0] == "truncate":
        cut = int(how[1] * len(data))
        data = data[:cut]
        gone = {i for i, (start, _) in enumerate(spans) if start >= cut}
        damaged |= {i for i, (start, end) in enumerate(spans) if start < cut < end}
    elif how[0] == "overwrite":
        start = int(how[1] * len(data))
        junk = how[2][: len(data) - start]
        changed = [start + j for j, byte in enumerate(junk) if data[start + j] != byte]
        data = data[:start] + junk + data[start + len(junk):]
        damaged |= {i for i, (s, e) in enumerate(spans) if any(s <= j < e for j in changed)}
    return data, damaged, gone


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=records, gz=st.booleans(), how=corruptions)
def test_the_warc_reader_accounts_for_every_record_whatever_the_damage(tmp_path_factory, records, gz, how):
    plain = [record_bytes(i, kind, body, gz=False) for i, (kind, body) in enumerate(records)]
    data, damaged, gone = corrupt(plain, gz, how)
    path = tmp_path_factory.mktemp("w") / ("f.warc.gz" if gz else "f.warc")
    path.write_bytes(data)

    pages = list(read_warc(str(path), MAX_BYTES))
    documents = [p for p in pages if not p.not_document]
    published = {p.url: p.body for p in documents if not p.error}
    errors = [p for p in documents if p.error]

    def read_as_written(i: int, kind: str, body: bytes, slack: bool = False) -> bool:
        url = f"https://example.org/{i}"
        if kind != "response":
            return any(p.not_document == "metadata" and p.url == url for p in pages)
        got = published.get(url)
        return got == body or (slack and got is not None and got.rstrip(b"\r\n") == body.rstrip(b"\r\n"))

    for i, (kind, body) in enumerate(records):
        if i in gone:
            continue
        if i not in damaged:
            assert read_as_written(i, kind, body), f"untouched record {i} not read as written"
        elif not (how[0] == "overwrite" and not gz):  # a plain WARC has no checksum to catch changed bytes
            # A damaged record is read whole (a length off by its CR/LF terminator is tolerated) or leaves a row.
            assert read_as_written(i, kind, body, slack=True) or errors, f"damaged record {i} vanished"
    for body in published.values():
        assert b"WARC-Type" not in body and b"WARC-Record-ID" not in body
    if not damaged:
        assert not errors

    counts = scrape([str(path)], year=2021, config=ScrapeConfig(min_chars=1, max_record_bytes=MAX_BYTES),
                    out_path=str(path.with_suffix(".out.parquet")))
    assert counts.rows_in == len(documents) == counts.rows_out + counts.rows_quarantined
