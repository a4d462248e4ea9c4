"""What the integration tests do through Airflow's REST API (the official client), shared by their modules."""

from __future__ import annotations

import json
import time

import pytest

DAG_ID = "biomass_annual"


def wait_for_dag(af, api, stack, timeout: float = 300.0):
    """The dag-processor parses dags/ and serializes the DAG; until then the API answers 404."""
    dags, errors = af.DAGApi(api), af.ImportErrorApi(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        found = [e for e in errors.get_import_errors().import_errors if "biomass_annual" in (e.filename or "")]
        if found:
            pytest.fail(f"{DAG_ID} does not import:\n{found[0].stack_trace}")
        try:
            return dags.get_dag(DAG_ID)
        except af.exceptions.NotFoundException:
            time.sleep(3)
    pytest.fail(f"{DAG_ID} was not parsed within {timeout:.0f}s")


def log_lines(content: list) -> list[str]:
    """Structured task-log records as text: the event, plus the exception when the record carries one."""
    lines = []
    for record in content:
        if not isinstance(record, dict):
            lines.append(str(record))
            continue
        lines.append(str(record.get("event", "")))
        for error in record.get("error_detail") or []:
            lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
            for frame in (error.get("frames") or [])[-4:]:
                lines.append(f"  {frame.get('filename')}:{frame.get('lineno')} in {frame.get('name')}")
    return lines


def failure_report(af, api, runs) -> str:
    """The failed tasks of the failed runs with the end of their logs, fetched through the API."""
    tis, lines = af.TaskInstanceApi(api), []
    for run in runs:
        lines.append(f"run {run.dag_run_id}: {run.state}")
        for ti in tis.get_task_instances(DAG_ID, run.dag_run_id, state=["failed", "upstream_failed"]).task_instances:
            lines.append(f"  {ti.task_id}[{ti.map_index}] {ti.state} try {ti.try_number}")
            if ti.state == "failed" and ti.try_number:
                try:
                    # Raw JSON: the generated model drops the records' extra fields (the exception among them).
                    raw = tis.get_log_without_preload_content(DAG_ID, run.dag_run_id, ti.task_id, ti.try_number,
                                                              full_content=True, map_index=ti.map_index,
                                                              accept="application/json")
                    lines.extend("    " + line for line in log_lines(json.loads(raw.data)["content"])[-25:])
                except af.exceptions.ApiException as exc:
                    lines.append(f"    (log unavailable: {exc.status})")
    return "\n".join(lines)


SIGNING_VARIABLE = "biomass_signing_private_key"


def ensure_dag_ready(af, api, stack) -> None:
    """Parsed, a signing key stored and unpaused: what the backfill test sets up, for a module run alone."""
    import base64
    import os

    wait_for_dag(af, api, stack)
    variables = af.VariableApi(api)
    try:
        variables.get_variable(SIGNING_VARIABLE)
    except af.exceptions.NotFoundException:
        variables.post_variable(af.VariableBody(key=SIGNING_VARIABLE, value=base64.b64encode(os.urandom(32)).decode(),
                                                description="integration test: throwaway Ed25519 seed"))
    af.DAGApi(api).patch_dag(DAG_ID, af.DAGPatchBody(is_paused=False))


def start_reviewed_year(af, api, year: int) -> str:
    """A manual run of ``year`` (no logical date) whose review waits for a person (review_mode required)."""
    run_id = f"review-{year}"
    af.DagRunApi(api).trigger_dag_run(DAG_ID, af.TriggerDAGRunPostBody(
        dag_run_id=run_id, logical_date=None, conf={"year": year, "review_mode": "required"}))
    return run_id


def wait_for_review(af, api, stack, run_id: str, timeout: float = 30 * 60):
    """The run's pending review, as Required Actions lists it (GET .../dagRuns/{run_id}/hitlDetails)."""
    runs, tis = af.DagRunApi(api), af.TaskInstanceApi(api)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        run = runs.get_dag_run(DAG_ID, run_id)
        if run.state == "failed":
            pytest.fail(f"{run_id} failed before its review:\n" + failure_report(af, api, [run]))
        pending = tis.get_hitl_details(DAG_ID, run_id, response_received=False).hitl_details
        if pending:
            return pending[0]
        time.sleep(5)
    pytest.fail(f"{run_id} did not reach its review within {timeout:.0f}s")


def wait_for_run_end(af, api, stack, run_id: str, timeout: float = 15 * 60):
    """The run once it has ended and its note (written by the listener when the state changed) is there."""
    runs, deadline = af.DagRunApi(api), time.monotonic() + timeout
    while time.monotonic() < deadline:
        stack.check_alive()
        run = runs.get_dag_run(DAG_ID, run_id)
        if run.state in ("success", "failed") and run.note:
            return run
        time.sleep(5)
    pytest.fail(f"{run_id} did not end within {timeout:.0f}s")


def task_states(af, api, run_id: str) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in af.TaskInstanceApi(api).get_task_instances(
        DAG_ID, run_id, limit=1000).task_instances if ti.map_index == -1}
