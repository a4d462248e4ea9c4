"""Run a stage's great-expectations gate on its output plus the stage-level figures it needs."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import ValidationError

from biomass.config import BiomassConfig, GateConfig
from biomass.gates.runner import GateFailed, GateResult, run_gate
from biomass.gates.suites import DERIVED_COLUMNS, GATES
from biomass.pipeline.plan import RunPlan, load_counts, read_stage, stage_output
from biomass.schema import canonical_json

log = logging.getLogger(__name__)


GATE_INPUT = {"scrape": "scrape", "license": "license", "synthesize": "synthesize", "generation": "assemble",
              "collapse": "assemble"}


def gate_summary(plan: RunPlan, gate: str, rows: pa.Table) -> dict[str, Any]:
    """The stage-level figures a gate checks besides the rows themselves."""
    stage = GATE_INPUT[gate]
    if gate == "collapse":
        measured = json.loads((plan.staging / "metrics.json").read_text())["metrics"]
        return {k: (float(v) if isinstance(v, (int, float)) else None) for k, v in measured.items()
                if not isinstance(v, (dict, list))}
    if gate == "generation":
        dedup = load_counts(plan, "dedup")
        total = max(rows.num_rows, 1)
        origins = Counter(rows.column("origin").to_pylist())
        new_sources = Counter(rows.filter(pc.equal(rows.column("generation"), plan.year)).column("origin")
                              .to_pylist())
        new_total = max(sum(new_sources.values()), 1)
        parent_rows = plan.store.manifest(plan.parent)["rows"] if plan.parent is not None else None
        target = plan.cfg.synthetic_share if plan.parent is not None else 0.0
        drift = distribution_drift(plan.store.read(plan.parent, columns=["text", "lang"]), rows) \
            if plan.parent is not None else {"length_drift": None, "lang_drift": None}
        return {
            **drift,
            "duplicate_rate": dedup.rows_quarantined / max(dedup.rows_in, 1),
            "human_share": (origins["human"] + origins["licensed"]) / total,
            "synthetic_share": new_sources["synthetic"] / new_total,
            "synthetic_share_error": abs(new_sources["synthetic"] / new_total - target),
            "row_change": (rows.num_rows / parent_rows) if parent_rows else None,
        }
    counts = load_counts(plan, stage)
    return {"quarantined_fraction": counts.rows_quarantined / counts.rows_in if counts.rows_in else 0.0}


LENGTH_BINS = np.logspace(1, 7, 25)  # characters, log-spaced: 10 .. 10M


def distribution_drift(before: pa.Table, after: pa.Table) -> dict[str, float]:
    """Jensen-Shannon divergence (bits) of text-length histograms, and total variation of language shares."""
    def hist(table: pa.Table) -> np.ndarray:
        lengths = pc.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
        counts, _ = np.histogram(lengths, bins=LENGTH_BINS)
        return counts / max(counts.sum(), 1)

    p, q = hist(before), hist(after)
    m = (p + q) / 2
    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
    langs_before = Counter(before.column("lang").to_pylist())
    langs_after = Counter(after.column("lang").to_pylist())
    nb, na = max(sum(langs_before.values()), 1), max(sum(langs_after.values()), 1)
    tv = 0.5 * sum(abs(langs_before[k] / nb - langs_after[k] / na) for k in set(langs_before) | set(langs_after))
    return {"length_drift": 0.5 * kl(p, m) + 0.5 * kl(q, m), "lang_drift": tv}


def _derive(gate: str, rows: pa.Table, plan: RunPlan) -> pa.Table:
    for column in DERIVED_COLUMNS.get(gate, ()):
        if column == "signature_valid":
            from biomass.provenance.verify import row_verdicts

            valid = [v.ok for v in row_verdicts(rows, plan.cfg.provenance)]
            rows = rows.append_column("signature_valid", pa.array(valid, type=pa.bool_()))
    return rows


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
        values["collapse_bounds"] = [b.model_dump() for b in cfg.metrics.bounds]
    try:
        return GateConfig.model_validate({**values, **overrides, **per_gate.get(gate, {})})
    except ValidationError as exc:
        raise ValueError(f"bad gate_overrides for gate {gate!r} (gates: {', '.join(GATES)}; thresholds: "
                         f"{', '.join(GateConfig.model_fields)}):\n{exc}") from exc


def check_gate_overrides(cfg: BiomassConfig, overrides: dict[str, Any] | None) -> None:
    """Reject bad overrides before any work is done, not at the gate that first reads them."""
    for gate in GATES:
        gate_thresholds(cfg, gate, overrides)


def run_gate_for(plan: RunPlan, gate: str, thresholds: dict[str, Any] | None = None) -> GateResult:
    """Validate a stage's output; record the verdict; raise GateFailed if the year must stop."""
    g = gate_thresholds(plan.cfg, gate, thresholds)
    rows = read_stage(stage_output(plan, GATE_INPUT[gate]))
    summary = gate_summary(plan, gate, rows)
    result = run_gate(gate, _derive(gate, rows, plan), summary, g, gx_root=Path(plan.data_root) / "gx",
                      evidence_dir=plan.staging / "gates", run_name=f"{plan.year}-{gate}")
    gates_dir = plan.staging / "gates"
    gates_dir.mkdir(parents=True, exist_ok=True)
    verdict = {**result.summary(), "summary": summary}
    if thresholds:  # an audited exception: the manifest keeps which thresholds this run changed
        verdict["overrides"] = thresholds
    (gates_dir / f"{gate}.json").write_text(canonical_json(verdict) + "\n")
    log.info(result.explain())
    if not result.success:
        raise GateFailed(result)
    return result
