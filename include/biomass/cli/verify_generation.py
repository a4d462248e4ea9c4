"""``biomass verify-generation YEAR``: check a published generation against its manifest (``pipeline.verify``)."""

from __future__ import annotations

import sys

from biomass.pipeline.verify import EXIT_DAMAGED


def register(subparsers) -> None:
    p = subparsers.add_parser("verify-generation", help="check a published generation against its manifest",
                              description="Check the manifest, every file's size and sha256, every record's "
                                          "content_sha256, row counts and the schema version of a published "
                                          f"generation. Exit 0 if sound, {EXIT_DAMAGED} if damaged, 2 if it is "
                                          "not published.")
    p.add_argument("year", type=int)
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--data-root")
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args) -> int:
    from biomass.config import load_config
    from biomass.pipeline.verify import audit
    from biomass.storage import GenerationStore, NotPublished

    store = GenerationStore(args.data_root or load_config(args.config).data_root)
    problems = 0
    try:
        for problem in audit(store, args.year):
            problems += 1
            print(problem)
    except NotPublished as exc:
        print(f"biomass verify-generation: error: {exc}", file=sys.stderr)
        return 2
    if problems:
        print(f"generation {args.year} is DAMAGED: {problems} problem(s) above; do not build on it (re-run the "
              f"year, or retire it: biomass retire {args.year} --reason ...)")
        return EXIT_DAMAGED
    manifest = store.read_manifest(args.year)
    print(f"generation {args.year} is sound: {manifest.rows} rows in {len(manifest.files)} file(s), every "
          f"file's sha256 and every record's content_sha256 match {store.manifest_path(args.year)}")
    return 0
