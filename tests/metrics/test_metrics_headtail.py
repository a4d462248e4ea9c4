"""Head vs tail perplexity, with a FAKE model (add-one unigram) standing in for the synth helper's NgramModel."""

import math
from collections import Counter

import numpy as np
import pytest

from biomass.config.metrics import MetricsConfig
from biomass.lm.tokenize import nfkc_word_tokens
from biomass.metrics import ReferenceProfile, head_tail_perplexity
from biomass.metrics.headtail import sentences, split_head_tail
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)


class FakeUnigramModel:
    """FAKE model for tests: add-one-smoothed unigram perplexity. Records what it was asked to score."""

    def __init__(self, train: list[str]):
        self.counts = Counter(w for t in train for w in nfkc_word_tokens(t))
        self.total = sum(self.counts.values())
        self.vocab = len(self.counts) + 1
        self.calls: list[list[str]] = []

    def perplexity(self, texts):
        self.calls.append(list(texts))
        toks = [w for t in texts for w in nfkc_word_tokens(t)]
        nll = -sum(math.log((self.counts[w] + 1) / (self.total + self.vocab)) for w in toks)
        return math.exp(nll / len(toks))


class InfiniteModel:
    """FAKE model that cannot score unseen text."""

    def perplexity(self, texts):
        return float("inf")


# FAKE held-out text: 4 common-word sentences, 4 rare-word ones, one too short to score
HELD_OUT = [
    "The cat sat on the mat. The dog sat on the mat. The cat and the dog sat.",
    "Quokkas nibble marram grass beside estuaries. A cat sat on the dog mat.",
    "Ptarmigan plumage whitens during boreal winters! Sat the cat, the dog, the mat.",
    "Obsidian fractures conchoidally under percussion? Axolotls regenerate amputated limbs quickly.\n\nOk.",
]


def test_sentence_split():
    assert sentences("One two. Three four!  Five?\n\nSix seven") == ["One two.", "Three four!", "Five?", "Six seven"]


def test_split_puts_common_sentences_in_head_and_rare_in_tail():
    cfg = MetricsConfig(head_tail_fraction=0.5, min_sentence_tokens=3)
    head, tail, figures = split_head_tail(HELD_OUT, cfg)
    # 10 sentences: 5 of common words, 4 of rare ones, "Ok." too short to score; k = floor(0.5 * 9) = 4
    assert figures["sentences"] == 10 and figures["sentences_scored"] == 9
    assert figures["head_sentences"] == figures["tail_sentences"] == 4
    assert all(s.split()[0] in {"The", "A", "Sat"} for s in head)
    assert {s.split()[0] for s in tail} == {"Quokkas", "Ptarmigan", "Obsidian", "Axolotls"}
    assert figures["head_mean_log_count"] > figures["tail_mean_log_count"]


def test_head_tail_perplexity_shows_the_tail_is_harder():
    cfg = MetricsConfig(head_tail_fraction=0.5, min_sentence_tokens=3)
    model = FakeUnigramModel(["the cat sat on the mat", "the dog sat on the mat", "a cat and a dog"])
    out = head_tail_perplexity(model, HELD_OUT, cfg)
    assert out["perplexity_tail"] > out["perplexity_head"] > 1.0
    assert out["tail_head_ratio"] == pytest.approx(out["perplexity_tail"] / out["perplexity_head"])
    head, tail, _ = split_head_tail(HELD_OUT, cfg)
    assert model.calls == [head, tail, head + tail]  # raw sentences, in text order


def test_frequencies_can_come_from_the_frozen_reference():
    cfg = MetricsConfig(head_tail_fraction=0.25, min_sentence_tokens=3)
    # FAKE reference where the "rare" animals are the common words: the split flips
    ref = ReferenceProfile.build(["quokkas ptarmigan obsidian axolotls " * 50], cfg)
    head, _, _ = split_head_tail(HELD_OUT, cfg, ref.count_of)
    assert all(s.split()[0] in {"Quokkas", "Ptarmigan", "Obsidian", "Axolotls"} for s in head)
    out = head_tail_perplexity(FakeUnigramModel(["x"]), HELD_OUT, cfg, reference=ref)
    assert out["head_sentences"] == 2


def test_degenerate_inputs_give_none_not_errors():
    cfg = MetricsConfig()
    out = head_tail_perplexity(FakeUnigramModel(["a"]), ["Too short."], cfg)
    assert out["perplexity_head"] is None and out["tail_head_ratio"] is None and out["head_sentences"] == 0
    out = head_tail_perplexity(InfiniteModel(), HELD_OUT, MetricsConfig(min_sentence_tokens=3))
    assert out["perplexity_tail"] is None and out["tail_head_ratio"] is None


def test_held_out_split_is_deterministic_and_near_its_share():
    from biomass.metrics import is_held_out

    ids = [f"doc-{i}" for i in range(4000)]
    picked = [i for i in ids if is_held_out(i, 0.1)]
    assert picked == [i for i in ids if is_held_out(i, 0.1)]
    assert 300 < len(picked) < 500  # binomial(4000, 0.1): mean 400, sd 19
    assert set(picked) <= {i for i in ids if is_held_out(i, 0.2)}  # a larger share only adds documents
    assert not any(is_held_out(i, 0.0) for i in ids[:100])


