"""The year's steps, in order: the one list that `run_year` walks and the DAG's wiring is checked against.

A step is one call into the pipeline: a plain step takes the plan, a mapped step takes the plan and a shard index
(the DAG maps it over shards, `run_year` over worker processes), a gate step runs one gate of
``biomass.pipeline.gating.REGISTRY``. A mapped step's shard count comes from the plan or from the result of the
step just before it (``train_synthesizer`` and ``prepare_measure`` return the shards to map over), so adding a
step means adding one line here and its task in ``dags/biomass_annual.py``; ``tests/dags/test_dag_integrity.py``
fails if the two disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from biomass.pipeline.assemble import assemble_inputs, run_assemble, sign_shard
from biomass.pipeline.filtering import filter_shard, finish_filter, new_row_files
from biomass.pipeline.gating import REGISTRY
from biomass.pipeline.ingest import finish_scrape, prepare_tagging, run_license, run_scrape_shard, tag_scrape_shard
from biomass.pipeline.measure import finish_measure, measure_shard, prepare_measure
from biomass.pipeline.plan import RunPlan
from biomass.pipeline.publishing import publish
from biomass.pipeline.synthesis import finish_synthesize, synthesize_shard, train_synthesizer


def _review(plan: RunPlan) -> None:
    from biomass.review.decision import review_year   # review builds on the pipeline: imported when used

    review_year(plan)


def _scrape_inputs(plan: RunPlan, _previous: Any) -> int:
    return len(plan.scrape_inputs)


def _new_row_files(plan: RunPlan, _previous: Any) -> int:
    return len(new_row_files(plan))


def _filtered_files(plan: RunPlan, _previous: Any) -> int:
    return len(assemble_inputs(plan))


def _previous_result(_plan: RunPlan, previous: Any) -> Any:
    """The step before returned the shards to map over (an index list or a count)."""
    return previous


@dataclass(frozen=True)
class Step:
    """One step of the year. ``run(plan)`` for a plain step, ``run(plan, index)`` for a mapped one; ``gate`` names
    the gate a gate step runs (its ``run`` is unused: the gate takes the run's threshold overrides too)."""

    name: str
    run: Callable[..., Any] | None = None
    shards: Callable[[RunPlan, Any], Any] | None = None   # mapped: how many shards (plan, previous step's result)
    gate: str | None = None

    @property
    def mapped(self) -> bool:
        return self.shards is not None


def _gate(name: str) -> Step:
    if name not in REGISTRY:
        raise KeyError(f"unknown gate {name!r}; known: {', '.join(REGISTRY)}")
    return Step(f"gate_{name}", gate=name)


STEPS: tuple[Step, ...] = (
    Step("scrape", run_scrape_shard, _scrape_inputs),
    Step("prepare_tagging", prepare_tagging),
    Step("tag", tag_scrape_shard, _scrape_inputs),
    Step("finish_scrape", finish_scrape),
    _gate("scrape"),
    Step("license", run_license),
    _gate("license"),
    Step("train_synthesizer", train_synthesizer),
    Step("synthesize", synthesize_shard, _previous_result),
    Step("finish_synthesize", finish_synthesize),
    _gate("synthesize"),
    Step("filter", filter_shard, _new_row_files),
    Step("finish_filter", finish_filter),
    _gate("filter"),
    Step("sign", sign_shard, _filtered_files),
    Step("assemble", run_assemble),
    _gate("generation"),
    Step("prepare_measure", prepare_measure),
    Step("measure", measure_shard, _previous_result),
    Step("finish_measure", finish_measure),
    _gate("collapse"),
    # mode required and undecided: ReviewPending (``biomass review`` decides, then publishes). The DAG splits this
    # step into prepare_review -> review (a person, in Airflow) -> record_review.
    Step("review", _review),
    Step("publish", publish),
)

STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
