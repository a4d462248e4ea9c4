"""The policy experiment on real human text (the committed Debian-docs fixture), kept small: 3 generations."""

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from biomass.experiment import ExperimentConfig, run_experiment, split_reference

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="module")
def texts():
    with gzip.open(FIXTURE, "rt") as fh:
        return [json.loads(line)["text"] for line in fh][:200]


def test_split_is_deterministic_and_disjoint(texts):
    cfg = ExperimentConfig()
    a = split_reference(texts, cfg)
    assert a == split_reference(list(reversed(texts)), cfg)
    gen0, pool, heldout = map(set, a)
    assert not (gen0 & pool or gen0 & heldout or pool & heldout)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="replace"):
        ExperimentConfig(policies=("keep-everything",))


@pytest.fixture(scope="module")
def result(texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("experiment")
    run_experiment(texts, ExperimentConfig(generations=3, policies=("replace", "accumulate")), out)
    return out, pd.read_csv(out / "experiment.csv")


def test_tails_vanish_under_replace_and_hold_better_under_accumulate(result):
    _, frame = result
    tail = frame.pivot(index="generation", columns="policy", values="tail_coverage")
    assert tail.loc[0, "replace"] == tail.loc[0, "accumulate"] == pytest.approx(1.0)
    assert list(tail["replace"]) == sorted(tail["replace"], reverse=True), "replace loses tails every generation"
    assert tail.loc[3, "accumulate"] > tail.loc[3, "replace"] + 0.1


def test_outputs_table_and_plot(result):
    out, frame = result
    assert set(frame["policy"]) == {"replace", "accumulate"}
    assert sorted(frame["generation"].unique()) == [0, 1, 2, 3]
    png = (out / "experiment.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
