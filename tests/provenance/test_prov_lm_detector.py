"""The LM detector's arithmetic and calibration, driven by a FAKE scorer (a smoothed word-unigram model over the
fixture's human text), so no language model or llama-cpp-python is needed. The real model: tests/neural."""

import math
import zlib

import numpy as np
import pytest

from biomass.lm.tokenize import TokenBatch, join_tokens, whitespace_tokens
from biomass.provenance import lm_detector
from biomass.config.provenance import DetectorConfig, ProvenanceConfig
from biomass.provenance.fitted import fit_cached
from biomass.provenance.lm_detector import LMDetector, TokenStats, features, stats_from_logits
from biomass.provenance.tagger import tag_table

LM = DetectorConfig(kind="lm")


def brute_force(logits, targets):
    """The same statistics one position at a time, in plain Python floats."""
    out = []
    for row, t in zip(logits.tolist(), targets.tolist()):
        z = math.log(sum(math.exp(v) for v in row))
        lp = [v - z for v in row]
        e = sum(math.exp(a) * a for a in lp)
        var = sum(math.exp(a) * a * a for a in lp) - e * e
        rank = 1 + sum(v > row[t] for v in row)
        out.append((lp[t], e, var, math.log(rank)))
    return np.array(out)


def test_token_statistics_match_a_per_position_computation():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, size=(40, 17))
    logits[5, :] = 1.0  # all tied: rank 1, entropy log(17)
    logits[6, 2] = 80.0  # nearly one-hot: variance ~ 0
    targets = rng.integers(0, 17, size=40)
    s = stats_from_logits(logits, targets)
    got = np.stack([s.logp, s.expected, s.variance, s.log_rank], axis=1)
    np.testing.assert_allclose(got, brute_force(logits, targets), rtol=1e-5, atol=1e-5)  # float32 logits
    assert s.log_rank[5] == 0.0 and s.expected[5] == pytest.approx(-math.log(17))
    assert s.variance[6] >= 0.0
    with pytest.raises(ValueError):
        stats_from_logits(logits, targets[:-1])


def test_discrepancy_is_standard_normal_on_text_the_model_itself_samples():
    """Fast-DetectGPT's null: tokens drawn from the scoring model's own distribution give D ~ N(0, 1)."""
    rng = np.random.default_rng(5)
    ds = []
    for _ in range(400):
        logits = rng.normal(0, 2, size=(150, 30))
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        targets = np.array([rng.choice(30, p=row) for row in p])
        ds.append(features(stats_from_logits(logits, targets))[0])
    assert abs(np.mean(ds)) < 0.15 and 0.85 < np.std(ds) < 1.15


def test_features_by_hand():
    s = TokenStats(np.array([-1.0, -3.0]), np.array([-2.0, -2.0]), np.array([1.0, 3.0]), np.log([1.0, 4.0]))
    d, mean_logp, mean_log_rank = features(s)
    assert d == pytest.approx((-4.0 + 4.0) / 2.0) and mean_logp == -2.0 and mean_log_rank == pytest.approx(math.log(2))
    s = TokenStats(np.array([-0.5, -0.5]), np.array([-2.0, -2.0]), np.array([1.0, 1.0]), np.zeros(2))
    assert features(s)[0] == pytest.approx(3.0 / math.sqrt(2.0))
    assert features(TokenStats(*(np.zeros(0),) * 4)).tolist() == [0.0, 0.0, 0.0]


class FakeUnigramScorer:
    """FAKE language model: add-one-smoothed unigram counts over 256 word classes (a crc32 of the word) of the
    texts it is built from, the same distribution at every position. Small, so calibration takes a second."""

    name = "fake-unigram"
    classes = 256

    def __init__(self, texts):
        counts = np.ones(self.classes)
        for t in texts:
            np.add.at(counts, self.ids(t), 1)
        self.logits = np.log(counts)
        self.vocab = sorted({w for t in texts for w in whitespace_tokens(t)})
        self.calls = 0

    def ids(self, text):
        return np.array([zlib.crc32(w.encode()) % self.classes for w in whitespace_tokens(text)], dtype=np.int64)

    def token_stats(self, texts):
        self.calls += len(texts)
        out = []
        for t in texts:
            ids = self.ids(t)
            out.append(stats_from_logits(np.broadcast_to(self.logits, (len(ids), self.classes)), ids))
        return out

    def words_of_class(self, wanted):
        return [w for w in self.vocab if zlib.crc32(w.encode()) % self.classes in wanted]


@pytest.fixture(scope="module")
def scorer(human_docs):
    return FakeUnigramScorer(human_docs[:80])


