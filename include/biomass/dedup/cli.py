"""``biomass dedup IN.parquet... --out OUT.parquet [--clusters CL.parquet] [--threshold 0.8]``."""

from __future__ import annotations

import argparse
import json
import sys


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


def small_pages() -> None:
    """Ask numpy and Arrow for ordinary pages instead of transparent huge pages, for the rest of this process.

    Both madvise their big buffers for huge pages; where each fresh 2 MB page is slow to fault in (a VM that
    backs guest memory lazily: this bench machine), that cost about 1.2 s of system time in a 91k-document
    ``biomass dedup`` (1.8 s -> 0.6 s; ``make bench-dedup``), more than the Parquet read. The allocator only
    changes where bytes live, never what they are."""
    import numpy as np
    import pyarrow as pa

    set_hugepage = getattr(getattr(np, "_core", None) and np._core.multiarray, "_set_madvise_hugepage", None)
    if set_hugepage is not None:
        set_hugepage(False)
    pa.set_memory_pool(pa.system_memory_pool())


def run(args: argparse.Namespace) -> int:
    """Streams the inputs (see ``biomass.dedup.files``): memory stays bounded whatever the size of the text."""
    small_pages()
    from biomass.dedup.files import deduplicate_files
    from biomass.dedup.index import SignatureIndex
    from biomass.storage import write_parquet

    index = SignatureIndex(args.index) if args.index else None
    result = deduplicate_files(args.inputs, args.out, threshold=args.threshold, num_perm=args.num_perm,
                               seed=args.seed, index=index, year=args.year, verify=args.verify)
    if args.clusters:
        write_parquet(result.clusters, args.clusters)
    if args.dropped:
        write_parquet(result.dropped, args.dropped)
    print(json.dumps(result.counts.as_dict(), sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m biomass.dedup.cli ...``: the same command without the rest of the ``biomass`` CLI."""
    parser = argparse.ArgumentParser(prog="biomass")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dedup", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
