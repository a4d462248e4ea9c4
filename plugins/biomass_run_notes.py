"""Airflow listener plugin: when a biomass run ends, its note says why (the failed gate, with a link to Data
Docs) or what it published.

Tasks cannot set their own run's note in Airflow 3 (the Task SDK has no call for it, apache/airflow#64890), so
they push the note as an XCom and this listener, which runs where the run's state changes (scheduler, or the
`dags test` process), copies the newest one onto the run inside the same transaction.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl
from airflow.models.dagrun import DagRun
from airflow.models.xcom import XComModel
from airflow.plugins_manager import AirflowPlugin
from airflow.utils.session import create_session
from airflow.utils.state import TaskInstanceState
from sqlalchemy.orm import object_session

from biomass.run_notes import NOTE_KEY, combine, task_failure_note

log = logging.getLogger(__name__)


def _pushed_note(session, dag_run) -> str | None:
    row = session.scalars(XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, key=NOTE_KEY,
                                             limit=1)).first()
    return XComModel.deserialize_value(row) if row is not None else None


def _annotate(session, dag_run, failed: bool) -> None:
    note = _pushed_note(session, dag_run)
    if note is None and failed and dag_run.dag_id.startswith("biomass_"):
        note = task_failure_note(sorted(ti.task_id for ti in dag_run.get_task_instances(
            state=[TaskInstanceState.FAILED], session=session)))
    if note:
        dag_run.note = combine(dag_run.note, str(note))
        log.info("run note set on %s/%s", dag_run.dag_id, dag_run.run_id)


def _on_run_end(dag_run, failed: bool) -> None:
    """In the scheduler the run is bound to its session and our change commits with the state change; `dags test`
    hands over a detached run, so the note is written through a session of our own."""
    session = object_session(dag_run)
    if session is not None:
        return _annotate(session, dag_run, failed)
    with create_session() as own:
        attached = own.get(DagRun, dag_run.id)
        if attached is not None:
            _annotate(own, attached, failed)


class RunNotesListener:
    @hookimpl
    def on_dag_run_success(self, dag_run, msg: str) -> None:
        _on_run_end(dag_run, failed=False)

    @hookimpl
    def on_dag_run_failed(self, dag_run, msg: str) -> None:
        _on_run_end(dag_run, failed=True)


class BiomassRunNotesPlugin(AirflowPlugin):
    name = "biomass_run_notes"
    listeners = [RunNotesListener()]
