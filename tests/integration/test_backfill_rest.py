"""Three years of biomass_annual backfilled on the native topology, driven only through Airflow's REST API.

PostgreSQL metadata DB + scheduler + dag-processor + triggerer + api-server (LocalExecutor), started by the
`stack` fixture. The test talks to Airflow exactly as an operator's script would: token from /auth/token, then
the official `apache-airflow-client` to unpause the DAG, create a backfill and watch it. What it checks at the
end is what a reader of the data root sees: three published manifests whose gates all passed, chained by parent.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from datetime import datetime, timezone

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

from biomass.gates.suites import GATES as GATE_NAMES
from tests.integration.rest import DAG_ID, failure_report, wait_for_dag

YEARS = (2021, 2022, 2023)
# Every gate the pipeline runs, from the one list of them, so a new stage's gate is checked here too.
GATES = set(GATE_NAMES)


def test_backfill_three_years_through_rest(stack, api):
    import airflow_client.client as af

    dag = wait_for_dag(af, api, stack)
    # The signing key for synthetic text, as an operator would store it: an Airflow Variable (Fernet-encrypted
    # in the metadata DB). Any 32-byte seed is an Ed25519 key; biomass reads it as base64.
    af.VariableApi(api).post_variable(af.VariableBody(
        key="biomass_signing_private_key", value=base64.b64encode(os.urandom(32)).decode(),
        description="integration test: throwaway Ed25519 seed"))
    assert dag.is_paused, "a new DAG starts paused (AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION)"
    assert not af.DAGApi(api).patch_dag(DAG_ID, af.DAGPatchBody(is_paused=False)).is_paused

    # One run at a time, oldest first: each year builds on the generation published before it. The DAG's own
    # max_active_runs does not bound backfill runs; the backfill's does.
    backfill = af.BackfillApi(api).create_backfill(af.BackfillPostBody(
        dag_id=DAG_ID,
        from_date=datetime(YEARS[0], 1, 1, tzinfo=timezone.utc),
        to_date=datetime(YEARS[-1], 1, 1, tzinfo=timezone.utc),
        max_active_runs=1,
        reprocess_behavior=af.ReprocessBehavior.NONE,
        run_backwards=False,
    ))

    runs_api, deadline = af.DagRunApi(api), time.monotonic() + 45 * 60
    while True:
        stack.check_alive()
        runs = runs_api.get_dag_runs(DAG_ID, run_type=["backfill"], order_by=["logical_date"]).dag_runs
        failed = [r for r in runs if r.state == "failed"]
        if failed:
            pytest.fail("backfill run failed:\n" + failure_report(af, api, failed))
        if len(runs) == len(YEARS) and all(r.state == "success" for r in runs):
            break
        if time.monotonic() > deadline:
            pytest.fail("backfill did not finish in time: " + ", ".join(f"{r.dag_run_id}={r.state}" for r in runs))
        time.sleep(10)

    assert [r.logical_date.year for r in runs] == list(YEARS)
    assert all(r.run_type == "backfill" for r in runs)
    # Oldest first: each run started after the previous one ended.
    for earlier, later in zip(runs, runs[1:]):
        assert later.start_date >= earlier.end_date, (earlier.dag_run_id, later.dag_run_id)

    # What a reader trusts: the manifests, written last by publish, with every gate's verdict in them.
    parent = None
    for year in YEARS:
        path = stack.data_root / "generations" / str(year) / "manifest.json"
        assert path.is_file(), f"generation {year} not published under {stack.data_root}"
        manifest = json.loads(path.read_text())
        assert manifest["year"] == year
        assert manifest["rows"] > 0
        assert manifest["parent"] == parent, (year, manifest["parent"])
        assert set(manifest["gates"]) == GATES
        assert all(verdict["success"] for verdict in manifest["gates"].values()), manifest["gates"]
        for entry in manifest["files"]:
            assert (path.parent / entry["path"]).is_file(), entry
        parent = year

    # Each run's note, written by the biomass_run_notes listener inside the scheduler, says what the year
    # published and links its Data Docs through the api-server (the run wrote under the served data root).
    for run in runs:
        assert run.note and run.note.startswith(f"**biomass {run.logical_date.year}: published "), run.note
        link = run.note.split("[Data Docs](", 1)[1].split(")", 1)[0]
        assert link == "/biomass/datadocs/index.html", run.note
        page = urllib.request.urlopen(urllib.request.Request(
            stack.base_url + link, headers={"Authorization": f"Bearer {stack.token()}"}), timeout=30)
        assert page.status == 200 and b"<html" in page.read(2000).lower()

    # publish announced each generation as an asset event carrying the year's figures.
    events = af.AssetApi(api).get_asset_events(source_dag_id=DAG_ID, limit=50).asset_events
    assert sorted(e.extra.get("year") for e in events if e.extra) == list(YEARS)

    done = af.BackfillApi(api).get_backfill(backfill.id)
    assert done.dag_id == DAG_ID
