"""The review step run by Airflow itself (dag.test on SQLite): modes auto and off publish unattended; a required
review nobody answers times out and fails closed (nothing published)."""

from __future__ import annotations

import logging
import threading
import types
from datetime import datetime, timezone

import pytest
import yaml

from biomass.config import BUNDLED_CONFIG
from biomass.storage import GenerationStore

pytestmark = pytest.mark.airflow


def run(dag, year: int, **conf):
    return dag.test(logical_date=datetime(year, 1, 1, tzinfo=timezone.utc), run_conf=conf)


def states(dagrun) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dagrun.get_task_instances()}


def test_auto_mode_publishes_with_an_automatic_approval(dag, tmp_path):
    dagrun = run(dag, 2021, data_root=str(tmp_path), review_mode="auto")
    assert dagrun.state == "success", states(dagrun)
    assert states(dagrun)["review"] == "skipped" and states(dagrun)["record_review"] == "success"
    review = GenerationStore(tmp_path).manifest(2021)["review"]
    assert review["automatic"] is True and review["decision"] == "approve" and review["sample_ids"]
    assert (tmp_path / "staging" / "2021" / "review" / "sample.parquet").exists()


def test_off_mode_publishes_without_a_review(dag, tmp_path):
    dagrun = run(dag, 2021, data_root=str(tmp_path), review_mode="off")
    assert dagrun.state == "success", states(dagrun)
    review = GenerationStore(tmp_path).manifest(2021)["review"]
    assert (review["mode"], review["decision"], review["sample_ids"]) == ("off", "none", [])
    assert not (tmp_path / "staging" / "2021" / "review" / "sample.parquet").exists()


@pytest.fixture
def short_review_timeout(tmp_path, monkeypatch):
    """A config whose required review times out after ~2 s (the bundled config, review section changed)."""
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    for section in ("scrape", "license"):
        raw[section]["inputs"] = [str(BUNDLED_CONFIG.parent / p) for p in raw[section]["inputs"]]
    raw["review"] = {"mode": "required", "response_timeout_hours": 2 / 3600,
                     "assigned_users": [{"id": "curator", "name": "Curator"}]}
    path = tmp_path / "biomass.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("BIOMASS_CONFIG", str(path))
    return path


def _sweep_timeouts(stop: threading.Event) -> None:
    """What the scheduler does for HITL deadlines (dag.test runs no scheduler): its awaiting-input sweep."""
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    runner = types.SimpleNamespace(log=logging.getLogger("hitl-sweep"))
    while not stop.wait(1.0):
        try:
            SchedulerJobRunner.check_awaiting_input_timeouts(runner)
        except Exception:  # noqa: BLE001 - SQLite busy under dag.test's own session: the next tick retries
            logging.getLogger("hitl-sweep").exception("sweep failed; retrying")


def test_a_required_review_nobody_answers_times_out_and_publishes_nothing(dag, tmp_path, short_review_timeout):
    from airflow.models.hitl import HITLDetail
    from airflow import settings
    from sqlalchemy import select

    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_timeouts, args=(stop,), daemon=True)
    sweeper.start()
    try:
        dagrun = run(dag, 2021, data_root=str(tmp_path / "data"), review_mode="required")
    finally:
        stop.set()
        sweeper.join(10)
    got = states(dagrun)
    assert dagrun.state == "failed", got
    assert got["review"] == "failed" and got["record_review"] == "upstream_failed"
    assert got["publish"] == "upstream_failed" and got["release_lock"] == "success"
    assert GenerationStore(tmp_path / "data").published_years() == []
    with settings.Session() as session:   # the request the Required Actions page showed, for the assigned user
        detail = session.scalars(select(HITLDetail).where(HITLDetail.ti_id.in_(
            [ti.id for ti in dagrun.get_task_instances() if ti.task_id == "review"]))).one()
        assert detail.assignees == [{"id": "curator", "name": "Curator"}]
        assert "#### Review sample" in detail.body and detail.responded_by is None
