"""Filter fixtures: the shared real-text fixture (Python docs + Debian Reference) and fake records around it."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow as pa
import pytest

from biomass.schema import make_doc_id, records_to_table, sha256_text
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)


def fake_records(texts: list[str], *, urls: list[str | None] | None = None, langs: list[str] | None = None,
                 source: str = "scrape") -> pa.Table:
    """FAKE records (ids, dates, provenance made up here) around the given texts, in the record schema."""
    urls = urls if urls is not None else [f"https://docs.example.org/page-{i}.html" for i in range(len(texts))]
    langs = langs if langs is not None else ["en"] * len(texts)
    at = datetime(2021, 3, 1, tzinfo=timezone.utc)
    origin = {"scrape": "human", "license": "licensed", "synthetic": "synthetic"}[source]
    rows = [{"doc_id": make_doc_id(f"fake:{i}:{u}", sha256_text(t)), "text": t, "source": source, "origin": origin,
             "synthetic_score": 0.0, "url": u, "collected_at": at, "generation": 2021,
             "content_sha256": sha256_text(t), "lang": lang, "human_era": True, "provenance": "{}",
             "tag_evidence": "{}"} for i, (t, u, lang) in enumerate(zip(texts, urls, langs))]
    return records_to_table(rows)


@pytest.fixture
def records():
    return fake_records
