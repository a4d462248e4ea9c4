"""Expert review on the native topology, through the REST API only (the official client), as a reviewer's script
would: a year run with review mode `required` waits under Required Actions; the pending request is found with
GET .../dagRuns/{run_id}/hitlDetails; someone not in review.assigned_users is refused (403); the assigned
reviewer approves excluding one document (PATCH the task instance's hitlDetails) and the year publishes with
the decision in its manifest and counts that balance. A second year is rejected: nothing is published, the
run fails and its note carries the reason.

Shares the session's stack with the backfill test (later years on the same data root)."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.integration.conftest import REVIEWER
from tests.integration.rest import (DAG_ID, ensure_dag_ready, failure_report, start_reviewed_year, task_states,
                                    wait_for_review, wait_for_run_end)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

APPROVED, REJECTED = 2024, 2025
EXCLUDED = "reviewer_excluded"


def _a_sampled_new_document(stack, year: int) -> str:
    rows = pq.read_table(stack.data_root / "staging" / str(year) / "review" / "sample.parquet",
                         columns=["kind", "doc_id"]).to_pylist()
    return next(r["doc_id"] for r in rows if r["kind"] == "rare_words")


def test_a_required_review_found_and_approved_through_rest_excluding_one_document(stack, api, reviewer_api):
    import airflow_client.client as af

    ensure_dag_ready(af, api, stack)
    run_id = start_reviewed_year(af, api, APPROVED)
    detail = wait_for_review(af, api, stack, run_id)
    assert detail.task_instance.task_id == "review" and detail.task_instance.dag_run_id == run_id
    assert [u.id for u in detail.assigned_users] == [REVIEWER]
    assert detail.options == ["Approve", "Reject"] and "#### Review sample" in detail.body
    # The run holds its year's lock while nobody works on it: marked live until past the review's deadline.
    lock = json.loads((stack.data_root / "locks" / f"{APPROVED}.lock").read_text())
    assert lock["run_id"] == run_id and lock["awaiting_review_until"] > lock["heartbeat"], lock

    doc = _a_sampled_new_document(stack, APPROVED)
    comment = "one page is off topic; the rest reads as expected"
    answer = af.UpdateHITLDetailPayload(chosen_options=["Approve"], params_input={"comment": comment,
                                                                                  "exclude": [doc]})
    with pytest.raises(af.exceptions.ForbiddenException):   # the admin may see it, but is not a reviewer
        af.TaskInstanceApi(api).update_hitl_detail(DAG_ID, run_id, "review", -1, answer)
    response = af.TaskInstanceApi(reviewer_api).update_hitl_detail(DAG_ID, run_id, "review", -1, answer)
    assert response.responded_by.id == REVIEWER and response.chosen_options == ["Approve"]
    with pytest.raises(af.exceptions.ConflictException):     # decided once
        af.TaskInstanceApi(reviewer_api).update_hitl_detail(DAG_ID, run_id, "review", -1, answer)

    run = wait_for_run_end(af, api, stack, run_id)
    assert run.state == "success", failure_report(af, api, [run])
    manifest = json.loads((stack.data_root / "generations" / str(APPROVED) / "manifest.json").read_text())
    review = manifest["review"]
    assert (review["mode"], review["decision"], review["by"]) == ("required", "approve", REVIEWER)
    assert review["comment"] == comment and review["excluded"] == [doc] and not review["automatic"]
    assert review["at"] and doc in review["sample_ids"]
    counts = manifest["stages"]["review"]
    assert counts["in"] == counts["out"] + 1 and counts["quarantined"] == {EXCLUDED: 1}, counts
    assert manifest["rows"] == counts["out"]
    generation = stack.data_root / "generations" / str(APPROVED)
    published = [pq.read_table(generation / f["path"], columns=["doc_id"]).column("doc_id").to_pylist()
                 for f in manifest["files"]]
    assert sum(map(len, published)) == manifest["rows"] and all(doc not in ids for ids in published)
    quarantine = [row for f in manifest["quarantine_files"]
                  for row in pq.read_table(generation / f["path"]).to_pylist()]
    assert [(q["stage"], q["reason"]) for q in quarantine if q["doc_id"] == doc] == [("review", EXCLUDED)]
    assert f"approved by {REVIEWER}" in run.note, run.note
    assert not (stack.data_root / "locks" / f"{APPROVED}.lock").exists()


def test_a_rejected_year_publishes_nothing_and_the_run_note_says_why(stack, api, reviewer_api):
    import airflow_client.client as af

    ensure_dag_ready(af, api, stack)
    run_id = start_reviewed_year(af, api, REJECTED)
    wait_for_review(af, api, stack, run_id)
    reason = "the licence of one publisher drop is unclear"
    af.TaskInstanceApi(reviewer_api).update_hitl_detail(DAG_ID, run_id, "review", -1, af.UpdateHITLDetailPayload(
        chosen_options=["Reject"], params_input={"comment": reason, "exclude": []}))

    run = wait_for_run_end(af, api, stack, run_id)
    assert run.state == "failed"
    states = task_states(af, api, run_id)
    assert (states["review"], states["record_review"], states["publish"]) == ("success", "failed",
                                                                             "upstream_failed"), states
    assert states["release_lock"] == "success"
    assert not (stack.data_root / "generations" / str(REJECTED)).exists()
    assert run.note.startswith(f"**biomass {REJECTED}: stopped in review. Nothing was published.**"), run.note
    assert reason in run.note and REVIEWER in run.note
    decision = json.loads((stack.data_root / "staging" / str(REJECTED) / "review" / "decision.json").read_text())
    assert (decision["decision"], decision["by"], decision["comment"]) == ("reject", REVIEWER, reason)
