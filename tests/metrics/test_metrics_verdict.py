"""The collapse gate: ok below the warning level, warn between the levels, fail past the failing level."""

import pytest

from biomass.config.metrics import Bound, MetricsConfig
from biomass.metrics import collapse_verdict

CFG = MetricsConfig(bounds=[
    Bound(metric="tail_coverage", direction="min", warn=0.5, fail=0.2),
    Bound(metric="js_divergence", direction="max", warn=0.1, fail=0.3),
])


@pytest.mark.parametrize("tail, js, status", [
    (0.9, 0.05, "ok"),
    (0.5, 0.1, "ok"),  # exactly at a warning level is not past it
    (0.49, 0.05, "warn"),
    (0.9, 0.2, "warn"),
    (0.19, 0.05, "fail"),
    (0.3, 0.31, "fail"),  # one warn + one fail -> fail
])
def test_levels(tail, js, status):
    v = collapse_verdict({"tail_coverage": tail, "js_divergence": js}, CFG)
    assert v["status"] == status
    assert len(v["reasons"]) == sum(c["status"] in ("warn", "fail") for c in v["checks"])
    assert [c["metric"] for c in v["checks"]] == ["tail_coverage", "js_divergence"]


def test_reason_text_names_metric_value_and_level():
    v = collapse_verdict({"tail_coverage": 0.1, "js_divergence": 0.0}, CFG)
    assert v["reasons"] == ["tail_coverage = 0.1000 is below the fail level 0.2"]


def test_uncomputable_metric_is_skipped_not_failed():
    v = collapse_verdict({"tail_coverage": 0.9, "js_divergence": None}, CFG)
    assert v["status"] == "ok" and v["checks"][1]["status"] == "skipped"


def test_unknown_metric_is_a_config_error():
    cfg = MetricsConfig(bounds=[Bound(metric="tail_covrage", direction="min", warn=0.5, fail=0.2)])
    with pytest.raises(KeyError, match="tail_covrage"):
        collapse_verdict({"tail_coverage": 0.9}, cfg)


def test_default_bounds_gate_tail_coverage_and_drift():
    cfg = MetricsConfig()
    assert {b.metric for b in cfg.bounds} == {"tail_coverage", "js_divergence"}
    assert collapse_verdict({"tail_coverage": 0.0, "js_divergence": 0.0}, cfg)["status"] == "fail"


@pytest.mark.parametrize("value", [0.0, 0.1, 0.19, 0.2, 0.21, 0.3, 0.31, 0.5, 0.9, 1.0])
def test_the_collapse_gate_fails_exactly_where_the_verdict_says_fail(value):
    """One rule, two readers: the gate's between-expectation (inclusive min/max, as great-expectations applies
    it) passes exactly the values whose verdict level is not ``fail``, for a min bound and a max bound."""
    from biomass.config import GateConfig
    from biomass.gates.suites import build_suite

    checks = build_suite("collapse", GateConfig(collapse_bounds=CFG.bounds))
    assert [c.kwargs["column"] for c in checks] == [b.metric for b in CFG.bounds]
    for bound, check in zip(CFG.bounds, checks):
        lo, hi = check.kwargs["min_value"], check.kwargs["max_value"]
        gate_passes = (lo is None or value >= lo) and (hi is None or value <= hi)
        assert gate_passes == (bound.level(value) != "fail"), (bound.metric, value)
