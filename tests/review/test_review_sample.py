"""The review sample: deterministic, bounded by its config, every kind drawn from the staged year."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from biomass.lm.tokenize import nfkc_word_tokens
from biomass.review.sample import _Smallest, draw_sample, rare_word_hits


def test_the_sample_is_deterministic_and_holds_every_kind_the_year_has(pending):
    first = (pending.staging / "review" / "sample.parquet").read_bytes()
    table = draw_sample(pending)
    assert (pending.staging / "review" / "sample.parquet").read_bytes() == first
    kinds = set(table.column("kind").to_pylist())
    assert {"rare_words", "synthetic", "near_duplicate", "quarantined"} <= kinds
    cfg = pending.cfg.review
    per_kind = {k: table.filter(pc.equal(table.column("kind"), k)).num_rows for k in kinds}
    assert per_kind["rare_words"] <= cfg.rare_docs and per_kind["synthetic"] <= cfg.per_kind
    # only this year's new rows are sampled from the generation
    new = table.filter(pc.is_in(table.column("kind"), pa.array(["rare_words", "synthetic", "unknown_origin"])))
    from biomass.storage import GenerationStore

    parent = set(GenerationStore(pending.data_root).read(2021, ["doc_id"]).column("doc_id").to_pylist())
    assert not parent & set(new.column("doc_id").to_pylist())


def test_near_duplicates_come_with_the_text_they_matched(pending):
    table = draw_sample(pending)
    near = table.filter(pc.equal(table.column("kind"), "near_duplicate")).to_pylist()
    assert near
    for row in near:
        assert row["matched_doc_id"] and row["matched_text"], row["detail"]


def test_quarantined_rows_are_sampled_per_stage_and_reason(pending):
    import pyarrow.parquet as pq

    table = draw_sample(pending)
    rows = table.filter(pc.equal(table.column("kind"), "quarantined")).to_pylist()
    seen = {(r["stage"], r["reason"]) for r in rows}
    expected = set()
    for path in pending.staging.glob("*.quarantine.parquet"):
        if path.name not in ("dedup.quarantine.parquet", "review.quarantine.parquet"):
            q = pq.read_table(path, columns=["stage", "reason"])
            expected |= set(zip(q.column("stage").to_pylist(), q.column("reason").to_pylist()))
    assert seen == expected
    per_group = {g: sum(1 for r in rows if (r["stage"], r["reason"]) == g) for g in seen}
    assert max(per_group.values()) <= pending.cfg.review.per_reason


def test_rare_word_scores_match_the_metrics_tokens():
    """Arrow tokenising (the sample's) against ``biomass.lm.tokenize.nfkc_word_tokens`` (the metrics')."""
    rng = random.Random(7)
    vocab = ["Zürich", "naïve", "café", "Ångström", "x_y", "état", "42", "über", "ﬁne", "İstanbul", "straße",
             "tail", "rare", "common", "ÉCOLE", "a1b2", "co-op", "don't", "ΣΟΦΙΑ"]
    texts = [" ".join(rng.choice(vocab) + rng.choice(["", ",", ".", "!", " —", "\n"]) for _ in range(30))
             for _ in range(40)] + ["", None]
    rare = sorted({w for t in texts if t for w in nfkc_word_tokens(t)})[::2]
    scores, _, _ = rare_word_hits(pa.array(texts, pa.string()), pa.array(rare, pa.string()))
    expected = [len(set(nfkc_word_tokens(t or "")) & set(rare)) for t in texts]
    assert scores.tolist() == expected


def test_smallest_keeps_the_k_smallest_keys_whatever_the_order():
    keys = list(range(1000))
    random.Random(3).shuffle(keys)
    picked = _Smallest(5)
    for k in keys:
        picked.offer(k, lambda k=k: k)
    assert picked.items() == [0, 1, 2, 3, 4]
    ties = _Smallest(2)
    for name in ("first", "second", "third"):
        ties.offer(1, lambda name=name: name)
    assert ties.items() == ["first", "second"]
