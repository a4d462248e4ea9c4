"""biomass_annual run by Airflow itself (dag.test on SQLite) over the bundled real-text samples."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from biomass.storage import GenerationStore

pytestmark = pytest.mark.airflow


def run(dag, logical_year: int, **conf):
    return dag.test(logical_date=datetime(logical_year, 1, 1, tzinfo=timezone.utc), run_conf=conf)


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


@pytest.fixture(scope="module")
def chain(dag, tmp_path_factory):
    """Two consecutive years on one data root: the second reads the first."""
    root = tmp_path_factory.mktemp("chain")
    runs = {year: run(dag, year, data_root=str(root)) for year in (2021, 2022)}
    return root, runs


def test_two_consecutive_years_publish(chain):
    root, runs = chain
    for year, dagrun in runs.items():
        assert dagrun.state == "success", states(dagrun)
    store = GenerationStore(root)
    assert store.published_years() == [2021, 2022]
    first, second = store.manifest(2021), store.manifest(2022)
    assert first["parent"] is None and second["parent"] == 2021
    assert second["mix"]["source"].get("synthetic", 0) > 0, "the second year trains on the first"
    assert all(g["success"] for g in second["gates"].values())
    for stage, counts in second["stages"].items():
        assert counts["in"] == counts["out"] + sum(counts["quarantined"].values()), stage
    for year, dagrun in runs.items():   # the teardown released each run's lock
        assert states(dagrun)["release_lock"] == "success"
        assert not store.lock_path(year).exists()


def test_rerun_of_a_year_is_byte_identical(chain, dag):
    root, _ = chain
    store = GenerationStore(root)
    before = store.manifest_path(2022).read_bytes()
    shards = {p.name: p.read_bytes() for p in store.generation_dir(2022).iterdir()}
    dagrun = run(dag, 2022, data_root=str(root))
    assert dagrun.state == "success", states(dagrun)
    assert store.manifest_path(2022).read_bytes() == before
    assert {p.name: p.read_bytes() for p in store.generation_dir(2022).iterdir()} == shards


def test_year_param_overrides_the_logical_date(dag, tmp_path):
    dagrun = run(dag, 2030, year=2021, data_root=str(tmp_path))
    assert dagrun.state == "success", states(dagrun)
    assert GenerationStore(tmp_path).published_years() == [2021]


def test_each_published_generation_is_an_asset_with_its_figures(chain):
    """publish() announces `biomass-generation-<year>` through the alias, the manifest's figures in the extra."""
    from airflow import settings
    from airflow.models.asset import AssetEvent, AssetModel
    from sqlalchemy import select

    root, _ = chain
    with settings.Session() as session:
        for year in (2021, 2022):
            uri = f"file://{GenerationStore(root).generation_dir(year)}"
            # Other tests publish the same year under other data roots: same name, other URI.
            asset = session.scalars(select(AssetModel).where(AssetModel.name == f"biomass-generation-{year}",
                                                             AssetModel.uri == uri)).one()
            events = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id)).all()
            assert events, year
            extra = events[-1].extra
            manifest = GenerationStore(root).manifest(year)
            assert extra["year"] == year and extra["rows"] == manifest["rows"]
            assert extra["gates"] == {g: True for g in manifest["gates"]}
            assert "tail_coverage" in extra["metrics"]


def test_a_second_run_of_a_year_being_built_fails_its_plan_task_and_leaves_the_lock_alone(dag, tmp_path):
    """Another run (a DAG run elsewhere, or `biomass run-year`) holds 2023 on this data root: this run's plan
    task fails before touching staging, nothing else runs, and its teardown does not release the other's lock."""
    from biomass.pipeline import RunLock

    store = GenerationStore(tmp_path)
    other = RunLock(store.lock_path(2023), "manual__the_other_run", pid=None).acquire()
    dagrun = run(dag, 2023, year=2023, data_root=str(tmp_path))   # explicit: dag.test keeps earlier run_conf
    got = states(dagrun)
    assert dagrun.state == "failed" and got["plan"] == "failed", got
    assert all(s == "upstream_failed" for t, s in got.items() if t not in ("plan", "release_lock")), got
    assert other.holder()["run_id"] == "manual__the_other_run"
    assert not store.staging_dir(2023).exists() and store.published_years() == []
    assert other.release()
