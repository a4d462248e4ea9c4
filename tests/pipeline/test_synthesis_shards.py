"""The synthesize step as train_synthesizer -> synthesize_shard[i] -> finish_synthesize, through run_year on the
bundled samples: shards run in reverse order give the same bytes (shards, counts, generation, manifest); the
counts balance; the records are signed, watermarked and in the fingerprint archive; measure's perplexity is the
same from the saved model as from a model trained again."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

import biomass.pipeline as pipeline
from biomass.config import load_config
from biomass.pipeline import make_plan, run_year
from biomass.pipeline.plan import stage_output
from biomass.storage import dataset_files

SHARD_DOCS = 8


def _snapshot(plan) -> dict[str, bytes]:
    store = plan.store
    files = {f"synthesize/{p.name}": p.read_bytes() for p in stage_output(plan, "synthesize").glob("part-*")}
    files.update({f"generation/{p.name}": p.read_bytes() for p in store.generation_dir(plan.year).iterdir()})
    for name in ("synthesize.counts.json", "metrics.json"):
        files[name] = (plan.staging / name).read_bytes()
    return files


@pytest.fixture(scope="module")
def chain(tmp_path_factory, signing_key_env):
    work = tmp_path_factory.mktemp("synth-shards")
    raw = load_config().model_dump(mode="json")
    raw["data_root"] = str(work / "data")
    raw["synthesize"]["shard_docs"] = SHARD_DOCS
    config = work / "biomass.yaml"
    config.write_text(yaml.safe_dump(raw))
    run_year(make_plan(2021, config_path=str(config)))
    plan = make_plan(2022, config_path=str(config))
    run_year(plan)
    return config, plan, _snapshot(plan)


def test_shards_in_reverse_order_give_the_same_bytes(chain, monkeypatch):
    config, _, forward = chain
    train, shard = pipeline.train_synthesizer, pipeline.synthesize_shard
    ran: list[int] = []
    patched = {"train_synthesizer": lambda plan: train(plan)[::-1],
               "synthesize": lambda plan, i: (ran.append(i), shard(plan, i))[1]}
    monkeypatch.setattr(pipeline, "STEPS", tuple(replace(s, run=patched.get(s.name, s.run)) for s in pipeline.STEPS))
    plan = make_plan(2022, config_path=str(config))
    run_year(plan)
    assert len(ran) >= 3 and ran == sorted(ran, reverse=True)
    again = _snapshot(plan)
    assert again.keys() == forward.keys() and sum(k.startswith("synthesize/part-") for k in again) == 2 * len(ran)
    for name in forward:
        assert again[name] == forward[name], name
    manifest = plan.store.manifest_path(2022)
    assert json.loads(manifest.read_text())["stages"]["synthesize"]["notes"]["shards"] == len(ran)


def test_counts_balance_and_ids_are_unique_across_shards(chain):
    _, plan, _ = chain
    counts = json.loads((plan.staging / "synthesize.counts.json").read_text())
    assert counts["in"] == counts["out"] + sum(counts["quarantined"].values())
    parts = dataset_files(stage_output(plan, "synthesize"))
    assert len(parts) == counts["notes"]["shards"] == math.ceil(counts["in"] / SHARD_DOCS) >= 3
    shard_counts = [json.loads(p.with_name(p.name.replace(".parquet", ".counts.json")).read_text()) for p in parts]
    assert sum(c["in"] for c in shard_counts) == counts["in"]
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [c["out"] for c in shard_counts]
    ids = pa.concat_tables(pq.read_table(p, columns=["doc_id"]) for p in parts).column("doc_id").to_pylist()
    assert len(ids) == counts["out"] == len(set(ids))
    ranges = [(c["notes"]["first"], c["notes"]["stop"]) for c in shard_counts]
    assert [lo for lo, _ in ranges] == [0] + [hi for _, hi in ranges[:-1]] and ranges[-1][1] == counts["in"]


def test_shard_records_are_signed_watermarked_and_archived(chain):
    from biomass.provenance.fingerprint import FingerprintArchive
    from biomass.provenance.tagger import tag_table
    from biomass.provenance.verify import verify_table

    _, plan, _ = chain
    prov = plan.cfg.provenance
    table = pa.concat_tables(pq.read_table(p) for p in dataset_files(stage_output(plan, "synthesize")))
    assert table.num_rows > 0 and verify_table(table, prov).ok
    stripped = table.select(["doc_id", "text"])   # what `biomass tag` sees of a re-posted copy
    tagged = tag_table(stripped, config=prov)
    assert set(tagged.column("origin").to_pylist()) == {"synthetic"}
    archive = FingerprintArchive(prov.fingerprint_archive, prov.fingerprint_num_perm, prov.fingerprint_seed)
    assert all(m.jaccard == 1.0 for m in archive.match(table.column("text").to_pylist()))


def test_measure_perplexity_is_the_same_from_the_saved_model(chain, monkeypatch):
    from biomass.pipeline import measure, synthesis

    _, plan, _ = chain
    assert synthesis.saved_parent_model(plan) is not None
    reference = measure.reference_profile(plan)
    saved = measure.parent_model_perplexity(plan, reference)
    monkeypatch.setattr(synthesis, "saved_parent_model", lambda plan: None)
    trained = measure.parent_model_perplexity(plan, reference)
    assert saved["perplexity_head"] is not None and saved == trained


def test_saved_model_is_not_reused_for_another_order(chain):
    from biomass.pipeline import synthesis

    _, plan, _ = chain
    raw = json.loads(json.dumps(plan.config))
    raw["synthesize"]["order"] = 2
    assert synthesis.saved_parent_model(type(plan)(**{**plan.__dict__, "config": raw})) is None


def test_measure_scores_with_the_generators_sample(chain, monkeypatch):
    """With ``max_train_docs`` below the parent's size, measure's perplexity is the sampled generator's: the
    saved model is used, and training here (no saved model) gives the same sample and the same figures."""
    from biomass.lm.model_store import load_meta
    from biomass.pipeline import measure, synthesis

    _, plan, _ = chain
    raw = json.loads(json.dumps(plan.config))
    raw["synthesize"]["max_train_docs"] = 5
    other = type(plan)(**{**plan.__dict__, "config": raw})
    reference = measure.reference_profile(plan)
    whole = measure.parent_model_perplexity(plan, reference)
    try:
        synthesis.train_synthesizer(other)
        meta = load_meta(synthesis._folder(other) / synthesis.MODEL_DIR)
        assert meta["training_docs"] == 5 < meta["parent_docs"]
        assert synthesis.saved_parent_model(other).n_docs == 5
        saved = measure.parent_model_perplexity(other, reference)
        with monkeypatch.context() as m:
            m.setattr(synthesis, "saved_parent_model", lambda plan: None)
            trained = measure.parent_model_perplexity(other, reference)
        assert saved == trained and saved != whole
    finally:
        synthesis.train_synthesizer(plan)   # the module's other tests use the whole parent's model
