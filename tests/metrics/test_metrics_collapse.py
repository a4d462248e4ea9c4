"""collapse_metrics end to end: hand-checked values, edge cases and properties that must hold for any corpus."""

import math

import numpy as np
import pytest

from biomass.config.metrics import MetricsConfig
from biomass.lm.tokenize import nfkc_word_tokens
from biomass.metrics import METRIC_KEYS, EmptyReference, ReferenceProfile, collapse_metrics

# FAKE reference: apple:1 banana:2 cherry:3 date:4 (10 tokens, one document)
REF = ["apple banana banana cherry cherry cherry date date date date"]
CFG = MetricsConfig(rare_max_count=2, ngram_n=2, ttr_window=2, zipf_min_count=1)


@pytest.fixture(scope="module")
def ref():
    return ReferenceProfile.build(REF, CFG)


def test_hand_checked_generation(ref):
    gen = ["Banana cherry, cherry!", "date"]
    m = collapse_metrics(gen, ref, origins=["human", "synthetic"], duplicate_rate=0.25, config=CFG)
    assert tuple(m) == METRIC_KEYS
    assert (m["docs"], m["tokens"], m["types"]) == (2, 4, 3)
    # rare words (count <= 2): apple, banana; the generation has banana -> 1/2
    assert m["rare_types"] == 2 and m["tail_coverage"] == pytest.approx(0.5)
    # i.i.d. baseline for 4 tokens: apple p = .1, banana p = .2 -> mean(1 - .9^4, 1 - .8^4) = mean(.3439, .5904)
    assert m["tail_coverage_expected"] == pytest.approx((0.3439 + 0.5904) / 2)
    # reference bigrams: ab:1 bb:1 bc:1 cc:2 cd:1 dd:3 -> rare (<= 2): ab bb bc cc cd = 5
    # generation bigrams: bc cc (doc 2 has none) -> 2 of 5
    assert m["rare_ngrams"] == 5 and m["tail_coverage_ngram"] == pytest.approx(2 / 5)
    assert m["distinct_1"] == pytest.approx(3 / 4)  # banana cherry date / 4 tokens
    assert m["distinct_2"] == pytest.approx(2 / 2)  # bc, cc
    # window 2: doc 1 [banana cherry] -> 1 (trailing cherry dropped); doc 2 too short -> 1.0
    assert m["ttr_corrected"] == pytest.approx(1.0)
    # generation distribution b:1/4 c:2/4 d:1/4 -> H = 1.5 bits
    assert m["unigram_entropy"] == pytest.approx(1.5)
    # counts (2, 1, 1): x = (0, ln2, ln3) mean .5973, y = (ln2, 0, 0) mean .2310
    # sum dx*dy = -.5973*.4621 + .0959*-.2310 + .5014*-.2310 = -.4140; sum dx^2 = .6173 -> slope -.6707, s = .6707
    x, y = np.log([1, 2, 3]), np.log([2, 1, 1])
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    assert m["zipf_exponent"] == pytest.approx(-slope) == pytest.approx(0.6707, abs=1e-4)
    # JS vs reference: P = (a .1, b .2, c .3, d .4), Q = (0, .25, .5, .25)
    p, q = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.0, 0.25, 0.5, 0.25])
    mid = (p + q) / 2
    kl = lambda a, b: sum(ai * math.log2(ai / bi) for ai, bi in zip(a, b) if ai > 0)  # noqa: E731
    assert m["js_divergence"] == pytest.approx((kl(p, mid) + kl(q, mid)) / 2)
    assert m["js_divergence_prev"] is None
    assert (m["share_human"], m["share_licensed"], m["share_synthetic"], m["share_unknown"]) == (0.5, 0, 0.5, 0)
    assert m["duplicate_rate"] == 0.25 and m["exact_duplicate_rate"] == 0.0


def test_previous_generation_drift(ref):
    m = collapse_metrics(["apple apple"], ref, previous=["banana"], config=CFG)
    assert m["js_divergence_prev"] == pytest.approx(1.0)  # disjoint from the previous generation
    same = collapse_metrics(["apple banana"], ref, previous=["banana apple"], config=CFG)
    assert same["js_divergence_prev"] == 0.0


def test_empty_generation_is_measurable_and_collapsed(ref):
    m = collapse_metrics([], ref, config=CFG)
    assert (m["docs"], m["tokens"]) == (0, 0)
    assert m["tail_coverage"] == 0.0 and m["tail_coverage_ngram"] == 0.0  # nothing of the tail survives
    assert m["tail_coverage_expected"] == 0.0
    for key in ("distinct_1", "distinct_2", "ttr_corrected", "unigram_entropy", "zipf_exponent", "js_divergence",
                "share_human", "exact_duplicate_rate"):
        assert m[key] is None, key
    # documents without a single word: counted as documents, no tokens
    m = collapse_metrics(["...", "!!"], ref, config=CFG)
    assert (m["docs"], m["tokens"], m["tail_coverage"]) == (2, 0, 0.0)


