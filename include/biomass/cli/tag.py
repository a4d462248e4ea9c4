"""``biomass tag``: add origin, synthetic_score and tag_evidence to every row of a Parquet file."""

from __future__ import annotations

import argparse
import json

import pyarrow.parquet as pq

from biomass.cli._options import provenance_options


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser("tag", help="add origin, synthetic_score and tag_evidence to every row")
    t.add_argument("input", metavar="IN", help="parquet with at least doc_id and text")
    t.add_argument("--out", required=True)
    t.add_argument("--reference", action="append", default=[],
                   help="parquet of human-era text to calibrate the foreign-generator detector (repeatable)")
    t.add_argument("--archive", default=None, help="fingerprint archive folder (else from config)")
    provenance_options(t)
    t.set_defaults(func=_tag)


def _tag(args: argparse.Namespace) -> int:
    from biomass.config.provenance_flags import provenance_from
    from biomass.provenance.tagger import tag_table
    from biomass.storage import write_parquet

    prov = provenance_from(args.config, args.key_file, args.trust, args.archive)
    table = pq.read_table(args.input)
    reference = []
    for path in args.reference:
        reference.extend(t for t in pq.read_table(path, columns=["text"]).column("text").to_pylist() if t)
    tagged = tag_table(table, config=prov, reference=reference or None)
    write_parquet(tagged, args.out)
    origins = tagged.column("origin").value_counts().to_pylist()
    print(json.dumps({"rows": tagged.num_rows, "origin": {o["values"]: o["counts"] for o in origins}},
                     sort_keys=True))
    return 0
