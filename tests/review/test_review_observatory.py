"""The observatory lists years waiting for review and shows each sampled document (app without Airflow)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from biomass.observatory.app import create_app
from biomass.review.decision import record_decision


def test_pending_years_are_listed_with_the_required_actions_link_until_decided(pending):
    client = TestClient(create_app(lambda: pending.data_root, airflow_url="http://airflow.example"))
    data = client.get("/api/reviews").json()
    assert data["required_actions"] == "http://airflow.example/required_actions"
    assert [p["year"] for p in data["pending"]] == [pending.year]
    assert "api/reviews" in client.get("/").text
    record_decision(pending, approve=True, by="alice")
    assert client.get("/api/reviews").json()["pending"] == []


def test_a_sampled_document_is_shown_next_to_what_it_matched(pending):
    client = TestClient(create_app(lambda: pending.data_root))
    page = client.get(f"/review/{pending.year}/sample/near_duplicate/0")
    assert page.status_code == 200 and "Matched:" in page.text and "<script" not in page.text.lower()
    assert client.get(f"/review/{pending.year}/sample/near_duplicate/999").status_code == 404
    assert client.get("/review/1999/sample/rare_words/0").status_code == 404
