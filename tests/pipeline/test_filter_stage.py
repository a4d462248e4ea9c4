"""The filter stage in the pipeline: filter_shard[i] over the year's new-row files, then finish_filter. Rows in =
out + quarantined, each dropped row counted against the first filter that drops it, per-filter counts in the
stage counts, byte-identical re-runs in any shard order, a pass-through that writes nothing, the row-transform
hook, and the filter gate stopping a year whose filter drops everything."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from biomass.accounting import StageCounts
from biomass.filters.run import filter_batches, judge
from biomass.filters import build_chain
from biomass.gates.runner import GateFailed
from biomass.pipeline import assemble_inputs, filter_shard, finish_filter, make_plan, new_row_files, run_gate_for
from biomass.pipeline.filtering import FilterShard
from biomass.pipeline.gating import check_gate_overrides, gate_thresholds
from biomass.pipeline.plan import stage_output, stage_quarantine
from biomass.schema import RECORD_SCHEMA
from biomass.storage import write_parquet
from tests.filters.conftest import fake_records
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)

SPAM = "spam.example.com"


def _plan(tmp_path, chain, **filters):
    config = tmp_path / "biomass.yaml"
    config.write_text(yaml.safe_dump({"data_root": str(tmp_path / "data"), "review": {"mode": "auto"},
                                      "filters": {"chain": chain, **filters}}))
    return make_plan(2021, config_path=str(config))


def _stage_inputs(plan, docs) -> list[pa.Table]:
    """FAKE staged outputs of scrape (two tagged parts), license and synthesize around real texts: some German,
    some from a blocked domain, one both (German on the blocked domain)."""
    scrape_a = fake_records(docs[0:6], langs=["en", "de", "en", "en", "de", "en"],
                            urls=[f"https://docs.example.org/{i}" for i in range(5)] + [f"https://{SPAM}/x"])
    scrape_b = fake_records(docs[6:10], langs=["en", "de", "en", "en"],
                            urls=[f"https://www.{SPAM}/a", f"https://{SPAM}/b", "https://docs.example.org/9", None])
    licensed = fake_records(docs[10:14], langs=["en", "en", "de", "en"], urls=[None] * 4, source="license")
    synthetic = fake_records(docs[14:17], urls=[None] * 3, source="synthetic")
    scrape = stage_output(plan, "scrape")
    for i, table in enumerate((scrape_a, scrape_b)):
        write_parquet(table, scrape / f"part-{i:05d}.parquet")
    write_parquet(licensed, stage_output(plan, "license"))
    write_parquet(synthetic, stage_output(plan, "synthesize") / "part-00000.parquet")
    return [scrape_a, scrape_b, licensed, synthetic]


CHAIN = [{"name": "language/1", "params": {"languages": ["en"]}},
         {"name": "url_blocklist/1", "params": {"domains": [SPAM]}}]


def _snapshot(plan) -> dict[str, bytes]:
    folder = stage_output(plan, "filter")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    for path in (stage_quarantine(plan, "filter"), plan.staging / "filter.counts.json"):
        files[path.name] = path.read_bytes()
    return files


def test_counts_balance_and_each_drop_is_the_first_filters(tmp_path, human_docs):
    plan = _plan(tmp_path, CHAIN)
    tables = _stage_inputs(plan, human_docs)
    assert len(new_row_files(plan)) == 4
    for i in range(4):
        filter_shard(plan, i)
    counts = finish_filter(plan)
    counts.check()
    # German: 2 + 1 + 1 (licensed); blocked domain: 1 + 2, but scrape_b's German row on it is the language's
    assert counts.rows_in == 17 and dict(counts.quarantined) == {"language": 4, "url_blocklist": 2}
    assert counts.rows_out == 11
    assert counts.notes["chain"] == ["language/1", "url_blocklist/1"]
    assert counts.notes["filters"] == {"language": {"key": "language/1", "seen": 17, "dropped": 4},
                                       "url_blocklist": {"key": "url_blocklist/1", "seen": 13, "dropped": 2}}
    saved = StageCounts.from_dict(json.loads((plan.staging / "filter.counts.json").read_text()))
    assert saved.as_dict() == counts.as_dict()

    quarantine = pq.read_table(stage_quarantine(plan, "filter"))
    assert quarantine.column("stage").to_pylist() == ["filter"] * 6
    rows = quarantine.to_pylist()
    assert [r["reason"] for r in rows] == ["language", "language", "url_blocklist", "url_blocklist", "language",
                                          "language"]
    assert rows[0]["detail"] == "lang de not in [en]" and rows[2]["detail"] == f"domain {SPAM}"
    assert rows[3]["url"] == f"https://www.{SPAM}/a"
    assert rows[4]["url"] == f"https://{SPAM}/b", "German on the blocked domain: the language filter's"

    kept = pa.concat_tables(pq.read_table(p) for p in assemble_inputs(plan))
    assert kept.schema.equals(RECORD_SCHEMA, check_metadata=False) and kept.num_rows == 11
    dropped = set(quarantine.column("doc_id").to_pylist())
    expected = [d for t in tables for d in t.column("doc_id").to_pylist() if d not in dropped]
    assert kept.column("doc_id").to_pylist() == expected, "kept rows keep their input order"
    assert assemble_inputs(plan) == [FilterShard.of(plan, i).out for i in range(4)]


def test_reruns_in_any_shard_order_are_byte_identical(tmp_path, human_docs):
    plan = _plan(tmp_path, CHAIN)
    _stage_inputs(plan, human_docs)
    for i in range(4):
        filter_shard(plan, i)
    finish_filter(plan)
    first = _snapshot(plan)
    for i in reversed(range(4)):
        filter_shard(plan, i)
    finish_filter(plan)
    assert _snapshot(plan) == first


def test_finish_refuses_shards_that_have_not_run(tmp_path, human_docs):
    plan = _plan(tmp_path, CHAIN)
    _stage_inputs(plan, human_docs)
    filter_shard(plan, 0)
    with pytest.raises(FileNotFoundError, match=r"filter shards \[1, 2, 3\] have not run"):
        finish_filter(plan)


def test_an_empty_chain_passes_the_files_through_unwritten(tmp_path, human_docs):
    plan = _plan(tmp_path, [])
    _stage_inputs(plan, human_docs)
    for i in range(4):
        filter_shard(plan, i)
    counts = finish_filter(plan)
    assert (counts.rows_in, counts.rows_out, counts.rows_quarantined) == (17, 17, 0)
    assert counts.notes["passed_through"] is True and counts.notes["chain"] == []
    assert assemble_inputs(plan) == new_row_files(plan)
    assert not list(stage_output(plan, "filter").glob("part-*")), "no shard rewritten"
    assert not stage_quarantine(plan, "filter").exists()
    run_gate_for(plan, "filter")   # nothing dropped: passes


def test_the_gate_stops_a_filter_that_drops_everything(tmp_path, human_docs):
    plan = _plan(tmp_path, [{"name": "language", "params": {"languages": ["xx"]}, "max_drop_share": 0.9},
                            "url_blocklist"], max_drop_share=0.2)   # misconfigured: no document is in 'xx'

    _stage_inputs(plan, human_docs)
    for i in range(4):
        filter_shard(plan, i)
    counts = finish_filter(plan)
    assert counts.rows_out == 0 and counts.notes["filters"]["url_blocklist"]["seen"] == 0
    with pytest.raises(GateFailed) as failed:
        run_gate_for(plan, "filter")
    message = str(failed.value)
    assert "language_drop_share" in message and "observed 1.0" in message and "'max_value': 0.9" in message
    assert "url_blocklist_drop_share" not in message, "a filter that saw nothing dropped nothing"
    verdict = json.loads((plan.staging / "gates" / "filter.json").read_text())
    assert verdict["summary"]["language_drop_share"] == 1.0 and verdict["success"] is False
    evidence = pq.read_table(plan.staging / "gates" / "filter.failing_rows.parquet")
    assert set(evidence.column("reason").to_pylist()) == {"language"}, "the evidence is what was dropped"


def test_gate_bounds_come_from_the_chain_and_overrides_must_name_its_filters(tmp_path):
    plan = _plan(tmp_path, [{"name": "language", "max_drop_share": 0.05}, "url_blocklist"], max_drop_share=0.3)
    g = gate_thresholds(plan.cfg, "filter")
    assert g.filter_bounds == {"language": 0.05, "url_blocklist": 0.3}
    assert gate_thresholds(plan.cfg, "filter", {"filter": {"filter_bounds": {"language": 0.5}}}).filter_bounds \
        == {"language": 0.5}
    with pytest.raises(ValueError, match=r"not in the chain"):
        check_gate_overrides(plan.cfg, {"filter": {"filter_bounds": {"gopher_quality": 0.5}}})


def test_row_transforms_run_on_kept_rows_and_must_keep_every_row(human_docs):
    table = fake_records(human_docs[:4], langs=["en", "de", "en", "en"])
    chain = build_chain(["language"])

    def shout(t: pa.Table) -> pa.Table:
        return t.set_column(t.schema.get_field_index("text"), "text",
                            pa.array([s.upper() for s in t.column("text").to_pylist()]))

    ((kept, quarantined, seen),) = filter_batches([table], chain, [shout])
    assert kept.column("text").to_pylist() == [human_docs[i].upper() for i in (0, 2, 3)]
    assert quarantined.column("text").to_pylist() == [human_docs[1][:2000]], "dropped rows are not transformed"
    assert seen == {"language": 4}
    with pytest.raises(RuntimeError, match="turned 3 rows into 2"):
        list(filter_batches([table], chain, [lambda t: t.slice(1)]))


def test_a_filter_returning_the_wrong_number_of_decisions_is_an_error(human_docs):
    class Broken:
        name, key, columns = "broken", "broken/1", ("text",)

        def decide(self, batch):
            return [None]

    with pytest.raises(RuntimeError, match="gave 1 decisions for 3 rows"):
        judge([Broken()], fake_records(human_docs[:3]))
