"""Make a year visible: refuse unless every gate passed, publish atomically, feed the dedup index."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from biomass.exitcodes import CHECK_FAILED
from biomass.accounting import mix_of
from biomass.pipeline.assemble import index_root
from biomass.pipeline.gating import GATE_INPUT
from biomass.pipeline.measure import REFERENCE_PROFILE
from biomass.pipeline.plan import STAGES, RunPlan, load_counts, shard_stats_path, stage_output
from biomass.manifest import Manifest, summarize
from biomass.schema import QUARANTINE_SCHEMA
from biomass.storage import concat_parquet, dataset_batches, dataset_files

log = logging.getLogger(__name__)


class PublishRefused(RuntimeError):
    """A gate has not passed (or has no verdict) for the year: nothing is made visible."""

    exit_code = CHECK_FAILED


def publish(plan: RunPlan) -> Manifest:
    """Make the year visible: shards (each with its metrics statistics), quarantine and its dedup signatures,
    the manifest last."""
    from biomass.dedup import SignatureIndex

    gates = {}
    for gate in GATE_INPUT:
        path = plan.staging / "gates" / f"{gate}.json"
        if not path.exists():
            raise PublishRefused(f"gate {gate!r} has not passed for {plan.year}; refusing to publish")
        verdict = json.loads(path.read_text())
        if not verdict["success"]:
            raise PublishRefused(f"gate {gate!r} failed for {plan.year}; refusing to publish")
        gates[gate] = verdict
    from biomass.review.decision import manifest_fields

    review, review_counts = manifest_fields(plan)   # ReviewPending / ReviewRejected: nothing is published
    stages = {s: load_counts(plan, s).as_dict() for s in STAGES}
    if review_counts is not None:
        stages["review"] = review_counts
    shards = stage_output(plan, "assemble")
    quarantine = _one_quarantine(plan)
    cfg = plan.cfg
    fields = {
        "config_hash": plan.config_hash,
        "seed": cfg.seed,
        "policy": cfg.policy,
        "synthetic_share_target": cfg.synthetic_share if plan.parent is not None else 0.0,
        "parent": plan.parent,
        "inputs": {"scrape": plan.scrape_inputs, "license": plan.license_inputs},
        "stages": stages,
        "gates": gates,
        "review": review,
        "mix": mix_of(dataset_batches(shards, ["source", "origin"])),
        **json.loads((plan.staging / "metrics.json").read_text()),
    }
    # The signatures go in with the commit: written (pending) first, named with their sha256 in the manifest,
    # moved into the index after it (GenerationStore.finish_publishes completes that move after a crash).
    # ids a batch at a time, kept as the chunks they were read in (read_table and joining: ~3x their size)
    ids_file = plan.staging / "dedup.signature_ids.parquet"
    ids = pa.chunked_array([b.column(0) for b in dataset_batches(ids_file, ["doc_id"])],
                           type=pq.read_schema(ids_file).field("doc_id").type)
    signatures = np.load(plan.staging / "dedup.signatures.npy", mmap_mode="r")   # read in sorted chunks
    pending = SignatureIndex(index_root(plan)).add_generation(plan.year, ids, signatures, pending=True)
    manifest = plan.store.publish_shards(plan.year, shards, fields, quarantine=quarantine, signatures=pending,
                                         shard_stats=_shard_stats(plan, shards))
    staged_reference = plan.staging / "reference.profile.parquet"
    if staged_reference.exists():
        target = Path(plan.data_root) / REFERENCE_PROFILE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged_reference, target.with_name(".profile.tmp"))
        target.with_name(".profile.tmp").replace(target)
    log.info("published generation %s: %d rows in %d files", plan.year, manifest.rows, len(manifest.files))
    return manifest


def _shard_stats(plan: RunPlan, shards: Path) -> list[Path] | None:
    """Each shard's saved metrics statistics (written by ``measure[i]``), kept with the generation so later years
    reuse them; None if any is missing (staging measured by older code): the year publishes without them."""
    paths = [shard_stats_path(plan, i) for i in range(len(dataset_files(shards)))]
    return paths if all(p.exists() for p in paths) else None


def _one_quarantine(plan: RunPlan) -> Path | None:
    """Every stage's quarantine rows in one file (stage files in name order), streamed batch by batch."""
    files = sorted(plan.staging.glob("*.quarantine.parquet"))
    if not files:
        return None
    return concat_parquet(files, plan.staging / "publish.quarantine", QUARANTINE_SCHEMA)


def asset_extra(manifest: Manifest) -> dict[str, Any]:
    """The figures an asset event carries: small, flat, and enough to read a year at a glance (the one manifest
    summary, with the numeric metrics only and the collapse status)."""
    g = summarize(manifest)
    return {"year": g.year, "rows": g.rows, "parent": g.parent, "policy": g.policy, "sources": g.sources,
            "origins": g.origins, "duplicates_removed": g.duplicates_removed, "filtered": g.filtered,
            "quarantined": g.quarantined, "gates": g.gates, "config_hash": g.config_hash,
            "metrics": g.numeric_metrics, "collapse": g.collapse_status}