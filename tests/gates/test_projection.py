"""Gates validate a text-free projection: document text never reaches pandas, yet the schema check still sees the
real record schema, text checks still see every text, and the evidence still holds whole records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from biomass.config import GateConfig
from biomass.gates.rows import project_parquet, project_table, take_from_parquet
from biomass.gates.runner import run_gate
from biomass.gates.suites import GATES, build_suite, columns_read
from biomass.gates.drift import distribution_drift, length_lang_profile
from biomass.schema import COLUMNS, RECORD_SCHEMA
from tests.unit.test_storage import make_table

REPO = Path(__file__).resolve().parents[2]
G = GateConfig(min_rows=2, min_chars=50)


def _run(tmp_path, gate, rows, summary=None, g=G):
    return run_gate(gate, rows, summary or {"quarantined_fraction": 0.0}, g, gx_root=tmp_path / "gx",
                    evidence_dir=tmp_path / "evidence", run_name=f"test-{gate}")


def _parquet(tmp_path, table, row_group_size=4) -> Path:
    """Small row groups, so batches and row-group lookups are exercised on a handful of rows."""
    path = tmp_path / "stage.parquet"
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def frames_seen_by_gx(monkeypatch):
    """Every DataFrame handed to a GX checkpoint, by checkpoint name."""
    import great_expectations as gx

    seen: list[tuple[str, object]] = []
    original = gx.Checkpoint.run

    def spy(self, *args, **kwargs):
        seen.append((self.name, kwargs["batch_parameters"]["dataframe"]))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(gx.Checkpoint, "run", spy)
    return seen


def test_no_suite_reads_text_itself():
    for gate in GATES:
        assert "text" not in columns_read(build_suite(gate, G)), gate


@pytest.mark.parametrize("bad", [False, True])
def test_text_never_reaches_pandas(tmp_path, frames_seen_by_gx, bad):
    table = make_table(12)
    if bad:  # a failing gate also writes evidence: that must not pull the text into pandas either
        table = pa.concat_tables([table, table.slice(0, 2)])
    texts = set(table.column("text").to_pylist())
    result = _run(tmp_path, "scrape", _parquet(tmp_path, table))
    assert result.success is not bad, result.explain()
    assert {name.rsplit(".", 1)[1] for name, _ in frames_seen_by_gx} == {"schema", "rows", "summary"}
    for name, frame in frames_seen_by_gx:
        assert "text" not in frame.columns or len(frame) == 0, name  # the schema batch names it, holds no rows
        for column in frame.columns:
            assert not texts & set(map(str, frame[column])), (name, column)
    rows = dict(frames_seen_by_gx)["biomass.scrape.rows"]
    assert rows["text_chars"].tolist() == [len(t) for t in table.column("text").to_pylist()]


def test_the_stage_file_is_read_without_its_text_column_whole(tmp_path, monkeypatch):
    """Only batch-wise reads: pq.read_table / ParquetFile.read (whole columns) are never used by a gate."""
    path = _parquet(tmp_path, make_table(10))

    def refuse(*args, **kwargs):
        raise AssertionError("a gate read a whole Parquet file")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    assert _run(tmp_path, "scrape", path).success


def test_a_wrong_schema_fails_the_schema_check_and_nothing_crashes(tmp_path):
    table = make_table(5)
    wrong = table.drop_columns(["text", "tag_evidence"]).append_column("extra", pa.array(["x"] * 5))
    result = _run(tmp_path, "scrape", _parquet(tmp_path, wrong))
    schema = [f for f in result.failed if f["expectation"] == "ExpectTableColumnsToMatchOrderedList"]
    assert schema and schema[0]["batch"] == "schema" and schema[0]["why"] == "record schema"
    assert schema[0]["observed"] == [c for c in COLUMNS if c not in ("text", "tag_evidence")] + ["extra"]
    # without a text column there is no text_chars either: its checks fail rather than pass vacuously
    assert {f["column"] for f in result.failed} >= {"text_chars"}
    assert result.failing_page and "schema" in result.failing_page


def test_columns_in_the_wrong_order_fail_the_schema_check(tmp_path):
    table = make_table(5)
    result = _run(tmp_path, "scrape", table.select(list(reversed(table.column_names))))
    assert [f["expectation"] for f in result.failed] == ["ExpectTableColumnsToMatchOrderedList"]


def test_null_text_fails_the_not_null_check(tmp_path):
    table = make_table(4)
    schema = RECORD_SCHEMA.set(1, RECORD_SCHEMA.field("text").with_nullable(True))
    texts = table.column("text").to_pylist()
    table = table.cast(schema).set_column(1, schema.field("text"), pa.array(texts[:3] + [None]))
    result = _run(tmp_path, "scrape", _parquet(tmp_path, table))
    failed = [(f["expectation"], f["column"], f["why"]) for f in result.failed]
    assert failed == [("ExpectColumnValuesToNotBeNull", "text_chars", "every record has text")]
    evidence = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert evidence.column("doc_id").to_pylist() == [table.column("doc_id")[3].as_py()]


def test_length_bounds_count_characters_not_bytes(tmp_path):
    """text_chars is Python's len() (code points), as GX's value-length check measured it before."""
    rows = make_table(3).to_pylist()
    rows[0]["text"] = "ü" * 50  # 50 characters, 100 bytes
    rows[1]["text"] = "€" * 49  # 49 characters, 147 bytes: too short
    table = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    result = _run(tmp_path, "scrape", _parquet(tmp_path, table))
    assert [(f["column"], f["observed"]["unexpected_count"]) for f in result.failed] == [("text_chars", 1)]
    evidence = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert evidence.column("text").to_pylist() == ["€" * 49]


def test_failing_rows_are_whole_records_read_back_from_the_file(tmp_path):
    rows = make_table(20).to_pylist()
    for i in (1, 9, 18):  # in three different row groups of 4 rows
        rows[i]["synthetic_score"] = 2.0
    table = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    result = _run(tmp_path, "scrape", _parquet(tmp_path, table))
    assert [f["column"] for f in result.failed] == ["synthetic_score"]
    evidence = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert evidence.select(list(COLUMNS)).to_pylist() == table.take([1, 9, 18]).to_pylist()
    assert evidence.column("text_chars").to_pylist() == [len(rows[i]["text"]) for i in (1, 9, 18)]


def test_a_table_level_failure_keeps_a_head_sample(tmp_path):
    table = make_table(30)
    result = _run(tmp_path, "scrape", _parquet(tmp_path, table), {"quarantined_fraction": 0.99})
    assert [f["column"] for f in result.failed] == ["quarantined_fraction"]
    evidence = pq.read_table(tmp_path / "evidence" / "scrape.failing_rows.parquet")
    assert evidence.select(list(COLUMNS)).to_pylist() == table.slice(0, 20).to_pylist()


def test_take_from_parquet_keeps_the_order_asked_for(tmp_path):
    table = make_table(11)
    path = _parquet(tmp_path, table, row_group_size=3)
    assert take_from_parquet(path, [10, 0, 4], batch_rows=2).to_pylist() == table.take([10, 0, 4]).to_pylist()
    assert take_from_parquet(path, []).num_rows == 0
    with pytest.raises(IndexError):
        take_from_parquet(path, [11])


def test_parquet_and_table_projections_agree_and_hold_no_text(tmp_path):
    table = make_table(13)
    keep = ["doc_id", "text_chars", "lang"]
    from_file = project_parquet(_parquet(tmp_path, table), keep, batch_rows=5)
    from_table = project_table(table, keep, batch_rows=5)
    assert from_file.table.equals(from_table.table)
    assert from_file.table.column_names == ["doc_id", "lang", "text_chars"]
    assert from_file.columns == tuple(COLUMNS) == from_table.columns
    with pytest.raises(ValueError, match="never keeps document text"):
        project_table(table, ["text"])


def test_an_empty_stage_output_projects_to_an_empty_table(tmp_path):
    empty = RECORD_SCHEMA.empty_table()
    rows = project_parquet(_parquet(tmp_path, empty), ["doc_id", "text_chars"])
    assert rows.num_rows == 0 and rows.table.column_names == ["doc_id", "text_chars"]
    assert rows.head(20).num_rows == 0


def test_length_profile_is_the_same_batch_by_batch_as_whole():
    table = make_table(50, salt="a")
    whole = length_lang_profile([table.select(["text", "lang"])])
    batched = length_lang_profile(table.select(["text", "lang"]).to_batches(max_chunksize=7))
    projected = length_lang_profile([table.select(["lang"]).append_column(
        "text_chars", pc.utf8_length(table.column("text")))])
    for other in (batched, projected):
        assert (other[0] == whole[0]).all() and other[1] == whole[1]


def test_language_drift_does_not_depend_on_the_hash_seed():
    """The verdict JSON is compared byte for byte across re-runs: the drift sum must not follow set order.

    Summed in set order, these shares give three different last digits under hash seeds 0, 1 and 3."""
    code = ("from collections import Counter; import numpy as np, random;"
            "from biomass.gates.drift import distribution_drift;"
            "r = random.Random(5); langs = 'en de fr es it nl pt pl sv da fi cs hu ro el'.split();"
            "b = Counter({l: r.randrange(1, 997) for l in langs});"
            "a = Counter({l: r.randrange(1, 991) for l in langs});"
            "h = np.ones(24, dtype=np.int64);"
            "print(repr(distribution_drift((h, b), (h, a))['lang_drift']))")
    seen = {subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONHASHSEED": str(seed)},
                           capture_output=True, text=True, check=True, cwd=REPO).stdout for seed in (0, 1, 3)}
    assert len(seen) == 1, seen


def test_drift_of_identical_profiles_is_zero():
    profile = length_lang_profile([make_table(10).select(["text", "lang"])])
    assert distribution_drift(profile, profile) == {"length_drift": 0.0, "lang_drift": 0.0}
    assert json.dumps(distribution_drift(profile, (profile[0], Counter({"de": 10}))))  # plain floats
