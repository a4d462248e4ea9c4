"""One bad-input fixture per gate: each makes exactly its gate fail, keeps the evidence, and publishes nothing.

Stage outputs are written straight into a year's staging area (the shape the stages produce), so each gate is
tested on the rows it would really see. Texts are real human text from the committed fixture.
"""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.accounting import StageCounts
from biomass.gates.runner import GateFailed
from biomass.pipeline import RunPlan, make_plan, publish, run_gate_for, stage_output
from biomass.schema import canonical_json, make_doc_id, records_to_table, sha256_text
from biomass.storage import GenerationStore, write_parquet

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    with gzip.open(FIXTURE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh][:60]


def _rows(texts, source="scrape", origin="human", year=2021, **extra):
    rows = []
    for i, text in enumerate(texts):
        sha = sha256_text(text)
        rows.append({"doc_id": make_doc_id(f"{source}/{i}", sha), "text": text, "source": source, "origin": origin,
                     "synthetic_score": 0.0, "collected_at": datetime(year - 1, 6, 1, tzinfo=timezone.utc),
                     "generation": year, "content_sha256": sha, "lang": "en", "human_era": True,
                     "provenance": "{}", "tag_evidence": "{}", **extra})
    return records_to_table(rows)


@pytest.fixture
def plan(tmp_path) -> RunPlan:
    return make_plan(2021, data_root=str(tmp_path / "data"), scrape_inputs=[], license_inputs=[])


def _stage(plan: RunPlan, stage: str, table: pa.Table, rows_in: int | None = None, quarantined=None):
    write_parquet(table, stage_output(plan, stage))
    counts = StageCounts(stage, rows_in=rows_in if rows_in is not None else table.num_rows, rows_out=table.num_rows)
    counts.quarantined.update(quarantined or {})
    (plan.staging / f"{stage}.counts.json").write_text(canonical_json(counts.check().as_dict()))


def _fails(plan: RunPlan, gate: str, column: str | None):
    with pytest.raises(GateFailed) as err:
        run_gate_for(plan, gate)
    failed = err.value.result.failed
    assert column in [f["column"] for f in failed], err.value.result.explain()
    assert (plan.staging / "gates" / f"{gate}.result.json").exists()
    assert (plan.staging / "gates" / f"{gate}.failing_rows.parquet").exists()
    verdict = json.loads((plan.staging / "gates" / f"{gate}.json").read_text())
    assert verdict["success"] is False
    with pytest.raises(RuntimeError, match="refusing to publish"):
        publish(plan)
    assert plan.year not in GenerationStore(plan.data_root).published_years()
    return failed


def test_scrape_gate_fails_on_a_crawl_of_mostly_empty_pages(plan, texts):
    # 3 real pages survive, 27 were empty and went to quarantine: 90% of the input lost.
    _stage(plan, "scrape", _rows(texts[:3]), rows_in=30, quarantined={"empty": 27})
    _fails(plan, "scrape", "quarantined_fraction")


def test_scrape_gate_fails_on_too_short_text(plan, texts):
    short = [t[:60] for t in texts[:10]]
    _stage(plan, "scrape", _rows(texts[:10] + short))
    failed = _fails(plan, "scrape", "text_chars")
    assert [f["why"] for f in failed] == ["text length bounds"]
    # The evidence holds the flagged records whole (text included, read back from the stage's file).
    evidence = pq.read_table(plan.staging / "gates" / "scrape.failing_rows.parquet")
    assert evidence.column("text").to_pylist() == short
    assert evidence.column("text_chars").to_pylist() == [len(t) for t in short]


def test_license_gate_fails_when_a_row_has_no_licence(plan, texts):
    rows = _rows(texts[:8], source="license", origin="licensed", publisher="Debian", license_id="GPL-2.0+",
                 attribution="The Debian Reference authors")
    broken = rows.set_column(rows.schema.get_field_index("license_id"), "license_id",
                             pa.array(["GPL-2.0+"] * 7 + [None], type=pa.string()))
    _stage(plan, "license", broken)
    _fails(plan, "license", "license_id")


