"""One year of the loop, as steps that a DAG task, the shell (`biomass run-year`) or a test can call alike.

Every step reads and writes one explicit partition, ``staging/<year>/``, and takes its decisions from the
run plan written by ``make_plan``; nothing depends on ``now()``. Steps:

    plan -> scrape[file] -> prepare_tagging -> tag[shard] -> finish_scrape -> gate -> license -> gate
         -> train_synthesizer -> synthesize[shard] -> finish_synthesize -> gate -> filter[new-row file]
         -> finish_filter -> gate -> sign[filtered file] -> assemble -> gate -> prepare_measure -> measure[shard]
         -> finish_measure -> gate -> review -> publish

A gate that fails raises ``GateFailed`` and leaves staging in place as evidence; only ``publish`` makes a
generation visible, and it writes the manifest last.

Modules, in loop order: ``plan`` (the run plan, staging bookkeeping), ``ingest`` (scrape, license, tagging),
``synthesis``, ``filtering`` (the curation chain), ``assemble`` (dedup, synthetic cap, mix), ``gating``, ``measure`` (collapse metrics),
``publishing``, ``steps`` (the steps in order: what ``run_year`` walks), ``lock`` (one run per data root and year), ``workers`` (mapped steps on worker processes for
``run_year``), ``cli``, ``verify`` (``biomass verify-generation``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from biomass.manifest import Manifest
from biomass.pipeline.assemble import assemble_inputs, run_assemble, sign_shard, synthetic_cap
from biomass.pipeline.filtering import filter_shard, finish_filter, new_row_files, run_filter
from biomass.pipeline.gating import GATE_INPUT, check_gate_overrides, gate_summary, gate_thresholds, run_gate_for
from biomass.pipeline.ingest import (finish_scrape, merge_scrape, prepare_tagging, run_license, run_scrape_shard,
                                     tag_scrape_shard)
from biomass.pipeline.lock import LockLost, RunLock, RunLocked
from biomass.pipeline.measure import finish_measure, measure_shard, prepare_measure, run_measure
from biomass.pipeline.plan import RunPlan, load_counts, make_plan, stage_output, stage_quarantine
from biomass.pipeline.publishing import asset_extra, publish
from biomass.pipeline.steps import STEP_NAMES, STEPS, Step
from biomass.pipeline.synthesis import finish_synthesize, run_synthesize, synthesize_shard, train_synthesizer
from biomass.pipeline.workers import Workers
from biomass.profiling import StepProfile

__all__ = ["RunPlan", "make_plan", "load_counts", "stage_output", "stage_quarantine", "run_scrape_shard",
           "prepare_tagging", "tag_scrape_shard", "finish_scrape", "merge_scrape", "run_license", "run_synthesize",
           "train_synthesizer", "synthesize_shard", "finish_synthesize", "assemble_inputs", "sign_shard",
           "run_assemble", "synthetic_cap", "run_measure", "prepare_measure", "measure_shard", "finish_measure",
           "new_row_files", "filter_shard", "finish_filter", "run_filter", "run_gate_for", "gate_summary",
           "gate_thresholds", "check_gate_overrides", "GATE_INPUT", "publish",
           "asset_extra", "run_year", "STEPS", "STEP_NAMES", "Step", "RunLock", "RunLocked", "LockLost"]


def run_year(plan: RunPlan, gate_overrides: dict[str, Any] | None = None,
             profile: StepProfile | None = None, lock: RunLock | None = None, workers: int = 1) -> Manifest:
    """The whole year, in DAG order (the shell and tests use this; the DAG runs the same steps).

    ``workers``: processes for the mapped steps (``biomass.pipeline.workers``; 1 runs everything in this
    process). ``profile`` (optional) records each step's wall time, peak memory and bytes written, and each
    shard's. ``lock``: the run lock this run holds; checked (and its heartbeat written) before every step, so a
    run that lost it stops before it writes more."""
    with Workers(workers) as pool:
        return _run_year(plan, gate_overrides, profile or StepProfile(), lock, pool)


def _gate(plan: RunPlan, gate: str, overrides: dict[str, Any] | None):
    """A gate as a one-argument step (``partial`` of a module-level function pickles, for a worker process)."""
    return run_gate_for(plan, gate, overrides)


def _run_year(plan: RunPlan, gate_overrides: dict[str, Any] | None, profile: StepProfile, lock: RunLock | None,
              pool: Workers) -> Manifest:
    """Walk ``STEPS`` in order; each step's result feeds the next one's shard count; publish's is the year's."""
    check = lock.refresh if lock is not None else (lambda: None)
    check_gate_overrides(plan.cfg, gate_overrides)
    result: Any = None
    for step in STEPS:
        check()
        if step.gate is not None:
            result = pool.run(plan, step.name, partial(_gate, gate=step.gate, overrides=gate_overrides), profile)
        elif step.mapped:
            result = pool.map(plan, step.name, step.run, step.shards(plan, result), profile)
        else:
            result = pool.run(plan, step.name, step.run, profile)
    return result
