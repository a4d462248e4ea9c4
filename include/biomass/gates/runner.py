"""Run a gate's suite with great-expectations 1.x, keep the evidence, and say plainly why it failed.

GX is imported here, inside the function, so DAG parsing never pays for it, and its INFO chatter and progress
bars are silenced. Results that go into the manifest carry no timestamps, so re-runs stay byte-identical;
the full GX result and Data Docs (which do carry run times) stay beside the staging data.

Document text never reaches pandas: the ``rows`` batch is a projection without ``text`` (``biomass.gates.rows``),
and the failing-rows evidence is read back from the stage's Parquet file (or shards) for the flagged rows only.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from biomass.config import GateConfig
from biomass.exitcodes import CHECK_FAILED
from biomass.gates.rows import Derive, GateRows, project_parquet, project_table
from biomass.gates.suites import expected_bounds, SUITE_VERSION, Check, build_suite, columns_read
from biomass.storage import write_parquet

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
SAMPLE_ROWS = 20
BATCHES = ("schema", "rows", "summary")


class GateFailed(RuntimeError):
    """A gate's suite did not pass: the year must stop here and publish nothing."""

    exit_code = CHECK_FAILED

    def __init__(self, result: "GateResult"):
        self.result = result
        super().__init__(result.explain())

    def __reduce__(self):   # rebuilt from its result (not its message), so it crosses process boundaries whole
        return type(self), (self.result,)


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
            bounds = expected_bounds(f)
            lines.append(f"  - {f['expectation']}({f['column'] or ''}) [{f['why']}]: observed {f['observed']}"
                         + (f", expected {bounds}" if bounds else ""))
        if self.evidence_dir:
            lines.append(f"  evidence (failing rows, full result): {self.evidence_dir}")
        if self.failing_page:
            lines.append(f"  Data Docs: {self.failing_page}")
        return "\n".join(lines)


def _quiet_gx():
    """Import GX without its optional pyspark, unless the Spark dedup backend has already loaded pyspark.

    GX's compatibility layer imports pyspark whenever it is installed (~0.5 s, and pyspark.sql.connect calls
    ``sys.exit(0)`` when imported under ``python -c`` without grpc). The gates use pandas batches only, so GX
    is shown pyspark as absent; the block is lifted at once, so a later Spark import is unaffected.
    """
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    if "great_expectations" in sys.modules or "pyspark" in sys.modules:
        import great_expectations as gx

        return gx
    sys.modules["pyspark"] = None  # type: ignore[assignment]  # makes `import pyspark` raise ImportError
    try:
        import great_expectations as gx
    finally:
        if sys.modules.get("pyspark", 0) is None:
            del sys.modules["pyspark"]
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


def gate_rows(rows: GateRows | pa.Table | str | os.PathLike[str], checks: list[Check],
              derive: dict[str, Derive] | None = None) -> GateRows:
    """What the ``rows`` checks see: a stage output's Parquet file, shard-set folder or table, projected; a
    ``GateRows`` as is."""
    if isinstance(rows, GateRows):
        return rows
    if isinstance(rows, pa.Table):
        return project_table(rows, columns_read(checks), derive)
    return project_parquet(rows, columns_read(checks), derive)


def _frame(batch: str, rows: GateRows, checks: list[Check], summary: dict[str, Any]) -> pd.DataFrame:
    import pandas as pd  # here, not at the top: importing the pipeline (DAG parsing, `biomass generations`) skips it

    if batch == "schema":
        return pd.DataFrame(columns=list(rows.columns))  # the names and their order; no data
    if batch == "summary":
        return pd.DataFrame([summary])
    columns = [c for c in columns_read(checks) if c in rows.table.column_names]
    if "text" in columns:
        raise ValueError("a gate never loads document text into pandas; check a derived column (text_chars)")
    return rows.table.select(columns).to_pandas()


