"""Stage 3 in the pipeline: train on the parent generation (minus held-out reference text), write synthetic text."""

from __future__ import annotations

import logging
from typing import Iterator

import pyarrow as pa

from biomass.accounting import StageCounts
from biomass.pipeline.plan import RunPlan, load_counts, save_counts, stage_output

log = logging.getLogger(__name__)


def synthetic_target(plan: RunPlan) -> int:
    """How many synthetic docs make the configured share of this year's mix: n = s * H / (1 - s)."""
    human = load_counts(plan, "scrape").rows_out + load_counts(plan, "license").rows_out
    share = plan.cfg.synthetic_share
    return int(round(share * human / (1.0 - share))) if plan.parent is not None else 0


def run_synthesize(plan: RunPlan) -> StageCounts:
    """Train on the parent generation and write synthetic text; a chain's first year has no parent to learn from."""
    from biomass.synth import synthesize_stage

    train = training_batches(plan) if plan.parent is not None else iter(())
    counts = synthesize_stage(train, n=synthetic_target(plan), seed=plan.stage_seed("synthesize"), year=plan.year,
                              parent=plan.parent, config=plan.cfg.synthesize, provenance=plan.cfg.provenance,
                              out_path=str(stage_output(plan, "synthesize")))
    if plan.parent is None:
        counts.notes["chain_start"] = "no earlier generation under this data root: nothing to train on"
    return save_counts(plan, counts)


HELD_OUT_SHARE = 0.1


def training_batches(plan: RunPlan) -> Iterator[pa.Table]:
    """The parent generation minus the held-out reference documents (scored later for head/tail perplexity),
    a batch at a time: the synthesize stage streams it, so the parent's text is never held whole."""
    from biomass.metrics import is_held_out

    for batch in plan.store.iter_batches(plan.parent, columns=["doc_id", "text"]):
        keep = [not is_held_out(d, HELD_OUT_SHARE) for d in batch.column("doc_id").to_pylist()]
        yield batch.filter(pa.array(keep, type=pa.bool_()))

