"""Collapse metrics of an assembled year against the frozen human reference, and the collapse verdict."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.pipeline.plan import RunPlan, load_counts, read_stage, stage_output
from biomass.pipeline.synthesis import HELD_OUT_SHARE, training_table
from biomass.schema import canonical_json

log = logging.getLogger(__name__)


REFERENCE_PROFILE = Path("reference") / "profile.parquet"


def reference_profile(plan: RunPlan, rows: pa.Table):
    """The frozen human reference: a configured text set, else the human rows of the chain's first generation.

    A chain's first year builds it from its own human rows (published with it); later years load it.
    """
    from biomass.metrics import ReferenceProfile

    cfg = plan.cfg
    if cfg.reference:
        return ReferenceProfile.build(pq.read_table(cfg.reference, columns=["text"]).column("text").to_pylist(),
                                      cfg.metrics)
    published = Path(plan.data_root) / REFERENCE_PROFILE
    if plan.parent is None:
        return ReferenceProfile.build(_human_texts(rows), cfg.metrics)
    if published.exists():
        return ReferenceProfile.load(published)
    first = plan.store.published_years()[0]
    return ReferenceProfile.build(_human_texts(plan.store.read(first)), cfg.metrics)


def _human_texts(rows: pa.Table) -> list[str]:
    mask = pc.is_in(rows.column("origin"), pa.array(["human", "licensed"]))
    return rows.filter(mask).column("text").to_pylist()


def parent_model_perplexity(plan: RunPlan, reference) -> dict[str, Any]:
    """The parent-trained generator's perplexity on held-out head and tail reference text (never trained on)."""
    from biomass.metrics import head_tail_perplexity, is_held_out
    from biomass.synth import NgramModel

    first = plan.store.read(plan.store.published_years()[0], columns=["doc_id", "text", "origin"])
    held_out = [t for d, t, o in zip(*(first.column(c).to_pylist() for c in ("doc_id", "text", "origin")))
                if o in ("human", "licensed") and is_held_out(d, HELD_OUT_SHARE)]
    if not held_out:
        return {"perplexity_head": None, "perplexity_tail": None, "tail_head_ratio": None}
    model = NgramModel.train(training_table(plan).column("text").to_pylist(), plan.cfg.synthesize.order)
    figures = head_tail_perplexity(model, held_out, plan.cfg.metrics, reference=reference)
    return {k: figures[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")}


def run_measure(plan: RunPlan) -> dict[str, Any]:
    """Collapse metrics of the assembled year against the reference and the parent; verdict for the gate."""
    from biomass.metrics import collapse_metrics, collapse_verdict

    cfg = plan.cfg
    rows = read_stage(stage_output(plan, "assemble"))
    reference = reference_profile(plan, rows)
    if plan.parent is None and not cfg.reference:
        reference.save(plan.staging / "reference.profile.parquet")
    previous = plan.store.read(plan.parent, columns=["text"]).column("text").to_pylist() if plan.parent else None
    dedup = load_counts(plan, "dedup")
    metrics = collapse_metrics(rows.column("text").to_pylist(), reference, previous=previous,
                               origins=rows.column("origin").to_pylist(),
                               duplicate_rate=dedup.rows_quarantined / max(dedup.rows_in, 1), config=cfg.metrics)
    if plan.parent is not None:
        metrics.update(parent_model_perplexity(plan, reference))
    verdict = collapse_verdict(metrics, cfg.metrics)
    out = {"metrics": metrics, "collapse": verdict}
    (plan.staging / "metrics.json").write_text(canonical_json(out) + "\n")
    for reason in verdict["reasons"]:
        log.warning("collapse %s: %s", verdict["status"], reason)
    return out
