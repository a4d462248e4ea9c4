"""Read WARC and WARC.gz files one record at a time, and say what was wrong with the ones that are broken.

warcio parses each record, but it is fed one record at a time by a splitter of our own, because warcio alone
stops at the first corrupt gzip member and skips a truncated final member silently. Here a corrupt member is
reported and reading resumes at the next gzip member; a truncated tail is reported; a record with malformed
headers, or whose Content-Length does not match the bytes there are, is reported and reading resumes at the next
``WARC/1.`` line. Memory is bounded by one record (and a record over the size cap is read through without being
kept).
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass, field
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
    http_headers: list[tuple[str, str]] = field(default_factory=list)  # as sent, repeats kept (opt-outs read them)


def is_gzip(fh: BinaryIO, name: str = "") -> bool:
    """By the first bytes; when those are damaged (neither gzip nor ``WARC/1.``), by the file's name."""
    head = fh.read(len(b"WARC/1."))
    fh.seek(0)
    if head.startswith(GZIP_MAGIC) or head.startswith(b"WARC/1."):
        return head.startswith(GZIP_MAGIC)
    return name.lower().endswith(".gz")


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
    """Decompress member by member; corrupt members are skipped to the next gzip header, a cut tail reported.

    Each member's bytes are split by the same Content-Length rules as a plain WARC, so a member that holds less
    than its record's Content-Length is ``truncated_record``, and one that holds several records yields each."""
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
            yield _oversize_member(start, bytes(out[:HEAD_KEEP]), size)
        else:
            yield from split_records(bytes(out), max_bytes, base=start)


def _oversize_member(start: int, head: bytes, size: int) -> RawRecord:
    """A member too big to keep: only its head is parsed, but a Content-Length it cannot hold is still caught."""
    end = head.find(b"\r\n\r\n")
    length = _content_length(head[:end]) if end >= 0 else None
    if length is not None and end + 4 + length > size:
        return RawRecord(start, error="truncated_record",
                         detail=f"gzip member holds {size - end - 4} of the {length} bytes its Content-Length says")
    return RawRecord(start, data=head, oversize=True, detail=f"{size} bytes")


def iter_plain_records(fh: BinaryIO, max_bytes: int) -> Iterator[RawRecord]:
    """An uncompressed WARC, split by its Content-Length headers."""
    return split_records(fh.read(), max_bytes)  # plain WARCs are read whole; crawlers write .warc.gz for big ones


def _content_length(header: bytes) -> int | None:
    """Content-Length of a WARC header block (None without a ``WARC/1.`` version line or a numeric length)."""
    if not header.startswith(b"WARC/1."):
        return None
    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def _next_record(data: bytes, start: int) -> int:
    """Offset of the first ``WARC/1.`` line starting at or after ``start``, or -1."""
    found = data.find(b"\nWARC/1.", start - 1)
    return found + 1 if found >= 0 else -1


def _after_terminator(data: bytes, stop: int) -> int:
    """Where the next record must start after a record ending at ``stop`` (its CRLF terminator skipped)."""
    while stop < len(data) and data[stop] in b"\r\n":
        stop += 1
    return stop


def _block_digest_matches(header: bytes, block: bytes) -> bool | None:
    """Whether the header's sha1 ``WARC-Block-Digest`` is that of ``block`` (None when there is none to check)."""
    import base64
    import hashlib

    for line in header.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"warc-block-digest":
            algo, _, digest = value.strip().partition(b":")
            if algo.lower() != b"sha1":
                return None
            return base64.b32encode(hashlib.sha1(block).digest()) == digest.upper()
    return None


