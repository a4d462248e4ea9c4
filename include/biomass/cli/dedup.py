"""``biomass dedup IN.parquet... [--out OUT.parquet] [--clusters CL.parquet] [--threshold 0.8]``."""

from __future__ import annotations

import argparse
import gc
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser("dedup", help="remove near-duplicate documents (MinHash LSH, exact verification)",
                              description=__doc__)
    p.add_argument("inputs", nargs="+", metavar="IN.parquet", help="Parquet files with doc_id and text columns")
    p.add_argument("--out", help="where to write the kept rows (Parquet); without it only the decisions "
                                 "(--clusters, --dropped, the counts) are written")
    p.add_argument("--clusters", help="where to write doc_id, cluster_id for every input row")
    p.add_argument("--dropped", help="where to write doc_id, reason, kept_doc_id, ... for every dropped row")
    p.add_argument("--threshold", type=float, default=0.8, help="Jaccard threshold (default 0.8)")
    p.add_argument("--num-perm", type=int, default=128)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--index", help="cross-generation SignatureIndex folder to check against (read only)")
    p.add_argument("--year", type=int, help="with --index: only generations before this year are consulted")
    p.add_argument("--verify", choices=["exact", "estimate"], default="exact")
    p.add_argument("--threads", type=int, default=None,
                   help="kernel threads (default: one per core this process may run on)")
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


class _RefusePandas:
    """An import finder that makes ``import pandas`` fail (see ``arrow_without_pandas``)."""

    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("pandas is not used by biomass dedup")
        return None


def arrow_without_pandas() -> None:
    """Tell pyarrow, for the rest of this process, that pandas is absent, so it never imports it.

    pyarrow imports pandas the first time it converts any Python or numpy value (``pa.array``, ``pa.scalar``,
    ``to_numpy``...), only to ask whether the value is a pandas object: ~0.4 s of a ``biomass dedup`` run, for a
    command that hands it no pandas object. Its first attempt is made here with pandas refused; pyarrow remembers
    the answer. pandas itself stays importable (the finder is removed at once)."""
    import pyarrow as pa

    if "pandas" in sys.modules:
        return
    finder = _RefusePandas()
    sys.meta_path.insert(0, finder)
    try:
        pa.scalar(0)
    finally:
        sys.meta_path.remove(finder)


def run(args: argparse.Namespace) -> int:
    """Streams the inputs (see ``biomass.dedup.files``): memory stays bounded whatever the size of the text.

    The cyclic garbage collector is off for the command: the pipeline makes no reference cycles, and the collector
    would otherwise rescan every live object each time the batches allocate a few hundred more."""
    small_pages()
    arrow_without_pandas()
    gc.disable()
    try:
        return _run(args)
    finally:
        gc.enable()


def _run(args: argparse.Namespace) -> int:
    from biomass.dedup.files import deduplicate_files

    index = None
    if args.index:
        from biomass.dedup.index import SignatureIndex   # pydantic, only where an index is opened

        index = SignatureIndex(args.index)
    result = deduplicate_files(args.inputs, args.out, threshold=args.threshold, num_perm=args.num_perm,
                               seed=args.seed, index=index, year=args.year, verify=args.verify,
                               threads=args.threads, clusters_out=args.clusters, dropped_out=args.dropped)
    print(json.dumps(result.counts.as_dict(), sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m biomass.cli.dedup ...``: the same command without the rest of the ``biomass`` CLI."""
    parser = argparse.ArgumentParser(prog="biomass")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["dedup", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
