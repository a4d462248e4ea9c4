"""PII placeholders in the filter stage (``filters.pii``): applied to the kept rows of every new-row file (scraped,
licensed, synthetic), counted per record in its provenance and per kind in the stage counts; rows in = out +
quarantined still; re-runs byte-identical; the rewritten synthetic rows pass ``biomass verify`` and every record
hashes to its content_sha256."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from biomass.cli import main as biomass
from biomass.pipeline import assemble_inputs, filter_shard, finish_filter, make_plan, new_row_files
from biomass.pipeline.filtering import passes_through, row_transforms
from biomass.pipeline.plan import stage_output, stage_quarantine
from biomass.storage import content_mismatches, write_parquet
from tests.filters.conftest import fake_records
from tests.filters.pii_helpers import signed_synthetic_with_pii
from tests.text_fixtures import human_docs, keypair, prov, train_table  # noqa: F401 (fixtures)

KINDS = ("email", "ipv4", "ipv6", "phone")
PII = ["Write to maintainer.name@gmail.com.", "Our resolver is 8.8.8.8 (not 10.0.0.1).",
       "Call +1 415-555-2671 or (212) 555-0148.", "Reach 2001:4860:4860::8888 or bob@corp.example.net."]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, train_table, prov):
    return signed_synthetic_with_pii(tmp_path_factory.mktemp("syn"), train_table, prov)


@pytest.fixture
def plan(tmp_path, keypair, monkeypatch):
    monkeypatch.setenv("BIOMASS_SIGNING_KEY", keypair[0])   # the key the synthetic fixture was signed with
    config = tmp_path / "biomass.yaml"
    config.write_text(yaml.safe_dump({
        "data_root": str(tmp_path / "data"), "review": {"mode": "auto"},
        "filters": {"chain": [{"name": "language/1", "params": {"languages": ["en"]}}], "pii": {"enabled": True}}}))
    return make_plan(2021, config_path=str(config))


def _stage(plan, docs, synthetic) -> list[pa.Table]:
    """FAKE scrape and licence records around real texts with real-format PII added, the German ones to be dropped
    (one of them with PII: dropped rows are not rewritten); the real signed synthetic records."""
    texts = [f"{d[:1500]} {p}" for d, p in zip(docs, PII * 3)]
    scrape = fake_records(texts[:6], langs=["en", "de", "en", "en", "en", "de"])
    licensed = fake_records(texts[6:10], urls=[None] * 4, source="license")
    write_parquet(scrape, stage_output(plan, "scrape") / "part-00000.parquet")
    write_parquet(licensed, stage_output(plan, "license"))
    write_parquet(synthetic, stage_output(plan, "synthesize") / "part-00000.parquet")
    return [scrape, licensed, synthetic]


def _run(plan, order) -> None:
    for i in order:
        filter_shard(plan, i)
    finish_filter(plan)


def _snapshot(plan) -> dict[str, bytes]:
    folder = stage_output(plan, "filter")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    files["counts"] = (plan.staging / "filter.counts.json").read_bytes()
    return files


def test_pii_is_replaced_in_every_kept_row_and_counted_per_record_and_per_stage(plan, human_docs, synthetic):
    inputs = _stage(plan, human_docs, synthetic)
    assert len(new_row_files(plan)) == 3 and not passes_through(plan) and len(row_transforms(plan)) == 1
    _run(plan, range(3))
    counts = json.loads((plan.staging / "filter.counts.json").read_text())
    assert counts["in"] == sum(t.num_rows for t in inputs) == counts["out"] + 2
    assert counts["quarantined"] == {"language": 2}

    kept = pa.concat_tables(pq.read_table(p) for p in assemble_inputs(plan))
    assert kept.num_rows == counts["out"]
    assert not content_mismatches(kept.column("text"), kept.column("content_sha256")), "every hash recomputed"
    per_record = {k: 0 for k in KINDS}
    rewritten = 0
    by_id = {r["doc_id"]: r for t in inputs for r in t.to_pylist()}
    for row in kept.to_pylist():
        pii = json.loads(row["provenance"]).get("pii")
        original = by_id[row["doc_id"]]
        if pii is None:
            assert row == original, "a row without PII is untouched"
            continue
        rewritten += 1
        assert pii["original_sha256"] == original["content_sha256"] != row["content_sha256"]
        for k in KINDS:
            per_record[k] += pii[k]
        for k in ("maintainer.name@gmail.com", "8.8.8.8", "415-555-2671", "2001:4860:4860::8888", "alice.smith@",
                  "7946 0958", "2606:4700:4700::1111"):
            assert k not in row["text"]
    assert "10.0.0.1" in " ".join(kept.column("text").to_pylist()), "a private address stays"
    sources = {r["source"] for r in kept.to_pylist() if "pii" in json.loads(r["provenance"])}
    assert sources == {"scrape", "license", "synthetic"}

    totals = counts["notes"]["transforms"]["pii"]
    assert totals == {"key": "pii/1", "rows": rewritten, "resigned": 3, **per_record}
    assert all(per_record[k] >= 1 for k in KINDS) and per_record["email"] >= 3 and per_record["phone"] >= 4

    quarantine = pq.read_table(stage_quarantine(plan, "filter"))
    assert quarantine.column("text")[0].as_py().endswith(PII[1]), "dropped rows go to quarantine as they came"


def test_reruns_with_pii_are_byte_identical(plan, human_docs, synthetic):
    _stage(plan, human_docs, synthetic)
    _run(plan, range(3))
    first = _snapshot(plan)
    _run(plan, reversed(range(3)))
    assert _snapshot(plan) == first


def test_the_rewritten_synthetic_rows_pass_biomass_verify(plan, human_docs, synthetic, keypair, tmp_path, capsys):
    config = tmp_path / "biomass.yaml"
    _stage(plan, human_docs, synthetic)
    _run(plan, range(3))
    filtered_synthetic = assemble_inputs(plan)[2]
    table = pq.read_table(filtered_synthetic)
    assert table.column("text").to_pylist() != synthetic.column("text").to_pylist()
    public = tmp_path / "trusted.pub"
    public.write_text(keypair[1])
    capsys.readouterr()
    assert biomass(["verify", str(filtered_synthetic), "--trust", str(public), "--config", str(config)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == {"checked": synthetic.num_rows, "verified": synthetic.num_rows, "rejected": {}}
    # without the PII step's re-signing the rewritten rows would fail on their content hash
    stale = table.set_column(table.schema.get_field_index("provenance"), "provenance", synthetic.column("provenance"))
    pq.write_table(stale, tmp_path / "stale.parquet")
    assert biomass(["verify", str(tmp_path / "stale.parquet"), "--trust", str(public), "--config",
                    str(config)]) != 0


def test_pii_off_by_default_leaves_the_stage_as_it_was(tmp_path, human_docs):
    config = tmp_path / "biomass.yaml"
    config.write_text(yaml.safe_dump({"data_root": str(tmp_path / "data"), "filters": {"chain": []}}))
    plan = make_plan(2021, config_path=str(config))
    assert plan.cfg.filters.pii.enabled is False
    assert row_transforms(plan) == [] and passes_through(plan)
