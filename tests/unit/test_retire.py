"""Retiring a published generation: invisible to readers at once, its dedup signatures parked next to it, and a
restore that never overwrites a year published again. Records are FAKE placeholders (storage mechanics only)."""

import json
import os

import pytest

from biomass import storage
from biomass import exitcodes
from biomass.cli import main as biomass
from biomass.dedup import SignatureIndex, signatures
from biomass.storage import AlreadyPublished, GenerationStore, NotPublished, NotRetired
from biomass.observatory.data import observatory_payload
from tests.unit.test_storage import make_table

YEARS = (2021, 2022, 2023)


def publish_year(store: GenerationStore, year: int, parent: int | None, salt: str = "") -> None:
    """Publish like the pipeline does: manifest naming the parent, then the year's signatures in the index."""
    table = make_table(4, year=year, salt=f"{year}{salt}")
    store.publish(year, table, {"parent": parent})
    SignatureIndex(store.minhash_dir).add_generation(year, table.column("doc_id"), signatures(table.column("text")))


@pytest.fixture
def store(tmp_path) -> GenerationStore:
    store = GenerationStore(tmp_path / "data")
    parent = None
    for year in YEARS:
        publish_year(store, year, parent)
        parent = year
    return store


def test_retire_hides_the_year_from_every_reader(store):
    folder = store.retire(2022, "licence revoked")
    assert store.published_years() == [2021, 2023]
    assert [y for y, _ in store.iter_published()] == [2021, 2023]
    assert store.parent_of(2023) == 2021   # a rebuilt 2023 would build on 2021
    with pytest.raises(NotPublished):
        store.manifest(2022)
    assert [g["year"] for g in observatory_payload(store)["generations"]] == [2021, 2023]
    assert folder == store.generations_dir / ".retired" / "2022-1" and not store.generation_dir(2022).exists()


def test_retired_folder_keeps_everything_and_records_why(store):
    manifest_sha = storage.file_sha256(store.manifest_path(2022))
    shards = sorted(p.name for p in store.generation_dir(2022).iterdir())
    folder = store.retire(2022, "licence revoked")
    record = json.loads((folder / "retired.json").read_text())
    assert record["reason"] == "licence revoked" and record["year"] == 2022
    assert record["manifest_sha256"] == manifest_sha
    assert record["children"] == [2023]
    assert set(shards) <= {p.name for p in folder.iterdir()}
    assert storage.file_sha256(folder / "manifest.json") == manifest_sha


def test_retire_moves_the_signatures_so_later_years_are_not_deduplicated_against_it(store):
    again = make_table(4, year=2022, salt="2022")   # the withdrawn text, posted again
    sigs = signatures(again.column("text"))
    assert set(SignatureIndex(store.minhash_dir).query(sigs).years) == {2022}
    folder = store.retire(2022, "withdrawn")
    index = SignatureIndex(store.minhash_dir)
    assert index.years() == [2021, 2023]
    assert len(index.query(sigs).rows) == 0
    assert (folder / "gen-2022.arrow").is_file() and not store.signature_path(2022).exists()


def test_retire_leaves_fingerprints_alone(store):
    fingerprints = store.data_root / "index" / "fingerprints" / "fp-2022.parquet"
    fingerprints.parent.mkdir(parents=True)
    fingerprints.write_bytes(b"fake fingerprint archive")
    store.retire(2022, "withdrawn")
    assert fingerprints.read_bytes() == b"fake fingerprint archive"


def test_retire_an_unknown_or_already_retired_year_raises_not_published(store):
    with pytest.raises(NotPublished):
        store.retire(2030, "never published")
    store.retire(2022, "withdrawn")
    with pytest.raises(NotPublished):
        store.retire(2022, "twice")
    assert len(store.retired_copies(2022)) == 1


def test_retire_needs_a_reason(store):
    with pytest.raises(ValueError, match="reason"):
        store.retire(2022, "  ")
    assert store.published_years() == list(YEARS)


def test_a_year_retired_after_re_publishing_gets_its_own_folder(store):
    first = store.retire(2022, "first")
    publish_year(store, 2022, 2021, salt="again")
    second = store.retire(2022, "second")
    assert (first.name, second.name) == ("2022-1", "2022-2")
    assert json.loads((first / "retired.json").read_text())["reason"] == "first"
    assert json.loads((second / "retired.json").read_text())["reason"] == "second"
    assert (first / "gen-2022.arrow").read_bytes() != (second / "gen-2022.arrow").read_bytes()
    assert store.retired_copies(2022) == [first, second]


