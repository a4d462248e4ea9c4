"""Build the policy experiment's pool of real human documents from the Debian documentation installed here.

One pool, cut from the Python 3.11 docs, the Debian Reference, the PostgreSQL 15 manual, git's manual pages
(HTML, main content extracted with resiliparse) and git's release notes (plain text), all in
``benchmarks/realtext.py``, into pieces of just over ``--piece-chars`` characters at paragraph breaks. The experiment splits this one pool by a seeded
random permutation into generation 0, the frozen reference and the fresh human pool, so the three are disjoint
and drawn from the same distribution (pieces of one page can land in different parts: same topics everywhere).

    apt-get install python3.11-doc debian-reference-en postgresql-doc-15 git-doc git
    python benchmarks/experiment_corpus.py data/experiment/pool.parquet   # ~18,000 documents, ~20 s

Nothing it writes is committed (``data/`` is ignored); rerunning gives a byte-identical file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from realtext import MORE_PACKAGES, MORE_SOURCES, SOURCES, load_git_notes, load_real_docs  # noqa: E402

MIN_DOCS = 15_000  # a frozen reference of >= 5,000 and a fresh pool that lasts every generation (Makefile)
PACKAGES = f"python3.11-doc debian-reference-en {MORE_PACKAGES} git"  # git ships its release notes


def pool_rows(piece_chars: int = 1000, min_words: int = 50) -> list[dict]:
    """[{doc_id, source, path, text}] in a fixed order (sorted paths, pieces in page order), duplicates dropped."""
    from biomass.schema import make_doc_id, sha256_text

    rows, seen = [], set()
    for doc in load_real_docs(min_words=min_words, sources={**SOURCES, **MORE_SOURCES}) + load_git_notes(min_words):
        for i, text in enumerate(_pieces(doc["text"], piece_chars)):
            if len(text.split()) < min_words or text in seen:
                continue
            seen.add(text)
            rows.append({"doc_id": make_doc_id(f"{doc['path']}#{i}", sha256_text(text)), "source": doc["origin"],
                         "path": doc["path"], "text": text})
    return rows


def _pieces(text: str, size: int) -> list[str]:
    from realtext import pieces

    return pieces([text], size)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="Parquet file to write (doc_id, source, path, text)")
    ap.add_argument("--piece-chars", type=int, default=1000)
    ap.add_argument("--min-docs", type=int, default=MIN_DOCS, help="fail if the pool is smaller than this")
    args = ap.parse_args(argv)

    from biomass.storage import write_parquet

    rows = pool_rows(args.piece_chars)
    if len(rows) < args.min_docs:
        print(f"only {len(rows)} documents (need {args.min_docs}): apt-get install {PACKAGES}", file=sys.stderr)
        return 1
    table = pa.Table.from_pylist(rows)
    write_parquet(table, args.out)
    by_source = {s: sum(r["source"] == s for r in rows) for s in sorted({r["source"] for r in rows})}
    words = sum(len(r["text"].split()) for r in rows)
    print(f"{args.out}: {len(rows)} documents, {words} words, by source {by_source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