def test_synthesize_gate_fails_on_a_tampered_manifest(plan, texts, tmp_path):
    from biomass.synth import synthesize_stage

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()).decode()
    secrets = {"signing_key": pem, "watermark_key": "test-watermark-key"}
    plan = RunPlan.load(plan.staging / "plan.json", secrets)
    out = tmp_path / "synth.parquet"
    synthesize_stage([_rows(texts)], n=6, seed=1, year=2021, parent=2020, config=plan.cfg.synthesize,
                     provenance=plan.cfg.provenance.model_copy(update={"fingerprint_archive": None}),
                     out_path=str(out))
    table = pq.read_table(out)
    edited = table.column("text").to_pylist()
    edited[0] = edited[0].replace(" ", "  ", 1) + " (edited after signing)"
    table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(edited))
    _stage(plan, "synthesize", table)
    _fails(plan, "synthesize", "signature_valid")


def test_generation_gate_fails_below_the_human_floor(plan, texts):
    synthetic = _rows(texts[:30], source="synthetic", origin="synthetic")
    human = _rows(texts[30:40])
    _stage(plan, "assemble", pa.concat_tables([human, synthetic]))
    _stage(plan, "dedup", pa.concat_tables([human, synthetic]))
    _fails(plan, "generation", "human_share")


def test_collapse_gate_fails_when_tail_coverage_collapses(plan):
    (plan.staging / "metrics.json").write_text(canonical_json(
        {"metrics": {"tail_coverage": 0.05, "js_divergence": 0.1}, "collapse": {"status": "fail"}}))
    _stage(plan, "assemble", _rows(["x" * 300]))
    with pytest.raises(GateFailed) as err:
        run_gate_for(plan, "collapse")
    assert [f["column"] for f in err.value.result.failed] == ["tail_coverage"]


def test_generation_gate_fails_when_the_language_mix_jumps(tmp_path, texts):
    """Parent all English; this year half the rows are labelled German: language drift 0.5 > 0.2."""
    root = tmp_path / "data"
    GenerationStore(root).publish(2020, _rows(texts[:20], year=2020), {"rows": 20})
    plan = make_plan(2021, data_root=str(root), scrape_inputs=[], license_inputs=[])
    rows = _rows(texts[20:40])
    langs = ["en"] * 10 + ["de"] * 10
    rows = rows.set_column(rows.schema.get_field_index("lang"), "lang", pa.array(langs))
    _stage(plan, "assemble", rows)
    _stage(plan, "dedup", rows)
    failed = _fails(plan, "generation", "lang_drift")
    assert next(f for f in failed if f["column"] == "lang_drift")["observed"] == pytest.approx(0.5)


def test_a_gate_verdict_is_byte_identical_on_rerun(tmp_path, texts):
    """The verdict goes into the manifest; drift against the parent is computed batch by batch, same bytes."""
    root = tmp_path / "data"
    GenerationStore(root).publish(2020, _rows(texts[:20], year=2020), {"rows": 20})
    verdicts = []
    for _ in range(2):
        plan = make_plan(2021, data_root=str(root), scrape_inputs=[], license_inputs=[])
        rows = _rows(texts[20:50])
        rows = rows.set_column(rows.schema.get_field_index("lang"), "lang", pa.array(["en", "de", "fr"] * 10))
        _stage(plan, "assemble", rows)
        _stage(plan, "dedup", rows)
        with pytest.raises(GateFailed):
            run_gate_for(plan, "generation")
        verdicts.append((plan.staging / "gates" / "generation.json").read_bytes())
    assert verdicts[0] == verdicts[1]
    verdict = json.loads(verdicts[0])
    assert verdict["suite_version"] == 2
    assert verdict["summary"]["length_drift"] is not None and verdict["summary"]["lang_drift"] > 0.2
