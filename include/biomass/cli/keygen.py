"""``biomass keygen``: write a new Ed25519 signing key and its public half."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    k = subparsers.add_parser("keygen", help="write a new Ed25519 signing key (KEYFILE) and its public half (KEYFILE.pub)")
    k.add_argument("--out", required=True, metavar="KEYFILE")
    k.set_defaults(func=_keygen)


def _keygen(args: argparse.Namespace) -> int:
    from biomass.provenance.keys import write_keypair

    private, public, kid = write_keypair(args.out)
    print(json.dumps({"private_key": str(private), "public_key": str(public), "key_id": kid}, sort_keys=True))
    return 0