def test_real_ngram_model_on_real_held_out_text_finds_the_tail_harder(repo):
    """The synth stage's Kneser-Ney model on REAL text (tests/fixtures/human_text.jsonl.gz, Python docs and
    Debian Reference): trained on the documents not held out, scored on the held-out ones."""
    import gzip
    import json

    ngram = pytest.importorskip("biomass.lm.ngram")
    from biomass.metrics import is_held_out

    with gzip.open(repo / "tests" / "fixtures" / "human_text.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    held = [r["text"] for r in rows if is_held_out(f"{r['path']}#{r['part']}", 0.2)]
    train = [r["text"] for r in rows if not is_held_out(f"{r['path']}#{r['part']}", 0.2)]
    assert held and train
    config = MetricsConfig()
    reference = ReferenceProfile.build(train, config)
    out = head_tail_perplexity(ngram.NgramModel.train(train, order=3), held, config, reference=reference)
    assert out["head_mean_log_count"] > out["tail_mean_log_count"]
    assert out["perplexity_tail"] > out["perplexity_all"] > out["perplexity_head"]
    assert out["tail_head_ratio"] > 2


def _split_as_before(reference_texts, config, counts=None):
    """split_head_tail as it was, holding every sentence's tokens at once (the reference for the streamed one)."""
    import numpy as np

    pieces = [s for text in reference_texts for s in sentences(text)]
    toks = [nfkc_word_tokens(s) for s in pieces]
    if counts is None:
        counts = Counter(w for ws in toks for w in ws)
    eligible = [i for i, ws in enumerate(toks) if len(ws) >= config.min_sentence_tokens]
    scores = np.array([sum(math.log1p(counts.get(w, 0)) for w in toks[i]) / len(toks[i]) for i in eligible],
                      dtype=np.float64)
    k = min(max(1, int(config.head_tail_fraction * len(eligible))), len(eligible) // 2)
    order = np.lexsort((np.arange(len(eligible)), scores))
    tail_idx, head_idx = order[:k], order[len(order) - k:] if k else order[:0]
    figures = {"sentences": len(pieces), "sentences_scored": len(eligible), "head_sentences": int(k),
               "tail_sentences": int(k), "head_mean_log_count": float(scores[head_idx].mean()) if k else None,
               "tail_mean_log_count": float(scores[tail_idx].mean()) if k else None}
    return ([pieces[eligible[i]] for i in sorted(head_idx)], [pieces[eligible[i]] for i in sorted(tail_idx)],
            figures)


@pytest.mark.parametrize("with_reference", [False, True])
def test_the_streamed_split_is_the_split_that_held_every_sentence(human_docs, with_reference):
    config = MetricsConfig()
    texts = list(human_docs[:80]) + ["", "Short. One two three four five six seven eight nine ten eleven."]
    counts = ReferenceProfile.build(human_docs[80:160], config).count_of if with_reference else None
    assert split_head_tail(texts, config, counts) == _split_as_before(texts, config, counts)


def _real_held_out(repo):
    import gzip
    import json

    from biomass.metrics import is_held_out

    with gzip.open(repo / "tests" / "fixtures" / "human_text.jsonl.gz", "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh]
    held = [r["text"] for r in rows if is_held_out(f"{r['path']}#{r['part']}", 0.2)]
    train = [r["text"] for r in rows if not is_held_out(f"{r['path']}#{r['part']}", 0.2)]
    return held, train


@pytest.mark.parametrize("chunk", [1, 7, 1_024])
def test_streamed_head_tail_perplexity_is_head_tail_perplexity(repo, chunk):
    """Parity: two walks of a stream, sentences scored ``chunk`` at a time (small chunks force many flushes),
    give exactly the figures of the at-once version on REAL text with the synth stage's model."""
    ngram = pytest.importorskip("biomass.lm.ngram")
    from biomass.metrics.headtail import streamed_head_tail_perplexity

    held, train = _real_held_out(repo)
    config = MetricsConfig()
    reference = ReferenceProfile.build(train, config)
    model = ngram.NgramModel.train(train, order=3)
    at_once = head_tail_perplexity(model, held, config, reference=reference)
    at_once.pop("perplexity_all")
    streamed = streamed_head_tail_perplexity(lambda: model, lambda: iter(held), config, reference, chunk=chunk)
    assert at_once["perplexity_head"] is not None
    assert streamed == at_once


def test_streamed_head_tail_perplexity_holds_a_chunk_not_the_stream(human_docs):
    """The held-out texts are read as a stream: sentences are scored while most of the second walk is still
    unread, and the texts are never asked for as a list."""
    from biomass.metrics.headtail import streamed_head_tail_perplexity

    texts = list(human_docs[:60])
    read = {"texts": 0}

    def stream():
        for t in texts:
            read["texts"] += 1
            yield t

    class RecordingModel:
        def __init__(self):
            self.read_at_first_call = None

        def token_logprobs(self, batch):
            if self.read_at_first_call is None:
                self.read_at_first_call = read["texts"]
            return [-(1.0 + np.arange(len(nfkc_word_tokens(t)), dtype=np.float64) % 3) for t in batch]

    config = MetricsConfig()
    model = RecordingModel()
    out = streamed_head_tail_perplexity(lambda: model, stream, config,
                                        ReferenceProfile.build(human_docs[60:120], config), chunk=4)
    assert out["perplexity_head"] is not None and out["head_sentences"] > 8
    assert read["texts"] == 2 * len(texts)  # two walks
    assert model.read_at_first_call < len(texts) + len(texts) // 2  # scoring began early in the second walk


def test_the_second_walk_must_be_the_first():
    from biomass.metrics.headtail import HeadTailSplit

    config = MetricsConfig(min_sentence_tokens=3)
    split = HeadTailSplit.score(HELD_OUT, config, Counter())
    with pytest.raises(ValueError, match="sentences the second time"):
        list(split.selected(HELD_OUT[:2]))
