"""A real two-year chain on the bundled samples whose second year stopped at its review (mode required)."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(scope="module")
def signing_key_env(session_signing_key):
    """As the suite's, but the session's key, so each module runs with the key its chain was built with."""
    os.environ["BIOMASS_SIGNING_KEY"] = session_signing_key
    yield session_signing_key
    os.environ.pop("BIOMASS_SIGNING_KEY", None)


@pytest.fixture(scope="session")
def _built_chain(tmp_path_factory, published_2021, session_signing_key):
    """Built once per session: 2022 (mode required) on a copy of the session's published 2021. Nothing may change
    it: tests that decide, rerun or publish work on a copy (``pending``)."""
    from biomass.pipeline import make_plan, run_year
    from biomass.review.decision import ReviewPending

    root = tmp_path_factory.mktemp("review-chain") / "data"
    shutil.copytree(published_2021, root, symlinks=True)
    with pytest.MonkeyPatch.context() as env, pytest.raises(ReviewPending):
        env.setenv("BIOMASS_SIGNING_KEY", session_signing_key)
        run_year(make_plan(2022, data_root=str(root), review_mode="required"))
    return root, 2022


@pytest.fixture(scope="module")
def staged_chain(_built_chain, signing_key_env):
    """``(root, year)``: 2021 published (mode auto), 2022 staged up to its review, undecided. Shared: read only."""
    return _built_chain


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
