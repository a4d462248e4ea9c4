"""A real two-year chain on the bundled samples whose second year stopped at its review (mode required)."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="module")
def staged_chain(tmp_path_factory, signing_key_env):
    """``(root, year)``: 2021 published (mode auto), 2022 staged up to its review, undecided."""
    from biomass.pipeline import make_plan, run_year
    from biomass.review.decision import ReviewPending

    root = tmp_path_factory.mktemp("review-chain")
    run_year(make_plan(2021, data_root=str(root)))
    with pytest.raises(ReviewPending):
        run_year(make_plan(2022, data_root=str(root), review_mode="required"))
    return root, 2022


@pytest.fixture
def pending(staged_chain, tmp_path):
    """A private copy of the chain (each test decides on its own), and the plan of its pending year."""
    from biomass.pipeline import RunPlan

    root, year = staged_chain
    copy = tmp_path / "root"
    shutil.copytree(root, copy, symlinks=True)
    plan = RunPlan.load(copy / "staging" / str(year) / "plan.json")
    plan.data_root = str(copy)
    return plan
