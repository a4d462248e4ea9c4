"""The LM detector with the real scorer: SmolLM2-135M through llama.cpp, calibrated on the human fixture."""

from __future__ import annotations

import numpy as np
import pytest

from biomass.config.provenance import DetectorConfig, LMDetectorConfig
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.lm_detector import LlamaScorer, LMDetector, features

pytestmark = pytest.mark.neural

SAMPLING = {"top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}  # llama.cpp server defaults


@pytest.fixture(scope="module")
def scorer(model_path):
    return LlamaScorer(model_path, n_threads=1, n_ctx=1024, max_tokens=128)


@pytest.fixture(scope="module")
def detector(scorer, human_docs):
    cfg = DetectorConfig(kind="lm", lm=LMDetectorConfig(max_tokens=128, per_bucket=12))
    return LMDetector.fit(human_docs[80:200], cfg, scorer=scorer)


def salad(docs, n, length, seed):
    """FAKE word salad: a word-bigram chain (observed successors) over ``docs``."""
    succ = {}
    for d in docs:
        ws = whitespace_tokens(d)
        for a, b in zip(ws, ws[1:]):
            succ.setdefault(a, []).append(b)
    rng = np.random.default_rng(seed)
    starts = sorted(succ)
    out = []
    for _ in range(n):
        ws = [starts[int(rng.integers(len(starts)))]]
        while len(ws) < length:
            nxt = succ.get(ws[-1]) or starts
            ws.append(nxt[int(rng.integers(len(nxt)))])
        out.append(join_tokens(ws))
    return out


def test_scores_every_token_with_finite_statistics(scorer):
    stats = scorer.token_stats(["The quick brown fox jumps over the lazy dog near the river bank."])[0]
    n = len(scorer.llm.tokenize(b"The quick brown fox jumps over the lazy dog near the river bank.", add_bos=False))
    assert len(stats) == n  # with BOS in front every token of the text is predicted
    assert np.isfinite(stats.logp).all() and (stats.logp <= 0).all() and (stats.variance >= 0).all()
    assert (stats.log_rank >= 0).all() and np.isfinite(features(stats)).all()
    long = scorer.token_stats([" ".join(["word"] * 600)])[0]
    assert len(long) == scorer.max_tokens


def test_text_the_model_samples_freely_has_a_discrepancy_near_zero(scorer):
    """Fast-DetectGPT's null with the real model: pure sampling (T=1, no truncation) gives D ~ N(0, 1), while
    truncated sampling (the server's defaults) lands well above it."""
    llm = scorer.llm
    free, trunc = [], []
    for i in range(4):
        r = llm.create_completion("The", max_tokens=120, temperature=1.0, top_k=0, top_p=1.0, min_p=0.0,
                                  repeat_penalty=1.0, seed=100 + i)
        free.append("The" + r["choices"][0]["text"])
        r = llm.create_completion("The", max_tokens=120, temperature=1.0, seed=100 + i, **SAMPLING)
        trunc.append("The" + r["choices"][0]["text"])
    d_free = [features(s)[0] for s in scorer.token_stats(free)]
    d_trunc = [features(s)[0] for s in scorer.token_stats(trunc)]
    assert abs(np.mean(d_free)) < 2.0, d_free
    assert np.mean(d_trunc) > np.mean(d_free) + 2.0, (d_free, d_trunc)


def test_separates_model_text_and_word_salad_from_human_text(detector, scorer, human_docs):
    llm = scorer.llm
    model_text = []
    for i, d in enumerate(human_docs[200:206]):
        prompt = join_tokens(whitespace_tokens(d)[:8])
        r = llm.create_completion(prompt, max_tokens=200, temperature=1.0, seed=7 + i, **SAMPLING)
        model_text.append(join_tokens(whitespace_tokens(prompt + r["choices"][0]["text"])[:130]))
    model_text = [t for t in model_text if len(t.split()) >= 100]
    human = [join_tokens(whitespace_tokens(d)[:130]) for d in human_docs[210:226] if len(whitespace_tokens(d)) >= 130]
    fake = salad(human_docs[:80], 6, 130, seed=3)
    sm, ss, sh = detector.score(model_text), detector.score(fake), detector.score(human)
    assert len(model_text) >= 4 and len(human) >= 10
    zm, zs, zh = ([round(s.z, 2) for s in x] for x in (sm, ss, sh))
    assert not any(s.fired for s in sh), zh
    # At 128 scored tokens and 12 calibration windows a bucket, salad sits at z ~ -3..-4: ranked far below human
    # text but short of firing (p <= 1e-6); the benchmark measures firing rates at longer lengths.
    assert all(z < 0 for z in zs) and np.median(zs) < np.median(zh) - 2.0, (zs, zh)
    assert np.median(zm) > np.median(zh), (zm, zh)


def test_the_quantile_rule_fires_on_salad_at_a_loose_target(scorer, human_docs):
    """The firing rule with the real model: at target_fpr 0.2 (0.1 a side) 30 calibration documents a bucket
    are enough for the quantile rule (0.9 ** 29 < 0.05), which fires on 130-word salad, below the human range,
    while held-out human text fires at about the target rate (30 texts: loosely). Salad must fire far above that
    side's 0.1: at 0.1, 4 or more of 8 would happen with p = 0.005."""
    cfg = DetectorConfig(kind="lm", target_fpr=0.2, lm=LMDetectorConfig(max_tokens=128, per_bucket=30))
    det = LMDetector.fit(human_docs[80:200], cfg, scorer=scorer)
    cal = det.buckets[1]  # 100-199 words
    assert cal.n_docs == 30 and cal.fire_below is not None and cal.fire_above is not None
    assert cal.min_human <= cal.fire_below < cal.centre < cal.fire_above <= cal.max_human
    human = [join_tokens(whitespace_tokens(d)[:130]) for d in human_docs[210:240] if len(whitespace_tokens(d)) >= 130]
    fake = salad(human_docs[:80], 8, 130, seed=5)
    sh, ss = det.score(human), det.score(fake)
    assert all(s.z < 0 for s in ss) and sum(s.fired for s in ss) >= 4, [round(s.z, 2) for s in ss]
    assert np.mean([s.fired for s in sh]) <= 0.35, [round(s.z, 2) for s in sh]
