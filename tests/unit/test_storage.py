import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass import storage
from biomass.schema import RECORD_SCHEMA, make_doc_id, records_to_table, sha256_text
from biomass.storage import GenerationStore, NotPublished, ParquetStream, file_sha256


def make_table(n: int, year: int = 2021, salt: str = "") -> pa.Table:
    """Fake records (labelled: synthetic placeholder text, not corpus data) for storage mechanics only."""
    rows = []
    for i in range(n):
        text = f"fake storage test record {salt} {i} " * 20
        sha = sha256_text(text)
        rows.append(dict(doc_id=make_doc_id(f"test://{i}", sha), text=text, source="scrape", origin="human",
                         synthetic_score=0.0, collected_at=datetime(year, 1, 2, tzinfo=timezone.utc),
                         generation=year, content_sha256=sha, lang="en", human_era=True, provenance="{}",
                         tag_evidence="{}"))
    return records_to_table(rows)


def test_parquet_stream_context_publishes_every_row_on_success(tmp_path):
    rows = make_table(5).to_pylist()
    with ParquetStream(tmp_path / "out.parquet", RECORD_SCHEMA, batch_rows=2) as out:
        for row in rows:
            out.add(row)
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == rows


def test_parquet_stream_exception_in_the_producer_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="producer failed"):
        with ParquetStream(tmp_path / "out.parquet", RECORD_SCHEMA, batch_rows=2) as out:
            for row in make_table(3).to_pylist():  # one batch already written to the temp file
                out.add(row)
            raise RuntimeError("producer failed")
    assert list(tmp_path.iterdir()) == []


def test_parquet_stream_abort_keeps_an_earlier_file_and_wins_over_a_later_close(tmp_path):
    path = tmp_path / "out.parquet"
    storage.write_parquet(make_table(1), path)
    before = path.read_bytes()
    out = ParquetStream(path, RECORD_SCHEMA, batch_rows=1)
    out.add(make_table(2, salt="new").to_pylist()[0])
    out.abort()
    out.close()
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"] and path.read_bytes() == before


def test_parquet_stream_close_that_fails_aborts(tmp_path):
    out = ParquetStream(tmp_path / "out.parquet", RECORD_SCHEMA)
    out.add({"doc_id": "x"})  # required fields missing: the batch cannot be written
    with pytest.raises(pa.ArrowInvalid):
        out.close()
    assert list(tmp_path.iterdir()) == []


def test_publish_then_read_round_trip(tmp_path):
    store = GenerationStore(tmp_path)
    table = make_table(10)
    manifest = store.publish(2021, table, {"parent": None})
    assert store.published_years() == [2021]
    assert store.read(2021, verify=True).equals(table)
    entry = manifest.files[0]
    assert entry.rows == 10 and entry.sha256 == file_sha256(store.generation_dir(2021) / entry.path)
    assert store.manifest_path(2021).read_text() == manifest.to_json() + "\n"
    assert store.read_manifest(2021) == manifest


def test_republish_same_content_is_byte_identical(tmp_path):
    store = GenerationStore(tmp_path)
    store.publish(2021, make_table(5), {"parent": None})
    first = store.manifest_path(2021).read_bytes()
    files = sorted(p.name for p in store.generation_dir(2021).iterdir())
    store.publish(2021, make_table(5), {"parent": None})
    assert store.manifest_path(2021).read_bytes() == first
    assert sorted(p.name for p in store.generation_dir(2021).iterdir()) == files


def test_republish_new_content_removes_unreferenced_shards(tmp_path):
    store = GenerationStore(tmp_path)
    store.publish(2021, make_table(5), {})
    store.publish(2021, make_table(6, salt="b"), {})
    names = {p.name for p in store.generation_dir(2021).iterdir()}
    listed = {f["path"] for f in store.manifest(2021)["files"]}
    assert names == listed | {"manifest.json"}
    assert store.read(2021).num_rows == 6


