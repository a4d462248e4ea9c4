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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from biomass.config import GateConfig
from biomass.exitcodes import CHECK_FAILED
from biomass.gates.rows import Derive, GateRows, project_parquet, project_table
from biomass.gates.suites import expected_bounds, SUITE_VERSION, Check, build_suite, columns_read
from biomass.storage import write_bytes_atomic, write_parquet

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


CHUNK_ROWS = 100_000  # rows GX validates at once: its memory is bounded by this, not by the stage's size
# Checks about the whole table, which no chunk can judge alone: evaluated over the projection in Arrow instead.
WHOLE_TABLE = ("ExpectTableRowCountToBeBetween", "ExpectColumnValuesToBeUnique")


def _frame(batch: str, rows: GateRows, checks: list[Check], summary: dict[str, Any]) -> pd.DataFrame:
    """The one frame of the ``schema`` or ``summary`` batch (the ``rows`` batch comes in chunks: ``_chunks``)."""
    import pandas as pd  # here, not at the top: importing the pipeline (DAG parsing, `biomass generations`) skips it

    if batch == "schema":
        return pd.DataFrame(columns=list(rows.columns))  # the names and their order; no data
    return pd.DataFrame([summary])


def _chunks(rows: GateRows, checks: list[Check], chunk_rows: int) -> Iterator[pd.DataFrame]:
    """The ``rows`` batch as frames of at most ``chunk_rows`` rows, indexed by global row position (so GX's
    unexpected_index_list names rows of the whole stage output); one empty frame for an empty table."""
    import pandas as pd

    columns = [c for c in columns_read(checks) if c in rows.table.column_names]
    if "text" in columns:
        raise ValueError("a gate never loads document text into pandas; check a derived column (text_chars)")
    table = rows.table.select(columns)
    for start in range(0, max(table.num_rows, 1), chunk_rows):
        frame = table.slice(start, chunk_rows).to_pandas()
        frame.index = pd.RangeIndex(start, start + len(frame))
        yield frame


@dataclass
class Validation:
    """What GX said about a suite's batches: failed checks, flagged row positions, raw results, Data Docs pages."""

    failed: list[dict[str, Any]] = field(default_factory=list)
    failing_rows: dict[str, list[Any]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, str] = field(default_factory=dict)
    docs: str | None = None


@dataclass
class Tally:
    """One column-map check's counts summed over chunks, judged as GX judges the whole column.

    ``nonnull`` is None for ExpectColumnValuesToNotBeNull, whose percentage GX takes over all rows; ``error``:
    the first chunk's result when GX could not evaluate the check (e.g. a missing column)."""

    elements: int = 0
    nonnull: int | None = 0
    unexpected: int = 0
    indices: list[int] = field(default_factory=list)
    error: dict[str, Any] | None = None

    def add(self, result: dict[str, Any], success: bool) -> None:
        if "unexpected_count" not in result:
            if self.error is None:
                self.error = {"success": success, "result": result}
            return
        self.elements += result.get("element_count") or 0
        if self.nonnull is not None:
            self.nonnull = None if "missing_count" not in result \
                else self.nonnull + (result.get("element_count") or 0) - result["missing_count"]
        self.unexpected += result["unexpected_count"] or 0
        self.indices.extend(result.get("unexpected_index_list") or [])

    def judge(self, mostly: float) -> tuple[bool, dict[str, Any] | None]:
        """(success, observed) as GX's ColumnMapExpectation / ExpectColumnValuesToNotBeNull give them."""
        if self.error is not None:
            return self.error["success"], _observed(self.error["result"])
        considered = self.elements if self.nonnull is None else self.nonnull
        success = True if self.elements == 0 or considered == 0 \
            else (float(considered) - float(self.unexpected)) / float(considered) >= mostly
        percent = self.unexpected / considered * 100 if self.elements > 0 and considered > 0 else None
        return success, _observed({"unexpected_count": self.unexpected, "unexpected_percent": percent})


