import numpy as np
import pytest

from biomass.config.provenance import DetectorConfig
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.detector import StatDetector, bucket_of


@pytest.fixture(scope="module")
def detector(human_docs):
    return StatDetector.fit(human_docs[80:200], DetectorConfig(), per_bucket=80)


def _windows(docs, length, per_doc=2):
    out = []
    for d in docs:
        ws = whitespace_tokens(d)
        for k in range(per_doc):
            start = (len(ws) - length) * k // max(per_doc, 1)
            if len(ws) >= length:
                out.append(join_tokens(ws[max(start, 0):max(start, 0) + length]))
    return out


@pytest.mark.parametrize("length", [60, 150, 300, 600])
def test_calibrated_on_unseen_human_text(detector, human_docs, length):
    """On human text the detector never saw, z is centred near 0 and it (almost) never fires."""
    scores = detector.score(_windows(human_docs[200:], length))
    assert len(scores) >= 100
    z = np.array([s.z for s in scores])
    assert abs(np.median(z)) < 0.75
    assert np.mean([s.fired for s in scores]) <= 0.01
    assert np.mean([s.p < 0.01 for s in scores]) <= 0.06


def test_ranks_foreign_generator_text_above_human(detector, human_docs):
    foreign = NgramModel.train(human_docs[:80])  # a generator we pretend not to control: no watermark, no key
    fake = [join_tokens(foreign.sample(whitespace_tokens(d)[:8], 300, [i])) for i, d in enumerate(human_docs[:40])]
    human = _windows(human_docs[200:], 300, per_doc=1)
    zf = np.array([s.z for s in detector.score(fake)])
    zh = np.array([s.z for s in detector.score(human)])
    auc = (zf[:, None] > zh[None, :]).mean()
    assert auc > 0.8


def test_memorised_reference_text_scores_human(detector, human_docs):
    scores = detector.score(human_docs[80:140])
    assert not any(s.fired for s in scores)


def test_short_texts_are_not_judged(detector):
    s = detector.score(["only a few words here"])[0]
    assert s.bucket is None and not s.fired
    assert bucket_of(10) is None and bucket_of(50) == 0 and bucket_of(10_000) == bucket_of(3000)


def test_fit_is_deterministic(human_docs, detector):
    again = StatDetector.fit(list(reversed(human_docs[80:200])), DetectorConfig(), per_bucket=80)
    assert again.buckets == detector.buckets


def test_too_little_reference_is_an_error(human_docs):
    with pytest.raises(ValueError, match="at least"):
        StatDetector.fit(human_docs[:5])
