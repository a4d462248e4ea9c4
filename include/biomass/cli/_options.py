"""Options that more than one command takes, defined once so their flags and help cannot drift apart."""

from __future__ import annotations

import argparse


def provenance_options(p: argparse.ArgumentParser) -> None:
    """The config, signing key and trusted keys of ``biomass tag`` and ``biomass verify``."""
    p.add_argument("--config", default=None, help="biomass config file (default: $BIOMASS_CONFIG or bundled)")
    p.add_argument("--key-file", default=None, help="Ed25519 signing key (its public half is trusted)")
    p.add_argument("--trust", action="append", default=[], help="trusted public key: PEM/.pub file or base64")
