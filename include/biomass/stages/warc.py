"""Read WARC and WARC.gz files one record at a time, and say what was wrong with the ones that are broken.

warcio parses each record, but it is fed one record at a time by a splitter of our own, because warcio alone
stops at the first corrupt gzip member and skips a truncated final member silently. Here a corrupt member is
reported and reading resumes at the next gzip member; a truncated tail is reported; a record with malformed
headers is reported and reading resumes at the next ``WARC/1.`` line. Memory is bounded by one record (and a
record over the size cap is read through without being kept).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

GZIP_MAGIC = b"\x1f\x8b\x08"
CHUNK = 1 << 16
HEAD_KEEP = 1 << 16


@dataclass
class RawRecord:
    """One record's bytes (``data``), or why there are none (``error``); ``offset`` is where it starts."""

    offset: int
    data: bytes | None = None
    error: str | None = None
    detail: str | None = None
    oversize: bool = False


@dataclass
class WarcRecord:
    offset: int
    warc_type: str
    url: str | None
    date: str | None
    record_id: str | None
    status: int | None
    content_type: str | None
    payload: bytes
    oversize: bool = False


def is_gzip(fh: BinaryIO) -> bool:
    head = fh.read(3)
    fh.seek(0)
    return head == GZIP_MAGIC


class _Stream:
    """A read buffer over a file that knows the file offset of its first byte."""

    def __init__(self, fh: BinaryIO):
        self.fh = fh
        self.buf = b""
        self.pos = 0
        self.eof = False

    def fill(self) -> bool:
        chunk = self.fh.read(CHUNK)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def drop(self, n: int) -> None:
        self.buf = self.buf[n:]
        self.pos += n

    def resync(self, skip: int) -> None:
        """Drop at least ``skip`` bytes, then up to the next gzip header (or everything, at end of file)."""
        self.drop(min(skip, len(self.buf)))
        while True:
            found = self.buf.find(GZIP_MAGIC)
            if found >= 0:
                self.drop(found)
                return
            self.drop(max(0, len(self.buf) - 2))
            if not self.fill():
                self.drop(len(self.buf))
                return


def iter_gzip_members(fh: BinaryIO, max_bytes: int) -> Iterator[RawRecord]:
    """Decompress member by member; corrupt members are skipped to the next gzip header, a cut tail reported."""
    s = _Stream(fh)
    while True:
        if len(s.buf) < 3 and not s.eof:
            s.fill()
            continue
        if not s.buf:
            return
        if not s.buf.startswith(GZIP_MAGIC):
            yield RawRecord(s.pos, error="corrupt_gzip", detail="bytes that are not a gzip member")
            s.resync(1)
            continue
        start = s.pos
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = bytearray()
        size = 0
        fed = 0  # bytes of s.buf given to the decompressor
        try:
            while not d.eof:
                if fed >= len(s.buf) and not s.fill():
                    break
                piece = d.decompress(s.buf[fed:])
                fed = len(s.buf)
                size += len(piece)
                if len(out) < max(max_bytes, HEAD_KEEP):
                    out += piece
        except zlib.error as exc:
            yield RawRecord(start, error="corrupt_gzip", detail=str(exc))
            s.resync(1)
            continue
        if not d.eof:
            yield RawRecord(start, error="truncated_gzip",
                            detail=f"file ends inside a gzip member ({len(s.buf)} bytes of it present)")
            return
        s.drop(len(s.buf) - len(d.unused_data))
        if size > max_bytes:
            yield RawRecord(start, data=bytes(out[:HEAD_KEEP]), oversize=True, detail=f"{size} bytes")
        else:
            yield RawRecord(start, data=bytes(out))


def iter_plain_records(fh: BinaryIO, max_bytes: int) -> Iterator[RawRecord]:
    """Split an uncompressed WARC by its Content-Length headers, resyncing on ``WARC/1.`` after bad headers."""
    data = fh.read()  # plain WARCs are read whole; crawlers write .warc.gz for anything large
    pos = 0
    while pos < len(data):
        while data.startswith(b"\r\n", pos):
            pos += 2
        if pos >= len(data):
            return
        end = data.find(b"\r\n\r\n", pos)
        header = data[pos:end] if end >= 0 else b""
        length = None
        if header.startswith(b"WARC/1."):
            for line in header.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length" and value.strip().isdigit():
                    length = int(value.strip())
        if end < 0 or length is None:
            yield RawRecord(pos, error="malformed_headers", detail="no WARC version line or Content-Length")
            nxt = data.find(b"\r\nWARC/1.", pos + 1)
            if nxt < 0:
                return
            pos = nxt + 2
            continue
        stop = end + 4 + length
        if stop > len(data):
            yield RawRecord(pos, error="truncated_record", detail=f"needs {stop - len(data)} more bytes")
            return
        record = data[pos:stop]
        if len(record) > max_bytes:
            yield RawRecord(pos, data=record[:HEAD_KEEP], oversize=True, detail=f"{len(record)} bytes")
        else:
            yield RawRecord(pos, data=record)
        pos = stop


def parse_record(raw: RawRecord) -> WarcRecord:
    """warcio's parse of one record's bytes; raises ValueError('malformed_headers: ...') when it cannot."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        record = next(iter(ArchiveIterator(io.BytesIO(raw.data), ensure_http_headers=False)))
        headers = record.rec_headers
        status = content_type = None
        if record.http_headers is not None:
            code = (record.http_headers.get_statuscode() or "").strip()
            status = int(code) if code.isdigit() else None
            content_type = record.http_headers.get_header("Content-Type")
        payload = b"" if raw.oversize else record.content_stream().read()
        return WarcRecord(offset=raw.offset, warc_type=headers.get_header("WARC-Type") or "",
                          url=headers.get_header("WARC-Target-URI"), date=headers.get_header("WARC-Date"),
                          record_id=headers.get_header("WARC-Record-ID"), status=status,
                          content_type=content_type, payload=payload, oversize=raw.oversize)
    except StopIteration as exc:
        raise ValueError("malformed_headers: no record in member") from exc
    except Exception as exc:  # warcio raises several unrelated types for bad headers
        raise ValueError(f"malformed_headers: {type(exc).__name__}: {exc}") from exc


def iter_warc(fh: BinaryIO, max_bytes: int) -> Iterator[RawRecord]:
    return iter_gzip_members(fh, max_bytes) if is_gzip(fh) else iter_plain_records(fh, max_bytes)
