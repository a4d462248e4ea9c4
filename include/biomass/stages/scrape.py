"""Stage 1, scrape: web text in, one record per page out, and every page accounted for.

Inputs (local paths or fsspec URLs such as ``s3://`` and ``gs://``):
- ``.warc`` / ``.warc.gz``: response records, as Common Crawl and other crawlers write them;
- a directory of ``.html`` / ``.htm`` files (``collected_at`` is the file's own modification time);
- ``.jsonl`` / ``.jsonl.gz`` text dumps (``text`` or ``html``, optional ``url``, ``id``, ``collected_at``);
- ``.parquet`` text dumps (the same columns).

Every input record that could be a page is either published or quarantined with a reason code:
``non_html``, ``http_status``, ``too_large``, ``invalid_utf8``, ``invalid_encoding``, ``unknown_charset``,
``opted_out``, ``malformed_url``, ``duplicate_url``, ``empty``, ``no_main_text``, ``too_short``, ``too_long``,
``malformed_headers``, ``malformed_record``, ``unsupported_record``, ``length_mismatch``, ``corrupt_gzip``,
``truncated_gzip``, ``truncated_record``, ``malformed_json``, ``no_text``, ``bad_field``. WARC records that hold no
document (``NOT_DOCUMENTS``) are counted per file in the notes instead. Output is streamed to Parquet, so memory
does not grow with the input size. Bytes are decoded by the page's own declaration (``biomass.stages.charset``).
An input that fails to read midway (an I/O error, not a bad record) fails the run and writes no output file.
``opted_out`` is a page whose owner reserves it: its domain or URL is in the config's opt-out lists, or the page
itself says so (``X-Robots-Tag: noai``, ``<meta name="robots" content="noai">``, TDMRep's ``tdm-reservation: 1``;
``biomass.stages.optout``); the detail names the signal and the notes count pages per signal (``opted_out``).
``duplicate_url`` spans every source of one call; the pipeline scrapes each file on its own, and its merge
(``biomass.pipeline.ingest.merge_scrape``) applies the same rule across files.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from datetime import datetime, timezone
from typing import Any, Iterator
from urllib.parse import urlsplit

from biomass.accounting import Quarantine, StageCounts
from biomass.config import ScrapeConfig
from biomass.schema import RECORD_SCHEMA, canonical_json, make_doc_id, sha256_text
from biomass.stages.charset import UndecodableText, decode_page, http_charset
from biomass.stages.extract import EXTRACTOR, extract_main_text, parse_html
from biomass.stages.optout import OptOut, header_optout, meta_optout
from biomass.storage import ParquetStream
from biomass.text import detect_langs, normalize

log = logging.getLogger(__name__)
STAGE = "scrape"
HTML_TYPES = ("text/html", "application/xhtml+xml")
PROGRESS_EVERY = 2_000


@dataclass
class Page:
    """One input record before admission: where it came from and its raw content."""

    locator: str
    url: str | None
    collected_at: datetime | None
    body: bytes | str | None
    is_html: bool
    provenance: dict[str, Any]
    content_type: str | None = None
    status: int | None = None
    error: str | None = None
    detail: str | None = None
    oversize: bool = False
    charset: str | None = None  # the HTTP Content-Type's charset parameter, if any
    not_document: str | None = None  # the WARC-Type of a record that is no document (counted per file, not a row)
    headers: list[tuple[str, str]] = field(default_factory=list)  # the HTTP response's (WARC input only)


LANG_BATCH = 512


class _Admission:
    """Decides, page by page, publish or quarantine; counts both."""

    def __init__(self, year: int | None, config: ScrapeConfig, counts: StageCounts, quarantine: Quarantine,
                 out: ParquetStream):
        self.year, self.config, self.counts, self.quarantine, self.out = year, config, counts, quarantine, out
        self.seen_urls: set[str] = set()
        self.opted_out: Counter = Counter()  # pages quarantined as opted_out, by the signal that fired
        self._pending: list[dict] = []
        self.cutoff = datetime.combine(config.human_era_cutoff, datetime.min.time(), tzinfo=timezone.utc)

    def _listed_optout(self, url: str, host: str) -> OptOut | None:
        """The config's own opt-out lists: a domain (or a subdomain of one), or a URL pattern."""
        if any(host == d or host.endswith("." + d) for d in self.config.optout_domains):
            return OptOut("optout_domains", f"{host} reserves text-and-data mining")
        for pattern in self.config.optout_url_patterns:
            if fnmatch.fnmatch(url, pattern):
                return OptOut("optout_url_patterns", f"{host} reserves text-and-data mining ({pattern})")
        return None

    def reject_opted_out(self, page: Page, optout: OptOut) -> None:
        self.opted_out[optout.signal] += 1
        self.reject(page, "opted_out", optout.detail)

    def reject(self, page: Page, reason: str, detail: str | None = None, text: str | None = None) -> None:
        self.quarantine.add(reason, detail=detail or page.detail, locator=page.locator, url=page.url,
                            text=text[:2_000] if text else None)

    def admit(self, page: Page) -> None:
        self.counts.rows_in += 1
        cfg = self.config
        if page.error:
            return self.reject(page, page.error)
        if page.status is not None and page.status != 200:
            return self.reject(page, "http_status", f"HTTP {page.status}")
        if not page.is_html and page.content_type is not None:
            return self.reject(page, "non_html", page.content_type)
        if page.url:
            try:
                host = (urlsplit(page.url).hostname or "").lower()
            except ValueError as exc:  # e.g. an unbalanced "[" reads as a broken IPv6 host
                return self.reject(page, "malformed_url", f"{exc}: {page.url[:200]}")
            listed = self._listed_optout(page.url, host)
            if listed:
                return self.reject_opted_out(page, listed)
        if page.headers:
            declared = header_optout(page.headers, cfg.ai_optout)
            if declared:
                return self.reject_opted_out(page, declared)
        if page.url:
            if page.url in self.seen_urls:
                return self.reject(page, "duplicate_url", page.url)
            self.seen_urls.add(page.url)
        body = page.body
        if page.oversize or (body is not None and len(body) > cfg.max_record_bytes):
            return self.reject(page, "too_large", f"over {cfg.max_record_bytes} bytes; not parsed")
        if isinstance(body, bytes):
            try:
                body = decode_page(body, page.charset, page.is_html)
            except UndecodableText as exc:
                return self.reject(page, exc.reason, exc.detail)
        if not body:
            return self.reject(page, "empty", "no content")
        if page.is_html:
            tree = parse_html(body)
            declared = meta_optout(tree, cfg.ai_optout)
            if declared:
                return self.reject_opted_out(page, declared)
            text = extract_main_text(tree)
        else:
            text = normalize(body)
        if not text:
            if page.is_html and _visible_text(body):
                return self.reject(page, "no_main_text", "only boilerplate (navigation, link lists) on the page")
            return self.reject(page, "empty", "no visible text")
        if len(text) < cfg.min_chars:
            return self.reject(page, "too_short", f"{len(text)} chars < {cfg.min_chars}", text)
        if len(text) > cfg.max_chars:
            return self.reject(page, "too_long", f"{len(text)} chars > {cfg.max_chars}", text)
        collected = page.collected_at or datetime(self.year or 1970, 1, 1, tzinfo=timezone.utc)
        human_era = collected < self.cutoff
        sha = sha256_text(text)
        self._pending.append({
            "doc_id": make_doc_id(page.url or page.locator, sha), "text": text, "source": "scrape",
            "origin": "human" if human_era else "unknown", "synthetic_score": 0.0 if human_era else 0.5,
            "url": page.url, "publisher": None, "license_id": None, "attribution": None,
            "collected_at": collected, "generation": self.year or 0, "content_sha256": sha,
            "lang": None, "human_era": human_era,   # set in bulk by flush()
            "provenance": canonical_json({**page.provenance, "extractor": EXTRACTOR if page.is_html else None}),
            "tag_evidence": "{}",
        })
        self.counts.rows_out += 1
        if len(self._pending) >= LANG_BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the admitted rows, their languages identified in one batch (py3langid's walk is the costly
        part of a text page; ``detect_langs`` gives ``detect_lang``'s answers)."""
        for row, lang in zip(self._pending, detect_langs([r["text"] for r in self._pending])):
            row["lang"] = lang
            self.out.add(row)
        self._pending = []


def _visible_text(html: str) -> bool:
    from resiliparse.extract.html2text import extract_plain_text

    return bool(extract_plain_text(html, main_content=False).strip())


# -- readers: each yields Pages ------------------------------------------------------------------------------

def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


# WARC records that hold no document: counted per file in the notes, not rows. Every other type is a row.
NOT_DOCUMENTS = frozenset({"warcinfo", "request", "metadata", "revisit"})  # revisit: its payload is elsewhere
UNSUPPORTED_RECORDS = frozenset({"resource", "conversion", "continuation"})  # could hold a page; not read yet


def read_warc(path: str, max_bytes: int) -> Iterator[Page]:
    import fsspec

    from biomass.stages.warc import iter_warc, parse_record

    with fsspec.open(path, "rb") as fh:
        for raw in iter_warc(fh, max_bytes, name=path):
            locator = f"{path}#{raw.offset}"
            prov = {"source_file": path, "offset": raw.offset}
            if raw.error:
                yield Page(locator, None, None, None, False, prov, error=raw.error, detail=raw.detail)
                continue
            try:
                record = parse_record(raw)
            except ValueError as exc:
                yield Page(locator, None, None, None, False, prov, error="malformed_headers", detail=str(exc))
                continue
            if record.warc_type in NOT_DOCUMENTS:
                yield Page(locator, record.url, None, None, False, prov, not_document=record.warc_type)
                continue
            if record.warc_type != "response":
                reason = "unsupported_record" if record.warc_type in UNSUPPORTED_RECORDS else "malformed_record"
                what = f"WARC-Type {record.warc_type!r}" if record.warc_type else "no WARC-Type header"
                yield Page(locator, record.url, None, None, False, prov, error=reason, detail=what)
                continue
            ctype = (record.content_type or "").split(";")[0].strip().lower()
            prov["warc_record_id"] = record.record_id
            yield Page(locator, record.url, _parse_date(record.date), record.payload, ctype in HTML_TYPES, prov,
                       content_type=ctype or "missing", status=record.status, oversize=record.oversize,
                       detail=raw.detail, charset=http_charset(record.content_type), headers=record.http_headers)


def read_html_dir(path: str) -> Iterator[Page]:
    import fsspec

    fs, root = fsspec.core.url_to_fs(path)
    for file in sorted(fs.find(root)):
        if not file.lower().endswith((".html", ".htm")):
            continue
        info = fs.info(file)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("updated")
        when = (datetime.fromtimestamp(mtime, tz=timezone.utc) if isinstance(mtime, (int, float))
                else _parse_date(str(mtime)) if mtime else None)
        url = file if "://" in path else f"file://{file}"
        with fs.open(file, "rb") as fh:
            body = fh.read()
        yield Page(f"{file}", url, when, body, True, {"source_file": file, "offset": 0})


def read_jsonl(path: str) -> Iterator[Page]:
    import fsspec

    with fsspec.open(path, "rb", compression="infer") as fh:
        lines = _lines_until_broken(fh)
        for lineno, line in enumerate(lines, 1):
            if isinstance(line, _Broken):
                yield Page(f"{path}:{lineno}", None, None, None, False, {"source_file": path, "offset": lineno},
                           error=line.reason, detail=f"{path}: {line.detail} (after line {lineno - 1})")
                return
            if not line.strip():
                continue
            locator = f"{path}:{lineno}"
            prov = {"source_file": path, "offset": lineno}
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                yield Page(locator, None, None, None, False, prov, error="malformed_json", detail=str(exc)[:200])
                continue
            yield _row_page(obj, locator, prov)


@dataclass
class _Broken:
    """Where a compressed text dump stops being readable."""

    reason: str
    detail: str


def _lines_until_broken(fh) -> Iterator[bytes | _Broken]:
    """The file's lines, then one _Broken if its gzip stream is cut (truncated_gzip) or corrupt (corrupt_gzip).

    An I/O error is not caught: that fails the run, as for every reader."""
    import gzip

    try:
        yield from fh
    except EOFError as exc:
        yield _Broken("truncated_gzip", f"file ends inside the gzip stream ({exc})")
    except (gzip.BadGzipFile, zlib.error) as exc:
        yield _Broken("corrupt_gzip", f"unreadable gzip stream ({exc})")


def read_parquet(path: str) -> Iterator[Page]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
        row = 0
        for batch in parquet.iter_batches(batch_size=1_000):
            for obj in batch.to_pylist():
                yield _row_page(obj, f"{path}#{row}", {"source_file": path, "offset": row})
                row += 1
    except pa.ArrowInvalid as exc:  # not Parquet, or cut short: an I/O error (OSError) stays itself
        raise ValueError(f"scrape input {path}: not a readable Parquet file ({type(exc).__name__}: {exc})") from exc


FIELD_TYPES: dict[str, tuple[type, ...]] = {"html": (str, bytes), "text": (str, bytes), "url": (str,),
                                            "collected_at": (str, datetime, date)}


TYPE_NAMES = {str: "string", bytes: "bytes", datetime: "timestamp", date: "date"}


def _bad_field(obj: dict[str, Any]) -> str | None:
    """Why a dump row's fields cannot be read (a wrong type), naming the field; None when they can."""
    for name, types in FIELD_TYPES.items():
        value = obj.get(name)
        if value is not None and not isinstance(value, types):
            want = " or ".join(TYPE_NAMES[t] for t in types)
            return f"field {name!r} is {type(value).__name__}, not {want}"
    return None


def _row_page(obj: dict[str, Any], locator: str, prov: dict[str, Any]) -> Page:
    url = obj.get("url")
    if obj.get("id") is not None:
        prov = {**prov, "id": str(obj["id"])}
    problem = _bad_field(obj)
    if problem:
        return Page(locator, url if isinstance(url, str) else None, None, None, False, prov, error="bad_field",
                    detail=problem)
    html, text = obj.get("html"), obj.get("text")
    when = obj.get("collected_at")
    if isinstance(when, str):
        when = _parse_date(when)
    elif isinstance(when, date) and not isinstance(when, datetime):
        when = datetime.combine(when, datetime.min.time(), tzinfo=timezone.utc)
    elif isinstance(when, datetime) and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    if html is None and text is None:
        return Page(locator, url, when, None, False, prov, error="no_text", detail="no text or html")
    return Page(locator, url, when, html if html is not None else text, html is not None, prov)


JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson")


def read_source(path: str, config: ScrapeConfig) -> Iterator[Page]:
    import fsspec

    lowered = path.lower()
    if lowered.endswith((".warc", ".warc.gz", ".arc.gz")):
        return read_warc(path, config.max_record_bytes)
    if lowered.endswith(JSONL_SUFFIXES):
        return read_jsonl(path)
    if lowered.endswith(".parquet"):
        return read_parquet(path)
    fs, root = fsspec.core.url_to_fs(path)
    if fs.isdir(root):
        return read_html_dir(path)
    if not fs.exists(root):
        raise FileNotFoundError(f"scrape input {path} does not exist")
    raise ValueError(f"scrape input {path}: unknown kind (want .warc[.gz], .jsonl[.gz], .parquet or a directory)")


def record_locator(provenance: dict[str, Any]) -> str:
    """The locator its reader gave a published record, from its provenance: for rows set aside after the scrape."""
    path, offset = provenance["source_file"], provenance["offset"]
    if path.lower().endswith((".html", ".htm")):
        return path
    return f"{path}:{offset}" if path.lower().endswith(JSONL_SUFFIXES) else f"{path}#{offset}"


def scrape(sources: list[str], *, year: int | None, config: ScrapeConfig, out_path: str,
           quarantine_path: str | None = None) -> StageCounts:
    """Scrape ``sources`` into ``out_path``; quarantined records go to ``quarantine_path`` with their reason."""
    counts = StageCounts(STAGE)
    quarantine = Quarantine(STAGE, counts)
    started = time.monotonic()
    per_file = {}
    # A reader that fails (not a bad record: those are quarantined) aborts the output rather than publish half.
    with ParquetStream(out_path, RECORD_SCHEMA) as out:
        admission = _Admission(year, config, counts, quarantine, out)
        for source in sources:
            before_in, before_q = counts.rows_in, counts.rows_quarantined
            not_documents: Counter = Counter()
            for page in read_source(source, config):
                if page.not_document:
                    not_documents[page.not_document] += 1
                    continue
                admission.admit(page)
                if counts.rows_in % PROGRESS_EVERY == 0:
                    rate = counts.rows_in / max(time.monotonic() - started, 1e-9)
                    log.info("scrape: %d records (%d published, %.0f/s) in %s", counts.rows_in, counts.rows_out,
                             rate, source)
            per_file[source] = {"records": counts.rows_in - before_in,
                                "quarantined": counts.rows_quarantined - before_q}
            if not_documents:
                per_file[source]["not_documents"] = dict(sorted(not_documents.items()))
        admission.flush()
        if admission.opted_out:
            counts.notes["opted_out"] = dict(sorted(admission.opted_out.items()))
    if quarantine_path:
        quarantine.write(quarantine_path)
    truncated = [r for r in quarantine.table().to_pylist() if r["reason"] in ("truncated_gzip", "truncated_record")]
    for r in truncated:
        log.warning("scrape: truncated tail in %s: %s", r["locator"], r["detail"])
    counts.notes["files"] = per_file
    return counts.check()
