import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.config import GateConfig
from biomass.gates.runner import run_gate
from biomass.gates.suites import GATES, build_suite
from tests.unit.test_storage import make_table

G = GateConfig(min_rows=2, min_chars=50,
               collapse_bounds=[{"metric": "tail_coverage", "direction": "min", "warn": 0.3, "fail": 0.15}])


def _run(tmp_path, gate, rows, summary):
    return run_gate(gate, rows, summary, G, gx_root=tmp_path / "gx", evidence_dir=tmp_path / "evidence",
                    run_name=f"test-{gate}")


def test_every_gate_has_a_suite():
    for gate in GATES:
        assert build_suite(gate, G)
    with pytest.raises(KeyError, match="scrape"):
        build_suite("nope", G)


def test_good_rows_pass_and_build_data_docs(tmp_path):
    result = _run(tmp_path, "scrape", make_table(5), {"quarantined_fraction": 0.1})
    assert result.success, result.explain()
    assert result.data_docs and (tmp_path / "gx").exists()
    assert not (tmp_path / "evidence").exists()


def test_duplicate_ids_fail_and_keep_the_failing_rows(tmp_path):
    table = make_table(5)
    dup = pa.concat_tables([table, table.slice(0, 1)])
    result = _run(tmp_path, "scrape", dup, {"quarantined_fraction": 0.0})
    assert not result.success
    failed = {(f["expectation"], f["column"]) for f in result.failed}
    assert failed == {("ExpectColumnValuesToBeUnique", "doc_id")}
    rows = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert set(rows.column("doc_id").to_pylist()) == {table.column("doc_id")[0].as_py()}
    saved = json.loads((tmp_path / "evidence" / "scrape.result.json").read_text())
    assert saved["failed"][0]["column"] == "doc_id"
    assert "doc_id" in result.explain() and "FAILED" in result.explain()


def test_summary_figure_out_of_bounds_fails(tmp_path):
    result = _run(tmp_path, "scrape", make_table(5), {"quarantined_fraction": 0.9})
    assert [f["column"] for f in result.failed] == ["quarantined_fraction"]


def test_summary_is_deterministic(tmp_path):
    a = _run(tmp_path / "a", "scrape", make_table(3), {"quarantined_fraction": 0.95}).summary()
    b = _run(tmp_path / "b", "scrape", make_table(3), {"quarantined_fraction": 0.95}).summary()
    assert a == b


def test_collapse_gate_fails_below_the_failing_level_only(tmp_path):
    assert _run(tmp_path / "ok", "collapse", make_table(3), {"tail_coverage": 0.2}).success  # warn zone passes
    failed = _run(tmp_path / "bad", "collapse", make_table(3), {"tail_coverage": 0.1})
    assert [f["column"] for f in failed.failed] == ["tail_coverage"]


def test_collapse_gate_skips_a_metric_that_could_not_be_computed(tmp_path):
    assert _run(tmp_path, "collapse", make_table(3), {"tail_coverage": None}).success