def test_retired_copies_count_past_nine_numerically(store):
    for n in range(1, 11):
        (store.retired_dir / f"2021-{n}").mkdir(parents=True)
    assert [p.name for p in store.retired_copies(2021)][-2:] == ["2021-9", "2021-10"]
    assert store.retire(2021, "eleventh").name == "2021-11"


def test_readers_ignore_the_retired_folder_even_though_it_holds_manifests(store):
    store.retire(2022, "withdrawn")
    assert (store.retired_dir / "2022-1" / "manifest.json").is_file()
    assert 2022 not in store.published_years()
    assert store.parent_of(2023) == 2021


def test_restore_brings_back_the_newest_copy_and_its_signatures(store):
    published = store.manifest_path(2022).read_bytes()
    signature = store.signature_path(2022).read_bytes()
    store.retire(2022, "by mistake")
    target = store.restore(2022)
    assert target == store.generation_dir(2022)
    assert store.published_years() == list(YEARS)
    assert store.manifest_path(2022).read_bytes() == published
    assert store.read(2022, verify=True).num_rows == 4
    assert store.signature_path(2022).read_bytes() == signature
    assert not (target / "retired.json").exists()
    assert store.retired_copies(2022) == []


def test_restore_refuses_when_the_year_was_published_again(store):
    store.retire(2022, "withdrawn")
    publish_year(store, 2022, 2021, salt="rebuilt")
    rebuilt = store.manifest_path(2022).read_bytes()
    with pytest.raises(AlreadyPublished, match="published again"):
        store.restore(2022)
    assert store.manifest_path(2022).read_bytes() == rebuilt
    assert len(store.retired_copies(2022)) == 1


def test_restore_refuses_over_an_unfinished_publish(store):
    store.retire(2022, "withdrawn")
    leftover = store.generation_dir(2022) / "part-00000-abc.parquet"
    leftover.parent.mkdir()
    leftover.write_bytes(b"shard of a publish that never wrote its manifest")
    with pytest.raises(AlreadyPublished, match="without a manifest"):
        store.restore(2022)
    assert leftover.exists() and len(store.retired_copies(2022)) == 1


def test_restore_without_a_retired_copy_raises_not_retired(store):
    with pytest.raises(NotRetired):
        store.restore(2022)


# -- crashes: the rename is the commit point ---------------------------------------------------------------------

