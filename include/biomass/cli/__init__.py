"""The ``biomass`` command: one subcommand per stage, the same functions the DAG tasks call.

One file per command in this package (``biomass run-year`` is ``biomass.cli.run_year``), each with a
``register(subparsers)`` that adds that one command: the command files parse arguments, call the library and map
its errors to exit codes; the library modules hold no argument parsing. ``biomass --help`` is served from the
static table below without importing any of them (pyarrow, pandas and pydantic cost ~0.5 s); ``biomass CMD ...``
imports the one file that defines CMD. Exit codes: ``biomass.exitcodes``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from biomass import exitcodes

# name -> (module that defines register(subparsers), one-line help). The help must match what the module's
# register() says (tests/unit/test_cli.py checks both, and that every command file of this package is listed here).
COMMANDS: dict[str, tuple[str, str]] = {
    "scrape": ("biomass.cli.scrape", "stage 1: web text (WARC, HTML dirs, JSONL, Parquet) to records"),
    "license": ("biomass.cli.license", "stage 2: publisher drops to licensed records (fail-closed)"),
    "synthesize": ("biomass.cli.synthesize", "train a generator on --train inputs, write N synthetic records"),
    "filter": ("biomass.cli.filter", "run the curation filter chain over a record file: kept rows out, dropped "
               "rows to quarantine"),
    "dedup": ("biomass.cli.dedup", "remove near-duplicate documents (MinHash LSH, exact verification)"),
    "tag": ("biomass.cli.tag", "add origin, synthetic_score and tag_evidence to every row"),
    "verify": ("biomass.cli.verify",
               f"check the signed manifest of every synthetic row (exit {exitcodes.INTEGRITY} on any failure)"),
    "keygen": ("biomass.cli.keygen",
               "write a new Ed25519 signing key (KEYFILE) and its public half (KEYFILE.pub)"),
    "metrics": ("biomass.cli.metrics", "model-collapse metrics of generations against a reference"),
    "experiment": ("biomass.cli.experiment", "run N generations under each data policy and plot the metrics"),
    "run-year": ("biomass.cli.run_year", "build and publish one generation without Airflow"),
    "review": ("biomass.cli.review", "print a staged year's review sample, or record the decision"),
    "generations": ("biomass.cli.generations", "list the published generations of a data root"),
    "verify-generation": ("biomass.cli.verify_generation", "check a published generation against its manifest"),
    "retire": ("biomass.cli.retire", "withdraw a published generation (or --undo: restore it)"),
}


def _parser(command: str | None) -> argparse.ArgumentParser:
    """The top-level parser; ``command``'s module registers its real sub-parser, every other name is a stub."""
    parser = argparse.ArgumentParser(prog="biomass", description=__doc__.splitlines()[0],
                                     epilog="exit codes: " + exitcodes.summary_line())
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level (and show tracebacks)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        if name == command:
            importlib.import_module(module_name).register(sub)
        else:
            sub.add_parser(name, help=help_text, add_help=False)  # stub: only its name and help are needed
    return parser


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: argparse itself picks the command (or prints the top-level help and exits)."""
    argv = sys.argv[1:] if argv is None else argv
    known, _ = _parser(None).parse_known_args(argv)
    return _parser(known.command)


# Arrow's allocator for every biomass command (and the worker processes run-year starts), unless the environment
# names one: jemalloc returns freed memory to the system, mimalloc (Arrow's Linux default) keeps it mapped, so a
# step's peak RSS carries what it freed earlier (1M-document assemble: 1.33 GB with mimalloc, 1.16 GB with jemalloc,
# 1.70 GB with the system allocator). Read by Arrow at its first allocation: set before any command imports it.
ARROW_POOL = "jemalloc"


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", ARROW_POOL)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"biomass {args.command}: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line and a documented exit code
        code = exitcodes.exit_code_for(exc)
        print(f"biomass {args.command}: {exitcodes.describe(exc, code)}", file=sys.stderr)
        if args.verbose:
            import traceback

            traceback.print_exc()
        elif code == exitcodes.INTERNAL:
            print(f"biomass {args.command}: rerun with -v (biomass -v {args.command} ...) for the traceback",
                  file=sys.stderr)
        return code

