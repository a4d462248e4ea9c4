"""The straightforward datasketch near-duplicate filter a user would write: the yardstick for `biomass dedup`.

    python benchmarks/datasketch_dedup.py IN.parquet OUT.parquet [--threshold 0.8] [--decisions]

Reads the Parquet file, MinHashes each document's set of word 5-grams (the same shingles as biomass: NFKC +
lowercase ``\\w+`` tokens) with ``MinHash.generator`` (permutations built once, not per document), then walks
the documents in input order: a document is kept unless a ``MinHashLSH`` query finds one already seen, and is
inserted either way. The kept rows are written with pyarrow's default Parquet writer. No exact verification:
that is what a datasketch user gets without writing more.

``--decisions``: the other output contract of ``bench_dedup.py --process``: read only ``doc_id`` and ``text`` and
write only the dropped rows' ``doc_id`` (as ``biomass dedup --dropped`` without ``--out`` does), not the kept rows.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata

import pyarrow.parquet as pq
from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")


def shingles(text: str) -> set[bytes]:
    tokens = WORD.findall(unicodedata.normalize("NFKC", text).lower())
    if len(tokens) < 5:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i:i + 5]).encode() for i in range(len(tokens) - 4)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--threshold", type=float, default=0.8)
    ap.add_argument("--decisions", action="store_true", help="write the dropped doc_ids, not the kept rows")
    args = ap.parse_args(argv)

    table = pq.read_table(args.src, columns=["doc_id", "text"] if args.decisions else None)
    texts = table.column("text").to_pylist()
    lsh = MinHashLSH(threshold=args.threshold, num_perm=128)
    keep = []
    for i, m in enumerate(MinHash.generator((shingles(t) for t in texts), num_perm=128, seed=1)):
        if not lsh.query(m):
            keep.append(i)
        lsh.insert(i, m)
    if args.decisions:
        dropped = sorted(set(range(table.num_rows)) - set(keep))
        pq.write_table(table.select(["doc_id"]).take(dropped), args.dst)
    else:
        pq.write_table(table.take(keep), args.dst)
    print(json.dumps({"in": table.num_rows, "out": len(keep)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
