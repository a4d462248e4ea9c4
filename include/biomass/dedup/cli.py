"""``biomass dedup IN.parquet... --out OUT.parquet [--clusters CL.parquet] [--threshold 0.8]``."""

from __future__ import annotations

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq


def register(subparsers) -> None:
    p = subparsers.add_parser("dedup", help="remove near-duplicate documents (MinHash LSH, exact verification)",
                              description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="Parquet files with doc_id and text columns")
    p.add_argument("--out", required=True, help="where to write the kept rows (Parquet)")
    p.add_argument("--clusters", help="where to write doc_id, cluster_id for every input row")
    p.add_argument("--dropped", help="where to write doc_id, reason, kept_doc_id, ... for every dropped row")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold (default 0.8)")
    p.add_argument("--num-perm", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--index", help="cross-generation SignatureIndex folder to check against (read only)")
    p.add_argument("--year", type=int, help="with --index: only generations before this year are consulted")
    p.add_argument("--verify", choices=["exact", "estimate"], default="exact")
    p.set_defaults(func=run)


def read_inputs(paths: list[str]) -> pa.Table:
    tables = [pq.read_table(path) for path in paths]
    return pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]


def run(args: argparse.Namespace) -> int:
    from biomass.dedup.engine import deduplicate
    from biomass.dedup.index import SignatureIndex
    from biomass.schema import COLUMNS, conform
    from biomass.storage import write_parquet

    table = read_inputs(args.inputs)
    index = SignatureIndex(args.index) if args.index else None
    result = deduplicate(table, threshold=args.threshold, num_perm=args.num_perm, seed=args.seed, index=index,
                         year=args.year, verify=args.verify)
    kept = result.kept
    if all(c in kept.column_names for c in COLUMNS):
        kept = conform(kept)
    write_parquet(kept, args.out)
    if args.clusters:
        write_parquet(result.clusters, args.clusters)
    if args.dropped:
        write_parquet(result.dropped, args.dropped)
    print(json.dumps(result.counts.as_dict(), sort_keys=True))
    return 0
