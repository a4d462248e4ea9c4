"""Run a stage's great-expectations gate on its output plus the stage-level figures it needs.

The stage output (one Parquet file or a shard-set folder) is read as a projection (``biomass.gates.rows``): only
the columns the suite and the summary need, with the text turned into ``text_chars`` batch by batch, so a gate never
holds a year's text in memory.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from biomass.config import BiomassConfig, GateConfig
from biomass.gates.drift import distribution_drift, length_lang_profile
from biomass.gates.rows import Derive, GateRows, project_parquet, project_table
from biomass.gates.runner import GateFailed, GateResult, run_gate
from biomass.gates.suites import GATES, build_suite, columns_read, drop_share_column
from biomass.pipeline.plan import RunPlan, load_counts, stage_output, stage_quarantine
from biomass.config.provenance import ProvenanceConfig
from biomass.schema import empty_table
from biomass.storage import dataset_files, write_json_atomic

log = logging.getLogger(__name__)


def _collapse_summary(plan: RunPlan, rows: pa.Table) -> dict[str, Any]:
    measured = json.loads((plan.staging / "metrics.json").read_text())["metrics"]
    return {k: (float(v) if isinstance(v, (int, float)) else None) for k, v in measured.items()
            if not isinstance(v, (dict, list))}


def _generation_summary(plan: RunPlan, rows: pa.Table) -> dict[str, Any]:
    dedup = load_counts(plan, "dedup")
    total = max(rows.num_rows, 1)
    origins = _value_counts(rows.column("origin"))
    new_sources = _value_counts(rows.column("origin").filter(pc.equal(rows.column("generation"), plan.year)))
    new_total = max(sum(new_sources.values()), 1)
    parent_rows = plan.store.read_manifest(plan.parent).rows if plan.parent is not None else None
    target = plan.cfg.synthetic_share if plan.parent is not None else 0.0
    drift = distribution_drift(length_lang_profile(plan.store.iter_batches(plan.parent, ["text", "lang"])),
                               length_lang_profile([rows])) \
        if plan.parent is not None else {"length_drift": None, "lang_drift": None}
    return {
        **drift,
        "duplicate_rate": dedup.rows_quarantined / max(dedup.rows_in, 1),
        "human_share": (origins["human"] + origins["licensed"]) / total,
        "synthetic_share": new_sources["synthetic"] / new_total,
        "synthetic_share_error": abs(new_sources["synthetic"] / new_total - target),
        "row_change": (rows.num_rows / parent_rows) if parent_rows else None,
    }


def _stage_summary(stage: str) -> Callable[[RunPlan, pa.Table], dict[str, Any]]:
    """The share of a stage's input that it quarantined, from its counts."""
    def summary(plan: RunPlan, rows: pa.Table) -> dict[str, Any]:
        counts = load_counts(plan, stage)
        return {"quarantined_fraction": counts.rows_quarantined / counts.rows_in if counts.rows_in else 0.0}
    return summary


def _filter_summary(plan: RunPlan, rows: pa.Table) -> dict[str, Any]:
    from biomass.pipeline.filtering import drop_shares

    counts = load_counts(plan, "filter")
    summary = _stage_summary("filter")(plan, rows)
    summary["kept_rows"] = counts.rows_out
    summary.update({drop_share_column(name): share for name, share in drop_shares(counts).items()})
    return summary


def _value_counts(values: pa.ChunkedArray) -> Counter:
    """How often each value occurs, counted in Arrow (not a Python list of a million strings)."""
    return Counter({e["values"]: e["counts"] for e in pc.value_counts(values).to_pylist()})


def _signatures(provenance: ProvenanceConfig, batch: pa.Table) -> pa.Array:
    from biomass.provenance.verify import row_verdicts, verify_workers

    return pa.array([v.ok for v in row_verdicts(batch, provenance, workers=verify_workers())], type=pa.bool_())


def _signature_column(plan: RunPlan) -> dict[str, Derive]:
    return {"signature_valid": Derive(("doc_id", "text", "provenance"), partial(_signatures, plan.cfg.provenance))}


@dataclass(frozen=True)
class Gate:
    """What the pipeline needs to run one gate (its checks are ``biomass.gates.suites.SUITES[name]``)."""

    name: str
    stage: str                                                   # whose output (or counts) it judges
    summary: Callable[[RunPlan, pa.Table], dict[str, Any]]       # stage-level figures the summary checks read
    summary_columns: tuple[str, ...] = ()                        # projected columns ``summary`` reads
    # columns computed per batch besides text_chars (never written to the corpus)
    derived: Callable[[RunPlan], dict[str, Derive]] = lambda plan: {}
    rows_from_quarantine: bool = False                           # its evidence rows are what the stage dropped


