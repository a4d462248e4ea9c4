import numpy as np
import pytest

from biomass.synth.ngram import NgramModel
from biomass.synth.tokens import join, words


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
    prompt = words(human_docs[0])[:8]
    one = model.sample(prompt, 120, [1, 2])
    assert one == model.sample(prompt, 120, [1, 2])
    assert one != model.sample(prompt, 120, [1, 3])
    assert len(one) == 120 and one[:8] == prompt


def test_conditional_distribution_sums_to_one(model, human_docs):
    """Interpolated KN is a proper distribution over the vocabulary plus the out-of-vocabulary slot."""
    ws = words(human_docs[3])
    ids = [model.index[w] for w in ws[:2]]
    vocab_ids = np.arange(len(model.vocab) + 1)  # + OOV id
    windows = np.column_stack([np.full(len(vocab_ids), ids[0]), np.full(len(vocab_ids), ids[1]), vocab_ids])
    assert model._prob(windows).sum() == pytest.approx(1.0, abs=1e-6)
    unseen_ctx = np.column_stack([np.full(len(vocab_ids), len(model.vocab)), np.full(len(vocab_ids), 0), vocab_ids])
    assert model._prob(unseen_ctx).sum() == pytest.approx(1.0, abs=1e-6)


def test_generator_only_reproduces_what_it_saw(model, human_docs):
    out = model.sample(words(human_docs[5])[:8], 300, [7])
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
    samples = [join(parent.sample(words(d)[:8], 400, [i])) for i, d in enumerate(human_docs[:40])]
    child = NgramModel.train(samples)
    assert child.perplexity(human_docs[:10]) < child.perplexity(human_docs[250:260])


def test_order_too_large_for_int64_keys_is_refused():
    with pytest.raises(ValueError):
        NgramModel.train([" ".join(f"w{i}" for i in range(3000))], order=6)
