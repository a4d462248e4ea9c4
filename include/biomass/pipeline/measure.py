"""Collapse metrics of an assembled year against the frozen human reference, and the collapse verdict."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from biomass.pipeline.plan import RunPlan, load_counts, stage_output
from biomass.pipeline.synthesis import HELD_OUT_SHARE, training_batches
from biomass.schema import canonical_json
from biomass.storage import dataset_batches, parquet_batches

log = logging.getLogger(__name__)


REFERENCE_PROFILE = Path("reference") / "profile.parquet"
HUMAN_ORIGINS = ("human", "licensed")


def _human_texts(batch: pa.RecordBatch | pa.Table) -> list[str]:
    return batch.filter(pc.is_in(batch.column("origin"), pa.array(HUMAN_ORIGINS))).column("text").to_pylist()


def reference_profile(plan: RunPlan):
    """The frozen human reference: a configured text set, else the human rows of the chain's first generation.

    A chain's first year builds it from its own assembled human rows (published with it); later years load it.
    Built from a stream of batches, so no reference text is held in full.
    """
    from biomass.metrics import ReferenceProfile

    cfg = plan.cfg
    if cfg.reference:
        return ReferenceProfile.from_batches((b.column("text").to_pylist() for b in parquet_batches(
            cfg.reference, ["text"])), cfg.metrics)
    published = Path(plan.data_root) / REFERENCE_PROFILE
    if plan.parent is None:
        batches = dataset_batches(stage_output(plan, "assemble"), ["text", "origin"])
        return ReferenceProfile.from_batches(map(_human_texts, batches), cfg.metrics)
    if published.exists():
        return ReferenceProfile.load(published)
    first = plan.store.published_years()[0]
    return ReferenceProfile.from_batches(map(_human_texts, plan.store.iter_batches(first, ["text", "origin"])),
                                         cfg.metrics)


def generation_stats(plan: RunPlan, reference):
    """Mergeable statistics of the assembled year, read a batch at a time."""
    from biomass.metrics.collapse import GenerationStats

    stats = GenerationStats(reference, plan.cfg.metrics)
    for batch in dataset_batches(stage_output(plan, "assemble"), ["text", "origin"]):
        stats.update(batch.column("text").to_pylist(), batch.column("origin").to_pylist())
    return stats


def parent_word_counts(plan: RunPlan):
    """Word counts of the parent generation (for js_divergence_prev), read a batch at a time; None without one."""
    from biomass.metrics.counting import TokenStats

    if plan.parent is None:
        return None
    counts = TokenStats()
    for batch in plan.store.iter_batches(plan.parent, ["text"]):
        counts.update(batch.column("text").to_pylist())
    return counts


def held_out_reference_texts(plan: RunPlan) -> list[str]:
    """The first generation's held-out human documents (never trained on), streamed; only they are kept."""
    from biomass.metrics import is_held_out

    first = plan.store.published_years()[0]
    held_out: list[str] = []
    for batch in plan.store.iter_batches(first, ["doc_id", "text", "origin"]):
        held_out.extend(t for d, t, o in zip(*(batch.column(c).to_pylist() for c in ("doc_id", "text", "origin")))
                        if o in HUMAN_ORIGINS and is_held_out(d, HELD_OUT_SHARE))
    return held_out


def parent_model_perplexity(plan: RunPlan, reference) -> dict[str, Any]:
    """The parent-trained generator's perplexity on held-out head and tail reference text (never trained on).

    The model is the one the synthesize step trained and saved, when that is the model of ``training_batches``
    at this order (``saved_parent_model``); else trained here, streamed, on the same batches."""
    from biomass.metrics import head_tail_perplexity
    from biomass.pipeline.synthesis import saved_parent_model
    from biomass.synth import NgramModel

    held_out = held_out_reference_texts(plan)
    if not held_out:
        return {"perplexity_head": None, "perplexity_tail": None, "tail_head_ratio": None}
    model = saved_parent_model(plan)
    if model is None:   # streamed: the parent's text is never held whole
        texts = (t for batch in training_batches(plan) for t in batch.column("text").to_pylist())
        model = NgramModel.train(texts, plan.cfg.synthesize.order)
    figures = head_tail_perplexity(model, held_out, plan.cfg.metrics, reference=reference)
    return {k: figures[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")}


def run_measure(plan: RunPlan) -> dict[str, Any]:
    """Collapse metrics of the assembled year against the reference and the parent; verdict for the gate.

    Every input is read as record batches into mergeable statistics (``GenerationStats``, ``TokenStats``,
    ``ReferenceStats``), so memory follows the vocabulary, not the year's text.
    """
    from biomass.metrics import collapse_verdict

    cfg = plan.cfg
    reference = reference_profile(plan)
    if plan.parent is None and not cfg.reference:
        reference.save(plan.staging / "reference.profile.parquet")
    dedup = load_counts(plan, "dedup")
    metrics = generation_stats(plan, reference).finish(
        previous=parent_word_counts(plan), duplicate_rate=dedup.rows_quarantined / max(dedup.rows_in, 1))
    if plan.parent is not None:
        metrics.update(parent_model_perplexity(plan, reference))
    verdict = collapse_verdict(metrics, cfg.metrics)
    out = {"metrics": metrics, "collapse": verdict}
    (plan.staging / "metrics.json").write_text(canonical_json(out) + "\n")
    for reason in verdict["reasons"]:
        log.warning("collapse %s: %s", verdict["status"], reason)
    return out
