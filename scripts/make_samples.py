"""Regenerate the bundled sample inputs in samples/ from real human-written text in Debian packages.

Real text: the Python 3.11 documentation (Debian package python3.11-doc, PSF licence) becomes the yearly web
crawls, and the Debian Reference (debian-reference-en, GPL-2+) becomes two publishers' licensed drops.
What is FAKE (synthesised here, labelled in samples/README.md): the crawl dates, the HTTP headers, the mirror
domain and its one-sentence edit, the non-HTML and empty responses, the opted-out domain, the publishers'
names and licence terms.

Deterministic: the same packages give byte-identical files (fixed seed, fixed gzip mtime).
Run: .venv/bin/python scripts/make_samples.py   (needs: apt-get install python3.11-doc debian-reference-en)
"""

from __future__ import annotations

import io
import json
import random
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

PYDOC = Path("/usr/share/doc/python3.11-doc/html")
DEBREF = Path("/usr/share/debian-reference")
OUT = Path(__file__).resolve().parents[1] / "samples"
YEARS = range(2019, 2027)
PAGES_PER_YEAR = 22
RECRAWLS = 3
SEED = 20260101
SKIP = re.compile(r"genindex|search|py-modindex|whatsnew|c-api|/index\.html$|contents|copyright|license|bugs")


def _pages() -> list[Path]:
    pages = [p for p in sorted(PYDOC.rglob("*.html")) if p.stat().st_size < 60_000 and not SKIP.search(str(p))]
    if len(pages) < PAGES_PER_YEAR * len(YEARS):
        raise SystemExit(f"only {len(pages)} usable pages under {PYDOC}; is python3.11-doc installed?")
    random.Random(SEED).shuffle(pages)
    return pages


def _url(page: Path, host: str = "docs.python.org", prefix: str = "/3.11/") -> str:
    return f"https://{host}{prefix}{page.relative_to(PYDOC).as_posix()}"


