"""The ``biomass`` command: one subcommand per stage, the same functions the DAG tasks call.

Each subcommand lives next to the code it drives, as a ``register(subparsers)`` function; this file only lists
them, so adding a command never means editing another module's code.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# name -> module that defines register(subparsers). Imported lazily so `biomass --help` stays fast.
COMMANDS = {
    "scrape": "biomass.stages.scrape",
    "license": "biomass.stages.license",
    "synthesize": "biomass.synth.cli",
    "dedup": "biomass.dedup.cli",
    "tag": "biomass.provenance.cli",
    "verify": "biomass.provenance.cli",
    "keygen": "biomass.provenance.cli",
    "metrics": "biomass.metrics.cli",
    "experiment": "biomass.experiment",
    "run-year": "biomass.pipeline.cli",
    "generations": "biomass.pipeline.cli",
    "verify-generation": "biomass.pipeline.verify",
    "retire": "biomass.pipeline.retire",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="biomass", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module_name in dict.fromkeys(COMMANDS.values()):
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"biomass {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
