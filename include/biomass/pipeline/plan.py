"""The run plan (what a year decides up front) and the staging bookkeeping every step shares."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.accounting import StageCounts
from biomass.config import BiomassConfig, expand_inputs, load_config
from biomass.pipeline.lock import RunLock
from biomass.schema import empty_table
from biomass.storage import GenerationStore, write_json_atomic

log = logging.getLogger(__name__)


STAGES = ("scrape", "license", "synthesize", "filter", "dedup", "assemble")

# What a run may override, by Param name -> config key.
OVERRIDES = {
    "data_root": "data_root",
    "policy": "policy",
    "synthetic_share": "synthetic_share",
    "seed": "seed",
    "review_mode": "review.mode",
}


@dataclass
class RunPlan:
    year: int
    data_root: str
    parent: int | None
    scrape_inputs: list[str]
    license_inputs: list[str]
    config: dict[str, Any] = field(repr=False)
    config_hash: str = ""
    # Keys fetched at run time (e.g. from Airflow Variables). Never written to plan.json.
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def cfg(self) -> BiomassConfig:
        cfg = BiomassConfig.model_validate(self.config)
        if self.secrets:
            cfg = cfg.model_copy(update={"provenance": cfg.provenance.with_secrets(**self.secrets)})
        return cfg

    @property
    def store(self) -> GenerationStore:
        return GenerationStore(self.data_root)

    @property
    def staging(self) -> Path:
        return self.store.staging_dir(self.year)

    def stage_seed(self, stage: str) -> int:
        """A stage's own seed, derived from the run seed and the year so years never share randomness."""
        digest = hashlib.sha256(f"{self.cfg.seed}:{self.year}:{stage}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def save(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        path = self.staging / "plan.json"
        state = asdict(self)
        state.pop("secrets")
        write_json_atomic(path, state)
        return path

    def run_lock(self, run_id: str, *, spans_processes: bool = False) -> RunLock:
        """The lock of this year on this data root, as held by ``run_id`` (see ``biomass.pipeline.lock``);
        ``spans_processes``: a DAG run, whose steps run in other processes (no pid to check)."""
        return RunLock(self.store.lock_path(self.year), run_id, timeout=self.cfg.run_lock.timeout_seconds,
                       pid=None if spans_processes else os.getpid())

    @classmethod
    def load(cls, path: str | Path, secrets: dict[str, str | None] | None = None) -> "RunPlan":
        """``secrets``: signing_key / watermark_key strings; None values are ignored."""
        kept = {k: v for k, v in (secrets or {}).items() if v}
        return cls(**json.loads(Path(path).read_text()), secrets=kept)


def make_plan(year: int, *, config_path: str | None = None, scrape_inputs: list[str] | None = None,
              license_inputs: list[str] | None = None, run_id: str | None = None, spans_processes: bool = False,
              **overrides: Any) -> RunPlan:
    """Fix everything a year's run decides up front, clear its old staging, and write ``plan.json``.

    ``run_id``: take the year's run lock for that run first (``RunLocked`` if another run holds it), before
    anything in staging is touched; the caller releases it (``plan.run_lock(run_id).release()``)."""
    if not isinstance(year, int) or not 1900 <= year <= 9999:
        raise ValueError(f"year must be a four-digit integer, got {year!r}")
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise KeyError(f"unknown overrides {sorted(unknown)}; allowed: {sorted(OVERRIDES)}")
    cfg = load_config(config_path).with_overrides({OVERRIDES[k]: v for k, v in overrides.items()})
    if cfg.provenance.fingerprint_archive is None:
        archive = str(Path(cfg.data_root) / "index" / "fingerprints")
        cfg = cfg.model_copy(update={"provenance": cfg.provenance.model_copy(
            update={"fingerprint_archive": archive})})
    scrape = expand_inputs(scrape_inputs if scrape_inputs is not None else cfg.scrape.inputs, year)
    license_ = expand_inputs(license_inputs if license_inputs is not None else cfg.license.inputs, year)
    store = GenerationStore(cfg.data_root)
    plan = RunPlan(year=year, data_root=str(Path(cfg.data_root).resolve()) if "://" not in cfg.data_root
                   else cfg.data_root, parent=store.parent_of(year), scrape_inputs=scrape,
                   license_inputs=license_, config=cfg.model_dump(mode="json"), config_hash=cfg.config_hash())
    lock = plan.run_lock(run_id, spans_processes=spans_processes).acquire() if run_id is not None else None
    try:
        if plan.staging.exists():
            shutil.rmtree(plan.staging)
        path = plan.save()
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    log.info("plan for %s: parent=%s, %d scrape inputs, %d licence drops, policy=%s -> %s", year, plan.parent,
             len(scrape), len(license_), cfg.policy, path)
    return plan


def _counts_path(plan: RunPlan, stage: str) -> Path:
    return plan.staging / f"{stage}.counts.json"


def save_counts(plan: RunPlan, counts: StageCounts) -> StageCounts:
    counts.check()
    write_json_atomic(_counts_path(plan, counts.stage), counts.as_dict())
    log.info("%s: in=%d out=%d quarantined=%s", counts.stage, counts.rows_in, counts.rows_out,
             dict(counts.quarantined))
    return counts


def load_counts(plan: RunPlan, stage: str) -> StageCounts:
    return StageCounts.from_dict(json.loads(_counts_path(plan, stage).read_text()))


def read_stage(path: Path) -> pa.Table:
    return pq.read_table(path) if path.exists() else empty_table()


GENERATION_SHARDS = "generation"
SCRAPE_SHARDS = "scrape/tagged"
SYNTHESIZE_SHARDS = "synthesize"
FILTER_SHARDS = "filter"


def stage_output(plan: RunPlan, stage: str) -> Path:
    """A stage's output under staging: one Parquet file, except three shard sets (read them with
    ``storage.dataset_files``): scrape's, one tagged part per input file (``staging/<year>/scrape/tagged/
    part-NNNNN.parquet``), synthesize's, one part per sampling shard (``staging/<year>/synthesize/``, which
    also holds the saved generator), and assemble's, the generation itself (``staging/<year>/generation/``),
    which publish links into place. The filter stage's is a shard set too (``staging/<year>/filter/``, one
    filtered part per new-row file; empty when the stage passes its inputs through)."""
    if stage == "assemble":
        return plan.staging / GENERATION_SHARDS
    if stage == "scrape":
        return plan.staging / SCRAPE_SHARDS
    if stage == "synthesize":
        return plan.staging / SYNTHESIZE_SHARDS
    if stage == "filter":
        return plan.staging / FILTER_SHARDS
    return plan.staging / f"{stage}.parquet"


MEASURE_DIR = "measure"


def shard_stats_path(plan: RunPlan, index: int) -> Path:
    """The saved metrics statistics of the generation's shard ``index`` (``staging/<year>/measure/
    part-NNNNN.stats``), written by ``measure[index]``, merged by ``finish_measure``, kept by publish."""
    return plan.staging / MEASURE_DIR / f"part-{index:05d}.stats"


def stage_quarantine(plan: RunPlan, stage: str) -> Path:
    return plan.staging / f"{stage}.quarantine.parquet"
