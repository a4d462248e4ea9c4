import numpy as np
import pytest

from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import join_tokens, whitespace_tokens


@pytest.fixture(scope="module")
def model(human_docs):
    return NgramModel.train(human_docs[:60], order=3)


def test_training_is_deterministic(human_docs):
    a = NgramModel.train(human_docs[:20], order=3)
    b = NgramModel.train(list(human_docs[:20]), order=3)
    assert a.vocab == b.vocab
    for la, lb in zip(a.levels, b.levels):
        assert np.array_equal(la.keys, lb.keys) and np.array_equal(la.counts, lb.counts)
        assert la.discount == lb.discount


def test_sampling_is_seeded(model, human_docs):
    prompt = whitespace_tokens(human_docs[0])[:8]
    one = model.sample(prompt, 120, [1, 2])
    assert one == model.sample(prompt, 120, [1, 2])
    assert one != model.sample(prompt, 120, [1, 3])
    assert len(one) == 120 and one[:8] == prompt


def test_conditional_distribution_sums_to_one(model, human_docs):
    """Interpolated KN is a proper distribution over the vocabulary plus the out-of-vocabulary slot."""
    ws = whitespace_tokens(human_docs[3])
    ids = [model.index[w] for w in ws[:2]]
    vocab_ids = np.arange(len(model.vocab) + 1)  # + OOV id
    windows = np.column_stack([np.full(len(vocab_ids), ids[0]), np.full(len(vocab_ids), ids[1]), vocab_ids])
    assert model._prob(windows).sum() == pytest.approx(1.0, abs=1e-6)
    unseen_ctx = np.column_stack([np.full(len(vocab_ids), len(model.vocab)), np.full(len(vocab_ids), 0), vocab_ids])
    assert model._prob(unseen_ctx).sum() == pytest.approx(1.0, abs=1e-6)


def test_generator_only_reproduces_what_it_saw(model, human_docs):
    out = model.sample(whitespace_tokens(human_docs[5])[:8], 300, [7])
    assert set(out) <= set(model.vocab[1:])


def test_perplexity_is_lower_on_training_text(model, human_docs):
    seen = model.perplexity(human_docs[:10])
    unseen = model.perplexity(human_docs[200:210])
    assert seen < unseen
    assert model.perplexity([]) == float("inf")


def test_samples_are_closer_to_training_text_than_to_other_text(human_docs):
    """Finite-sample reproduction: a model trained on its own samples fits the parent's text better than
    text from elsewhere (the mechanism behind collapse)."""
    parent = NgramModel.train(human_docs[:40])
    samples = [join_tokens(parent.sample(whitespace_tokens(d)[:8], 400, [i])) for i, d in enumerate(human_docs[:40])]
    child = NgramModel.train(samples)
    assert child.perplexity(human_docs[:10]) < child.perplexity(human_docs[250:260])


def test_order_too_large_for_int64_keys_is_refused():
    with pytest.raises(ValueError):
        NgramModel.train([" ".join(f"w{i}" for i in range(3000))], order=6)


def _reference_kn(docs: list[list[str]], order: int):
    """Textbook interpolated Kneser-Ney written with dicts, independent of the vectorised implementation."""
    from collections import Counter, defaultdict

    bos = "\x00s"
    top = Counter()
    for d in docs:
        seq = [bos] * (order - 1) + d
        for i in range(order - 1, len(seq)):
            top[tuple(seq[i - order + 1:i + 1])] += 1
    levels = {order: top}
    for k in range(order - 1, 0, -1):
        levels[k] = Counter(g[1:] for g in levels[k + 1])  # continuation counts
    disc = {}
    for k, c in levels.items():
        n1 = sum(1 for v in c.values() if v == 1)
        n2 = sum(1 for v in c.values() if v == 2)
        disc[k] = min(max(n1 / (n1 + 2 * n2) if n1 and n2 else 0.5, 0.05), 0.95)
    ctx_total = {k: defaultdict(float) for k in levels}
    ctx_types = {k: defaultdict(int) for k in levels}
    for k, c in levels.items():
        for g, v in c.items():
            ctx_total[k][g[:-1]] += v
            ctx_types[k][g[:-1]] += 1
    vocab_size = len({w for d in docs for w in d}) + 1  # + BOS
    base = vocab_size + 1  # + OOV

    def prob(history: list[str], w: str) -> float:
        uni = levels[1]
        n = sum(uni.values())
        p = max(uni.get((w,), 0) - disc[1], 0) / n + disc[1] * len(uni) / n / base
        for k in range(2, order + 1):
            ctx = tuple(history[len(history) - (k - 1):])
            if ctx_total[k].get(ctx):
                p = (max(levels[k].get(ctx + (w,), 0) - disc[k], 0) + disc[k] * ctx_types[k][ctx] * p) / ctx_total[k][ctx]
        return p

    return prob