def test_empty_reference_is_a_clear_error():
    with pytest.raises(EmptyReference, match="no tokens"):
        ReferenceProfile.build([], CFG)
    with pytest.raises(ValueError, match="no tokens"):
        ReferenceProfile.build(["", "--- ..."], CFG)


def test_mismatched_inputs_are_refused(ref):
    with pytest.raises(ValueError, match="origins has 1 entries for 2 texts"):
        collapse_metrics(["a", "b"], ref, origins=["human"], config=CFG)
    with pytest.raises(ValueError, match="not one of"):
        collapse_metrics(["a"], ref, origins=["alien"], config=CFG)
    with pytest.raises(ValueError, match="other settings"):
        collapse_metrics(["a"], ref, config=MetricsConfig(rare_max_count=2, ngram_n=3))
    with pytest.raises(ValueError, match="None"):
        collapse_metrics(["a", None], ref, config=CFG)


def test_reference_without_rare_types_gives_none():
    ref = ReferenceProfile.build(["x x x y y y"], MetricsConfig(rare_max_count=2))
    m = collapse_metrics(["x y"], ref, config=MetricsConfig(rare_max_count=2))
    assert m["rare_types"] == 0 and m["tail_coverage"] is None and m["tail_coverage_expected"] is None


# -- properties, on FAKE Zipfian corpora ---------------------------------------------------------------


@pytest.fixture(scope="module")
def fake(make_fake_corpus):
    texts = make_fake_corpus(seed=11, docs=120, words_per_doc=60)
    return texts, ReferenceProfile.build(texts, MetricsConfig())


def test_identical_corpus_has_zero_drift_and_full_coverage(fake):
    texts, ref = fake
    m = collapse_metrics(texts, ref, previous=texts, config=MetricsConfig())
    assert m["js_divergence"] == 0.0 and m["js_divergence_prev"] == 0.0
    assert m["tail_coverage"] == 1.0 and m["tail_coverage_ngram"] == 1.0


def test_dropping_every_rare_word_leaves_no_tail(fake):
    texts, ref = fake
    config = MetricsConfig()
    rare = set(ref.rare_words(config))
    assert rare  # the fake corpus does have a tail
    stripped = [" ".join(w for w in nfkc_word_tokens(t) if w not in rare) for t in texts]
    m = collapse_metrics(stripped, ref, config=config)
    assert m["tail_coverage"] == 0.0
    assert m["js_divergence"] > 0.0


def test_bootstrap_resampling_lowers_distinct_n_and_tail(fake):
    texts, ref = fake
    config = MetricsConfig()
    base = collapse_metrics(texts, ref, config=config)
    rng = np.random.default_rng(3)
    current, tails = texts, [base["tail_coverage"]]
    for _ in range(4):  # Shumailov-style: each generation resamples only the previous one
        current = [current[i] for i in rng.integers(0, len(current), len(current))]
        m = collapse_metrics(current, ref, config=config)
        tails.append(m["tail_coverage"])
    first = collapse_metrics([texts[i] for i in np.random.default_rng(3).integers(0, len(texts), len(texts))],
                             ref, config=config)
    # equal-length documents: same n-gram total, a subset of the distinct n-grams
    assert first["distinct_1"] < base["distinct_1"]
    assert first["distinct_2"] < base["distinct_2"]
    assert first["exact_duplicate_rate"] > 0
    # a resample of a resample only ever loses types
    assert all(b <= a for a, b in zip(tails, tails[1:])) and tails[-1] < tails[0]


def test_document_order_does_not_matter(fake):
    texts, ref = fake
    config = MetricsConfig()
    shuffled = [texts[i] for i in np.random.default_rng(5).permutation(len(texts))]
    a = collapse_metrics(texts, ref, config=config)
    b = collapse_metrics(shuffled, ref, config=config)
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == (None if b[key] is None else pytest.approx(b[key], rel=1e-12)), key


def test_duplicating_a_corpus_halves_distinct_n_and_keeps_shape(fake):
    texts, ref = fake
    config = MetricsConfig(zipf_min_count=1)  # with the default 2, doubling would let the hapaxes into the fit
    a = collapse_metrics(texts, ref, config=config)
    b = collapse_metrics(texts + texts, ref, config=config)
    assert b["distinct_1"] == pytest.approx(a["distinct_1"] / 2)
    assert b["distinct_2"] == pytest.approx(a["distinct_2"] / 2)
    for key in ("unigram_entropy", "zipf_exponent", "js_divergence", "ttr_corrected", "tail_coverage"):
        assert b[key] == pytest.approx(a[key]), key
    assert b["exact_duplicate_rate"] == pytest.approx(0.5)