REGISTRY: dict[str, Gate] = {g.name: g for g in (
    Gate("scrape", "scrape", _stage_summary("scrape")),
    Gate("license", "license", _stage_summary("license")),
    Gate("synthesize", "synthesize", _stage_summary("synthesize"), derived=_signature_column),
    # the filter gate judges figures only; its evidence rows are what the filters dropped
    Gate("filter", "filter", _filter_summary, rows_from_quarantine=True),
    Gate("generation", "assemble", _generation_summary,
         summary_columns=("origin", "generation", "lang", "text_chars")),
    Gate("collapse", "assemble", _collapse_summary),
)}
assert tuple(REGISTRY) == GATES, "every suite needs a Gate here, in the same order"
GATE_INPUT = {name: gate.stage for name, gate in REGISTRY.items()}   # gate -> the stage it reads


def gate_summary(plan: RunPlan, gate: str, rows: pa.Table) -> dict[str, Any]:
    """The stage-level figures a gate checks besides the rows themselves (``rows``: the gate's projection)."""
    return REGISTRY[gate].summary(plan, rows)


def gate_input(plan: RunPlan, gate: str, g: GateConfig) -> GateRows:
    """The gate's projection of its stage's output: what the suite checks plus what the summary needs."""
    spec = REGISTRY[gate]
    keep = [*columns_read(build_suite(gate, g)), *spec.summary_columns]
    path = stage_quarantine(plan, spec.stage) if spec.rows_from_quarantine else stage_output(plan, spec.stage)
    derive = spec.derived(plan)
    if not dataset_files(path):  # no file, or a shard-set folder without shards: e.g. a year without licensed data
        return project_table(empty_table(), keep, derive)
    return project_parquet(path, keep, derive)


def gate_thresholds(cfg: BiomassConfig, gate: str, overrides: dict[str, Any] | None = None) -> GateConfig:
    """One gate's thresholds for this run: the config's, then run-wide overrides, then that gate's own.

    ``{"max_quarantine_fraction": 0.6}`` applies to every gate, ``{"scrape": {"max_quarantine_fraction": 0.7}}``
    to the scrape gate only. A misspelt name or a wrong type is an error, never a silently ignored override.
    """
    if gate not in GATES:
        raise KeyError(f"unknown gate {gate!r}; gates are {', '.join(GATES)}")
    overrides = dict(overrides or {})
    per_gate = {name: overrides.pop(name) for name in GATES if name in overrides}
    for name, scoped in per_gate.items():
        if not isinstance(scoped, dict):
            raise ValueError(f"gate_overrides[{name!r}] must be a mapping of thresholds, not {scoped!r}")
    values = cfg.gates.model_dump()
    if gate == "collapse":
        values["collapse_bounds"] = cfg.metrics.bounds
    if gate == "filter":
        values["filter_bounds"] = cfg.filters.bounds()
    try:
        g = GateConfig.model_validate({**values, **overrides, **per_gate.get(gate, {})})
    except ValidationError as exc:
        raise ValueError(f"bad gate_overrides for gate {gate!r} (gates: {', '.join(GATES)}; thresholds: "
                         f"{', '.join(GateConfig.model_fields)}):\n{exc}") from exc
    unknown = sorted(set(g.filter_bounds) - set(cfg.filters.bounds())) if gate == "filter" else []
    if unknown:
        raise ValueError(f"gate_overrides bound filters {unknown} that are not in the chain "
                         f"({', '.join(cfg.filters.bounds()) or 'empty'})")
    return g


def check_gate_overrides(cfg: BiomassConfig, overrides: dict[str, Any] | None) -> None:
    """Reject bad overrides before any work is done, not at the gate that first reads them."""
    for gate in GATES:
        gate_thresholds(cfg, gate, overrides)


def run_gate_for(plan: RunPlan, gate: str, thresholds: dict[str, Any] | None = None) -> GateResult:
    """Validate a stage's output; record the verdict; raise GateFailed if the year must stop."""
    g = gate_thresholds(plan.cfg, gate, thresholds)
    rows = gate_input(plan, gate, g)
    summary = gate_summary(plan, gate, rows.table)
    result = run_gate(gate, rows, summary, g, gx_root=Path(plan.data_root) / "gx",
                      evidence_dir=plan.staging / "gates", run_name=f"{plan.year}-{gate}")
    gates_dir = plan.staging / "gates"
    gates_dir.mkdir(parents=True, exist_ok=True)
    verdict = {**result.summary(), "summary": summary}
    if thresholds:  # an audited exception: the manifest keeps which thresholds this run changed
        verdict["overrides"] = thresholds
    write_json_atomic(gates_dir / f"{gate}.json", verdict)
    log.info(result.explain())
    if not result.success:
        raise GateFailed(result)
    return result