@pytest.fixture(scope="module")
def detector(human_docs, scorer):
    return LMDetector.fit(human_docs[80:200], LM, scorer=scorer, per_bucket=60)


def windows(docs, length, per_doc=2):
    out = []
    for d in docs:
        ws = whitespace_tokens(d)
        for k in range(per_doc):
            if len(ws) >= length:
                start = (len(ws) - length) * k // per_doc
                out.append(join_tokens(ws[start:start + length]))
    return out


def test_calibrated_human_text_rarely_fires_and_is_centred(detector, human_docs):
    scores = detector.score(windows(human_docs[200:], 150))
    assert len(scores) >= 60
    z = np.array([s.z for s in scores])
    assert abs(np.median(z)) < 1.0
    assert np.mean([s.fired for s in scores]) <= 0.02


def test_fires_on_both_sides(detector, scorer):
    """Too predictable (the fake model's favourite words: a machine's side) and too unpredictable (uniform word
    salad) both fire, with the sign of z telling which side."""
    rng = np.random.default_rng(1)
    order = np.argsort(scorer.logits)[::-1]
    likely, unlikely = scorer.words_of_class(set(order[:20].tolist())), scorer.words_of_class(set(order[-32:].tolist()))
    machine = [join_tokens(rng.choice(likely, 200).tolist()) for _ in range(10)]
    salad = [join_tokens(rng.choice(unlikely, 200).tolist()) for _ in range(10)]
    sm, ss = detector.score(machine), detector.score(salad)
    assert all(s.fired and s.z > 0 for s in sm)
    assert all(s.fired and s.z < 0 for s in ss), ss
    assert all(s.p <= 1e-6 for s in sm + ss)


def test_short_texts_are_not_judged_and_not_scored(detector, scorer):
    before = scorer.calls
    s = detector.score(["only a few words here", ""])
    assert all(x.bucket is None and not x.fired and x.p == 1.0 for x in s)
    assert scorer.calls == before


def test_batch_and_per_text_scores_are_the_same(detector, human_docs):
    import pyarrow as pa

    texts = windows(human_docs[200:230], 120, 1) + ["too short", "x  y\n\n" * 40, human_docs[201]]
    assert detector.score_batch(TokenBatch.encode(pa.array(texts))) == detector.score(texts)


def test_fit_is_deterministic_and_needs_enough_reference(human_docs, scorer, detector):
    again = LMDetector.fit(list(reversed(human_docs[80:200])), LM, scorer=scorer, per_bucket=60)
    assert again.buckets == detector.buckets
    with pytest.raises(ValueError, match="at least 20"):
        LMDetector.fit(human_docs[:5], LM, scorer=scorer)
    report = detector.report()
    assert report and all(v["human_range"][0] <= v["median_d"] <= v["human_range"][1] for v in report.values())


def test_config_selects_the_lm_detector(human_docs, scorer, monkeypatch):
    """kind="lm" makes fit_cached (used by the tagger and ingest) build an LMDetector with the configured scorer."""
    built = []

    def fake_llama(model_path, **kw):
        built.append((model_path, kw))
        return scorer

    monkeypatch.setattr(lm_detector, "LlamaScorer", fake_llama)
    cfg = LM.model_copy(update={"lm": LM.lm.model_copy(update={"model_path": "/m.gguf", "per_bucket": 20})})
    det = fit_cached(human_docs[80:160], cfg)
    assert isinstance(det, LMDetector) and built == [("/m.gguf", {"n_threads": 2, "n_ctx": 1024, "max_tokens": 512})]
    assert fit_cached(human_docs[80:160], cfg) is det  # memoised
    assert type(fit_cached(human_docs[80:160], DetectorConfig())).__name__ == "StatDetector"


def test_the_tagger_uses_it_in_both_engines(detector, scorer, human_docs):
    import pyarrow as pa

    rng = np.random.default_rng(2)
    unlikely = scorer.words_of_class(set(np.argsort(scorer.logits)[:32].tolist()))
    salad = [join_tokens(rng.choice(unlikely, 200).tolist()) for _ in range(5)]
    table = pa.table({"doc_id": [f"d{i}" for i in range(10)], "text": salad + windows(human_docs[200:205], 150, 1)})
    prov = ProvenanceConfig(detector=LM)
    bulk = tag_table(table, config=prov, detector=detector)
    assert bulk.equals(tag_table(table, config=prov, detector=detector, engine="scalar"))
    assert bulk.column("origin").to_pylist()[:5] == ["synthetic"] * 5
