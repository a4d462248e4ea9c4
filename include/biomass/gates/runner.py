"""Run a gate's suite with great-expectations 1.x, keep the evidence, and say plainly why it failed.

GX is imported here, inside the function, so DAG parsing never pays for it, and its INFO chatter and progress
bars are silenced. Results that go into the manifest carry no timestamps, so re-runs stay byte-identical;
the full GX result and Data Docs (which do carry run times) stay beside the staging data.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from biomass.config import GateConfig
from biomass.gates.suites import SUITE_VERSION, Check, build_suite
from biomass.storage import write_parquet

log = logging.getLogger(__name__)
SAMPLE_ROWS = 20


class GateFailed(RuntimeError):
    """A gate's suite did not pass: the year must stop here and publish nothing."""

    def __init__(self, result: "GateResult"):
        self.result = result
        super().__init__(result.explain())


@dataclass
class GateResult:
    gate: str
    success: bool
    evaluated: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    data_docs: str | None = None
    pages: dict[str, str] = field(default_factory=dict)
    evidence_dir: str | None = None

    @property
    def failing_page(self) -> str | None:
        """The Data Docs page of the first batch that failed (where a reader should land), else the index."""
        return next((self.pages[f["batch"]] for f in self.failed if f.get("batch") in self.pages), self.data_docs)

    def summary(self) -> dict[str, Any]:
        """The deterministic part, for the manifest."""
        return {"success": self.success, "evaluated": self.evaluated, "suite_version": SUITE_VERSION,
                "failed": [{k: f[k] for k in ("expectation", "column", "why", "observed")} for f in self.failed]}

    def explain(self) -> str:
        if self.success:
            return f"gate {self.gate!r} passed {self.evaluated} expectations"
        lines = [f"gate {self.gate!r} FAILED {len(self.failed)} of {self.evaluated} expectations:"]
        for f in self.failed:
            bounds = {k: v for k, v in f.get("kwargs", {}).items() if k in ("min_value", "max_value", "mostly")}
            lines.append(f"  - {f['expectation']}({f['column'] or ''}) [{f['why']}]: observed {f['observed']}"
                         + (f", expected {bounds}" if bounds else ""))
        if self.evidence_dir:
            lines.append(f"  evidence (failing rows, full result): {self.evidence_dir}")
        if self.failing_page:
            lines.append(f"  Data Docs: {self.failing_page}")
        return "\n".join(lines)


def _quiet_gx():
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


def _context(gx, gx_root: Path):
    gx_root.mkdir(parents=True, exist_ok=True)
    ctx = gx.get_context(mode="file", project_root_dir=str(gx_root))
    try:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    except Exception:  # progress bars are cosmetic; never fail a gate over them
        pass
    return ctx


def _batch_definition(ctx, name: str):
    source = ctx.data_sources.add_or_update_pandas("biomass")
    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name)
    try:
        return asset.get_batch_definition("whole")
    except (KeyError, LookupError):
        return asset.add_batch_definition_whole_dataframe("whole")


def _observed(result: dict[str, Any]) -> Any:
    if "observed_value" in result:
        return result["observed_value"]
    if "unexpected_count" in result:
        return {"unexpected_count": result["unexpected_count"],
                "unexpected_percent": round(float(result.get("unexpected_percent") or 0.0), 4)}
    return None


def run_gate(gate: str, rows: pa.Table, summary: dict[str, Any], thresholds: GateConfig, *,
             gx_root: str | os.PathLike[str], evidence_dir: str | os.PathLike[str], run_name: str) -> GateResult:
    """Validate ``rows`` and the one-row ``summary`` against the gate's suite; write evidence on failure."""
    gx = _quiet_gx()
    checks = build_suite(gate, thresholds)
    ctx = _context(gx, Path(gx_root))
    frames = {"rows": rows.to_pandas(), "summary": pd.DataFrame([summary])}
    failed: list[dict[str, Any]] = []
    failing_values: dict[str, list[Any]] = {}
    raw_results: dict[str, Any] = {}
    pages: dict[str, str] = {}
    for batch in ("rows", "summary"):
        batch_checks: list[Check] = [c for c in checks if c.batch == batch]
        if not batch_checks:
            continue
        suite = gx.ExpectationSuite(name=f"biomass.{gate}.{batch}")
        for i, check in enumerate(batch_checks):
            suite.add_expectation(getattr(gx.expectations, check.expectation)(**check.kwargs,
                                                                             meta={"biomass_check": i}))
        suite = ctx.suites.add_or_update(suite)
        definition = ctx.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=f"biomass.{gate}.{batch}", data=_batch_definition(ctx, f"{gate}.{batch}"),
                                    suite=suite))
        checkpoint = ctx.checkpoints.add_or_update(gx.Checkpoint(
            name=f"biomass.{gate}.{batch}", validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")],
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": SAMPLE_ROWS}))
        outcome = checkpoint.run(batch_parameters={"dataframe": frames[batch]},
                                 run_id=gx.RunIdentifier(run_name=run_name))
        for identifier, validation in outcome.run_results.items():
            raw_results[batch] = validation.to_json_dict()
            pages.update({batch: s["site_url"] for s in ctx.get_docs_sites_urls(resource_identifier=identifier)})
            for res in validation.results:
                if res.success:
                    continue
                check = batch_checks[res.expectation_config.meta["biomass_check"]]
                column = check.kwargs.get("column")
                observed = summary.get(column) if batch == "summary" else _observed(res.result)
                failed.append({"batch": batch, "expectation": check.expectation, "column": column, "why": check.why,
                               "kwargs": check.kwargs, "observed": observed})
                if batch == "rows" and column and res.result.get("unexpected_index_list"):
                    failing_values.setdefault(column, []).extend(res.result["unexpected_index_list"])
    docs = next((s["site_url"] for s in ctx.get_docs_sites_urls()), None)
    result = GateResult(gate=gate, success=not failed, evaluated=len(checks), failed=failed, data_docs=docs,
                        pages=pages)
    if failed:
        out = Path(evidence_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{gate}.result.json").write_text(json.dumps({"failed": failed, "gx": raw_results}, indent=2,
                                                            default=str))
        _write_failing_rows(rows, failing_values, out / f"{gate}.failing_rows.parquet")
        result.evidence_dir = str(out)
    return result


def _write_failing_rows(rows: pa.Table, failing: dict[str, list[Any]], path: Path) -> None:
    """The rows an expectation flagged (by index), or a head sample when the failure is table-level."""
    indices: list[int] = sorted({i for ids in failing.values() for i in ids if isinstance(i, int)})
    sample = rows.take(indices[: SAMPLE_ROWS * 5]) if indices else rows.slice(0, SAMPLE_ROWS)
    write_parquet(sample, path)
