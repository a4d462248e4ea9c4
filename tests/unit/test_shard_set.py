"""ShardWriter / shard sets: fixed-size shards from any batching, carried shards unchanged, nothing left on error."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.storage import ShardWriter, dataset_batches, dataset_files, dataset_rows, file_sha256, shard_files

SCHEMA = pa.schema([("i", pa.int64()), ("s", pa.string())])


def rows(a: int, b: int) -> pa.Table:
    return pa.table({"i": list(range(a, b)), "s": [f"row {n}" for n in range(a, b)]}, schema=SCHEMA)


@pytest.mark.parametrize("batch", [1, 7, 25, 100])
def test_shards_are_fixed_size_whatever_the_batches(tmp_path, batch):
    with ShardWriter(tmp_path / "set", SCHEMA, shard_rows=25) as out:
        for a in range(0, 60, batch):
            out.write_table(rows(a, min(a + batch, 60)))
    files = shard_files(tmp_path / "set")
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert [pq.ParquetFile(f).metadata.num_rows for f in files] == [25, 25, 10]
    assert [r for b in dataset_batches(tmp_path / "set") for r in b.column("i").to_pylist()] == list(range(60))
    assert dataset_rows(tmp_path / "set") == 60


def test_same_rows_same_bytes_regardless_of_batching(tmp_path):
    digests = []
    for batch in (3, 60):
        with ShardWriter(tmp_path / f"b{batch}", SCHEMA, shard_rows=25) as out:
            for a in range(0, 60, batch):
                out.write_table(rows(a, min(a + batch, 60)))
        digests.append([file_sha256(f) for f in shard_files(tmp_path / f"b{batch}")])
    assert digests[0] == digests[1]


def test_a_carried_shard_is_taken_as_it_is(tmp_path):
    pq.write_table(rows(0, 5), tmp_path / "parent.parquet")
    with ShardWriter(tmp_path / "set", SCHEMA, shard_rows=25) as out:
        out.add_shard(tmp_path / "parent.parquet")
        out.write_table(rows(5, 8))
    first, second = shard_files(tmp_path / "set")
    assert file_sha256(first) == file_sha256(tmp_path / "parent.parquet")
    assert pq.read_table(second).column("i").to_pylist() == [5, 6, 7]


def test_a_failed_writer_leaves_no_shards(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "set", SCHEMA, shard_rows=25) as out:
            out.write_table(rows(0, 30))
            raise RuntimeError("the producer died")
    assert not (tmp_path / "set").exists() and dataset_files(tmp_path / "set") == []
