"""`biomass run-year`: build and publish one generation, the pipeline without Airflow."""

from __future__ import annotations

import json
import logging
import sys

from biomass import exitcodes
from biomass.gates.runner import GateFailed
from biomass.pipeline import run_year
from biomass.pipeline.lock import LockLost, RunLocked, process_run_id
from biomass.pipeline.plan import make_plan
from biomass.profiling import StepProfile
from biomass.review.decision import ReviewPending
from biomass.storage import IntegrityError

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
    p.add_argument("--review-mode", choices=["required", "auto", "off"],
                   help="review before publish (default: the config's review.mode); required stops before "
                        "publish until `biomass review YEAR --approve|--reject` decides")
    p.add_argument("--gate-overrides", type=json.loads, default=None, metavar="JSON",
                   help='thresholds for this run, e.g. \'{"max_quarantine_fraction": 0.6}\' (every gate) or '
                        '\'{"scrape": {"max_quarantine_fraction": 0.7}}\' (one gate); recorded in the manifest')
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes for the mapped steps (scrape, tagging, ...; default: the CPUs this "
                        "process may use); above 1, every other step also runs in a fresh process of its own, as "
                        "an Airflow task does, so no step carries memory left by an earlier one; 1: all in this "
                        "process")
    p.add_argument("--profile-out", metavar="FILE",
                   help="write each step's wall time, peak RSS and bytes written here (JSON), even if a gate fails")
    p.set_defaults(func=_cmd_run_year)


def _cmd_run_year(args) -> int:
    """Exit codes (``biomass.exitcodes``): 0 published, 3 a gate failed, 5 a generation it builds on is damaged,
    6 another run holds the year's lock (or took it over from this one), 7 the year waits for its review;
    2 (from ``biomass.cli``) for bad input."""
    from biomass.pipeline.workers import default_workers

    workers = default_workers() if args.workers is None else args.workers
    if workers < 1:
        print(f"biomass run-year: --workers must be >= 1, got {workers}", file=sys.stderr)
        return exitcodes.USAGE
    run_id = process_run_id()
    try:
        plan = make_plan(args.year, config_path=args.config, scrape_inputs=args.scrape_inputs,
                         license_inputs=args.license_inputs, data_root=args.data_root, policy=args.policy,
                         synthetic_share=args.synthetic_share, seed=args.seed, review_mode=args.review_mode,
                         run_id=run_id)
    except RunLocked as exc:
        print(f"biomass run-year: refused: {exc}", file=sys.stderr)
        return exitcodes.LOCKED
    lock = plan.run_lock(run_id)
    profile = StepProfile()
    try:
        with lock.holding(plan.cfg.run_lock.heartbeat_seconds):
            manifest = run_year(plan, args.gate_overrides, profile, lock=lock, workers=workers)
    except GateFailed as exc:
        print(exc)
        return exitcodes.CHECK_FAILED
    except ReviewPending as exc:
        print(f"biomass run-year: stopped before publish: {exc}", file=sys.stderr)
        return exitcodes.REVIEW_PENDING
    except IntegrityError as exc:
        print(f"biomass run-year: error: {exc}. See `biomass verify-generation {exc.year}`; rebuild or retire "
              f"that year before building on it", file=sys.stderr)
        return exitcodes.INTEGRITY
    except (LockLost, RunLocked) as exc:
        print(f"biomass run-year: stopped: {exc}", file=sys.stderr)
        return exitcodes.LOCKED
    finally:
        lock.release()
        if args.profile_out:
            profile.write(args.profile_out)
    print(f"published {manifest.year}: {manifest.rows} rows -> {plan.store.generation_dir(plan.year)}")
    return 0

