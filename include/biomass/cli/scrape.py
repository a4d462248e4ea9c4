"""``biomass scrape``: stage 1 outside the pipeline, web text (WARC, HTML dirs, JSONL, Parquet) to records."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("scrape", help="stage 1: web text (WARC, HTML dirs, JSONL, Parquet) to records")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--out", required=True)
    p.add_argument("--quarantine", help="write quarantined records (with a reason column) here")
    p.add_argument("--year", type=int, help="generation year to stamp on the records")
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from biomass.config import load_config
    from biomass.stages.scrape import scrape

    counts = scrape(args.sources, year=args.year, config=load_config(args.config).scrape, out_path=args.out,
                    quarantine_path=args.quarantine)
    print(json.dumps(counts.as_dict(), indent=2))
    return 0