def _whole_table(check: Check, rows: GateRows) -> tuple[bool, Any, list[int]]:
    """(success, observed, flagged rows) of a check no chunk can judge alone, as GX judges the whole table."""
    import pyarrow.compute as pc

    if check.expectation == "ExpectTableRowCountToBeBetween":
        n, lo, hi = rows.num_rows, check.kwargs.get("min_value"), check.kwargs.get("max_value")
        return (lo is None or n >= lo) and (hi is None or n <= hi), n, []
    column = check.kwargs["column"]
    if column not in rows.table.column_names:
        return False, None, []  # GX cannot evaluate a check on a missing column: it fails without a figure
    values = rows.table.column(column)
    indices: list[int] = []
    if len(values):  # GX flags every row whose (non-null) value occurs more than once: duplicated(keep=False)
        counts = pc.value_counts(pc.drop_null(values))
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        indices = pc.indices_nonzero(pc.is_in(values, value_set=repeated)).to_pylist()
    tally = Tally(elements=len(values), nonnull=len(values) - values.null_count, unexpected=len(indices))
    success, observed = tally.judge(check.kwargs.get("mostly", 1.0))
    return success, observed, indices


def _checkpoint(gx, ctx, gate: str, batch: str, checks: list[Check], docs: bool = True):
    """``docs``: the run updates Data Docs (index included, which costs more as the store grows)."""
    suite = gx.ExpectationSuite(name=f"biomass.{gate}.{batch}")
    for i, check in enumerate(checks):
        suite.add_expectation(getattr(gx.expectations, check.expectation)(**check.kwargs, meta={"biomass_check": i}))
    suite = ctx.suites.add_or_update(suite)
    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"biomass.{gate}.{batch}", data=_batch_definition(ctx, f"{gate}.{batch}"),
                                suite=suite))
    return ctx.checkpoints.add_or_update(gx.Checkpoint(
        name=f"biomass.{gate}.{batch}", validation_definitions=[definition],
        actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs")] if docs else [],
        result_format={"result_format": "COMPLETE", "partial_unexpected_count": SAMPLE_ROWS}))


def _run(gx, ctx, checkpoint, frame, run_name: str) -> Iterator[tuple[dict[str, Any], Any, Any]]:
    """(raw result, the suite's results, validation result id) of one checkpoint run on one frame."""
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, run_id=gx.RunIdentifier(run_name=run_name))
    for identifier, validation in outcome.run_results.items():
        yield validation.to_json_dict(), validation.results, identifier


def _page(ctx, identifier) -> str | None:
    return next((s["site_url"] for s in ctx.get_docs_sites_urls(resource_identifier=identifier)), None)


def _failure(batch: str, check: Check, observed: Any) -> dict[str, Any]:
    return {"batch": batch, "expectation": check.expectation, "column": check.kwargs.get("column"),
            "why": check.why, "kwargs": check.kwargs, "observed": observed}


def _validate_rows(gx, ctx, gate: str, checks: list[Check], rows: GateRows, *, run_name: str, chunk_rows: int,
                   out: Validation) -> None:
    """The ``rows`` checks, GX validating one chunk at a time and the chunks' counts summed per check.

    A chunk is validated without ``mostly`` (every check counts its unexpected rows) and the share is judged over
    the sum, as GX judges one whole column; uniqueness and the row count are judged over the whole projection.
    The Data Docs page of the rows batch is the first chunk GX flagged rows in (else the first chunk), built once
    at the end: chunks run without the Data Docs action, which rebuilds the site's index each time."""
    chunked = [c for c in checks if c.expectation not in WHOLE_TABLE]
    tallies = [Tally(nonnull=None if c.expectation == "ExpectColumnValuesToNotBeNull" else 0) for c in chunked]
    raw: list[dict[str, Any]] = []
    if chunked:
        checkpoint = _checkpoint(gx, ctx, gate, "rows", [Check(c.expectation, {k: v for k, v in c.kwargs.items()
                                                                              if k != "mostly"}, c.batch, c.why)
                                                         for c in chunked], docs=False)
        shown = None
        for frame in _chunks(rows, chunked, chunk_rows):
            for result_json, results, identifier in _run(gx, ctx, checkpoint, frame, run_name):
                flagged = False
                for res in results:
                    tallies[res.expectation_config.meta["biomass_check"]].add(res.result, res.success)
                    flagged |= not res.success
                if shown is None or (flagged and not raw):
                    shown = identifier
                if flagged and len(raw) < 3:  # evidence: the first chunks GX flagged, not every chunk's lists
                    raw.append(result_json)
            del frame
        ctx.build_data_docs(resource_identifiers=[shown])
        page = _page(ctx, shown)
        if page:
            out.pages["rows"] = page
    judged = {id(c): t for c, t in zip(chunked, tallies)}
    for check in checks:
        if check.expectation in WHOLE_TABLE:
            success, observed, indices = _whole_table(check, rows)
        else:
            tally = judged[id(check)]
            success, observed = tally.judge(check.kwargs.get("mostly", 1.0))
            indices = tally.indices
        if success:
            continue
        out.failed.append(_failure("rows", check, observed))
        column = check.kwargs.get("column")
        if column and indices:
            out.failing_rows.setdefault(column, []).extend(indices)
    out.raw["rows"] = {"flagged_chunks": raw, "failed": [f for f in out.failed if f["batch"] == "rows"]}


