"""The fixed Parquet writer options: no dictionary or statistics on free-text columns, still deterministic."""

from __future__ import annotations

from datetime import datetime, timezone

import pyarrow.parquet as pq

from biomass.schema import records_to_table
from biomass.storage import file_sha256, write_parquet


def _records(n: int = 40) -> list[dict]:
    when = datetime(2021, 3, 1, tzinfo=timezone.utc)
    return [{"doc_id": f"d{i:03d}", "text": f"document number {i} " * 20, "source": "scrape", "origin": "human",
             "synthetic_score": 0.0, "collected_at": when, "generation": 2021, "content_sha256": f"{i:064x}",
             "lang": "en", "human_era": True, "provenance": f'{{"n":{i}}}', "tag_evidence": '{"fired":[]}'}
            for i in range(n)]


def test_free_text_columns_have_no_dictionary_or_statistics(tmp_path):
    path = tmp_path / "records.parquet"
    write_parquet(records_to_table(_records()), path)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    chunks = {meta.column(i).path_in_schema: meta.column(i) for i in range(meta.num_columns)}
    for name in ("text", "provenance", "tag_evidence"):
        assert not chunks[name].is_stats_set, name
        assert not any("DICTIONARY" in e for e in chunks[name].encodings), (name, chunks[name].encodings)
    assert chunks["origin"].is_stats_set and any("DICTIONARY" in e for e in chunks["origin"].encodings)
    assert chunks["collected_at"].is_stats_set


def test_same_table_same_bytes(tmp_path):
    table = records_to_table(_records())
    write_parquet(table, tmp_path / "a.parquet")
    write_parquet(table, tmp_path / "b.parquet")
    assert file_sha256(tmp_path / "a.parquet") == file_sha256(tmp_path / "b.parquet")
    assert pq.read_table(tmp_path / "a.parquet").equals(table)
