"""The annual DAG as the tests that run it with ``dag.test()`` load it: parsed from its file, no import errors."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag(airflow_db, signing_key_env):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / "biomass_annual.py"))
    assert bag.import_errors == {}
    return bag.dags["biomass_annual"]
