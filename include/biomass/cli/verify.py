"""``biomass verify``: check the signed manifest of every synthetic row of a Parquet file."""

from __future__ import annotations

import argparse
import json
import sys

from biomass import exitcodes
from biomass.cli._options import provenance_options


def register(subparsers: argparse._SubParsersAction) -> None:
    v = subparsers.add_parser("verify", help=f"check the signed manifest of every synthetic row (exit {exitcodes.INTEGRITY} on any failure)")
    v.add_argument("input", metavar="IN")
    provenance_options(v)
    v.set_defaults(func=_verify)


def _verify(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq

    from biomass.config.provenance_flags import provenance_from
    from biomass.provenance.verify import verify_table

    prov = provenance_from(args.config, args.key_file, args.trust)
    report = verify_table(pq.read_table(args.input), prov)
    print(json.dumps(report.as_dict(), sort_keys=True))
    for doc_id, reason in report.failures[:20]:
        print(f"rejected {doc_id}: {reason}", file=sys.stderr)
    return 0 if report.ok else exitcodes.INTEGRITY