class _Crawl:
    """One WARC.gz file per year: request, response and metadata records, as a crawler writes them."""

    def __init__(self, year: int):
        self.year = year
        self.buffer = io.BytesIO()
        self.writer = WARCWriter(self.buffer, gzip=True)
        self.rng = random.Random(SEED + year)

    def _date(self) -> str:
        start = datetime(self.year, 1, 1, tzinfo=timezone.utc)
        when = start + timedelta(seconds=self.rng.randrange(364 * 86400))
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    def fetch(self, url: str, body: bytes, content_type: str = "text/html; charset=utf-8", status: str = "200 OK"):
        date = self._date()
        ids = random.Random(f"{url}{date}")
        record_id, request_id, meta_id = (f"<urn:uuid:{ids.getrandbits(128):032x}>" for _ in range(3))
        req = StatusAndHeaders(f"GET {url.split('/', 3)[3] if url.count('/') >= 3 else '/'} HTTP/1.1",
                               [("Host", url.split('/')[2]), ("User-Agent", "biomass-sample-crawler/1.0")],
                               is_http_request=True)
        self.writer.write_record(self.writer.create_warc_record(
            url, "request", http_headers=req,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": request_id,
                               "WARC-Concurrent-To": record_id}))
        http = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))],
                                protocol="HTTP/1.1")
        self.writer.write_record(self.writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": record_id}))
        meta = f"via: https://docs.python.org/3.11/\nfetchTimeMs: {self.rng.randrange(20, 900)}\n".encode()
        self.writer.write_record(self.writer.create_warc_record(
            url, "metadata", payload=io.BytesIO(meta), warc_content_type="application/warc-fields",
            warc_headers_dict={"WARC-Date": date, "WARC-Record-ID": meta_id, "WARC-Concurrent-To": record_id}))

    def save(self, path: Path) -> None:
        # warcio stamps gzip members with mtime 0 already; keep the bytes as written.
        path.write_bytes(self.buffer.getvalue())


def make_crawls() -> None:
    pages = _pages()
    out = OUT / "crawl"
    out.mkdir(parents=True, exist_ok=True)
    previous: list[Path] = []
    for i, year in enumerate(YEARS):
        crawl = _Crawl(year)
        mine = pages[i * PAGES_PER_YEAR:(i + 1) * PAGES_PER_YEAR]
        for page in mine:
            crawl.fetch(_url(page), page.read_bytes())
        for page in previous[:RECRAWLS]:  # re-crawled pages from last year: cross-year exact duplicates
            crawl.fetch(_url(page), page.read_bytes())
        # A mirror with a one-sentence edit: a within-year near duplicate under another domain (FAKE edit).
        mirrored = mine[0].read_bytes().replace(b"</h1>", b"</h1><p>Mirrored for offline reading.</p>", 1)
        crawl.fetch(_url(mine[0], host="mirror.example.net", prefix="/python/3.11/"), mirrored)
        crawl.fetch(f"https://docs.python.org/3.11/archives/python-{year}.pdf", b"%PDF-1.4\n% fake pdf bytes\n",
                    content_type="application/pdf")
        crawl.fetch(f"https://docs.python.org/3.11/empty-{year}.html",
                    b"<html><head><title></title></head><body></body></html>")
        crawl.fetch(f"https://optout.example.org/essays/{year}.html", mine[1].read_bytes())
        crawl.save(out / f"crawl-{year}.warc.gz")
        previous = mine


def _sections(chapter: Path) -> list[tuple[str, str]]:
    """(title, text) per <h2>/<h3> section of a Debian Reference chapter, tags stripped."""
    html = chapter.read_text(encoding="utf-8")
    parts = re.split(r"<h[23][^>]*>", html)[1:]
    out = []
    for part in parts:
        title_html, _, body = part.partition("</h")
        title = re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", title_html))).strip()
        body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", body, flags=re.S)
        body = re.sub(r"</(p|div|li|tr|pre|dt|dd)>", "\n", body)
        text = unescape(re.sub(r"<[^>]+>", " ", body))
        text = "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines())
        text = re.sub(r"\n{2,}", "\n\n", text).strip()
        if len(text.split()) >= 120:
            out.append((title, text[:12_000]))
    return out


def make_publishers() -> None:
    chapters = sorted(DEBREF.glob("ch*.en.html"))
    if not chapters:
        raise SystemExit(f"no chapters under {DEBREF}; is debian-reference-en installed?")
    sections = [s for ch in chapters for s in _sections(ch)]
    random.Random(SEED).shuffle(sections)
    drops = {
        # FAKE publishers and terms; the text is the real Debian Reference.
        "reference-press": dict(publisher="Reference Press", license_id="RP-AI-2018", valid_from="2018-01-01",
                                valid_to="2030-12-31", allowed_uses=["training", "evaluation"],
                                attribution="Debian Reference by Osamu Aoki et al., GPL-2+, via Reference Press"),
        "archive-books": dict(publisher="Archive Books", license_id="AB-TDM-2015", valid_from="2015-01-01",
                              valid_to="2022-12-31", allowed_uses=["training"],
                              attribution="Debian Reference by Osamu Aoki et al., GPL-2+, via Archive Books"),
    }
    for n, (name, terms) in enumerate(drops.items()):
        folder = OUT / "publishers" / name
        (folder / "docs").mkdir(parents=True, exist_ok=True)
        docs = []
        for i, (title, text) in enumerate(sections[n * 12:(n + 1) * 12]):
            doc = f"docs/{i:03d}.txt"
            (folder / doc).write_text(f"{title}\n\n{text}\n", encoding="utf-8")
            docs.append({"path": doc, "title": title, "published": f"{2016 + i % 6}-0{1 + i % 9}-15"})
        manifest = {"format": "biomass-license-drop/1", **terms, "documents": docs}
        if name == "reference-press":
            manifest["overrides"] = [{"path": docs[3]["path"], "allowed_uses": ["evaluation"],
                                      "note": "author withheld AI-training rights for this section (FAKE)"}]
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    make_crawls()
    make_publishers()
    for path in sorted(OUT.rglob("*")):
        if path.is_file() and path.suffix in (".gz", ".json"):
            print(f"{path.stat().st_size:>9,d}  {path.relative_to(OUT.parent)}")
