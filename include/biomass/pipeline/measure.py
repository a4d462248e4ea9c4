"""Collapse metrics of an assembled year against the frozen human reference, and the collapse verdict.

A mapped step: ``prepare_measure`` fixes the reference, ``measure_shard(plan, i)`` saves shard i's mergeable
statistics under ``staging/<year>/measure/``, ``finish_measure`` merges them (shard order) into ``metrics.json``.
Publish keeps each shard's statistics next to it, so a shard carried into a later year is not tokenised again
and the parent's word counts are a merge of its saved statistics.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.compute as pc

from biomass.pipeline.plan import MEASURE_DIR, RunPlan, load_counts, shard_stats_path, stage_output
from biomass.pipeline.synthesis import HELD_OUT_SHARE
from biomass.schema import canonical_json
from biomass.storage import dataset_batches, dataset_files, file_sha256, parquet_batches, write_bytes_atomic

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


def prepare_measure(plan: RunPlan) -> int:
    """Fix, once, the reference profile every shard is measured against; the number of shards to measure.

    Writes ``staging/<year>/measure/reference.profile.parquet``: built (a chain's first year, also staged for
    publish; or a configured reference set) or linked from the published one. Clears statistics of an earlier
    attempt, so ``finish_measure`` never merges a shard that is no longer there."""
    cfg = plan.cfg
    folder = plan.staging / MEASURE_DIR
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    working = _working_reference(plan)
    published = Path(plan.data_root) / REFERENCE_PROFILE
    if plan.parent is not None and not cfg.reference and published.exists():
        _link_or_copy(published, working)
    else:
        reference = reference_profile(plan)
        if plan.parent is None and not cfg.reference:
            reference.save(plan.staging / "reference.profile.parquet")   # published with the generation
            _link_or_copy(plan.staging / "reference.profile.parquet", working)
        else:
            reference.save(working)
    return len(dataset_files(stage_output(plan, "assemble")))


def _working_reference(plan: RunPlan) -> Path:
    return plan.staging / MEASURE_DIR / "reference.profile.parquet"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _load_reference(plan: RunPlan):
    from biomass.metrics import ReferenceProfile

    path = _working_reference(plan)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run prepare_measure for {plan.year} first")
    return ReferenceProfile.load(path)


def measure_shard(plan: RunPlan, index: int) -> dict[str, Any]:
    """Mergeable statistics of the generation's shard ``index`` (``GenerationStats``), saved to
    ``shard_stats_path``: read back from the parent's published statistics when the shard is one of the
    parent's, carried unchanged (same sha256), else measured a batch at a time. Same bytes either way."""
    from biomass.metrics.collapse import GenerationStats
    from biomass.metrics.stats_file import stats_to_bytes

    shards = dataset_files(stage_output(plan, "assemble"))
    if not 0 <= index < len(shards):
        raise IndexError(f"the generation of {plan.year} has {len(shards)} shards, not a shard {index}")
    shard = shards[index]
    config = plan.cfg.metrics
    reference = _load_reference(plan)
    data = _carried_stats(plan, shard, reference)
    reused = data is not None
    if data is None:
        stats = GenerationStats(reference, config)
        for batch in parquet_batches(shard, ["text", "origin"]):
            stats.update(batch.column("text").to_pylist(), batch.column("origin").to_pylist())
        data = stats_to_bytes(stats)
    write_bytes_atomic(shard_stats_path(plan, index), data)
    return {"shard": index, "reused": reused, "bytes": len(data)}


def _carried_stats(plan: RunPlan, shard: Path, reference) -> bytes | None:
    """The parent's saved statistics of ``shard`` if it is one of the parent's shards (same size and sha256)
    published with statistics measured against this reference and config; else None."""
    from biomass.metrics.stats_file import StatsMismatch, stats_from_bytes

    if plan.parent is None:
        return None
    size = shard.stat().st_size
    entries = [e for e in plan.store.manifest(plan.parent)["files"] if e.get("bytes") == size and "stats" in e]
    if not entries:
        return None
    sha = file_sha256(shard)
    for entry in entries:
        if entry.get("sha256") == sha:
            data = plan.store.saved_stats(plan.parent, entry)
            try:
                stats_from_bytes(data, reference, plan.cfg.metrics)
            except StatsMismatch as exc:
                log.info("measuring %s again: %s", shard.name, exc)
                return None
            return data
    return None


