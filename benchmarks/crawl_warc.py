"""The JSONL benchmark crawl (benchmarks/crawl.py) as HTML pages in a WARC.gz, written by warcio.

FAKE DATA, as labelled in the JSONL: the same documents, each wrapped in a page with the furniture a real site has
(a head with styles and a script, a header with navigation, a breadcrumb, a sidebar of links, a cookie banner and
a footer) around an article whose paragraphs hold the document's paragraphs (its title only in ``<title>`` and the breadcrumb). Scraping the WARC then costs what a
crawl costs: WARC parsing, charset handling and main-text extraction (biomass.stages.extract) for every page.

Deterministic: the same JSONL gives the same bytes (record ids are UUID5 of the URL and position; the WARC-Date is
the document's ``collected_at``).

    python benchmarks/crawl_warc.py IN.jsonl OUT.warc.gz
"""

from __future__ import annotations

import argparse
import html
import io
import json
import re
import uuid
from pathlib import Path

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_NS = uuid.UUID("6f1c2a52-6d1e-4f8e-9a57-be9c40000000")

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} - Bench Crawl Docs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/site.css"><style>body{{font-family:sans-serif}} .sidebar{{float:right}}</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}gtag('js',new Date());</script>
</head><body>
<div class="cookie-banner" id="cookie-consent">We use cookies to improve your experience. <a href="/privacy">Learn more</a>
<button>Accept</button></div>
<header class="site-header"><a class="logo" href="/">Bench Crawl Docs</a>
<nav class="navbar"><ul><li><a href="/">Home</a></li><li><a href="/docs/">Documentation</a></li>
<li><a href="/news/">News</a></li><li><a href="/download/">Download</a></li><li><a href="/about/">About</a></li></ul></nav>
<form class="search" action="/search"><input name="q" placeholder="Search"></form></header>
<div class="breadcrumb"><a href="/">Home</a> &raquo; <a href="/docs/">Docs</a> &raquo; {title}</div>
<div class="page"><aside class="sidebar"><h3>Related pages</h3><ul>{related}</ul></aside>
<main><article>
{paragraphs}
</article></main></div>
<div class="pagination"><a href="{prev}">&laquo; Previous</a> | <a href="{next}">Next &raquo;</a></div>
<footer class="site-footer"><p>&copy; Bench Crawl Docs. FAKE page for benchmarks. <a href="/terms">Terms</a> &middot;
<a href="/privacy">Privacy</a> &middot; <a href="/contact">Contact</a></p>
<div class="social share">Share: <a href="#">Mastodon</a> <a href="#">RSS</a></div></footer>
</body></html>
"""


def page_html(url: str, text: str, index: int) -> bytes:
    parts = [p for p in text.split("\n\n") if p.strip()]
    if len(parts) == 1:         # one run of sentences: paragraphs of four
        sentences = _SENTENCE.split(text)
        parts = [" ".join(sentences[i:i + 4]) for i in range(0, len(sentences), 4)]
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in parts)
    title = html.escape(" ".join(text.split()[:6]))
    related = "".join(f'<li><a href="/docs/page-{(index * 7 + k) % 9973}.html">Page {(index * 7 + k) % 9973}</a></li>'
                      for k in range(8))
    return PAGE.format(title=title, related=related, paragraphs=paragraphs, prev=f"/docs/p{index - 1}.html",
                       next=f"/docs/p{index + 1}.html").encode("utf-8")


def write_warc(src: Path, out: Path) -> int:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    tmp = out.with_name(f".{out.name}.tmp")
    pages = 0
    with open(src, encoding="utf-8") as fh, open(tmp, "wb") as raw:
        writer = WARCWriter(raw, gzip=True)
        for i, line in enumerate(fh):
            doc = json.loads(line)
            body = page_html(doc["url"], doc["text"], i)
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))], protocol="HTTP/1.1")
            record_id = "<urn:uuid:%s>" % uuid.uuid5(_NS, f"{i}/{doc['url']}")
            writer.write_record(writer.create_warc_record(
                doc["url"], "response", payload=io.BytesIO(body), http_headers=http,
                warc_headers_dict={"WARC-Date": doc["collected_at"], "WARC-Record-ID": record_id}))
            pages += 1
    tmp.replace(out)
    return pages


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("src", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args()
    print(f"{write_warc(args.src, args.out)} pages -> {args.out}")


if __name__ == "__main__":
    main()
