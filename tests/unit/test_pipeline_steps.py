"""The step registry: every gate once, names unique, a map's shard count defined, publish last."""

from __future__ import annotations

import pytest

from biomass.pipeline.gating import REGISTRY
from biomass.pipeline.steps import STEP_NAMES, STEPS, _gate


def test_step_names_are_unique_and_publish_is_last():
    assert len(set(STEP_NAMES)) == len(STEP_NAMES)
    assert STEP_NAMES[-1] == "publish"
    assert STEP_NAMES.index("review") == len(STEP_NAMES) - 2, "review decides right before publish"


def test_every_registered_gate_runs_once_after_its_stage():
    gates = [s.gate for s in STEPS if s.gate is not None]
    assert sorted(gates) == sorted(REGISTRY)
    for step in STEPS:
        if step.gate is None:
            assert step.run is not None, step.name
            continue
        stage = REGISTRY[step.gate].stage
        before = STEP_NAMES[:STEP_NAMES.index(step.name)]
        assert stage in before or f"finish_{stage}" in before, f"{step.name} runs before {stage} wrote its output"


def test_an_unknown_gate_lists_the_known_ones():
    with pytest.raises(KeyError, match="known: scrape"):
        _gate("nonsense")


def test_mapped_steps_take_an_index():
    import inspect

    for step in STEPS:
        if step.mapped:
            assert list(inspect.signature(step.run).parameters)[:2] == ["plan", "index"], step.name
