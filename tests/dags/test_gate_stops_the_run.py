"""Every gate, failing inside Airflow: its task fails once, nothing after it runs, nothing is published, the DAG
run ends failed, and the run's note names the gate with a link to its Data Docs page.

The bad-data fixtures per gate are in ``tests/gates/test_gate_failures.py``; here each gate is made to fail on the
real bundled samples by a per-gate threshold override (the `gate_overrides` Param), so the wiring is what is
tested: the other gates run with the config's thresholds and pass.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from biomass.pipeline import make_plan, run_year
from biomass.storage import GenerationStore

pytestmark = pytest.mark.airflow

FAILING = {
    "scrape": {"langs": ["xx"]},
    "license": {"langs": ["xx"]},
    "synthesize": {"max_chars": 10},
    # the bundled chain drops none of the samples: more kept rows than there are fail the gate's floor
    "filter": {"min_rows": 10_000},
    "generation": {"langs": ["xx"]},
    # accumulate keeps the reference itself in 2022, so tail coverage is 1.0; any divergence at all fails here
    "collapse": {"collapse_bounds": [{"metric": "js_divergence", "direction": "max", "warn": 0.0, "fail": 0.0}]},
}
WHAT_FAILS = {"scrape": "lang", "license": "lang", "synthesize": "text_chars", "filter": "kept_rows",
              "generation": "lang", "collapse": "js_divergence"}


def relatives(dag, task_id: str) -> tuple[set[str], set[str]]:
    """The tasks upstream and downstream of ``task_id`` in the DAG's own wiring (which ``test_dag_integrity``
    checks against the step registry), the lock's teardown aside; together with it they must be every task, so
    no branch beside the gate goes unchecked."""
    task = dag.get_task(task_id)
    before = task.get_flat_relative_ids(upstream=True)
    after = task.get_flat_relative_ids(upstream=False) - {"release_lock"}
    assert before | after | {task_id, "release_lock"} == set(dag.task_ids), "a task neither before nor after"
    assert "plan" in before and "publish" in after
    return before, after


@pytest.fixture(scope="module")
def root(tmp_path_factory, signing_key_env) -> Path:
    """2021 published without Airflow, so 2022 has a parent to synthesize from and every gate has rows to see."""
    root = tmp_path_factory.mktemp("gated")
    run_year(make_plan(2021, data_root=str(root)))
    return root


@pytest.mark.parametrize("gate", list(FAILING))
def test_a_failing_gate_stops_the_run_and_publishes_nothing(dag, root, gate):
    from airflow.models import DagRun
    from airflow.utils.session import create_session

    # A logical date of its own per gate (the `year` Param says which generation), so runs never collide.
    logical = datetime(2040 + list(FAILING).index(gate), 1, 1, tzinfo=timezone.utc)
    dagrun = dag.test(logical_date=logical, run_conf={"year": 2022, "data_root": str(root),
                                                      "gate_overrides": {gate: FAILING[gate]}})
    states = {ti.task_id: ti.state for ti in dagrun.get_task_instances()}
    before, after = relatives(dag, f"gate_{gate}")
    assert dagrun.state == "failed", states
    assert states[f"gate_{gate}"] == "failed"
    assert all(states[t] == "success" for t in before), states
    assert all(states[t] == "upstream_failed" for t in after), states
    assert [ti.try_number for ti in dagrun.get_task_instances() if ti.task_id == f"gate_{gate}"] == [1]
    assert GenerationStore(root).published_years() == [2021]
    assert states["release_lock"] == "success" and not GenerationStore(root).lock_path(2022).exists()
    evidence = root / "staging" / "2022" / "gates"
    assert (evidence / f"{gate}.result.json").is_file()

    with create_session() as session:
        note = session.get(DagRun, dagrun.id).note
    assert note.startswith(f"**biomass 2022: gate `{gate}` failed. Nothing was published.**"), note
    assert WHAT_FAILS[gate] in note and str(evidence) in note
    docs = note.split("[Data Docs: the failed validation](", 1)[1].split(")", 1)[0]
    assert Path(docs.removeprefix("file://")).is_file(), docs