def test_a_narrower_generator_scores_as_more_collapsed(fake, make_fake_corpus):
    texts, ref = fake
    config = MetricsConfig()
    healthy = make_fake_corpus(seed=12, docs=120, words_per_doc=60)
    # FAKE collapsed generation: same process, but the vocabulary truncated to its 40 most common words
    collapsed = make_fake_corpus(seed=12, docs=120, words_per_doc=60, vocab=40)
    h = collapse_metrics(healthy, ref, config=config)
    c = collapse_metrics(collapsed, ref, config=config)
    assert c["tail_coverage"] < h["tail_coverage"]
    assert c["unigram_entropy"] < h["unigram_entropy"]
    assert c["js_divergence"] > h["js_divergence"]
    assert c["distinct_2"] < h["distinct_2"]


def test_hashed_distinct_2_equals_the_exact_count(fake, make_fake_corpus):
    from biomass.metrics.diversity import distinct_n
    from biomass.metrics.word_ids import Encoder

    _, ref = fake
    gen = make_fake_corpus(seed=13, docs=50, words_per_doc=30)
    enc = Encoder()
    corpus = enc.encode(gen)
    assert collapse_metrics(gen, ref, config=MetricsConfig())["distinct_2"] == distinct_n(corpus, 2, len(enc))


def test_metrics_see_collapse_under_replace_and_less_under_accumulate(make_fake_corpus):
    """A FAKE generator chain (unigram model fitted by counting, sampled with a seeded RNG) reproduces the known
    result: training only on the last generation loses the tail; accumulating all data holds it far better."""
    config = MetricsConfig()
    human = make_fake_corpus(seed=41, docs=60, words_per_doc=40)
    ref = ReferenceProfile.build(human, config)
    rng = np.random.default_rng(42)

    def sample(train: list[str]) -> list[str]:
        vocab, counts = np.unique([w for t in train for w in t.split()], return_counts=True)
        draws = rng.choice(vocab, size=(60, 40), p=counts / counts.sum())
        return [" ".join(row) for row in draws]

    replace, accumulate = human, list(human)
    for _ in range(6):
        replace = sample(replace)
        accumulate = accumulate + sample(accumulate)
    last_replace = collapse_metrics(replace, ref, config=config)
    # compare equal sizes: the last 60 accumulated documents are the newest sample (drawn from everything so far)
    last_accumulate = collapse_metrics(accumulate[-60:], ref, config=config)
    assert last_replace["tail_coverage"] < last_accumulate["tail_coverage"]
    assert last_replace["js_divergence"] > last_accumulate["js_divergence"]
    assert collapse_metrics(sample(human), ref, config=config)["tail_coverage"] > last_replace["tail_coverage"]


@pytest.mark.parametrize("n", [2, 3])
def test_vectorised_metrics_match_a_brute_force_count(n):
    """Plain-Python sets and loops over FAKE documents of uneven length (0 to 70 tokens) must agree exactly."""
    rng = np.random.default_rng(n)
    vocab = [f"v{i}" for i in range(60)]
    def doc(length):
        return " ".join(rng.choice(vocab, size=length, p=np.linspace(2, 0.1, 60) / np.linspace(2, 0.1, 60).sum()))
    ref_texts = [doc(int(k)) for k in rng.integers(0, 70, 40)]
    gen_texts = [doc(int(k)) for k in rng.integers(0, 70, 40)]
    config = MetricsConfig(ngram_n=n, ttr_window=7, rare_max_count=2)
    m = collapse_metrics(gen_texts, ReferenceProfile.build(ref_texts, config), config=config)

    ref_docs, gen_docs = [nfkc_word_tokens(t) for t in ref_texts], [nfkc_word_tokens(t) for t in gen_texts]
    def grams(docs, k):
        return [tuple(d[i:i + k]) for d in docs for i in range(len(d) - k + 1)]
    ref_grams = {}
    for g in grams(ref_docs, n):
        ref_grams[g] = ref_grams.get(g, 0) + 1
    rare_grams = [g for g, c in ref_grams.items() if c <= 2]
    gen_grams = set(grams(gen_docs, n))
    assert m["tail_coverage_ngram"] == pytest.approx(sum(g in gen_grams for g in rare_grams) / len(rare_grams))
    bigrams = grams(gen_docs, 2)
    assert m["distinct_2"] == pytest.approx(len(set(bigrams)) / len(bigrams))
    segments = [d[i:i + 7] for d in gen_docs for i in range(0, len(d) - 6, 7)]
    assert all(len(s) == 7 for s in segments)
    assert m["ttr_corrected"] == pytest.approx(sum(len(set(s)) / 7 for s in segments) / len(segments))


def test_iid_draws_from_the_reference_cover_what_expected_coverage_says(fake):
    texts, ref = fake
    config = MetricsConfig()
    pool = [w for t in texts for w in nfkc_word_tokens(t)]
    rng = np.random.default_rng(17)
    for n in (500, 3000):
        drawn = [" ".join(rng.choice(pool, size=n))]
        m = collapse_metrics(drawn, ref, config=config)
        # binomial noise over ~rare_types words: sd well under 0.04 here
        assert m["tail_coverage"] == pytest.approx(m["tail_coverage_expected"], abs=0.08), n
    assert 0 < m["tail_coverage_expected"] < 1
