"""The review between the last gate and publish, without Airflow: pending, approve (with exclusions), reject."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from biomass.review.decision import (AUTOMATIC_REVIEWER, EXCLUDED, ReviewConflict, ReviewPending, ReviewRejected,
                                     body_path, load_decision, record_decision, require_decision)
from biomass.review.sample import load_sample
from biomass.storage import GenerationStore, NotPublished


def _new_synthetic_id(plan) -> str:
    sample = load_sample(plan)
    return sample.filter(pc.equal(sample.column("kind"), "synthetic")).column("doc_id")[0].as_py()


def test_required_review_stops_before_publish_saying_how_to_decide(staged_chain):
    root, year = staged_chain
    store = GenerationStore(root)
    assert store.published_years() == [2021]
    from biomass.pipeline import RunPlan

    plan = RunPlan.load(store.staging_dir(year) / "plan.json")
    with pytest.raises(ReviewPending, match=rf"biomass review {year} --data-root .* --approve"):
        require_decision(plan)
    assert body_path(plan).exists() and load_decision(plan) is None


def test_an_automatic_approval_is_labelled_and_carries_no_time(staged_chain):
    root, _ = staged_chain
    review = GenerationStore(root).manifest(2021)["review"]
    assert review["automatic"] is True and review["by"] == AUTOMATIC_REVIEWER and review["at"] is None
    assert review["mode"] == "auto" and review["sample_ids"]


def test_approve_excluding_a_document_quarantines_it_and_counts_balance(pending):
    from biomass.pipeline import publish

    doc = _new_synthetic_id(pending)
    before = sum(pq.ParquetFile(p).metadata.num_rows for p in (pending.staging / "generation").glob("part-*"))
    record_decision(pending, approve=True, by="alice", comment="one off-topic synthetic page", exclude=[doc])
    manifest = publish(pending).as_dict()

    review = manifest["review"]
    assert (review["by"], review["excluded"], review["comment"]) == ("alice", [doc], "one off-topic synthetic page")
    assert review["at"] and not review["automatic"] and doc in review["sample_ids"]
    counts = manifest["stages"]["review"]
    assert counts == {"stage": "review", "in": before, "out": before - 1, "quarantined": {EXCLUDED: 1}}
    assert manifest["rows"] == before - 1
    store = GenerationStore(pending.data_root)
    assert doc not in store.read(pending.year, ["doc_id"]).column("doc_id").to_pylist()
    quarantine = pq.read_table(store.generation_dir(pending.year) / manifest["quarantine"]["path"]) \
        if isinstance(manifest.get("quarantine"), dict) else None
    rows = pq.read_table(pending.staging / "review.quarantine.parquet").to_pylist()
    assert [(r["doc_id"], r["reason"], r["stage"]) for r in rows] == [(doc, EXCLUDED, "review")]
    assert quarantine is None or doc in quarantine.column("doc_id").to_pylist()
    # its signature never reaches the dedup index: a later year must not match a document nobody publishes
    ids = pq.read_table(pending.staging / "dedup.signature_ids.parquet").column("doc_id").to_pylist()
    assert doc not in ids and len(ids) == len(np.load(pending.staging / "dedup.signatures.npy", mmap_mode="r"))


def test_a_reject_needs_a_comment_and_publishes_nothing(pending):
    from biomass.pipeline import publish

    with pytest.raises(ValueError, match="comment"):
        record_decision(pending, approve=False, by="bob", comment="  ")
    record_decision(pending, approve=False, by="bob", comment="synthetic pages read as spam")
    with pytest.raises(ReviewRejected, match="rejected by bob: synthetic pages read as spam"):
        publish(pending)
    with pytest.raises(NotPublished):
        GenerationStore(pending.data_root).manifest(pending.year)


def test_a_review_is_decided_once(pending):
    record_decision(pending, approve=True, by="alice")
    with pytest.raises(ReviewConflict, match="already decided: approve by alice"):
        record_decision(pending, approve=False, by="bob", comment="too late")


def test_only_this_years_new_documents_can_be_excluded(pending):
    parent_doc = GenerationStore(pending.data_root).read(2021, ["doc_id"]).column("doc_id")[0].as_py()
    for doc in ("f" * 32, parent_doc):
        with pytest.raises(ValueError, match="not among the new documents"):
            record_decision(pending, approve=True, by="alice", exclude=[doc])
    assert load_decision(pending) is None     # nothing recorded, nothing changed
    assert not (pending.staging / "review.quarantine.parquet").exists()


def test_a_decision_on_another_sample_is_not_honoured(pending):
    record_decision(pending, approve=True, by="alice")
    sample = pending.staging / "review" / "sample.parquet"
    table = pq.read_table(sample)
    pq.write_table(table.slice(1), sample)
    with pytest.raises(ReviewPending, match="changed after the decision"):
        require_decision(pending)


def test_mode_off_records_that_no_review_ran(pending):
    from biomass.pipeline import publish
    from biomass.review.decision import prepare_review

    plan = type(pending)(**{**pending.__dict__, "config": {**pending.config, "review": {
        **pending.config["review"], "mode": "off"}}})
    assert prepare_review(plan)["mode"] == "off"
    review = publish(plan).as_dict()["review"]
    assert review["mode"] == "off" and review["decision"] == "none" and review["sample_ids"] == []
    assert json.loads((plan.staging / "review" / "decision.json").read_text())["decision"] == "none"


def _staged_state(plan) -> dict:
    """Every staged file the exclusion may change, by content."""
    from biomass.storage import file_sha256

    names = [*sorted((plan.staging / "generation").glob("part-*")), *sorted((plan.staging / "measure").glob("*.stats")),
             plan.staging / "dedup.signatures.npy", plan.staging / "dedup.signature_ids.parquet"]
    return {str(p.relative_to(plan.staging)): file_sha256(p) for p in names if p.exists()}


def test_a_kill_before_the_exclusion_commits_changes_nothing_and_a_retry_applies_it(pending, monkeypatch):
    import biomass.review.decision as decision
    from biomass.pipeline import publish

    doc = _new_synthetic_id(pending)
    before = _staged_state(pending)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while building the exclusion")

    monkeypatch.setattr(decision, "_drop_signatures", killed)
    with pytest.raises(KeyboardInterrupt):
        record_decision(pending, approve=True, by="alice", exclude=[doc])
    assert _staged_state(pending) == before and load_decision(pending) is None
    assert not (pending.staging / "review.quarantine.parquet").exists()

    monkeypatch.undo()
    record_decision(pending, approve=True, by="alice", exclude=[doc])
    assert not (pending.staging / decision.PENDING_DIR).exists()
    manifest = publish(pending).as_dict()
    assert manifest["stages"]["review"]["quarantined"] == {EXCLUDED: 1}


def test_a_kill_while_applying_a_committed_exclusion_is_rolled_forward_by_the_retry(pending, monkeypatch):
    import os

    import biomass.review.decision as decision
    from biomass.pipeline import publish

    doc = _new_synthetic_id(pending)
    rows_before = sum(pq.ParquetFile(p).metadata.num_rows for p in (pending.staging / "generation").glob("part-*"))
    real_replace, calls = os.replace, []

    journal = pending.staging / decision.PENDING_DIR / decision.JOURNAL

    def replace_once_then_die(src, dst):     # os.replace is global: only the journal's renames are cut short
        if journal.exists() and os.path.dirname(src) == str(journal.parent):
            if calls:
                raise KeyboardInterrupt("killed between two renames")
            calls.append(dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_once_then_die)
    with pytest.raises(KeyboardInterrupt):
        record_decision(pending, approve=True, by="alice", exclude=[doc])
    monkeypatch.undo()
    assert calls and journal.exists()

    with pytest.raises(ReviewConflict, match="already excluded"):     # a different decision cannot undo it
        record_decision(pending, approve=True, by="alice", exclude=[])
    record_decision(pending, approve=True, by="alice", exclude=[doc])   # the same decision records it
    manifest = publish(pending).as_dict()
    assert manifest["stages"]["review"] == {"stage": "review", "in": rows_before, "out": rows_before - 1,
                                            "quarantined": {EXCLUDED: 1}}
    ids = pq.read_table(pending.staging / "dedup.signature_ids.parquet").column("doc_id").to_pylist()
    assert doc not in ids and len(ids) == len(np.load(pending.staging / "dedup.signatures.npy", mmap_mode="r"))
    quarantined = pq.read_table(pending.staging / "review.quarantine.parquet").column("doc_id").to_pylist()
    assert quarantined == [doc]


@pytest.mark.parametrize("given", ["2026-12-02 07:48:37.123456+00:00", "2026-12-02T08:48:37+01:00",
                                   "2026-12-02 07:48:37"])
def test_the_time_of_a_decision_is_recorded_as_iso_utc(given):
    from datetime import datetime, timezone

    from biomass.review.decision import _iso

    assert _iso(given) == "2026-12-02T07:48:37+00:00"
    assert _iso(datetime(2026, 12, 2, 7, 48, 37, tzinfo=timezone.utc)) == "2026-12-02T07:48:37+00:00"