def generation_stats(plan: RunPlan, reference):
    """The merge, in shard order, of every shard's saved statistics (``measure_shard``)."""
    from biomass.metrics.collapse import GenerationStats
    from biomass.metrics.stats_file import stats_from_bytes

    config = plan.cfg.metrics
    stats = GenerationStats(reference, config)
    for index in range(len(dataset_files(stage_output(plan, "assemble")))):
        path = shard_stats_path(plan, index)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: run measure[{index}] for {plan.year} first")
        stats.merge(stats_from_bytes(path.read_bytes(), reference, config))
    return stats


def parent_word_counts(plan: RunPlan):
    """Word counts of the parent generation (for js_divergence_prev); None without one. The merge of the
    parent's saved per-shard statistics when every shard has them, else counted from its text a batch at a
    time (a parent published by older code); the same counts either way."""
    from biomass.metrics.counting import TokenStats
    from biomass.metrics.stats_file import word_counts_from_bytes

    if plan.parent is None:
        return None
    counts = TokenStats()
    entries = plan.store.manifest(plan.parent)["files"]
    if entries and all("stats" in e for e in entries):
        for entry in entries:
            counts.merge(word_counts_from_bytes(plan.store.saved_stats(plan.parent, entry)))
        return counts
    for batch in plan.store.iter_batches(plan.parent, ["text"]):
        counts.update(batch.column("text").to_pylist())
    return counts


def held_out_reference_texts(plan: RunPlan) -> Iterator[str]:
    """The first generation's held-out human documents (never trained on), streamed a batch at a time: a
    1M-document generation holds ~100k of them (~370 MB as Python strings), so they are never held at once."""
    from biomass.metrics import is_held_out

    first = plan.store.published_years()[0]
    for batch in plan.store.iter_batches(first, ["doc_id", "text", "origin"]):
        yield from [t for d, t, o in zip(*(batch.column(c).to_pylist() for c in ("doc_id", "text", "origin")))
                    if o in HUMAN_ORIGINS and is_held_out(d, HELD_OUT_SHARE)]


def parent_model_perplexity(plan: RunPlan, reference) -> dict[str, Any]:
    """The parent-trained generator's perplexity on held-out head and tail reference text (never trained on).

    The model is the generator's (``synthesis.parent_model``: the one the synthesize step saved, or the same one
    trained here on the same documents). The held-out text is read twice (score the sentences, then score the
    chosen ones), never held whole."""
    from biomass.metrics.headtail import streamed_head_tail_perplexity
    from biomass.pipeline.synthesis import parent_model

    figures = streamed_head_tail_perplexity(lambda: parent_model(plan), lambda: held_out_reference_texts(plan), plan.cfg.metrics,
                                            reference)
    return {k: figures[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")}


def finish_measure(plan: RunPlan) -> dict[str, Any]:
    """The reduction after ``measure[i]``: merge the shards' statistics into the collapse metrics against the
    reference and the parent, and the verdict for the gate (``staging/<year>/metrics.json``).

    Every input is a mergeable statistic (``GenerationStats`` per shard, the parent's ``TokenStats``), so
    memory follows the vocabulary, not the year's text.
    """
    from biomass.metrics import collapse_verdict

    cfg = plan.cfg
    reference = _load_reference(plan)
    dedup = load_counts(plan, "dedup")
    metrics = generation_stats(plan, reference).finish(
        previous=parent_word_counts(plan), duplicate_rate=dedup.rows_quarantined / max(dedup.rows_in, 1))
    if plan.parent is not None:
        metrics.update(parent_model_perplexity(plan, reference))
    verdict = collapse_verdict(metrics, cfg.metrics)
    out = {"metrics": metrics, "collapse": verdict}
    write_bytes_atomic(plan.staging / "metrics.json", (canonical_json(out) + "\n").encode("utf-8"))
    for reason in verdict["reasons"]:
        log.warning("collapse %s: %s", verdict["status"], reason)
    return out


def run_measure(plan: RunPlan) -> dict[str, Any]:
    """The whole measure step in one process: ``prepare_measure``, every ``measure_shard``, ``finish_measure``."""
    for index in range(prepare_measure(plan)):
        measure_shard(plan, index)
    return finish_measure(plan)