def test_matches_a_textbook_kneser_ney(human_docs):
    docs = [whitespace_tokens(t)[:120] for t in human_docs[:15]]
    model = NgramModel.train([join_tokens(d) for d in docs], order=3)
    prob = _reference_kn(docs, 3)
    probe = whitespace_tokens(human_docs[1])[:60] + whitespace_tokens(human_docs[100])[:60]  # seen and unseen text
    got = model.token_logprobs([join_tokens(probe)])[0]
    history = ["\x00s", "\x00s"]
    expected = []
    for w in probe:
        expected.append(np.log(prob(history, w)))
        history.append(w)
    assert np.allclose(got, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("watermarked", [False, True])
def test_sampler_draws_from_the_scored_distribution(model, human_docs, watermarked):
    """Empirical next-word frequencies match P_KN (times exp(delta) on green words when watermarked)."""
    from biomass.lm.ngram import _uniforms
    from biomass.provenance.watermark import Watermarker

    wm = Watermarker(b"TEST-ONLY key", gamma=0.25, delta=2.0)
    accept = wm.acceptor(model.vocab) if watermarked else None
    ws = whitespace_tokens(human_docs[2])
    hist = [0, 0] + [model.index[w] for w in ws[:2]]
    model.sample(ws[:2], 3, [0])  # builds the sampler
    sampler = model._sampler
    plan = sampler._plan(hist)
    rand = _uniforms([42])
    n = 20_000
    draws = np.zeros(len(model.vocab) + 1)
    for _ in range(n):
        while True:
            w = sampler._draw(plan, rand)
            if accept is None or accept(hist[-1], w, next(rand)):
                break
        draws[w] += 1
    ids = np.arange(len(model.vocab) + 1)
    p = model._prob(np.column_stack([np.full(len(ids), hist[-2]), np.full(len(ids), hist[-1]), ids]))
    p[0] = p[-1] = 0.0  # BOS and the OOV slot are never emitted
    if watermarked:
        green = np.array([wm.is_green_hashed(wm.token_hash(model.vocab[hist[-1]]), wm.token_hash(t))
                          for t in model.vocab] + [False])
        p = p * np.where(green, np.exp(2.0), 1.0)
    p /= p.sum()
    top = np.argsort(-p)[:15]
    freq = draws[top] / n
    assert np.all(np.abs(freq - p[top]) <= 4.5 * np.sqrt(p[top] * (1 - p[top]) / n) + 1e-3)


def test_self_training_loses_the_tail(human_docs):
    """Model collapse in miniature: each generation trains only on the previous one's samples (same number of
    words), so its vocabulary can only shrink, and rare words are the first to go."""
    from collections import Counter

    texts = human_docs[:30]
    counts0 = Counter(w for t in texts for w in whitespace_tokens(t))
    vocabs = []
    for gen in range(3):
        model = NgramModel.train(texts)
        vocabs.append(set(model.vocab[1:]))
        texts = [join_tokens(model.sample(whitespace_tokens(t)[:8], len(whitespace_tokens(t)), [gen, i]))
                 for i, t in enumerate(texts)]
    assert vocabs[1] <= vocabs[0] and vocabs[2] <= vocabs[1]
    assert len(vocabs[2]) < len(vocabs[1]) < len(vocabs[0])
    lost, kept = vocabs[0] - vocabs[1], vocabs[1]
    assert np.mean([counts0[w] for w in lost]) < np.mean([counts0[w] for w in kept])


@pytest.mark.parametrize("chunk", [1, 3, 7, 1_024])
def test_perplexity_in_chunks_is_exactly_perplexity_at_once(model, human_docs, chunk):
    """Scoring a chunk of texts at a time (bounded memory for a large held-out set) changes no bit of the result:
    the reference is the formula over every text's log-probabilities at once."""
    import math

    texts = list(human_docs[100:140]) + ["", "a"]
    lps = model.token_logprobs(texts)
    at_once = math.exp(-sum(float(x.sum()) for x in lps) / sum(len(x) for x in lps))
    assert model.perplexity(texts, chunk=chunk) == at_once
