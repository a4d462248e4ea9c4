"""Readers check a published generation against its manifest, and `biomass verify-generation` checks all of it.
Records are FAKE placeholders (storage mechanics only), except the last test, which builds on the real samples."""

import json
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from biomass import storage
from biomass.cli import main as biomass
from biomass.schema import sha256_text
from biomass.storage import GenerationStore, IntegrityError, file_sha256, text_sha256
from tests.unit.test_storage import make_table


def test_text_sha256_matches_sha256_text_on_every_kind_of_string_array():
    texts = ["", "a", "fake café ✓ record", "x" * 70_000, "line\nbreak\x00nul", "日本語のテキスト"]
    want = [sha256_text(t) for t in texts]
    arr = pa.array(texts, pa.string())
    assert text_sha256(arr) == want
    assert text_sha256(arr.cast(pa.large_string())) == want
    assert text_sha256(arr.slice(2, 3)) == want[2:5]   # a slice starts inside the offsets buffer
    assert text_sha256(pa.chunked_array([arr.slice(0, 2), arr.slice(2)])) == want
    assert text_sha256(pa.array(["", ""])) == [sha256_text("")] * 2   # no data buffer at all
    assert text_sha256(pa.array([], pa.string())) == []


@pytest.fixture
def store(tmp_path) -> GenerationStore:
    store = GenerationStore(tmp_path / "data")
    store.publish(2021, make_table(30, salt="integrity"), {"parent": None})
    return store


def _shard(store: GenerationStore, year: int = 2021):
    entry = store.manifest(year)["files"][0]
    return store.generation_dir(year) / entry["path"], entry


def _rewrite_shard_with_one_text_changed(store: GenerationStore, row: int = 7) -> str:
    """What a flipped byte that still decodes does: the shard's bytes and one record's text change, nothing else.
    Returns that record's doc_id."""
    path, _ = _shard(store)
    table = pq.read_table(path)
    texts = table.column("text").to_pylist()
    texts[row] = texts[row].replace("fake", "fakE", 1)
    table = table.set_column(table.schema.get_field_index("text"), table.schema.field("text"),
                             pa.array(texts, pa.string()))
    pq.write_table(table, path, **storage._WRITE_OPTS)
    return table.column("doc_id")[row].as_py()


def _manifest_agrees_with_the_files(store: GenerationStore, year: int = 2021) -> None:
    """A manifest rewritten to match damaged files (say, by a careless repair): only content_sha256 can tell."""
    manifest = store.manifest(year)
    for entry in manifest["files"]:
        path = store.generation_dir(year) / entry["path"]
        entry.update(sha256=file_sha256(path), bytes=path.stat().st_size)
    store.manifest_path(year).write_text(json.dumps(manifest))


def test_a_shard_changed_after_publish_is_refused_naming_year_file_and_both_sha256(store):
    path, entry = _shard(store)
    _rewrite_shard_with_one_text_changed(store)
    assert pq.read_table(path).num_rows == 30   # it still decodes: only the hash tells
    for read in (lambda: store.read(2021), lambda: store.read(2021, columns=["doc_id"]),
                 lambda: list(store.iter_batches(2021, ["text", "lang"])), lambda: store.shard_paths(2021)):
        with pytest.raises(IntegrityError) as caught:
            read()
        err = caught.value
        assert (err.year, err.path, err.expected) == (2021, path, entry["sha256"])
        assert err.actual == file_sha256(path) != entry["sha256"]
        assert "generation 2021" in str(err) and entry["sha256"] in str(err)


def test_a_manifest_with_a_wrong_sha256_is_refused(store):
    manifest = store.manifest(2021)
    manifest["files"][0]["sha256"] = "0" * 64
    store.manifest_path(2021).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match="file sha256"):
        store.read(2021, columns=["doc_id", "text"])


def test_a_record_whose_text_does_not_match_its_content_sha256_is_refused_by_doc_id(store):
    doc_id = _rewrite_shard_with_one_text_changed(store, row=7)
    _manifest_agrees_with_the_files(store)
    with pytest.raises(IntegrityError) as caught:
        store.read(2021, columns=["doc_id", "text"])
    assert caught.value.doc_id == doc_id and "content_sha256" in str(caught.value)
    with pytest.raises(IntegrityError) as caught:   # batch by batch, no doc_id column asked for
        list(store.iter_batches(2021, ["text"], batch_rows=4))
    assert caught.value.doc_id == doc_id and "row 7" in str(caught.value)
    # without text nothing is hashed per record (the file itself matches the manifest now)
    assert store.read(2021, columns=["doc_id", "lang"]).column_names == ["doc_id", "lang"]


def test_verified_reads_return_exactly_what_an_unverified_read_does(store):
    for columns in (None, ["doc_id", "text"], ["text", "lang"], ["content_sha256", "text"], ["lang"]):
        assert store.read(2021, columns=columns).equals(store.read(2021, columns=columns, verify=False))
    batched = pa.concat_tables(store.iter_batches(2021, ["text", "lang"], batch_rows=7))
    assert batched.equals(store.read(2021, columns=["text", "lang"], verify=False))


