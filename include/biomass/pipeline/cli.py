"""`biomass run-year` and `biomass generations`: the pipeline without Airflow."""

from __future__ import annotations

import json
import logging

from biomass import exitcodes
from biomass.config import load_config
from biomass.gates.runner import GateFailed
from biomass.pipeline import run_year
from biomass.pipeline.plan import make_plan
from biomass.profiling import StepProfile
from biomass.storage import GenerationStore

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    p = subparsers.add_parser("run-year", help="build and publish one generation without Airflow")
    p.add_argument("year", type=int)
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--data-root")
    p.add_argument("--scrape-input", action="append", dest="scrape_inputs")
    p.add_argument("--license-input", action="append", dest="license_inputs")
    p.add_argument("--policy", choices=["replace", "accumulate"])
    p.add_argument("--synthetic-share", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--gate-overrides", type=json.loads, default=None, metavar="JSON",
                   help='thresholds for this run, e.g. \'{"max_quarantine_fraction": 0.6}\' (every gate) or '
                        '\'{"scrape": {"max_quarantine_fraction": 0.7}}\' (one gate); recorded in the manifest')
    p.add_argument("--profile-out", metavar="FILE",
                   help="write each step's wall time, peak RSS and bytes written here (JSON), even if a gate fails")
    p.set_defaults(func=_cmd_run_year)

    g = subparsers.add_parser("generations", help="list the published generations of a data root")
    g.add_argument("--config")
    g.add_argument("--data-root")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_generations)


def _cmd_run_year(args) -> int:
    plan = make_plan(args.year, config_path=args.config, scrape_inputs=args.scrape_inputs,
                     license_inputs=args.license_inputs, data_root=args.data_root, policy=args.policy,
                     synthetic_share=args.synthetic_share, seed=args.seed)
    profile = StepProfile()
    try:
        manifest = run_year(plan, args.gate_overrides, profile)
    except GateFailed as exc:
        print(exc)
        return exitcodes.CHECK_FAILED
    finally:
        if args.profile_out:
            profile.write(args.profile_out)
    print(f"published {manifest['year']}: {manifest['rows']} rows -> {plan.store.generation_dir(plan.year)}")
    return 0


def _cmd_generations(args) -> int:
    from biomass.report import generations_table

    root = args.data_root or load_config(args.config).data_root
    store = GenerationStore(root)
    if args.json:
        print(json.dumps([m for _, m in store.iter_published()], indent=2))
    else:
        print(generations_table(store))
    return 0
