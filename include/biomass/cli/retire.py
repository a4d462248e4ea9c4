"""`biomass retire YEAR --reason TEXT` and `biomass retire --undo YEAR`: withdraw a published generation, or bring
it back, and say which later years have to be rebuilt because of it."""

from __future__ import annotations

import sys

from biomass import exitcodes
from biomass.config import load_config
from biomass.storage import AlreadyPublished, GenerationStore, NotPublished, NotRetired

DAG_ID = "biomass_annual"


def register(subparsers) -> None:
    p = subparsers.add_parser("retire", help="withdraw a published generation (or --undo: restore it)",
                              description="Move generations/YEAR to generations/.retired/ (readers stop seeing "
                                          "it) with its dedup signatures; fingerprints stay.")
    p.add_argument("year", type=int)
    p.add_argument("--reason", help="why the year is withdrawn (required; recorded in retired.json)")
    p.add_argument("--undo", action="store_true", help="restore the newest retired copy of YEAR instead")
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--data-root")
    p.set_defaults(func=_cmd_retire)


def backfill_command(first: int, last: int) -> str:
    """Rebuild ``first``..``last`` oldest first, re-running years that already succeeded."""
    return (f"airflow backfill create --dag-id {DAG_ID} --from-date {first}-01-01 --to-date {last}-01-01 "
            f"--max-active-runs 1 --reprocess-behavior completed")


def _cmd_retire(args) -> int:
    if args.undo == bool(args.reason and args.reason.strip()):
        print("biomass retire: error: give --reason TEXT to retire, or --undo (without --reason) to restore",
              file=sys.stderr)
        return exitcodes.USAGE
    store = GenerationStore(args.data_root or load_config(args.config).data_root)
    try:
        return _undo(store, args.year) if args.undo else _retire(store, args.year, args.reason)
    except (NotPublished, NotRetired, AlreadyPublished) as exc:
        print(f"biomass retire: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE  # the year's state does not allow it; nothing was moved


def _retire(store: GenerationStore, year: int, reason: str) -> int:
    folder = store.retire(year, reason)
    print(f"retired {year}: {store.generation_dir(year)} -> {folder} (reason in {folder / 'retired.json'})")
    parked = folder / store.signature_path(year).name
    if parked.is_file():
        print(f"moved dedup signatures {store.signature_path(year)} -> {parked}")
    print(f"kept fingerprints in {store.data_root / 'index' / 'fingerprints'}: re-posts of its synthetic text "
          f"are still detected")
    _warn_rebuild(store, store.children_of(year), f"name {year} as parent: they were built from withdrawn data")
    return 0


def _undo(store: GenerationStore, year: int) -> int:
    copies = store.retired_copies(year)
    target = store.restore(year)
    folder = copies[-1]
    print(f"restored {year}: {folder} -> {target}")
    if store.signature_path(year).is_file():
        print(f"dedup signatures back in {store.signature_path(year)}")
    later = [y for y in store.published_years() if y > year and store.parent_of(y) == year
             and store.read_manifest(y).parent != year]
    _warn_rebuild(store, later, f"were built without {year} although it now precedes them")
    return 0


def _warn_rebuild(store: GenerationStore, years: list[int], why: str) -> None:
    if not years:
        print("no later published year depends on it; nothing to rebuild")
        return
    last = max(store.published_years())
    print(f"warning: published year(s) {', '.join(map(str, years))} {why}. Rebuild them and every later year "
          f"(each builds on the one before), oldest first:")
    print(f"  {backfill_command(min(years), last)}")