@dataclass
class Validation:
    """What GX said about a suite's batches: failed checks, flagged row positions, raw results, Data Docs pages."""

    failed: list[dict[str, Any]] = field(default_factory=list)
    failing_rows: dict[str, list[Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)
    docs: str | None = None


def validate(gate: str, checks: list[Check], frame: Callable[[str, list[Check]], pd.DataFrame],
             summary: dict[str, Any], *, gx_root: str | os.PathLike[str], run_name: str) -> Validation:
    """Run each batch's checks through a GX checkpoint (which also updates Data Docs) on ``frame(batch, checks)``.

    Frames are made one batch at a time, so only one is alive at once.
    """
    gx = _quiet_gx()
    ctx = _context(gx, Path(gx_root))
    out = Validation()
    for batch in BATCHES:
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
        outcome = checkpoint.run(batch_parameters={"dataframe": frame(batch, batch_checks)},
                                 run_id=gx.RunIdentifier(run_name=run_name))
        for identifier, validation in outcome.run_results.items():
            out.raw[batch] = validation.to_json_dict()
            out.pages.update({batch: s["site_url"] for s in ctx.get_docs_sites_urls(resource_identifier=identifier)})
            for res in validation.results:
                if res.success:
                    continue
                check = batch_checks[res.expectation_config.meta["biomass_check"]]
                column = check.kwargs.get("column")
                observed = summary.get(column) if batch == "summary" else _observed(res.result)
                out.failed.append({"batch": batch, "expectation": check.expectation, "column": column,
                                   "why": check.why, "kwargs": check.kwargs, "observed": observed})
                if batch == "rows" and column and res.result.get("unexpected_index_list"):
                    out.failing_rows.setdefault(column, []).extend(res.result["unexpected_index_list"])
    out.docs = next((s["site_url"] for s in ctx.get_docs_sites_urls()), None)
    return out


def run_gate(gate: str, rows: GateRows | pa.Table | str | os.PathLike[str], summary: dict[str, Any],
             thresholds: GateConfig, *, gx_root: str | os.PathLike[str], evidence_dir: str | os.PathLike[str],
             run_name: str, derive: dict[str, Derive] | None = None) -> GateResult:
    """Validate a stage's output and the one-row ``summary`` against the gate's suite; write evidence on failure.

    ``rows``: the stage's Parquet file or shard-set folder (read batch by batch), a table, or a projection made with
    ``gate_rows``; ``derive``: columns to compute per batch besides ``text_chars`` (e.g. ``signature_valid``).
    """
    checks = build_suite(gate, thresholds)
    rows = gate_rows(rows, checks, derive)
    v = validate(gate, checks, lambda batch, batch_checks: _frame(batch, rows, batch_checks, summary), summary,
                 gx_root=gx_root, run_name=run_name)
    result = GateResult(gate=gate, success=not v.failed, evaluated=len(checks), failed=v.failed, data_docs=v.docs,
                        pages=v.pages)
    if v.failed:
        out = Path(evidence_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{gate}.result.json").write_text(json.dumps({"failed": v.failed, "gx": v.raw}, indent=2,
                                                            default=str))
        _write_failing_rows(rows, v.failing_rows, out / f"{gate}.failing_rows.parquet")
        result.evidence_dir = str(out)
    return result


def _write_failing_rows(rows: GateRows, failing: dict[str, list[Any]], path: Path) -> None:
    """The full records an expectation flagged (by row position), or a head sample when the failure is
    table-level, with the columns the gate derived (text_chars, ...) beside them."""
    indices: list[int] = sorted({i for ids in failing.values() for i in ids if isinstance(i, int)})
    if indices:
        indices = indices[: SAMPLE_ROWS * 5]
        sample, derived = rows.records(indices), rows.table.take(pa.array(indices, pa.int64()))
    else:
        sample = rows.head(SAMPLE_ROWS)
        derived = rows.table.slice(0, sample.num_rows)
    for name in derived.column_names:
        if name not in sample.column_names:
            sample = sample.append_column(name, derived.column(name))
    write_parquet(sample, path)
