"""Per-run gate thresholds: run-wide or per gate, and a typo is an error rather than a silently ignored override."""

from __future__ import annotations

import pytest

from biomass.config import BiomassConfig
from biomass.pipeline import check_gate_overrides, gate_thresholds

CFG = BiomassConfig()


def test_no_override_gives_the_config_thresholds():
    assert gate_thresholds(CFG, "scrape").max_quarantine_fraction == CFG.gates.max_quarantine_fraction


def test_run_wide_override_applies_to_every_gate():
    for gate in ("scrape", "license", "generation"):
        assert gate_thresholds(CFG, gate, {"max_quarantine_fraction": 0.7}).max_quarantine_fraction == 0.7


def test_per_gate_override_applies_to_that_gate_only_and_wins_over_run_wide():
    overrides = {"max_quarantine_fraction": 0.7, "scrape": {"max_quarantine_fraction": 0.9}}
    assert gate_thresholds(CFG, "scrape", overrides).max_quarantine_fraction == 0.9
    assert gate_thresholds(CFG, "license", overrides).max_quarantine_fraction == 0.7


def test_collapse_bounds_come_from_the_metrics_config_unless_overridden():
    default = gate_thresholds(CFG, "collapse").collapse_bounds
    assert default == CFG.metrics.bounds, "the gate reads the typed bounds, not a copy"
    tight = [{"metric": "tail_coverage", "direction": "min", "warn": 0.99, "fail": 0.99}]
    got = gate_thresholds(CFG, "collapse", {"collapse": {"collapse_bounds": tight}}).collapse_bounds
    assert [b.model_dump() for b in got] == tight


@pytest.mark.parametrize("overrides, message", [
    ({"max_quarantine_fractoin": 0.7}, "max_quarantine_fractoin"),
    ({"scrape": {"min_chars": "lots"}}, "min_chars"),
    ({"scrape": 0.7}, "must be a mapping"),
])
def test_bad_overrides_are_refused_up_front(overrides, message):
    with pytest.raises(ValueError, match=message):
        check_gate_overrides(CFG, overrides)
