"""``biomass tag``, ``biomass verify`` and ``biomass keygen``."""

from __future__ import annotations

import argparse
import json
import sys

import pyarrow.parquet as pq

from biomass import exitcodes


def register(subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser("tag", help="add origin, synthetic_score and tag_evidence to every row")
    t.add_argument("input", metavar="IN", help="parquet with at least doc_id and text")
    t.add_argument("--out", required=True)
    t.add_argument("--reference", action="append", default=[],
                   help="parquet of human-era text to calibrate the foreign-generator detector (repeatable)")
    t.add_argument("--archive", default=None, help="fingerprint archive folder (else from config)")
    _common(t)
    t.set_defaults(func=_tag)

    v = subparsers.add_parser("verify", help=f"check the signed manifest of every synthetic row (exit {exitcodes.INTEGRITY} on any failure)")
    v.add_argument("input", metavar="IN")
    _common(v)
    v.set_defaults(func=_verify)

    k = subparsers.add_parser("keygen", help="write a new Ed25519 signing key (KEYFILE) and its public half (KEYFILE.pub)")
    k.add_argument("--out", required=True, metavar="KEYFILE")
    k.set_defaults(func=_keygen)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="biomass config file (default: $BIOMASS_CONFIG or bundled)")
    p.add_argument("--key-file", default=None, help="Ed25519 signing key (its public half is trusted)")
    p.add_argument("--trust", action="append", default=[], help="trusted public key: PEM/.pub file or base64")


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


def _verify(args: argparse.Namespace) -> int:
    from biomass.config.provenance_flags import provenance_from
    from biomass.provenance.verify import verify_table

    prov = provenance_from(args.config, args.key_file, args.trust)
    report = verify_table(pq.read_table(args.input), prov)
    print(json.dumps(report.as_dict(), sort_keys=True))
    for doc_id, reason in report.failures[:20]:
        print(f"rejected {doc_id}: {reason}", file=sys.stderr)
    return 0 if report.ok else exitcodes.INTEGRITY


def _keygen(args: argparse.Namespace) -> int:
    from biomass.provenance.keys import write_keypair

    private, public, kid = write_keypair(args.out)
    print(json.dumps({"private_key": str(private), "public_key": str(public), "key_id": kid}, sort_keys=True))
    return 0
