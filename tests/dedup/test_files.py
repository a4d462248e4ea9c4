"""``deduplicate_files`` (what ``biomass dedup`` runs) equals ``deduplicate`` on the concatenated inputs, while
reading text batch by batch and verifying in bounded rounds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.dedup import files
from biomass.dedup.engine import deduplicate
from biomass.dedup.files import Inputs, deduplicate_files, text_rounds
from biomass.schema import RECORD_SCHEMA


def _records(corpus: pa.Table) -> pa.Table:
    n = corpus.num_rows
    base = datetime(2021, 1, 1, tzinfo=timezone.utc)
    return pa.table({
        "doc_id": corpus.column("doc_id"), "text": corpus.column("text"), "source": ["scrape"] * n,
        "origin": [("human", "licensed", "synthetic")[i % 3] for i in range(n)], "synthetic_score": [0.0] * n,
        "url": [None] * n, "publisher": [None] * n, "license_id": [None] * n, "attribution": [None] * n,
        "collected_at": [base + timedelta(hours=(i * 7919) % 1000) for i in range(n)], "generation": [2021] * n,
        "content_sha256": ["0" * 64] * n, "lang": ["en"] * n, "human_era": [True] * n,
        "provenance": ["{}"] * n, "tag_evidence": ["{}"] * n}, schema=RECORD_SCHEMA)


@pytest.fixture()
def small_batches(monkeypatch):
    """Batches of a few rows and verification rounds of a few documents: every boundary gets crossed."""
    monkeypatch.setattr(files, "BATCH_BYTES", 8 << 10)
    monkeypatch.setattr(files, "VERIFY_TEXT_BYTES", 20 << 10)
    monkeypatch.setattr(files, "ROW_GROUP_BYTES", 32 << 10)


@pytest.mark.parametrize("hold_bytes", [0, files.HOLD_INPUT_BYTES], ids=["streamed", "held"])
@pytest.mark.parametrize("verify", ["exact", "estimate"])
def test_same_clusters_and_kept_rows_as_in_memory(tmp_path, near_dup_corpus, small_batches, monkeypatch, verify,
                                                   hold_bytes):
    table = _records(near_dup_corpus)
    third = table.num_rows // 3
    paths = []
    for k, part in enumerate([table.slice(0, third), table.slice(third, third), table.slice(2 * third)]):
        paths.append(tmp_path / f"in{k}.parquet")
        pq.write_table(part, paths[-1], row_group_size=37)
    want = deduplicate(table, threshold=0.8, verify=verify)
    rounds = []
    hashed = files.streamed_shingle_sets
    monkeypatch.setattr(files, "streamed_shingle_sets",
                        lambda inputs, rows, *a: rounds.append(len(rows)) or hashed(inputs, rows, *a))
    got = deduplicate_files(paths, tmp_path / "out.parquet", threshold=0.8, verify=verify, hold_bytes=hold_bytes)
    assert len(rounds) > 3 if verify == "exact" else not rounds           # shingles held a few docs at a time
    assert got.clusters.equals(want.clusters)
    assert got.dropped.equals(want.dropped)
    assert got.counts.as_dict() == want.counts.as_dict()
    assert np.array_equal(got.kept_signatures, want.kept_signatures)
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.equals(want.kept) and out.schema.equals(RECORD_SCHEMA, check_metadata=True)
    assert pq.ParquetFile(tmp_path / "out.parquet").metadata.num_row_groups > 1      # written as it went


def test_held_inputs_are_decoded_once_and_written_byte_identical(tmp_path, near_dup_corpus, small_batches,
                                                                  monkeypatch):
    """Inputs within ``hold_bytes`` are decoded by the first pass only; verification and the write reuse those
    batches, and every output file has the bytes of the streamed run's (same batches, same row groups)."""
    table = _records(near_dup_corpus)
    half = table.num_rows // 2
    paths = [tmp_path / "a.parquet", tmp_path / "b.parquet"]
    pq.write_table(table.slice(0, half), paths[0], row_group_size=37)
    pq.write_table(table.slice(half), paths[1], row_group_size=37)
    decoded = []
    read = files.parquet_batches
    monkeypatch.setattr(files, "parquet_batches", lambda path, **kw: decoded.append(path) or read(path, **kw))
    outputs = {}
    for hold in (0, 1 << 30):
        decoded.clear()
        out = tmp_path / f"out-{hold}.parquet"
        result = deduplicate_files(paths, out, threshold=0.8, hold_bytes=hold)
        outputs[hold] = (out.read_bytes(), result.clusters, result.dropped)
        if hold:
            assert sorted(decoded) == sorted(paths)                  # one pass over each file
        else:
            assert len(decoded) >= 3 * len(paths)                     # signatures, verification, write
    assert outputs[0][0] == outputs[1 << 30][0]
    assert outputs[0][1].equals(outputs[1 << 30][1]) and outputs[0][2].equals(outputs[1 << 30][2])
    assert Inputs(paths, hold_bytes=1).holding is False               # too big for the budget: streamed


