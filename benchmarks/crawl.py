"""A JSONL crawl of N documents recombined from real human-written text, for the generation benchmark.

FAKE DATA, labelled as such: every URL is under ``https://bench-crawl.invalid/`` and every record carries
``"fake": "recombined real text (benchmarks/crawl.py)"``. The words are real: sentences from the Python 3.11
documentation, the Debian Reference and git's release notes as Debian ships them (``apt-get install
python3.11-doc debian-reference-en``; git's notes come with git). A document is a handful of runs of
consecutive sentences taken from random places, about ``--words`` words in all, so documents are distinct
while vocabulary, style and rare words stay those of human manuals.

A later year re-crawls part of an earlier one (``--recrawl-of``): that share of its documents are earlier
documents with a few words edited (the near duplicates cross-year dedup must remove), under their old URLs.

Deterministic: the same sources, N, year and seed give the same bytes. ``--part-docs K`` writes the same
documents as a folder of files of K documents each (``OUT/part-00000.jsonl``, ...), as a real crawl comes in
many files (Common Crawl ships tens of thousands of WARC files a crawl), so the scrape spreads over workers.

    python benchmarks/crawl.py OUT.jsonl --docs 100000 --year 2021 [--recrawl-of EARLIER --recrawl 0.1]
    python benchmarks/crawl.py OUT_DIR --docs 1000000 --year 2021 --part-docs 50000
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realtext import load_real_docs  # noqa: E402

FAKE_LABEL = "recombined real text (benchmarks/crawl.py)"
GIT_NOTES = "/usr/share/doc/git/RelNotes/*.txt*"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


def _git_notes() -> list[str]:
    texts = []
    for path in sorted(glob.glob(GIT_NOTES)):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            texts.append(" ".join(fh.read().split()))
    return texts


def sentence_pool() -> list[str]:
    """Every sentence of the real sources, in a fixed order (sorted source paths)."""
    texts = [d["text"] for d in load_real_docs()] + _git_notes()
    if not texts:
        raise SystemExit("no real text found: apt-get install python3.11-doc debian-reference-en")
    pool = []
    for text in texts:
        pool.extend(s for s in _SENTENCE.split(text) if 3 <= len(s.split()) <= 80)
    return pool


def _document(rng: random.Random, pool: list[str], words: int) -> str:
    parts, count = [], 0
    while count < words:
        start = rng.randrange(len(pool))
        for sentence in pool[start:start + rng.randint(2, 5)]:
            parts.append(sentence)
            count += len(sentence.split())
    return " ".join(parts)


def _edit(rng: random.Random, text: str, edits: int = 3) -> str:
    """A re-crawl: the page changed in a few words (still a near duplicate at Jaccard 0.8)."""
    tokens = text.split()
    for _ in range(edits):
        tokens[rng.randrange(len(tokens))] = rng.choice(("updated", "revised", "new", "see", "also"))
    return " ".join(tokens)


def crawl_files(path: Path) -> list[Path]:
    """A crawl's files: the file itself, or a folder's ``part-*.jsonl`` in order."""
    return sorted(path.glob("part-*.jsonl")) if path.is_dir() else [path]


def _earlier_lines(path: Path) -> list[str]:
    """The earlier crawl's raw lines (parsed only when picked: 1M parsed rows would hold ~5 GB)."""
    lines: list[str] = []
    for part in crawl_files(path):
        with open(part, encoding="utf-8") as fh:
            lines.extend(fh)
    return lines


def write_crawl(out: Path, docs: int, year: int, seed: int = 0, words: int = 300,
                recrawl_of: Path | None = None, recrawl: float = 0.0, part_docs: int | None = None) -> int:
    pool = sentence_pool()
    rng = random.Random(f"{seed}/{year}/{docs}")
    earlier = _earlier_lines(recrawl_of) if recrawl_of is not None and recrawl > 0 else []
    parts = [out] if part_docs is None else [out / f"part-{k:05d}.jsonl" for k in range(-(-docs // part_docs))]
    per_part = docs if part_docs is None else part_docs
    tmp_out = out.with_name(f".{out.name}.tmp")
    if part_docs is None:
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        tmp_out.mkdir(parents=True, exist_ok=True)
    i = 0
    for part in parts:
        tmp = tmp_out if part_docs is None else tmp_out / part.name
        with open(tmp, "w", encoding="utf-8") as fh:
            for i in range(i, min(i + per_part, docs)):
                day = 1 + i % 28
                month = 1 + (i // 28) % 12
                if earlier and rng.random() < recrawl:
                    old = json.loads(earlier[rng.randrange(len(earlier))])
                    row = {"url": old["url"], "text": _edit(rng, old["text"])}
                else:
                    row = {"url": f"https://bench-crawl.invalid/{year}/{i:08d}",
                           "text": _document(rng, pool, words)}
                row.update(collected_at=f"{year}-{month:02d}-{day:02d}T12:00:00Z", fake=FAKE_LABEL)
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            i += 1
    tmp_out.replace(out)
    return docs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--docs", type=int, required=True)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--words", type=int, default=300)
    p.add_argument("--recrawl-of", type=Path)
    p.add_argument("--recrawl", type=float, default=0.1, help="share of documents re-crawled from --recrawl-of")
    p.add_argument("--part-docs", type=int, help="write OUT as a folder of files of this many documents each")
    args = p.parse_args()
    write_crawl(args.out, args.docs, args.year, args.seed, args.words, args.recrawl_of, args.recrawl,
                args.part_docs)


if __name__ == "__main__":
    main()
