"""Main-text extraction on real pages: trafilatura vs plain resiliparse vs biomass (resiliparse + pruning).

Pages: two real HTML manuals as Debian ships them, navigation, sidebars and footers included: 300 pages of the
Python 3.11 documentation (python3.11-doc, Sphinx) and the 15 chapters of the Debian Reference
(debian-reference-en, DocBook). Ground truth uses each site's own markup, which no extractor may use: the words
inside the main-content element (Sphinx ``div[role=main]``, DocBook ``div.chapter`` etc.) are "main", and the
words of the rest of <body> that never occur in the main text are "boilerplate". For each extractor:
- recall: the share of main words (as a multiset) found in the output;
- boilerplate share: the share of output words that are boilerplate words;
- docs/s, in one process per extractor (so imports and caches are not shared), and its peak RSS.
Then a streaming check: scraping a 20 MB and a 100 MB WARC must need about the same peak memory.

Run: make bench-extract   (prints ratios against trafilatura measured in the same run)
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

PYDOC = Path("/usr/share/doc/python3.11-doc/html")
DEBREF = Path("/usr/share/debian-reference")
MAIN = 'div[role="main"], div.chapter, div.appendix, div.preface, div.book'
N_PAGES = 300
WORD = re.compile(r"\w+")


def pages() -> list[Path]:
    found = sorted(p for p in PYDOC.rglob("*.html") if "genindex" not in p.name and p.stat().st_size < 400_000)
    if not found:
        sys.exit(f"no pages under {PYDOC}: apt-get install python3.11-doc")
    random.Random(7).shuffle(found)
    return found[:N_PAGES]


def corpora() -> dict[str, list[Path]]:
    return {"python3.11-doc": pages(), "debian-reference": sorted(DEBREF.glob("*.en.html"))}


def truth(html: str) -> tuple[Counter, set]:
    """(main words, boilerplate-only words) from the page's own main-content element."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    main = tree.body.query_selector(MAIN)
    main_text = extract_plain_text(main.html, main_content=False) if main is not None else ""
    if main is not None:
        main.decompose()
    rest = extract_plain_text(tree, main_content=False)
    main_words = Counter(WORD.findall(main_text.lower()))
    return main_words, {w for w in WORD.findall(rest.lower()) if w not in main_words}


EXTRACTORS = {
    "trafilatura": "import trafilatura\n"
                   "def run(h): return trafilatura.extract(h, include_tables=True, favor_recall=True) or ''",
    "resiliparse": "from resiliparse.extract.html2text import extract_plain_text\n"
                   "def run(h): return extract_plain_text(h, main_content=True)",
    "biomass": "from biomass.stages.extract import extract_main_text\n"
               "def run(h): return extract_main_text(h)",
}

WORKER = """
import json, resource, sys, time
{code}
paths = json.load(sys.stdin)
htmls = [open(p, encoding="utf-8", errors="replace").read() for p in paths]
run(htmls[0])  # warm-up: imports and lazy init are not extraction speed
start = time.perf_counter()
outs = [run(h) for h in htmls]
elapsed = time.perf_counter() - start
json.dump({{"elapsed": elapsed, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "outs": outs}},
          sys.stdout)
"""


def measure(name: str, paths: list[Path]) -> dict:
    proc = subprocess.run([sys.executable, "-c", WORKER.format(code=EXTRACTORS[name])],
                          input=json.dumps([str(p) for p in paths]), capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def quality(outs: list[str], truths: list[tuple[Counter, Counter]]) -> tuple[float, float]:
    found = total = leaked = out_words = 0
    for text, (main, boiler) in zip(outs, truths):
        got = Counter(WORD.findall(text.lower()))
        found += sum((got & main).values())
        total += sum(main.values())
        leaked += sum(count for word, count in got.items() if word in boiler)
        out_words += sum(got.values())
    return found / max(total, 1), leaked / max(out_words, 1)


def streaming_memory() -> list[tuple[int, float, float]]:
    """Peak RSS of `biomass scrape` over WARCs of 20 MB and 200 MB (mostly 1 MB non-HTML bodies + real pages)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    rows = []
    sample = [p.read_bytes() for p in pages()[:20]]
    for megabytes in (20, 100):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"big-{megabytes}.warc.gz"
            rng = random.Random(megabytes)
            with open(path, "wb") as fh:
                writer = WARCWriter(fh, gzip=True)
                for i in range(megabytes):
                    blob = rng.randbytes(1_000_000)  # incompressible: the file really is this big
                    for url, body, ctype in ((f"https://big.example/{i}.bin", blob, "application/octet-stream"),
                                             (f"https://big.example/{i}.html", sample[i % len(sample)], "text/html")):
                        http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
                        writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                                      http_headers=http))
            size = path.stat().st_size / 1e6
            code = ("import resource, sys, time\nfrom biomass.config import ScrapeConfig\n"
                    "from biomass.stages.scrape import scrape\nt = time.perf_counter()\n"
                    f"c = scrape([{str(path)!r}], year=2021, config=ScrapeConfig(), out_path={tmp!r} + '/o.parquet')\n"
                    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t, c.rows_in)")
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            rss_kb, secs, records = out.split()
            rows.append((int(records), size, int(rss_kb) / 1024, float(secs)))
    return rows


def main() -> None:
    for corpus, paths in corpora().items():
        truths = [truth(p.read_text(encoding="utf-8", errors="replace")) for p in paths]
        print(f"{corpus}: {len(paths)} real pages, ground truth = words inside the site's main-content element")
        results = {name: measure(name, paths) for name in EXTRACTORS}
        base_rate = len(paths) / results["trafilatura"]["elapsed"]
        print(f"{'extractor':<12} {'recall':>7} {'boilerplate':>11} {'docs/s':>8} {'x traf.':>8} {'peak RSS MB':>11}")
        for name, r in results.items():
            recall, boiler = quality(r["outs"], truths)
            rate = len(paths) / r["elapsed"]
            print(f"{name:<12} {recall:>7.3f} {boiler:>11.3%} {rate:>8.0f} {rate / base_rate:>8.1f} "
                  f"{r['maxrss_kb'] / 1024:>11.0f}")
        print()
    print("target: biomass recall within 0.01 of trafilatura's, boilerplate <= trafilatura's + 1 point, >= 10x speed")
    print()
    print("streaming: peak RSS of a scrape does not grow with the WARC's size")
    print(f"{'records':>8} {'file MB':>8} {'peak RSS MB':>11} {'seconds':>8}")
    for records, size, rss, secs in streaming_memory():
        print(f"{records:>8} {size:>8.0f} {rss:>11.0f} {secs:>8.1f}")


if __name__ == "__main__":
    main()