def test_rounds_hold_whole_components_within_budget():
    comp = np.array([0, 1, 0, 2, 2, 3, 1, 4])
    lengths = np.array([5, 5, 5, 20, 1, 3, 5, 2])
    rounds = text_rounds(comp, lengths, budget=12)
    for c in np.unique(comp):
        assert len(set(rounds[comp == c])) == 1                      # a component never spans two rounds
    for r in np.unique(rounds):
        members = np.unique(comp[rounds == r])
        assert lengths[rounds == r].sum() <= 12 or len(members) == 1  # over budget only when one component is
    assert len(np.unique(rounds)) > 1


def test_inputs_with_different_columns_are_unified(tmp_path, near_dup_corpus):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    half = near_dup_corpus.num_rows // 2
    pq.write_table(near_dup_corpus.slice(0, half), a)
    rest = near_dup_corpus.slice(half)
    pq.write_table(rest.append_column("extra", pa.array(["x"] * rest.num_rows)), b)
    result = deduplicate_files([a, b], tmp_path / "out.parquet")
    want = deduplicate(pa.concat_tables([pq.read_table(a), pq.read_table(b)], promote_options="permissive"))
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.equals(want.kept)
    assert result.clusters.equals(want.clusters)


def test_missing_text_column_is_a_clear_error(tmp_path):
    pq.write_table(pa.table({"doc_id": ["a"]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="needs a 'text' column"):
        Inputs([tmp_path / "x.parquet"])


def test_empty_input_writes_an_empty_file(tmp_path):
    pq.write_table(pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string())}),
                   tmp_path / "e.parquet")
    result = deduplicate_files([tmp_path / "e.parquet"], tmp_path / "out.parquet")
    assert result.counts.rows_in == 0 and pq.read_table(tmp_path / "out.parquet").num_rows == 0


def test_failed_write_leaves_no_output(tmp_path, near_dup_corpus, monkeypatch):
    pq.write_table(near_dup_corpus, tmp_path / "in.parquet")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        deduplicate_files([tmp_path / "in.parquet"], tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists() and not list(tmp_path.glob(".out.parquet*"))


def test_null_texts_are_empty_documents_as_in_memory(tmp_path, near_dup_corpus, small_batches):
    texts = near_dup_corpus.column("text").to_pylist()
    texts[3] = texts[50] = texts[120] = None
    table = pa.table({"doc_id": near_dup_corpus.column("doc_id"), "text": pa.array(texts, pa.string())})
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=40)
    got = deduplicate_files([tmp_path / "in.parquet"], tmp_path / "out.parquet")
    want = deduplicate(table)
    assert got.clusters.equals(want.clusters)
    assert pq.read_table(tmp_path / "out.parquet").equals(want.kept)
