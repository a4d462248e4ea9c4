"""``biomass license``: stage 2 outside the pipeline, publisher drops to licensed records (fail-closed)."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("license", help="stage 2: publisher drops to licensed records (fail-closed)")
    p.add_argument("drops", nargs="+", metavar="DROP")
    p.add_argument("--year", type=int, required=True, help="generation year the licences are judged against")
    p.add_argument("--out", required=True)
    p.add_argument("--quarantine")
    p.add_argument("--report", help="write the per-publisher licence report (JSON) here")
    p.add_argument("--config")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from biomass.config import load_config
    from biomass.stages.license import license_stage

    counts = license_stage(args.drops, year=args.year, config=load_config(args.config).license, out_path=args.out,
                           quarantine_path=args.quarantine, report_path=args.report)
    print(json.dumps(counts.as_dict(), indent=2))
    return 0
