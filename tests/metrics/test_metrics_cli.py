"""``biomass metrics`` on FAKE Parquet generations: JSON list in GEN order, table output, errors."""

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass import exitcodes
from biomass.cli.metrics import main, register
from biomass.config.metrics import MetricsConfig
from biomass.metrics import ReferenceProfile, collapse_metrics


def _write(path, texts, origins=None):
    cols = {"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts}
    if origins is not None:
        cols["origin"] = origins
    pq.write_table(pa.table(cols), path)
    return str(path)


@pytest.fixture
def files(tmp_path, make_fake_corpus):
    ref_texts = make_fake_corpus(seed=31, docs=80, words_per_doc=50)
    g1 = make_fake_corpus(seed=32, docs=40, words_per_doc=50, vocab=200)
    g2 = make_fake_corpus(seed=33, docs=40, words_per_doc=50, vocab=60)
    return {
        "ref": _write(tmp_path / "ref.parquet", ref_texts),
        "g1": _write(tmp_path / "g1.parquet", g1, ["human"] * 30 + ["synthetic"] * 10),
        "g2": _write(tmp_path / "g2.parquet", g2),
        "texts": (ref_texts, g1, g2),
    }


def test_json_one_object_per_generation_in_order(files, capsys):
    assert main(["--reference", files["ref"], files["g1"], files["g2"], "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [o["path"] for o in out] == [files["g1"], files["g2"]]
    for obj in out:
        assert {"tail_coverage", "distinct_2", "unigram_entropy", "js_divergence", "js_divergence_prev",
                "verdict"} <= obj.keys()
    ref_texts, g1, g2 = files["texts"]
    cfg = MetricsConfig()
    ref = ReferenceProfile.build(ref_texts, cfg)
    assert out[0] == {"path": files["g1"], **collapse_metrics(g1, ref, origins=["human"] * 30 + ["synthetic"] * 10,
                                                               config=cfg), "verdict": out[0]["verdict"]}
    assert out[0]["js_divergence_prev"] is None and out[0]["share_synthetic"] == 0.25
    # the second generation's previous is the first GEN, and it has no origin column
    expected = collapse_metrics(g2, ref, previous=g1, config=cfg)
    assert out[1]["js_divergence_prev"] == expected["js_divergence_prev"] > 0
    assert out[1]["share_human"] is None
    # the narrower second generation keeps less of the tail
    assert out[1]["tail_coverage"] < out[0]["tail_coverage"]


def test_saved_profile_gives_the_same_answer_and_table_output(files, tmp_path, capsys):
    profile = str(tmp_path / "profile.parquet")
    main(["--reference", files["ref"], files["g1"], "--json", "--save-reference", profile])
    built = json.loads(capsys.readouterr().out)
    main(["--reference", profile, files["g1"], "--json"])
    assert json.loads(capsys.readouterr().out) == built
    assert main(["--reference", profile, files["g1"], files["g2"]]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["GEN", "docs", "tokens", "tail_coverage"]
    assert [ln.split()[0] for ln in lines[1:]] == ["g1.parquet", "g2.parquet"]


def test_metrics_config_file_and_fail_on_collapse(files, tmp_path, capsys):
    strict = tmp_path / "metrics.yaml"
    strict.write_text("metrics:\n  bounds:\n    - {metric: tail_coverage, direction: min, warn: 0.99, fail: 0.98}\n")
    assert main(["--reference", files["ref"], files["g2"], "--metrics-config", str(strict),
                 "--fail-on-collapse", "--json"]) == exitcodes.CHECK_FAILED
    assert json.loads(capsys.readouterr().out)[0]["verdict"] == "fail"


def test_bad_inputs_raise_clear_errors(files, tmp_path):
    no_text = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"doc_id": ["a"], "body": ["x"]}), no_text)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['text'\]"):
        main(["--reference", files["ref"], str(no_text)])
    with pytest.raises(FileNotFoundError):
        main(["--reference", files["ref"], str(tmp_path / "missing.parquet")])
    empty = _write(tmp_path / "empty.parquet", [])
    with pytest.raises(ValueError, match="no tokens"):
        main(["--reference", empty, files["g1"]])


def test_register_wires_a_metrics_subcommand():
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["metrics", "--reference", "r.parquet", "a.parquet", "b.parquet", "--json"])
    assert args.generations == ["a.parquet", "b.parquet"] and args.json and callable(args.func)


def test_record_schema_tables_feed_the_metrics():
    from datetime import datetime, timezone

    from biomass.metrics import texts_from_table
    from biomass.schema import records_to_table

    # FAKE records in the project's RECORD_SCHEMA, as the pipeline holds them
    rows = [{"doc_id": f"d{i}", "text": text, "source": "scrape", "origin": origin, "synthetic_score": 0.0,
             "collected_at": datetime(2024, 1, 1, tzinfo=timezone.utc), "generation": 2024,
             "content_sha256": "0" * 64, "lang": "en", "human_era": False, "provenance": "{}",
             "tag_evidence": "{}"}
            for i, (text, origin) in enumerate([("a b", "human"), ("c d", "synthetic")])]
    texts, origins = texts_from_table(records_to_table(rows))
    assert texts == ["a b", "c d"] and origins == ["human", "synthetic"]
    with pytest.raises(ValueError, match="null text"):
        texts_from_table(pa.table({"doc_id": ["x"], "text": pa.array([None], pa.string())}))
