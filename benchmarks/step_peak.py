"""Peak RSS of one pipeline step, run alone in a fresh process on a year already staged (the memory side of issue 13).

A whole 1M-document year takes most of an hour; a step's memory does not need the rest of the year. This loads
``staging/<year>/plan.json`` of an existing data root (e.g. one ``make bench-generation ... --keep`` or
``biomass run-year --review-mode required`` left), runs the named step as ``run-year`` would in a worker process,
and prints one JSON line: the step, its wall seconds (noisy on a shared machine), its peak RSS (the kernel's
high-water mark, reset just before the step, so imports are not counted).

``--set synthesize.max_train_docs=null`` changes the plan's config for this run only (nothing is written back),
e.g. to measure the whole-parent model against the bounded sample on the same staging. A step overwrites what it
wrote before (train_synthesizer its model and shard plan, assemble the generation), as a re-run would.

    python benchmarks/step_peak.py DATA_ROOT YEAR train_synthesizer [--set synthesize.max_train_docs=null]
    python benchmarks/step_peak.py DATA_ROOT YEAR synthesize --index 0
    python benchmarks/step_peak.py DATA_ROOT YEAR scrape --index 3        # also tag: one input file's shard
    python benchmarks/step_peak.py DATA_ROOT YEAR gate_generation
    python benchmarks/step_peak.py DATA_ROOT YEAR review_sample      # the review step's sample, no decision
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _steps():
    import biomass.pipeline as p
    from biomass.review.sample import draw_sample

    return {"scrape": p.run_scrape_shard, "tag": p.tag_scrape_shard, "train_synthesizer": p.train_synthesizer,
            "synthesize": p.synthesize_shard, "finish_synthesize": p.finish_synthesize, "assemble": p.run_assemble,
            "sign": p.sign_shard, "prepare_measure": p.prepare_measure, "measure": p.measure_shard,
            "finish_measure": p.finish_measure, "review_sample": draw_sample, "publish": p.publish,
            **{f"gate_{g}": (lambda plan, g=g: p.run_gate_for(plan, g))
               for g in ("scrape", "license", "synthesize", "filter", "generation", "collapse")}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data_root", type=Path)
    ap.add_argument("year", type=int)
    ap.add_argument("step")
    ap.add_argument("--index", type=int, help="the shard of a mapped step (scrape, tag, synthesize, sign, measure)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="config override, this run only")
    args = ap.parse_args()

    from biomass.pipeline.plan import RunPlan
    from biomass.profiling import StepProfile
    from biomass.storage import GenerationStore

    steps = _steps()
    if args.step not in steps:
        raise SystemExit(f"unknown step {args.step!r}; steps: {', '.join(steps)}")
    plan = RunPlan.load(GenerationStore(args.data_root).staging_dir(args.year) / "plan.json")
    for item in args.set:
        key, _, value = item.partition("=")
        *path, last = key.split(".")
        node = plan.config
        for part in path:
            node = node[part]
        if last not in node:
            raise SystemExit(f"--set {key}: no such config key")
        node[last] = json.loads(value)
    fn = steps[args.step]
    profile = StepProfile()
    with profile.step(args.step):
        result = fn(plan, args.index) if args.index is not None else fn(plan)
    step = profile.steps[0]
    print(json.dumps({"step": args.step, "index": args.index, "set": args.set, "seconds": round(step.seconds, 1),
                      "peak_rss_mb": step.peak_rss_mb,
                      "result": result if isinstance(result, (int, list)) and len(str(result)) < 200 else None}))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
