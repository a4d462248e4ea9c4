"""The rare rule, on counts small enough to check by hand."""

import numpy as np
import pytest
from pydantic import ValidationError

from biomass.config.metrics import Bound, MetricsConfig
from biomass.metrics.rare import rare_mask, tail_mass_level

COUNTS = np.array([1, 1, 2, 3, 5, 10, 0])  # total mass 22; the 0 is a type absent from this corpus


def test_count_rule():
    cfg = MetricsConfig(rare_max_count=2)
    assert rare_mask(COUNTS, cfg).tolist() == [True, True, True, False, False, False, False]


def test_tail_mass_level_takes_whole_count_levels():
    # cumulative mass by level: <=1: 2, <=2: 4, <=3: 7, <=5: 12, <=10: 22 (of 22)
    assert tail_mass_level(COUNTS, 0.2) == 2  # 0.2 * 22 = 4.4 -> level 2 (mass 4)
    assert tail_mass_level(COUNTS, 0.32) == 3  # 7.04 -> level 3 (mass 7)
    assert tail_mass_level(COUNTS, 0.05) == 0  # 1.1 < 2: not even the hapaxes fit
    assert tail_mass_level(COUNTS, 1.0) == 10
    assert tail_mass_level(np.array([4, 4, 4]), 0.9) == 0  # one level holding everything never fits below 1.0


def test_mass_rule_and_both_rules():
    only_mass = MetricsConfig(rare_max_count=None, rare_tail_mass=0.32)
    assert rare_mask(COUNTS, only_mass).tolist() == [True, True, True, True, False, False, False]
    both = MetricsConfig(rare_max_count=2, rare_tail_mass=0.32)  # AND: count <= 2 and count <= 3
    assert rare_mask(COUNTS, both).tolist() == [True, True, True, False, False, False, False]


def test_config_needs_a_rare_rule_and_ordered_bounds():
    with pytest.raises(ValidationError, match="rare"):
        MetricsConfig(rare_max_count=None, rare_tail_mass=None)
    with pytest.raises(ValidationError, match="fail <= warn"):
        Bound(metric="tail_coverage", direction="min", warn=0.2, fail=0.3)
    with pytest.raises(ValidationError, match="fail >= warn"):
        Bound(metric="js_divergence", direction="max", warn=0.3, fail=0.2)
    with pytest.raises(ValidationError):
        MetricsConfig(ngram_n=1)