def test_interrupted_publish_leaves_nothing_visible(tmp_path, monkeypatch):
    store = GenerationStore(tmp_path)

    def crash(*a, **k):
        raise KeyboardInterrupt("killed before the manifest")

    monkeypatch.setattr(storage, "write_bytes_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        store.publish(2022, make_table(3), {})
    assert store.published_years() == []
    with pytest.raises(NotPublished):
        store.read(2022)
    assert store.parent_of(2023) is None


def test_interrupted_republish_keeps_previous_generation_readable(tmp_path, monkeypatch):
    store = GenerationStore(tmp_path)
    old = make_table(4)
    store.publish(2021, old, {})
    monkeypatch.setattr(storage, "write_bytes_atomic", lambda *a, **k: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        store.publish(2021, make_table(9, salt="new"), {})
    assert store.read(2021, verify=True).equals(old)


KILL_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    from unit.test_storage import make_table
    from biomass.storage import GenerationStore
    import biomass.storage as s
    s.SHARD_ROWS = 200
    store = GenerationStore({root!r})
    table = make_table(3000, salt="kill")
    print("ready", flush=True)
    store.publish(2024, table, {{}})
""")


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3])
def test_sigkill_during_publish_never_exposes_half_a_generation(tmp_path, delay):
    """A real SIGKILL at several points: either nothing is published, or all of it is, intact."""
    root = tmp_path / "data"
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT.format(tests=tests_dir, root=str(root))],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = GenerationStore(root)
    if store.published_years():
        assert store.read(2024, verify=True).num_rows == 3000
    else:
        with pytest.raises(NotPublished):
            store.manifest(2024)


def test_parquet_batches_are_sized_by_bytes_and_cover_every_row(tmp_path):
    table = make_table(600)
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=250)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    per_row = sum(meta.row_group(g).column(1).total_uncompressed_size for g in range(meta.num_row_groups)) / 600
    rows = storage.batch_rows_for(pq.ParquetFile(tmp_path / "t.parquet"), ["text"], int(per_row * 100))
    assert 95 <= rows <= 105
    batches = list(storage.parquet_batches(tmp_path / "t.parquet", ["doc_id", "text"], batch_rows=rows))
    assert max(b.num_rows for b in batches) <= rows
    assert pa.Table.from_batches(batches).equals(table.select(["doc_id", "text"]))


def test_published_rows_in_batches_match_a_whole_read(tmp_path):
    store = GenerationStore(tmp_path)
    store.publish(2021, make_table(40), {})
    batched = pa.concat_tables(store.iter_batches(2021, ["text", "lang"], batch_rows=7))
    assert batched.equals(store.read(2021, columns=["text", "lang"]))


KILL_WITH_SIGNATURES_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {tests!r})
    from unit.test_storage import make_table
    from biomass.dedup import SignatureIndex, signatures
    from biomass.storage import GenerationStore
    import biomass.storage as s
    s.SHARD_ROWS = 200
    store = GenerationStore({root!r})
    table = make_table(1200, salt="kill-index")
    if {after_manifest!r}:   # die exactly between the commit point and moving the signatures into the index
        write = s.write_bytes_atomic
        def write_then_die(path, data, **kw):
            write(path, data, **kw)
            if os.path.basename(path) == "manifest.json":
                os.kill(os.getpid(), signal.SIGKILL)
        s.write_bytes_atomic = write_then_die
    print("ready", flush=True)
    pending = SignatureIndex(store.minhash_dir).add_generation(2024, table.column("doc_id"),
                                                               signatures(table.column("text")), pending=True)
    store.publish(2024, table, {{}}, signatures=pending)
""")


@pytest.mark.parametrize("delay", [None, 0.0, 0.1, 0.3, 0.6])
def test_sigkill_during_publish_never_leaves_a_visible_year_out_of_the_dedup_index(tmp_path, delay):
    """Real SIGKILLs (``None``: right after the manifest): the year is either not published, or published and, once
    ``finish_publishes`` has run (the next run's assemble does), its signatures are in the index, as named."""
    from biomass.dedup import SignatureIndex

    root = tmp_path / "data"
    tests_dir = os.path.dirname(os.path.dirname(__file__))
    script = KILL_WITH_SIGNATURES_SCRIPT.format(tests=tests_dir, root=str(root), after_manifest=delay is None)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    if delay is not None:
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = GenerationStore(root)
    if delay is None:
        assert store.published_years() == [2024] and not store.signature_path(2024).exists()
        assert store.finish_publishes() == [2024]
    else:
        store.finish_publishes()
    if store.published_years():
        assert store.read(2024).num_rows == 1200
        named = store.manifest(2024)["signatures"]
        assert file_sha256(store.signature_path(2024)) == named["sha256"]
        assert SignatureIndex(store.minhash_dir).years() == [2024]
        assert store.finish_publishes() == []   # nothing left to do
    else:
        assert SignatureIndex(store.minhash_dir).years() == []   # a pending file is not in the index


def test_a_published_year_whose_named_signatures_are_gone_is_an_integrity_error(tmp_path):
    from biomass.dedup import SignatureIndex, signatures

    store = GenerationStore(tmp_path)
    table = make_table(5)
    pending = SignatureIndex(store.minhash_dir).add_generation(2021, table.column("doc_id"),
                                                               signatures(table.column("text")), pending=True)
    store.publish(2021, table, {}, signatures=pending)
    store.signature_path(2021).unlink()
    with pytest.raises(storage.IntegrityError, match="dedup signatures"):
        store.finish_publishes()


def test_parquet_written_in_row_group_parts_has_write_parquets_bytes(tmp_path):
    """``write_parquet_parts`` (the clusters table written a row group at a time, never held whole) must give
    the bytes ``write_parquet`` gives for the whole table; a short part before the last is refused."""
    import hashlib

    import pyarrow as pa

    from biomass.storage import SHARD_ROWS, write_parquet, write_parquet_parts

    n = 2 * SHARD_ROWS + 123
    ids = pa.array([hashlib.sha256(str(i).encode()).hexdigest()[:32] for i in range(n)])
    schema = pa.schema([pa.field("doc_id", pa.string(), nullable=False), pa.field("cluster_id", pa.string(), nullable=False)])
    table = pa.table({"doc_id": ids, "cluster_id": ids.take(pa.array([i - i % 3 for i in range(n)]))}, schema=schema)
    for rows, label in ((table.num_rows, "whole"), (SHARD_ROWS, "parts")):
        parts = (table.slice(lo, rows) for lo in range(0, n, rows))
        write_parquet_parts(parts, tmp_path / f"{label}.parquet", schema)
    write_parquet(table, tmp_path / "want.parquet")
    write_parquet_parts(iter([]), tmp_path / "empty.parquet", schema)
    write_parquet(schema.empty_table(), tmp_path / "want-empty.parquet")
    want = (tmp_path / "want.parquet").read_bytes()
    assert (tmp_path / "parts.parquet").read_bytes() == want and (tmp_path / "whole.parquet").read_bytes() == want
    assert (tmp_path / "empty.parquet").read_bytes() == (tmp_path / "want-empty.parquet").read_bytes()
    with pytest.raises(ValueError, match="rows each"):
        write_parquet_parts([table.slice(0, 10), table.slice(10, 10)], tmp_path / "bad.parquet", schema)
    assert not (tmp_path / "bad.parquet").exists() and not (tmp_path / ".bad.parquet.tmp").exists()


def test_write_json_atomic_writes_canonical_json_and_leaves_no_temp_file(tmp_path):
    from biomass.storage import write_json_atomic

    path = write_json_atomic(tmp_path / "state" / "counts.json", {"b": 1, "a": [1, 2]})
    assert path.read_text() == '{"a":[1,2],"b":1}\n'
    write_json_atomic(path, {"a": 2})
    assert path.read_text() == '{"a":2}\n'
    assert [p.name for p in path.parent.iterdir()] == ["counts.json"]
