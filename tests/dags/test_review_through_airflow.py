"""The review step run by Airflow itself (dag.test on SQLite): modes auto and off publish unattended; a required
review nobody answers times out and fails closed (nothing published); a person's answer (approve excluding a
document, reject), written while dag.test waits through the api-server's own HITL route, is what publish obeys."""

from __future__ import annotations

import json
import logging
import threading
import types
from datetime import datetime, timedelta, timezone

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


def review_config(tmp_path, monkeypatch, hours: float):
    """The bundled config with a required review, assigned to `curator`, timing out after ``hours``."""
    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    for section in ("scrape", "license"):
        raw[section]["inputs"] = [str(BUNDLED_CONFIG.parent / p) for p in raw[section]["inputs"]]
    raw["review"] = {"mode": "required", "response_timeout_hours": hours,
                     "assigned_users": [{"id": "curator", "name": "Curator"}]}
    path = tmp_path / "biomass.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("BIOMASS_CONFIG", str(path))
    return path


@pytest.fixture
def short_review_timeout(tmp_path, monkeypatch):
    """A required review that times out after ~2 s."""
    return review_config(tmp_path, monkeypatch, 2 / 3600)


REVIEW_HOURS = 0.2


@pytest.fixture
def required_review(tmp_path, monkeypatch):
    """A required review with 12 minutes to answer: the tests answer within seconds, and a reviewer that
    cannot answer fails the test by the timeout (the sweep runs beside dag.test) instead of hanging it."""
    return review_config(tmp_path, monkeypatch, REVIEW_HOURS)


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


class Reviewer(threading.Thread):
    """A person answering in the Airflow UI while dag.test waits: the UI's PATCH .../hitlDetails is served by
    ``update_hitl_detail``, called here as the api-server calls it (a session on the same metadata DB and the
    auth manager's user), first as someone not assigned (403), then as the assigned curator."""

    def __init__(self, lock_path, answer):
        super().__init__(daemon=True)
        self.lock_path, self.answer = lock_path, answer
        self.stop, self.seen, self.error = threading.Event(), {}, None

    def run(self) -> None:
        try:
            while not self.stop.wait(0.5):
                if self._try_once():
                    return
        except Exception as exc:  # noqa: BLE001 - reported by the test, not lost in a thread
            logging.getLogger("reviewer").exception("the reviewer could not answer")
            self.error = exc

    def _try_once(self) -> bool:
        from airflow import settings
        from airflow.api_fastapi.app import create_auth_manager
        from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
        from airflow.models.hitl import HITLDetail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.state import TaskInstanceState
        from fastapi import HTTPException
        from sqlalchemy import select
        from sqlalchemy.exc import OperationalError

        create_auth_manager()
        try:
            with settings.Session() as session:
                ti = session.scalars(select(TaskInstance).where(
                    TaskInstance.dag_id == "biomass_annual", TaskInstance.task_id == "review",
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT)).first()
                if ti is None or session.scalar(select(HITLDetail).where(HITLDetail.ti_id == ti.id)) is None:
                    return False
                self.seen["lock"] = json.loads(self.lock_path.read_text())
                payload = UpdateHITLDetailPayload(**self.answer())
                for user in ("intruder", "curator"):
                    try:
                        update_hitl_detail(ti.dag_id, ti.run_id, ti.task_id, payload,
                                           user=SimpleAuthManagerUser(username=user, role="admin"),
                                           session=session, map_index=ti.map_index)
                        session.commit()
                        self.seen[user] = 200
                    except HTTPException as exc:
                        session.rollback()
                        self.seen[user] = exc.status_code
                return True
        except OperationalError:   # SQLite busy under dag.test's own session: try again
            return False


def run_with_reviewer(dag, data_root, answer):
    reviewer = Reviewer(data_root / "locks" / "2021.lock", answer)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_timeouts, args=(stop,), daemon=True)
    reviewer.start()
    sweeper.start()
    try:
        dagrun = run(dag, 2021, data_root=str(data_root), review_mode="required")
    finally:
        reviewer.stop.set()
        stop.set()
        reviewer.join(30)
        sweeper.join(10)
    assert reviewer.error is None, reviewer.error
    assert reviewer.seen.get("intruder") == 403 and reviewer.seen.get("curator") == 200, reviewer.seen
    # While it waited, the run's lock was marked live until past the review's deadline (no task beat for it).
    until = datetime.fromisoformat(reviewer.seen["lock"]["awaiting_review_until"])
    heartbeat = datetime.fromisoformat(reviewer.seen["lock"]["heartbeat"])
    # Both stamps are whole seconds and the deadline is taken just before the heartbeat is written: allow 2 s.
    assert until >= heartbeat + timedelta(hours=REVIEW_HOURS, seconds=3600 - 2), reviewer.seen["lock"]
    return dagrun


def test_a_reviewer_approves_excluding_a_document_and_the_year_publishes_without_it(dag, tmp_path, required_review):
    import pyarrow.parquet as pq

    from biomass.review.decision import EXCLUDED

    data = tmp_path / "data"
    sample = data / "staging" / "2021" / "review" / "sample.parquet"
    chosen = []

    def approve() -> dict:
        rows = pq.read_table(sample, columns=["kind", "doc_id"]).to_pylist()
        chosen.append(next(r["doc_id"] for r in rows if r["kind"] == "rare_words"))
        return {"chosen_options": ["Approve"], "params_input": {"comment": "one page off topic",
                                                                "exclude": chosen}}

    dagrun = run_with_reviewer(dag, data, approve)
    assert dagrun.state == "success", states(dagrun)
    store = GenerationStore(data)
    manifest = store.manifest(2021)
    review = manifest["review"]
    assert (review["by"], review["comment"], review["excluded"]) == ("curator", "one page off topic", chosen)
    assert review["at"] and not review["automatic"] and chosen[0] in review["sample_ids"]
    counts = manifest["stages"]["review"]
    assert counts["in"] == counts["out"] + 1 and counts["quarantined"] == {EXCLUDED: 1}
    assert manifest["rows"] == counts["out"]
    assert chosen[0] not in store.read(2021, ["doc_id"]).column("doc_id").to_pylist()
    assert "awaiting_review_until" not in json.dumps(review)
    assert not (data / "locks" / "2021.lock").exists()   # released by the teardown


def test_a_reviewer_rejects_and_nothing_is_published_with_the_reason_in_the_note(dag, tmp_path, required_review):
    data = tmp_path / "data"
    dagrun = run_with_reviewer(dag, data, lambda: {"chosen_options": ["Reject"],
                                                   "params_input": {"comment": "licence unclear", "exclude": []}})
    got = states(dagrun)
    assert dagrun.state == "failed", got
    assert got["review"] == "success" and got["record_review"] == "failed" and got["publish"] == "upstream_failed"
    assert GenerationStore(data).published_years() == []
    decision = json.loads((data / "staging" / "2021" / "review" / "decision.json").read_text())
    assert (decision["decision"], decision["by"], decision["comment"]) == ("reject", "curator", "licence unclear")
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:   # written by the biomass_run_notes listener when the run failed
        note = session.get(DagRun, dagrun.id).note
    assert note.startswith("**biomass 2021: stopped in review. Nothing was published.**"), note
    assert "licence unclear" in note and "curator" in note