@pytest.mark.parametrize("damage, problem", [
    (lambda m: m.update(biomass_manifest=99), "unknown manifest format"),
    (lambda m: m.update(schema_version=99), "schema version"),
    (lambda m: m.update(rows=m["rows"] + 1), "rows do not add up"),
    (lambda m: m["files"][0].update(path="../../elsewhere.parquet"), "malformed"),
])
def test_a_manifest_that_is_not_sound_is_refused(store, damage, problem):
    manifest = store.manifest(2021)
    damage(manifest)
    store.manifest_path(2021).write_text(json.dumps(manifest))
    with pytest.raises(IntegrityError, match=problem):
        store.read(2021)


# -- biomass verify-generation -------------------------------------------------------------------------------

def test_verify_generation_passes_a_sound_year(store, capsys):
    assert biomass(["verify-generation", "2021", "--data-root", str(store.data_root)]) == 0
    assert "generation 2021 is sound: 30 rows" in capsys.readouterr().out


def test_verify_generation_lists_every_problem_and_exits_3(store, capsys):
    store.publish(2021, make_table(30, salt="integrity"), {"parent": None},
                  quarantine=make_table(2, salt="q"))   # with a quarantine file to check as well
    doc_id = _rewrite_shard_with_one_text_changed(store, row=3)
    manifest = store.manifest(2021)
    quarantine = store.generation_dir(2021) / manifest["quarantine_files"][0]["path"]
    quarantine.write_bytes(quarantine.read_bytes()[:-10])   # truncated: unreadable, wrong size
    assert biomass(["verify-generation", "2021", "--data-root", str(store.data_root)]) == 5
    out = capsys.readouterr().out
    assert "file sha256" in out and f"doc_id {doc_id}" in out and "record content_sha256 at row 3" in out
    assert "file size" in out and str(quarantine) in out
    assert "generation 2021 is DAMAGED" in out


def _publish_with_stats(store: GenerationStore, tmp_path) -> dict:
    """Two FAKE shards, each with a FAKE statistics file (publish treats them as opaque bytes)."""
    from biomass.schema import RECORD_SCHEMA, conform

    folder = tmp_path / "staged"
    with storage.ShardWriter(folder, RECORD_SCHEMA, shard_rows=20) as out:
        out.write_table(conform(make_table(30, salt="stats")))
    stats = [tmp_path / f"{i}.stats" for i in range(2)]
    for i, path in enumerate(stats):
        path.write_bytes(f"fake statistics of shard {i}".encode())
    with pytest.raises(ValueError, match="1 statistics files for 2 shards"):
        store.publish_shards(2022, folder, {"parent": None}, shard_stats=stats[:1])
    return store.publish_shards(2022, folder, {"parent": None}, shard_stats=stats).as_dict()


def test_shard_statistics_are_published_next_to_their_shards_and_verified(store, tmp_path, capsys):
    manifest = _publish_with_stats(store, tmp_path)
    for i, entry in enumerate(manifest["files"]):
        assert entry["stats"]["path"] == entry["path"].removesuffix(".parquet") + ".stats"
        assert store.saved_stats(2022, entry) == f"fake statistics of shard {i}".encode()
    assert _publish_with_stats(store, tmp_path) == manifest   # publishing again: the same manifest
    assert biomass(["verify-generation", "2022", "--data-root", str(store.data_root)]) == 0
    path = store.stats_path(2022, manifest["files"][1])
    path.write_bytes(b"fake statistics of shard 9")   # same size, other bytes
    with pytest.raises(IntegrityError, match="file sha256"):
        store.saved_stats(2022, manifest["files"][1])
    assert biomass(["verify-generation", "2022", "--data-root", str(store.data_root)]) == 5
    assert str(path) in capsys.readouterr().out
    assert store.saved_stats(2021, store.manifest(2021)["files"][0]) is None   # published without


def test_verify_generation_of_a_year_that_is_not_published_exits_2(store, capsys):
    assert biomass(["verify-generation", "2030", "--data-root", str(store.data_root)]) == 2
    assert "not published" in capsys.readouterr().err


# -- the pipeline --------------------------------------------------------------------------------------------

def test_a_year_does_not_build_on_a_damaged_parent(tmp_path, signing_key_env):
    """Real samples: 2021 published, then one of its texts changed in place; building 2022 stops with an
    IntegrityError naming 2021, and nothing is published."""
    from biomass.pipeline import make_plan, run_year

    root = tmp_path / "data"
    run_year(make_plan(2021, data_root=str(root)))
    store = GenerationStore(root)
    path, entry = _shard(store)
    table = pq.read_table(path)
    changed = pc.replace_substring(table.column("text"), "the", "teh", max_replacements=1)
    pq.write_table(table.set_column(1, "text", changed), path, **storage._WRITE_OPTS)
    with pytest.raises(IntegrityError) as caught:
        run_year(make_plan(2022, data_root=str(root)))
    assert caught.value.year == 2021 and caught.value.path == path
    assert store.published_years() == [2021]
    shutil.rmtree(root)
