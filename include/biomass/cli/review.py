"""`biomass review`: the review step without Airflow, for `biomass run-year` users.

``biomass review YEAR`` prints what the reviewer reads (the same body the Airflow review shows);
``--approve`` / ``--reject`` records the decision on that sample, and an approval publishes the year (the
publish step ``run-year`` stopped before), under the year's run lock.
"""

from __future__ import annotations

import getpass
import sys

from biomass import exitcodes


def register(subparsers) -> None:
    p = subparsers.add_parser("review", help="print a staged year's review sample, or record the decision")
    p.add_argument("year", type=int)
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--data-root")
    verdict = p.add_mutually_exclusive_group()
    verdict.add_argument("--approve", action="store_true", help="approve and publish the year")
    verdict.add_argument("--reject", action="store_true", help="reject: publish nothing (needs --comment)")
    p.add_argument("--comment", default="", help="why (required with --reject); goes into the manifest and note")
    p.add_argument("--exclude", action="append", default=[], metavar="DOC_ID",
                   help="with --approve: leave this document out (quarantined as reviewer_excluded); repeatable")
    p.add_argument("--by", default=None, help="who decides (default: the login name)")
    p.set_defaults(func=_cmd_review)


def _cmd_review(args) -> int:
    from biomass.config import load_config
    from biomass.pipeline.plan import RunPlan
    from biomass.storage import GenerationStore

    root = args.data_root or load_config(args.config).data_root
    plan_path = GenerationStore(root).staging_dir(args.year) / "plan.json"
    if not plan_path.exists():
        print(f"biomass review: no staged run of {args.year} under {root} (run `biomass run-year {args.year}` "
              f"first)", file=sys.stderr)
        return exitcodes.USAGE
    plan = RunPlan.load(plan_path)
    plan.data_root = str(plan_path.parents[2])   # the root named here, even if the staging was moved or copied
    if not (args.approve or args.reject):
        if args.exclude or args.comment:
            print("biomass review: --exclude and --comment go with --approve or --reject", file=sys.stderr)
            return exitcodes.USAGE
        return _show(plan)
    return _decide(plan, args)


def _show(plan) -> int:
    from biomass.review.decision import body_path, load_decision

    path = body_path(plan)
    if not path.exists():
        print(f"biomass review: {plan.year} has no review sample yet ({path}): the run has not reached its review "
              f"step, or its review mode is off", file=sys.stderr)
        return exitcodes.USAGE
    print(path.read_text(), end="")
    decision = load_decision(plan)
    if decision is not None:
        print(f"\nDecided: {decision.decision} by {decision.by} at {decision.at or '-'}"
              + (f", excluding {len(decision.excluded)}" if decision.excluded else ""))
    return exitcodes.OK


def _decide(plan, args) -> int:
    from biomass.pipeline.lock import process_run_id
    from biomass.pipeline.publishing import publish
    from biomass.review.decision import ReviewRejected, record_decision

    if args.reject and args.exclude:
        print("biomass review: --exclude goes with --approve (a reject publishes nothing)", file=sys.stderr)
        return exitcodes.USAGE
    lock = plan.run_lock(process_run_id()).acquire()
    try:
        with lock.holding(plan.cfg.run_lock.heartbeat_seconds):
            record_decision(plan, approve=args.approve, by=args.by or getpass.getuser(), comment=args.comment,
                            exclude=args.exclude)
            try:
                manifest = publish(plan)
            except ReviewRejected as exc:
                print(f"biomass review: {exc}")
                return exitcodes.CHECK_FAILED
    finally:
        lock.release()
    print(f"published {manifest.year}: {manifest.rows} rows -> {plan.store.generation_dir(plan.year)}"
          + (f" ({len(args.exclude)} excluded by review)" if args.exclude else ""))
    return exitcodes.OK