def split_records(data: bytes, max_bytes: int, base: int | None = None) -> Iterator[RawRecord]:
    """Split WARC bytes by their Content-Length headers; each record is yielded whole or reported, never half.

    A record's Content-Length must end it where its CRLF terminator and the next ``WARC/1.`` line (or the end)
    follow, and its block must not contain another record's start; otherwise it is ``length_mismatch`` (or
    ``truncated_record`` when the data ends first and no record follows) and reading resumes at the next
    ``WARC/1.`` line, so an overshooting length never publishes the next record's headers as page text.
    Offsets are positions in ``data``, or all ``base`` (the gzip member a record came from).
    """
    pos, n = 0, len(data)
    while True:
        while data.startswith(b"\r\n", pos):
            pos += 2
        if pos >= n:
            return
        at = pos if base is None else base
        end = data.find(b"\r\n\r\n", pos)
        length = _content_length(data[pos:end]) if end >= 0 else None
        if length is None:
            yield RawRecord(at, error="malformed_headers", detail="no WARC version line or Content-Length")
            pos = _next_record(data, pos + 1)
            if pos < 0:
                return
            continue
        body = end + 4
        stop = body + length
        inner = data.find(b"\r\n\r\nWARC/1.", body, min(stop, n))
        if inner >= 0 and _block_digest_matches(data[pos:end], data[body:stop]):
            inner = -1  # the payload is itself WARC text (a crawled .warc), and the digest vouches for the length
        # Ends right: the exact CRLFCRLF terminator (what follows may be damaged: that is the next record's
        # problem), or any CR/LF run and then the end or the next version line.
        after = _after_terminator(data, stop) if stop <= n else None
        if inner < 0 and after is not None and (data.startswith(b"\r\n\r\n", stop) or after == n
                                                 or data.startswith(b"WARC/1.", after)):
            record = data if pos == 0 and after == n else data[pos:stop]  # a one-record gzip member: no copy
            if len(record) > max_bytes:
                yield RawRecord(at, data=record[:HEAD_KEEP], oversize=True, detail=f"{len(record)} bytes")
            else:
                yield RawRecord(at, data=record)
            pos = stop
            continue
        nxt = inner + 4 if inner >= 0 else _next_record(data, body)
        if nxt < 0 and stop > n:
            yield RawRecord(at, error="truncated_record",
                            detail=f"Content-Length {length} needs {stop - n} more bytes than there are")
            return
        where = "the data ends" if nxt < 0 else f"the next record starts at byte {nxt - body} of the block"
        yield RawRecord(at, error="length_mismatch", detail=f"Content-Length {length}, but {where}")
        if nxt < 0:
            return
        pos = nxt


def parse_record(raw: RawRecord) -> WarcRecord:
    """warcio's parse of one record's bytes; raises ValueError('malformed_headers: ...') when it cannot."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        record = next(iter(ArchiveIterator(io.BytesIO(raw.data), ensure_http_headers=False)))
        headers = record.rec_headers
        status = content_type = None
        http_headers: list[tuple[str, str]] = []
        if record.http_headers is not None:
            http_headers = record.http_headers.headers
            code = (record.http_headers.get_statuscode() or "").strip()
            status = int(code) if code.isdigit() else None
            content_type = record.http_headers.get_header("Content-Type")
        payload = b"" if raw.oversize else record.content_stream().read()
        return WarcRecord(offset=raw.offset, warc_type=headers.get_header("WARC-Type") or "",
                          url=headers.get_header("WARC-Target-URI"), date=headers.get_header("WARC-Date"),
                          record_id=headers.get_header("WARC-Record-ID"), status=status,
                          content_type=content_type, payload=payload, oversize=raw.oversize,
                          http_headers=http_headers)
    except StopIteration as exc:
        raise ValueError("malformed_headers: no record in member") from exc
    except Exception as exc:  # warcio raises several unrelated types for bad headers
        raise ValueError(f"malformed_headers: {type(exc).__name__}: {exc}") from exc


def iter_warc(fh: BinaryIO, max_bytes: int, name: str = "") -> Iterator[RawRecord]:
    """The records of a WARC or WARC.gz; ``name`` (the file's) decides the kind when the first bytes are broken."""
    return iter_gzip_members(fh, max_bytes) if is_gzip(fh, name) else iter_plain_records(fh, max_bytes)
