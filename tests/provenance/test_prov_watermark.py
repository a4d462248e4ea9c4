import numpy as np
import pytest

from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.keys import load_watermark_key
from biomass.provenance.watermark import Watermarker

from prov_helpers import light_edit


@pytest.fixture(scope="module")
def wm(prov):
    return Watermarker(load_watermark_key(prov), prov.watermark.gamma, prov.watermark.delta)


def test_detection_grows_with_length(wm, synthetic, prov):
    texts = [t for t in synthetic.column("text").to_pylist() if len(whitespace_tokens(t)) >= 200]
    assert len(texts) >= 15
    medians = {}
    for n in (25, 50, 100, 200):
        zs = [wm.score(join_tokens(whitespace_tokens(t)[:n])).z for t in texts]
        medians[n] = float(np.median(zs))
    assert medians[25] < medians[50] < medians[100] < medians[200]
    assert min(wm.score(join_tokens(whitespace_tokens(t)[:200])).z for t in texts) >= prov.watermark.z_threshold


def test_human_text_is_not_watermarked(wm, human_docs, prov):
    zs = np.array([wm.score(t).z for t in human_docs[80:]])  # text the generator never saw
    assert zs.max() < prov.watermark.z_threshold
    assert abs(zs.mean()) < 0.3 and 0.7 < zs.std() < 1.3  # z is standard normal under the null


def test_wrong_key_or_settings_finds_nothing(synthetic, prov):
    other = Watermarker(b"another key", prov.watermark.gamma, prov.watermark.delta)
    zs = [other.score(t).z for t in synthetic.column("text").to_pylist()]
    assert max(zs) < prov.watermark.z_threshold
    right = Watermarker(load_watermark_key(prov), prov.watermark.gamma, prov.watermark.delta)
    assert right.settings_id() != other.settings_id()
    assert right.settings_id() != Watermarker(load_watermark_key(prov), 0.5, 2.0).settings_id()


def test_repeated_pairs_count_once(wm, synthetic):
    text = synthetic.column("text")[0].as_py()
    once, twice = wm.score(text), wm.score(text + " " + text)
    assert twice.pairs - once.pairs <= 1 and abs(twice.green - once.green) <= 1
    human_loop = "the cat sat on the mat " * 50
    assert wm.score(human_loop).pairs == 6


def test_survives_light_edits(wm, synthetic, human_docs, prov):
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    texts = [t for t in synthetic.column("text").to_pylist() if len(whitespace_tokens(t)) >= 200]
    edited = [light_edit(join_tokens(whitespace_tokens(t)[:200]), 0.05, i, pool) for i, t in enumerate(texts)]
    assert min(wm.score(t).z for t in edited) >= prov.watermark.z_threshold


