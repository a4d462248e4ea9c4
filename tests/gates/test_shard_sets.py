"""A stage output written as a shard-set folder gates exactly as the same rows in one Parquet file: the same
projection, the same records by global row position (across shard boundaries), the same verdicts and evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import biomass.gates.rows as gate_rows
from biomass import storage
from biomass.config import GateConfig
from biomass.gates.rows import project_parquet, take_from_dataset
from biomass.gates.runner import GateFailed, run_gate
from biomass.pipeline import make_plan, run_gate_for, stage_output
from biomass.pipeline.gating import gate_input, gate_thresholds
from biomass.schema import COLUMNS, RECORD_SCHEMA
from biomass.storage import ShardWriter, shard_files, write_parquet
from tests.gates.test_gate_failures import _rows, _stage, texts  # noqa: F401  (texts: a fixture)
from tests.unit.test_storage import make_table

G = GateConfig(min_rows=2, min_chars=50)
SHARD_ROWS = 5
KEEP = ["doc_id", "text_chars", "lang", "synthetic_score"]


@pytest.fixture(autouse=True)
def small_row_groups(monkeypatch):
    """Row groups of 2 rows, so a 5-row shard has three and a lookup must pick the right one inside a shard."""
    monkeypatch.setattr(storage, "SHARD_ROW_GROUP", 2)


def _shards(folder: Path, table: pa.Table, shard_rows: int = SHARD_ROWS) -> Path:
    with ShardWriter(folder, table.schema, shard_rows=shard_rows) as out:
        for i in range(0, table.num_rows, 3):  # the producer's batching is not the shards'
            out.write_table(table.slice(i, 3))
    return folder


def _both(tmp_path: Path, table: pa.Table, shard_rows: int = SHARD_ROWS) -> tuple[Path, Path]:
    file = tmp_path / "one.parquet"
    pq.write_table(table, file, row_group_size=4)
    return file, _shards(tmp_path / "shards", table, shard_rows)


def _boundaries(n: int, shard_rows: int = SHARD_ROWS) -> list[int]:
    """The first and last row of every shard."""
    return sorted({i for start in range(0, n, shard_rows) for i in (start, min(start + shard_rows, n) - 1)})


def test_the_shard_set_has_several_shards_of_several_row_groups(tmp_path):
    folder = _shards(tmp_path / "shards", make_table(23))
    files = shard_files(folder)
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] == [5, 5, 5, 5, 3]
    assert pq.ParquetFile(files[0]).metadata.num_row_groups == 3


def test_a_folder_projects_as_the_same_rows_in_one_file(tmp_path):
    table = make_table(23)
    file, folder = _both(tmp_path, table)
    from_file = project_parquet(file, KEEP, batch_rows=3)
    from_folder = project_parquet(folder, KEEP, batch_rows=3)
    assert from_folder.table.equals(from_file.table)
    assert from_folder.columns == from_file.columns == tuple(COLUMNS)
    assert from_folder.source == folder


def test_records_map_global_positions_to_shards(tmp_path, monkeypatch):
    table = make_table(23)
    file, folder = _both(tmp_path, table)
    by_file, by_folder = project_parquet(file, KEEP), project_parquet(folder, KEEP)
    edges = _boundaries(23)  # 0 4 5 9 10 14 15 19 20 22
    wanted = [22, 0, 9, 10, 4, 5, 14, 15, 19, 20, 9]  # out of order, a repeat, every shard's first and last
    assert set(wanted) == set(edges)
    assert by_folder.records(wanted).to_pylist() == by_file.records(wanted).to_pylist() \
        == table.take(wanted).to_pylist()

    reads: list[tuple[str, list[int] | None]] = []
    original = gate_rows.parquet_batches

    def spy(path, *args, **kwargs):
        reads.append((Path(path).name, kwargs.get("row_groups")))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(gate_rows, "parquet_batches", spy)
    # rows 6 and 12: shard 1 row group 0, shard 2 row group 1; shards 0, 3 and 4 are not read at all
    assert by_folder.records([12, 6]).to_pylist() == table.take([12, 6]).to_pylist()
    assert sorted(reads) == [("part-00001.parquet", [0]), ("part-00002.parquet", [1])]


def test_records_past_the_end_name_the_folder(tmp_path):
    file, folder = _both(tmp_path, make_table(12))
    rows = project_parquet(folder, KEEP)
    with pytest.raises(IndexError, match=str(folder)):
        rows.records([3, 12])
    with pytest.raises(IndexError, match=str(folder)):
        take_from_dataset(folder, [-1])
    assert rows.records([]).schema.names == list(COLUMNS)


@pytest.mark.parametrize("n", [0, 3, 5, 7, 12, 23, 40])
def test_head_reads_across_shard_boundaries(tmp_path, n):
    table = make_table(23)
    file, folder = _both(tmp_path, table)
    head = project_parquet(folder, KEEP).head(n)
    assert head.equals(project_parquet(file, KEEP).head(n))
    assert head.to_pylist() == table.slice(0, n).to_pylist()


def test_shards_that_disagree_on_their_columns_are_an_error_naming_the_shard(tmp_path):
    table = make_table(10)
    folder = _shards(tmp_path / "shards", table)
    odd = shard_files(folder)[1]
    write_parquet(table.slice(5).drop_columns(["tag_evidence"]), odd)  # the second shard lost a column
    with pytest.raises(ValueError, match=f"shard {odd}.*part-00000.parquet"):
        project_parquet(folder, KEEP)
    with pytest.raises(ValueError, match="part-00001"):  # the gate stops; it never checks the first shard alone
        run_gate("scrape", folder, {"quarantined_fraction": 0.0}, G, gx_root=tmp_path / "gx",
                 evidence_dir=tmp_path / "evidence", run_name="test-odd")


def test_shards_that_disagree_on_a_column_type_are_an_error(tmp_path):
    table = make_table(10)
    folder = _shards(tmp_path / "shards", table)
    odd = shard_files(folder)[1]
    i = table.schema.get_field_index("synthetic_score")
    write_parquet(table.slice(5).set_column(i, "synthetic_score", pa.array(["0"] * 5)), odd)
    with pytest.raises(ValueError, match="column types"):
        project_parquet(folder, KEEP)


def _gate(tmp_path: Path, name: str, rows, summary) -> tuple[dict, pa.Table]:
    result = run_gate("scrape", rows, summary, G, gx_root=tmp_path / name / "gx",
                      evidence_dir=tmp_path / name / "evidence", run_name="test-shards")
    assert not result.success
    return result.summary(), pq.read_table(tmp_path / name / "evidence" / "scrape.failing_rows.parquet")


@pytest.mark.parametrize("failure", ["rows", "table"])
def test_a_failing_gate_gives_the_same_verdict_and_evidence_from_shards(tmp_path, failure):
    rows = make_table(30).to_pylist()
    summary = {"quarantined_fraction": 0.0}
    if failure == "rows":  # flagged rows on both sides of shard boundaries
        for i in (4, 5, 19, 29):
            rows[i]["synthetic_score"] = 2.0
    else:  # table-level: the evidence is a head sample of 20 rows, which spans four 5-row shards
        summary = {"quarantined_fraction": 0.99}
    table = pa.Table.from_pylist(rows, schema=RECORD_SCHEMA)
    file, folder = _both(tmp_path, table)
    verdict_file, evidence_file = _gate(tmp_path, "file", file, summary)
    verdict_folder, evidence_folder = _gate(tmp_path, "folder", folder, summary)
    assert verdict_folder == verdict_file
    assert evidence_folder.equals(evidence_file)
    expected = table.take([4, 5, 19, 29]) if failure == "rows" else table.slice(0, 20)
    assert evidence_folder.select(list(COLUMNS)).to_pylist() == expected.to_pylist()


def _assemble_as(tmp_path: Path, name: str, table: pa.Table, as_shards: bool):
    plan = make_plan(2021, data_root=str(tmp_path / name), scrape_inputs=[], license_inputs=[])
    _stage(plan, "assemble", table)
    if as_shards:
        stage_output(plan, "assemble").unlink()
        _shards(stage_output(plan, "assemble"), table, shard_rows=7)
    _stage(plan, "dedup", table)
    return plan


def test_the_generation_gate_on_a_sharded_assemble_output(tmp_path, texts):  # noqa: F811
    """Below the human floor and with short texts at shard edges: same verdict bytes, same evidence."""
    human = _rows([t[:40] if i in (0, 6) else t for i, t in enumerate(texts[:10])])
    table = pa.concat_tables([human, _rows(texts[10:40], source="synthetic", origin="synthetic")])
    out = []
    for name, as_shards in (("file", False), ("folder", True)):
        plan = _assemble_as(tmp_path, name, table, as_shards)
        assert stage_output(plan, "assemble").is_dir() is as_shards
        with pytest.raises(GateFailed) as err:
            run_gate_for(plan, "generation")
        assert {"human_share", "text_chars"} <= {f["column"] for f in err.value.result.failed}
        gates = plan.staging / "gates"
        out.append(((gates / "generation.json").read_bytes(), pq.read_table(gates / "generation.failing_rows.parquet")))
    (verdict_file, evidence_file), (verdict_folder, evidence_folder) = out
    assert verdict_folder == verdict_file
    assert json.loads(verdict_folder)["summary"]["human_share"] == pytest.approx(10 / 40)
    assert evidence_folder.equals(evidence_file)
    assert evidence_folder.column("doc_id").to_pylist() == table.take([0, 6]).column("doc_id").to_pylist()


def test_an_empty_shard_folder_gates_as_a_missing_output(tmp_path):
    plan = make_plan(2021, data_root=str(tmp_path / "data"), scrape_inputs=[], license_inputs=[])
    stage_output(plan, "assemble").mkdir(parents=True)  # a shard set of no shards
    rows = gate_input(plan, "generation", gate_thresholds(plan.cfg, "generation"))
    assert rows.num_rows == 0 and rows.columns == tuple(COLUMNS)
    assert rows.head(20).num_rows == 0
