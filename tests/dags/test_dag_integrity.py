"""DAG integrity and structure, loaded the way that works on Airflow 3.3 (no include_examples kwarg)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.airflow


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "biomass_annual" in dagbag.dags


def test_every_dag_has_tags_and_explicit_catchup(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.catchup is False, dag_id
        assert str(dag.start_date.tzinfo) in ("UTC", "Timezone('UTC')"), dag_id


# The DAG splits the registry's review step: the sample, the person (Required Actions), the recorded answer.
DAG_TASKS_OF_STEP = {"review": ("prepare_review", "review", "record_review")}
# Tasks that are wiring, not steps: the plan and its lock, and the shard lists of maps known only at run time.
WIRING = {"plan", "release_lock", "scrape_shards", "filter_shards", "sign_shards"}


def _step_tasks() -> list[str]:
    from biomass.pipeline.steps import STEPS

    return [t for step in STEPS for t in DAG_TASKS_OF_STEP.get(step.name, (step.name,))]


def test_the_dag_runs_exactly_the_registry_steps_in_order(dagbag):
    """``biomass.pipeline.steps.STEPS`` is what ``run_year`` walks: the DAG must wire the same steps, each right
    after the one before (directly, or through the task that lists a map's shards)."""
    from biomass.pipeline.steps import STEPS

    dag = dagbag.dags["biomass_annual"]
    chain = _step_tasks()
    assert set(dag.task_ids) == set(chain) | WIRING, "a DAG task that is no step, or a step with no task"
    for upstream, downstream in zip(chain, chain[1:]):
        direct = dag.get_task(downstream).upstream_task_ids
        via = f"{downstream}_shards"
        assert upstream in direct or (via in direct and upstream in dag.get_task(via).upstream_task_ids), \
            (upstream, downstream)
    for step in STEPS:
        task = dag.get_task(step.name)
        assert bool(task.map_index_template) == step.mapped, f"{step.name}: mapped in one place only"


def test_annual_stage_order(dagbag):
    dag = dagbag.dags["biomass_annual"]
    assert dag.get_task("scrape").upstream_task_ids >= {"plan", "scrape_shards"}
    assert dag.get_task("prepare_tagging").upstream_task_ids >= {"scrape"}
    assert dag.get_task("tag").upstream_task_ids >= {"plan", "prepare_tagging"}
    assert dag.get_task("tag").map_index_template, "each mapped tag task is named by its shard"
    assert dag.get_task("measure").upstream_task_ids >= {"plan", "prepare_measure"}
    assert dag.get_task("measure").map_index_template, "each mapped measure task is named by its shard"
    assert dag.get_task("synthesize").map_index_template, "each mapped synthesize task is named by its shard"
    assert dag.get_task("sign").map_index_template, "each mapped sign task is named by its file"
    assert dag.get_task("filter").upstream_task_ids >= {"plan", "filter_shards"}
    assert dag.get_task("filter").map_index_template, "each mapped filter task is named by its file"
    assert dag.get_task("finish_filter").trigger_rule == "none_failed", "a year with no new rows still finishes"


def test_gates_never_retry_and_publish_declares_the_generations_alias(dagbag):
    dag = dagbag.dags["biomass_annual"]
    for task in dag.tasks:
        if task.task_id.startswith("gate_"):
            assert task.retries == 0, task.task_id
    outlets = dag.get_task("publish").outlets
    assert [o.name for o in outlets] == ["biomass-generations"]


def test_the_run_lock_is_released_by_a_teardown_after_publish(dagbag):
    dag = dagbag.dags["biomass_annual"]
    release = dag.get_task("release_lock")
    assert release.is_teardown and "publish" in release.upstream_task_ids
    assert not dag.get_task("plan").is_setup   # clearing a failed task must not re-plan (and clear staging)


def test_params_cover_manual_runs_and_backfills(dagbag):
    params = dagbag.dags["biomass_annual"].params
    for name in ("year", "data_root", "scrape_inputs", "license_inputs", "policy", "synthetic_share", "seed"):
        assert name in params, name
        assert params[name] is None  # left out, the config file decides


def test_schedule_is_yearly_in_utc(dagbag):
    dag = dagbag.dags["biomass_annual"]
    assert dag.timetable.__class__.__name__ == "CronTriggerTimetable"
    assert dag.timetable.expression == "0 0 1 1 *"
    assert str(dag.timetable.timezone) == "UTC"


def test_dag_files_stay_thin():
    """DAG modules import only airflow, pendulum and the stdlib at top level; logic lives in include/."""
    for path in (REPO / "dags").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                assert module.split(".")[0] in {"airflow", "pendulum", "datetime", "contextlib", "__future__"}, \
                    (path, module)


def test_include_never_imports_airflow():
    for path in (REPO / "include").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("airflow"), path
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("airflow") for a in node.names), path
