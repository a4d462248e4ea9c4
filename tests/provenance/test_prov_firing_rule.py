"""The detectors' firing rule: fire beyond the human calibration score that leaves at most ``target_fpr`` of human
text beyond it with 95% confidence (the LM detector: half of it on each side), or, where a bucket has too few calibration windows to resolve it, the extreme-value
rule. Hand-checkable inputs; no language model."""

import math

import numpy as np
import pytest

from biomass.config.provenance import DetectorConfig
from biomass.provenance.detector import BucketCalibration, StatDetector, fire_threshold
from biomass.provenance.lm_detector import LMBucketCalibration, LMDetector


def test_threshold_is_the_most_extreme_scores_that_the_count_allows():
    scores = np.arange(1.0, 3201.0)[::-1]  # 3,200 scores, 1..3200, unsorted on purpose
    # P(Binomial(1497, 0.002) = 0) = 0.998 ** 1497 = 0.0499 <= 0.05: the largest of 1,497 scores shows 0.002 ...
    assert 0.998 ** 1497 <= 0.05 < 0.998 ** 1496
    assert fire_threshold(scores[-1497:], 0.002) == 1497.0
    assert fire_threshold(scores[-1496:], 0.002) is None  # ... of 1,496 it cannot
    assert fire_threshold(scores[-1497:], 0.002, upper=False) == 1.0  # the mirror: below the smallest
    assert fire_threshold(scores[-3146:], 0.002) == 3144.0  # j = 3: above the third largest
    assert fire_threshold(scores[-3146:], 0.002, upper=False) == 3.0
    assert fire_threshold(scores, 0.5, confidence=0.5) == 1601.0  # the median of 3,200 (j = 1,600)
    assert fire_threshold(np.zeros(0), 0.5) is None


def test_the_count_is_the_binomial_quantile():
    from scipy.stats import binom

    for n, alpha in [(1497, 0.002), (3146, 0.002), (5000, 0.001), (999, 0.01), (40, 0.2)]:
        j = fire_threshold(np.arange(float(n)), alpha)
        j = 0 if j is None else n - int(j)  # scores 0..n-1: the j-th largest is n - j
        assert binom.cdf(j - 1, n, alpha) <= 0.05 < binom.cdf(j, n, alpha), (n, alpha, j)


def test_threshold_leaves_at_most_alpha_above_it_in_most_calibrations():
    """Human scores ~ N(0, 1): each calibration's true false-positive rate is P(Z > threshold), exactly. It exceeds
    alpha in at most ~5% of calibrations (95% confidence), so its average sits below alpha."""
    rng = np.random.default_rng(4)
    alpha = 0.01
    rates = np.array([0.5 * math.erfc(fire_threshold(rng.standard_normal(1000), alpha) / math.sqrt(2))
                      for _ in range(300)])
    assert np.mean(rates > alpha) <= 0.09
    assert 0.003 < np.mean(rates) < alpha


def _stat(threshold):
    cal = BucketCalibration((1.0, 0.0, 0.0, 0.0), mean=0.0, std=1.0, max_human=5.0, n_human=999, n_synthetic=10,
                            auc=0.9, threshold=threshold)
    return StatDetector(None, None, {0: cal}, DetectorConfig())


def test_ngram_rule_fires_above_the_quantile_even_at_a_modest_p():
    det = _stat(2.0)
    s = det._judge(60, 0, 2.5)
    assert s.fired and s.p == pytest.approx(0.5 * math.erfc(2.5 / math.sqrt(2)))  # p ~ 0.006, far above p_fire
    assert not det._judge(60, 0, 1.99).fired
    assert not det._judge(40, 0, 9.0).fired  # under min_words: not judged


def test_ngram_rule_falls_back_to_the_extreme_value_rule():
    det = _stat(None)
    assert not det._judge(60, 0, 5.9).fired  # above the human max, but not by one semi-deviation
    assert det._judge(60, 0, 6.1).fired  # max + margin, and p = P(Z > 6.1) ~ 5e-10 <= 1e-6
    low_p = StatDetector(None, None, det.buckets, DetectorConfig(p_fire=1e-12))
    assert not low_p._judge(60, 0, 6.1).fired  # p ~ 5e-10 is not <= 1e-12


def _lm(above, below):
    cal = LMBucketCalibration(centre=0.0, upper=1.0, lower=2.0, max_human=3.0, min_human=-6.0, n_human=999,
                              fire_above=above, fire_below=below)
    return LMDetector(None, {0: cal}, DetectorConfig(kind="lm"))


def test_lm_rule_is_two_sided_at_the_quantiles():
    det = _lm(2.0, -4.0)
    hi, lo = det._judge(0, 2.1), det._judge(0, -4.1)
    assert hi.fired and hi.z > 0 and lo.fired and lo.z < 0
    assert lo.z == pytest.approx(-4.1 / 2.0)  # the lower side's own semi-deviation
    assert not det._judge(0, 1.9).fired and not det._judge(0, -3.9).fired and not det._judge(0, 0.0).fired


def test_lm_rule_falls_back_per_side():
    det = _lm(2.0, None)  # the upper side resolved, the lower not
    assert det._judge(0, 2.1).fired
    assert not det._judge(0, -7.0).fired  # below min_human but not by a lower semi-deviation (2.0)
    assert det._judge(0, -14.0).fired  # beyond min - 2.0 and two-sided p = 2 P(Z > 7) ~ 3e-12


def test_calibration_picks_the_rule_by_window_count(human_docs):
    """A default fit (150 windows a bucket) keeps the extreme-value rule; with enough windows for target_fpr the
    stored threshold is ``fire_threshold`` of the bucket's own calibration scores."""
    small = StatDetector.fit(human_docs[80:200], DetectorConfig(), per_bucket=80)
    assert all(c.threshold is None for c in small.buckets.values())
    cfg = DetectorConfig(target_fpr=0.1)  # 0.9 ** 29 < 0.05 <= 0.9 ** 28: 29 documents are enough
    det = StatDetector.fit(human_docs[80:200], cfg, per_bucket=80, human_per_bucket=300)
    assert det.buckets[0].n_human == 300  # several windows per document for the centre and spread ...
    assert det.report()["50-99"]["rule"] == "quantile"  # ... but the 48 calibration documents set the threshold
    few = StatDetector.fit(human_docs[80:130], cfg, per_bucket=80, human_per_bucket=300)  # 20 documents
    assert few.buckets[0].n_human == 300 and few.buckets[0].threshold is None
    assert det.buckets[0].threshold <= det.buckets[0].max_human