def test_crash_before_the_rename_leaves_the_year_published(store, monkeypatch):
    def crash(*a, **k):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(storage.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.retire(2022, "withdrawn")
    monkeypatch.undo()
    assert store.published_years() == list(YEARS)
    assert store.read(2022, verify=True).num_rows == 4
    assert store.signature_path(2022).is_file()
    assert store.finish_retirements() == [] and store.signature_path(2022).is_file()


def test_crash_after_the_rename_is_finished_by_the_next_reader_of_the_index(store, monkeypatch):
    monkeypatch.setattr(GenerationStore, "_park_signatures", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        store.retire(2022, "withdrawn")
    monkeypatch.undo()
    assert store.published_years() == [2021, 2023]   # committed: retired
    assert store.signature_path(2022).is_file()        # but its signatures are still indexed
    assert store.finish_retirements() == [2022]
    assert SignatureIndex(store.minhash_dir).years() == [2021, 2023]
    assert (store.retired_copies(2022)[-1] / "gen-2022.arrow").is_file()


def test_crash_during_restore_before_the_rename_leaves_the_year_retired(store, monkeypatch):
    store.retire(2022, "withdrawn")
    real_rename = os.rename

    def crash(src, dst):
        raise KeyboardInterrupt("killed before the rename")

    monkeypatch.setattr(storage.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        store.restore(2022)
    monkeypatch.setattr(storage.os, "rename", real_rename)
    assert store.published_years() == [2021, 2023]
    assert store.signature_path(2022).is_file()   # moved back before the commit point
    store.finish_retirements()
    assert SignatureIndex(store.minhash_dir).years() == [2021, 2023]
    store.restore(2022)
    assert store.published_years() == list(YEARS) and SignatureIndex(store.minhash_dir).years() == list(YEARS)


# -- the CLI ------------------------------------------------------------------------------------------------------

def test_cli_retire_prints_what_moved_and_the_backfill_for_its_children(store, capsys):
    code = biomass(["retire", "2022", "--reason", "licence revoked", "--data-root", str(store.data_root)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"-> {store.retired_dir / '2022-1'}" in out
    assert "gen-2022.arrow" in out and "fingerprints" in out
    assert "2023" in out.split("warning:")[1]
    assert ("airflow backfill create --dag-id biomass_annual --from-date 2023-01-01 --to-date 2023-01-01 "
            "--max-active-runs 1 --reprocess-behavior completed") in out


def test_cli_backfill_runs_to_the_newest_published_year(tmp_path, capsys):
    store = GenerationStore(tmp_path)
    for year, parent in ((2021, None), (2022, 2021), (2023, 2022), (2024, 2023)):
        publish_year(store, year, parent)
    assert biomass(["retire", "2022", "--reason", "x", "--data-root", str(tmp_path)]) == 0
    assert "--from-date 2023-01-01 --to-date 2024-01-01" in capsys.readouterr().out


def test_cli_retire_of_the_newest_year_has_nothing_to_rebuild(store, capsys):
    assert biomass(["retire", "2023", "--reason", "bad scrape", "--data-root", str(store.data_root)]) == 0
    out = capsys.readouterr().out
    assert "nothing to rebuild" in out and "backfill" not in out


def test_cli_unknown_year_is_bad_input_with_a_message(store, capsys):
    assert biomass(["retire", "2030", "--reason", "x", "--data-root", str(store.data_root)]) == exitcodes.USAGE
    assert "2030 is not published" in capsys.readouterr().err
    assert store.published_years() == list(YEARS)


def test_cli_needs_a_reason_unless_undoing(store, capsys):
    assert biomass(["retire", "2022", "--data-root", str(store.data_root)]) == 2
    assert "--reason" in capsys.readouterr().err
    assert biomass(["retire", "--undo", "2022", "--reason", "x", "--data-root", str(store.data_root)]) == 2
    assert store.published_years() == list(YEARS)


def test_cli_undo_restores_and_refuses_when_re_published(store, capsys):
    root = str(store.data_root)
    assert biomass(["retire", "2022", "--reason", "x", "--data-root", root]) == 0
    assert biomass(["retire", "--undo", "2022", "--data-root", root]) == 0
    assert f"restored 2022: {store.retired_dir / '2022-1'} -> {store.generation_dir(2022)}" in capsys.readouterr().out
    assert store.published_years() == list(YEARS)

    assert biomass(["retire", "2022", "--reason", "x", "--data-root", root]) == 0
    publish_year(store, 2022, 2021, salt="rebuilt")
    capsys.readouterr()
    assert biomass(["retire", "--undo", "2022", "--data-root", root]) == exitcodes.USAGE
    assert "published again" in capsys.readouterr().err
    assert biomass(["retire", "--undo", "2025", "--data-root", root]) == exitcodes.USAGE
    assert "no retired copy" in capsys.readouterr().err


def test_cli_undo_warns_about_later_years_built_without_it(store, capsys):
    root = str(store.data_root)
    assert biomass(["retire", "2022", "--reason", "x", "--data-root", root]) == 0
    publish_year(store, 2023, 2021, salt="rebuilt")   # the backfill rebuilt 2023 on 2021
    capsys.readouterr()
    assert biomass(["retire", "--undo", "2022", "--data-root", root]) == 0
    out = capsys.readouterr().out
    assert "warning: published year(s) 2023 were built without 2022" in out
    assert "--from-date 2023-01-01 --to-date 2023-01-01" in out


def test_cli_reads_the_data_root_from_the_config(store, tmp_path, capsys):
    config = tmp_path / "biomass.yaml"
    config.write_text(f"data_root: {store.data_root}\n")
    assert biomass(["retire", "2022", "--reason", "x", "--config", str(config)]) == 0
    assert store.published_years() == [2021, 2023]


# -- the pipeline -------------------------------------------------------------------------------------------------

def test_a_year_rebuilt_after_a_cut_short_retire_is_not_deduplicated_against_it(tmp_path, two_published_years,
                                                                                 monkeypatch):
    """Real samples: 2022 first drops rows that repeat 2021; 2021 is retired by a retire killed right after its
    commit point (signatures still indexed); the rebuilt 2022 has no parent and matches nothing in 2021."""
    import shutil

    from biomass.pipeline import make_plan, run_year

    built, before, key = two_published_years   # 2021 and 2022 as built once per session: a copy of them
    monkeypatch.setenv("BIOMASS_SIGNING_KEY", key)
    root = tmp_path / "data"
    shutil.copytree(built.data_root, root)
    assert before.parent == 2021 and before.stages["dedup"].notes["earlier_generation_matches"] > 0
    store = GenerationStore(root)
    with monkeypatch.context() as m:
        m.setattr(GenerationStore, "_park_signatures", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            store.retire(2021, "withdrawn")
    assert store.children_of(2021) == [2022] and store.signature_path(2021).is_file()

    after = run_year(make_plan(2022, data_root=str(root)))
    notes = after.stages["dedup"].notes
    assert after.parent is None
    assert notes["index_years"] == [] and notes["earlier_generation_matches"] == 0
    assert (store.retired_copies(2021)[-1] / "gen-2021.arrow").is_file()
    assert store.children_of(2021) == []
