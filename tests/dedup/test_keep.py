"""Which row of a cluster survives, what the dropped ones record, and that nothing is lost."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pyarrow as pa

from biomass.dedup import deduplicate, signatures

BASE = ("The quick brown fox jumps over the lazy dog while the five boxing wizards jump quickly and "
        "a small group of curious cats watches from the old stone wall near the river bank today")


def variant(k: int) -> str:   # FAKE near duplicates of BASE: one extra word at the end (J > 0.9)
    return f"{BASE} extra{k}"


def ts(day: int) -> datetime:
    return datetime(2024, 1, day, tzinfo=timezone.utc)


def run(rows: list[dict]) -> tuple:
    result = deduplicate(pa.Table.from_pylist(rows))
    kept = result.kept.column("doc_id").to_pylist()
    dropped = {r["doc_id"]: r for r in result.dropped.to_pylist()}
    return result, kept, dropped


def test_origin_beats_time_and_doc_id():
    rows = [{"doc_id": "a", "text": variant(1), "origin": "synthetic", "collected_at": ts(1)},
            {"doc_id": "b", "text": variant(2), "origin": "licensed", "collected_at": ts(2)},
            {"doc_id": "c", "text": variant(3), "origin": "human", "collected_at": ts(3)},
            {"doc_id": "d", "text": variant(4), "origin": "unknown", "collected_at": ts(1)}]
    result, kept, dropped = run(rows)
    assert kept == ["c"]
    assert {d["kept_doc_id"] for d in dropped.values()} == {"c"}
    assert all(d["reason"] == "near_duplicate" and d["lost_on"] == "origin" for d in dropped.values())
    assert result.counts.as_dict()["quarantined"] == {"near_duplicate": 3}


def test_earlier_collected_at_then_smallest_doc_id():
    rows = [{"doc_id": "z", "text": variant(1), "origin": "human", "collected_at": ts(5)},
            {"doc_id": "y", "text": variant(2), "origin": "human", "collected_at": ts(2)},
            {"doc_id": "x", "text": variant(3), "origin": "human", "collected_at": ts(9)},
            {"doc_id": "w", "text": variant(4), "origin": "human", "collected_at": None},
            {"doc_id": "v", "text": variant(5), "origin": "human", "collected_at": ts(2)}]
    _, kept, dropped = run(rows)
    assert kept == ["v"]                      # ts(2) tie between y and v -> smallest doc_id
    assert dropped["y"]["lost_on"] == "doc_id"
    assert dropped["z"]["lost_on"] == "collected_at"
    assert dropped["w"]["lost_on"] == "collected_at"   # undated loses to dated


def test_missing_columns_mean_unknown_origin_and_no_date():
    rows = [{"doc_id": "b2", "text": variant(1)}, {"doc_id": "a9", "text": variant(2)},
            {"doc_id": "c1", "text": "an unrelated document about something else entirely, nothing shared"}]
    result, kept, dropped = run(rows)
    assert kept == ["a9", "c1"]               # input order kept
    assert dropped["b2"]["lost_on"] == "doc_id"
    clusters = dict(zip(result.clusters.column("doc_id").to_pylist(), result.clusters.column("cluster_id").to_pylist()))
    assert clusters == {"b2": "a9", "a9": "a9", "c1": "c1"}


def test_counts_columns_and_signatures_line_up(near_dup_corpus):
    result = deduplicate(near_dup_corpus)
    n = near_dup_corpus.num_rows
    assert result.counts.check().rows_in == n
    assert result.kept.num_rows + result.dropped.num_rows == n
    assert result.clusters.num_rows == n
    assert result.clusters.column("doc_id").to_pylist() == near_dup_corpus.column("doc_id").to_pylist()
    assert result.kept.schema == near_dup_corpus.schema
    ids = near_dup_corpus.column("doc_id").to_pylist()
    kept_ids = result.kept.column("doc_id").to_pylist()
    assert kept_ids == [d for d in ids if d in set(kept_ids)]   # input order
    assert np.array_equal(result.kept_signatures, signatures(result.kept.column("text")))
    # every cluster keeps exactly one row, and the dropped rows point at it
    cl = dict(zip(result.clusters.column("doc_id").to_pylist(), result.clusters.column("cluster_id").to_pylist()))
    assert len({cl[d] for d in kept_ids}) == len(kept_ids) == len(set(cl.values()))
    for row in result.dropped.to_pylist():
        assert cl[row["doc_id"]] == cl[row["kept_doc_id"]]


def test_same_input_same_output(near_dup_corpus):
    a, b = deduplicate(near_dup_corpus), deduplicate(near_dup_corpus.slice(0))
    assert a.kept.equals(b.kept) and a.clusters.equals(b.clusters) and a.dropped.equals(b.dropped)


def test_shuffled_input_gives_the_same_clusters(near_dup_corpus):
    rng = np.random.default_rng(3)
    perm = rng.permutation(near_dup_corpus.num_rows)
    a = deduplicate(near_dup_corpus)
    b = deduplicate(near_dup_corpus.take(pa.array(perm)))
    assert sorted(a.clusters.to_pylist(), key=str) == sorted(b.clusters.to_pylist(), key=str)
    assert sorted(a.kept.column("doc_id").to_pylist()) == sorted(b.kept.column("doc_id").to_pylist())


def test_empty_and_wordless_docs():
    rows = [{"doc_id": "e1", "text": ""}, {"doc_id": "e2", "text": "!!! ???"}, {"doc_id": "e3", "text": None}]
    result, kept, dropped = run(rows)
    assert kept == ["e1"]                    # no words = the same single empty shingle
    assert set(dropped) == {"e2", "e3"}
    assert deduplicate(pa.table({"doc_id": pa.array([], pa.string()), "text": pa.array([], pa.string())})
                       ).counts.rows_in == 0


def test_quarantine_rows_and_config_entry_point(near_dup_corpus):
    from biomass.accounting import Quarantine, StageCounts
    from biomass.config.dedup import DedupConfig
    from biomass.dedup import from_config

    result = from_config(near_dup_corpus, DedupConfig(scope="year"))
    counts = StageCounts(stage="dedup")
    q = Quarantine("dedup", counts)
    for row in result.quarantine_rows(near_dup_corpus):
        q.add(**row)
    assert len(q) == result.dropped.num_rows
    assert counts.quarantined == result.counts.quarantined
    first = q.table().to_pylist()[0]
    assert first["text"] and first["detail"].startswith("kept ")


def test_missing_kernel_says_how_to_build(monkeypatch):
    import sys

    import pytest

    from biomass.dedup import minhash

    monkeypatch.setitem(sys.modules, "biomass.dedup._minhash", None)
    with pytest.raises(ImportError, match="make venv"):
        minhash.kernel()