def validate(gate: str, checks: list[Check], rows: GateRows, summary: dict[str, Any], *,
             gx_root: str | os.PathLike[str], run_name: str, chunk_rows: int = CHUNK_ROWS) -> Validation:
    """Run each batch's checks through a GX checkpoint (which also updates Data Docs): the schema and summary
    batches as one frame each, the rows batch ``chunk_rows`` rows at a time (``_validate_rows``).

    Frames are made one at a time, so only one is alive at once.
    """
    gx = _quiet_gx()
    ctx = _context(gx, Path(gx_root))
    out = Validation()
    for batch in BATCHES:
        batch_checks: list[Check] = [c for c in checks if c.batch == batch]
        if not batch_checks:
            continue
        if batch == "rows":
            _validate_rows(gx, ctx, gate, batch_checks, rows, run_name=run_name, chunk_rows=chunk_rows, out=out)
            continue
        checkpoint = _checkpoint(gx, ctx, gate, batch, batch_checks)
        for result_json, results, identifier in _run(gx, ctx, checkpoint, _frame(batch, rows, batch_checks, summary),
                                                     run_name):
            out.raw[batch] = result_json
            page = _page(ctx, identifier)
            if page:
                out.pages[batch] = page
            for res in results:
                if not res.success:
                    check = batch_checks[res.expectation_config.meta["biomass_check"]]
                    column = check.kwargs.get("column")
                    out.failed.append(_failure(batch, check, summary.get(column) if batch == "summary"
                                               else _observed(res.result)))
    out.docs = next((s["site_url"] for s in ctx.get_docs_sites_urls()), None)
    return out


def run_gate(gate: str, rows: GateRows | pa.Table | str | os.PathLike[str], summary: dict[str, Any],
             thresholds: GateConfig, *, gx_root: str | os.PathLike[str], evidence_dir: str | os.PathLike[str],
             run_name: str, derive: dict[str, Derive] | None = None, chunk_rows: int = CHUNK_ROWS) -> GateResult:
    """Validate a stage's output and the one-row ``summary`` against the gate's suite; write evidence on failure.

    ``rows``: the stage's Parquet file or shard-set folder (read batch by batch), a table, or a projection made with
    ``gate_rows``; ``derive``: columns to compute per batch besides ``text_chars`` (e.g. ``signature_valid``);
    ``chunk_rows``: how many rows GX validates at once (the verdict does not depend on it).
    """
    checks = build_suite(gate, thresholds)
    rows = gate_rows(rows, checks, derive)
    v = validate(gate, checks, rows, summary, gx_root=gx_root, run_name=run_name, chunk_rows=chunk_rows)
    result = GateResult(gate=gate, success=not v.failed, evaluated=len(checks), failed=v.failed, data_docs=v.docs,
                        pages=v.pages)
    if v.failed:
        out = Path(evidence_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(out / f"{gate}.result.json",
                           json.dumps({"failed": v.failed, "gx": v.raw}, indent=2, default=str).encode())
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
