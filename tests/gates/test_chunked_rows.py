"""The rows batch validated chunk by chunk gives the verdicts, figures and flagged rows of GX on the whole table.

The reference is great-expectations itself, run as the gates ran it before chunking: one checkpoint over the whole
projection with the suite as written (``mostly`` and all). Records are fake (``make_table``), bent one column at a
time so each check fails somewhere, often in the last chunk only.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from biomass.config import GateConfig
from biomass.gates.rows import project_table
from biomass.gates.runner import _checkpoint, _context, _quiet_gx, _run, run_gate, validate
from biomass.gates.suites import build_suite, columns_read
from tests.unit.test_storage import make_table

G = GateConfig(min_rows=2, min_chars=50, min_lang_share=0.8)
N = 7


def _set(table: pa.Table, column: str, row: int, value) -> pa.Table:
    values = table.column(column).to_pylist()
    values[row] = value
    return table.set_column(table.column_names.index(column), column, pa.array(values, table.schema.field(column).type))


def _cases() -> dict[str, pa.Table]:
    t = make_table(N)
    last = N - 1
    return {
        "clean": t,
        "duplicate across chunks": pa.concat_tables([t, t.slice(0, 1)]),
        "duplicate within the last chunk": pa.concat_tables([t, t.slice(last, 1)]),
        "one foreign language, share still above mostly": _set(t, "lang", 2, "de"),
        "foreign languages spread, share below mostly": _set(_set(t, "lang", 0, "de"), "lang", last, "fr"),
        "null language is not counted": _set(_set(t, "lang", last, None), "lang", 3, "de"),
        "short text in the last row": _set(t, "text", last, "too short"),
        "null text in the last row": _set(t, "text", last, None),
        "null doc_id in the last row": _set(t, "doc_id", last, None),
        "score out of range in the last row": _set(t, "synthetic_score", last, 1.5),
        "unknown origin and wrong source": _set(_set(t, "origin", 1, "alien"), "source", last, "license"),
        "too few rows": t.slice(0, 1),
        "empty": t.slice(0, 0),
        "missing column": t.drop(["synthetic_score"]),
    }


CASES = _cases()


def _whole_table_gx(tmp_path: Path, gate: str, table: pa.Table) -> tuple[list[tuple], dict[str, list[int]]]:
    """GX over the whole projection at once: (failed (expectation, column, observed), flagged rows by column)."""
    from biomass.gates.runner import _observed

    checks = [c for c in build_suite(gate, G) if c.batch == "rows"]
    rows = project_table(table, columns_read(checks))
    gx = _quiet_gx()
    ctx = _context(gx, tmp_path / "gx-whole")
    frame = rows.table.select([c for c in columns_read(checks) if c in rows.table.column_names]).to_pandas()
    failed, flagged = [], {}
    for _, results, _ in _run(gx, ctx, _checkpoint(gx, ctx, gate, "rows", checks), frame, "whole"):
        for res in results:
            if not res.success:
                check = checks[res.expectation_config.meta["biomass_check"]]
                column = check.kwargs.get("column")
                failed.append((check.expectation, column, _observed(res.result)))
                if column and res.result.get("unexpected_index_list"):
                    flagged.setdefault(column, []).extend(res.result["unexpected_index_list"])
    return sorted(failed, key=repr), flagged


def _chunked(tmp_path: Path, gate: str, table: pa.Table, chunk_rows: int):
    checks = build_suite(gate, G)
    rows = project_table(table, columns_read(checks))
    v = validate(gate, checks, rows, {"quarantined_fraction": 0.0}, gx_root=tmp_path / "gx", run_name="chunked",
                 chunk_rows=chunk_rows)
    failed = [(f["expectation"], f["column"], f["observed"]) for f in v.failed if f["batch"] == "rows"]
    return sorted(failed, key=repr), v.failing_rows


@pytest.mark.parametrize("case", list(CASES))
def test_chunked_rows_match_gx_on_the_whole_table(tmp_path, case):
    want_failed, want_rows = _whole_table_gx(tmp_path, "scrape", CASES[case])
    for chunk_rows in (2, 10_000):
        got_failed, got_rows = _chunked(tmp_path / str(chunk_rows), "scrape", CASES[case], chunk_rows)
        assert got_failed == want_failed, (case, chunk_rows)
        assert {c: sorted(i) for c, i in got_rows.items()} == {c: sorted(i) for c, i in want_rows.items()}, \
            (case, chunk_rows)


def test_the_cases_fail_the_checks_they_bend(tmp_path):
    """The fixtures are not vacuous: GX on the whole table fails what each case bends, and passes the clean one."""
    failed = {case: {f[:2] for f in _whole_table_gx(tmp_path / str(i), "scrape", t)[0]}
              for i, (case, t) in enumerate(CASES.items())}
    assert failed["clean"] == set() and failed["one foreign language, share still above mostly"] == set()
    assert ("ExpectColumnValuesToBeUnique", "doc_id") in failed["duplicate across chunks"]
    assert ("ExpectColumnValuesToBeInSet", "lang") in failed["foreign languages spread, share below mostly"]
    assert ("ExpectColumnValuesToBeBetween", "text_chars") in failed["short text in the last row"]
    assert ("ExpectColumnValuesToBeBetween", "synthetic_score") in failed["score out of range in the last row"]
    assert ("ExpectTableRowCountToBeBetween", None) in failed["too few rows"]


def test_a_failing_row_in_the_last_chunk_fails_the_gate_and_is_kept_as_evidence(tmp_path):
    import pyarrow.parquet as pq

    table = CASES["score out of range in the last row"]
    result = run_gate("scrape", table, {"quarantined_fraction": 0.0}, G, gx_root=tmp_path / "gx",
                      evidence_dir=tmp_path / "evidence", run_name="last", chunk_rows=2)
    assert not result.success
    assert [(f["column"], f["observed"]) for f in result.failed] == \
        [("synthetic_score", {"unexpected_count": 1, "unexpected_percent": round(100 / N, 4)})]
    kept = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert kept.column("doc_id").to_pylist() == [table.column("doc_id")[N - 1].as_py()]
    assert result.failing_page and Path(result.failing_page.removeprefix("file://")).exists()


def test_the_gate_result_does_not_depend_on_the_chunk_size(tmp_path):
    table = CASES["foreign languages spread, share below mostly"]
    summaries = [run_gate("scrape", table, {"quarantined_fraction": 0.7}, G, gx_root=tmp_path / f"gx{k}",
                          evidence_dir=tmp_path / f"ev{k}", run_name="k", chunk_rows=k).summary()
                 for k in (1, 3, 100_000)]
    assert summaries[0] == summaries[1] == summaries[2] and not summaries[0]["success"]
    assert pc.sum(pc.equal(table.column("lang"), "en")).as_py() == N - 2
