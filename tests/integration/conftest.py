"""Fixtures for the native-topology integration run: a real PostgreSQL and Airflow's services, torn down always.

These tests are marked ``integration`` and only run when selected (``make test-integration``), because they start
servers and take minutes. BIOMASS_KEEP_STACK=1 keeps the temporary directory (logs, database, data root).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.integration.stack import NativeStack


def pytest_collection_modifyitems(config, items):
    """Skip unless asked for: an `integration` test that runs by accident would hold 2 cores for minutes."""
    if os.environ.get("BIOMASS_INTEGRATION") == "1":
        return
    skip = pytest.mark.skip(reason="integration run: use `make test-integration` (sets BIOMASS_INTEGRATION=1)")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def stack(request) -> NativeStack:
    # Not tmp_path: pytest's base temp is 0700 and the database runs as another user when we are root.
    root = Path(tempfile.mkdtemp(prefix="biomass-it-"))
    stack = NativeStack(root=root / "stack", data_root=root / "data")

    def teardown() -> None:
        stack.stop()
        if os.environ.get("BIOMASS_KEEP_STACK") == "1":
            print(f"\nkept the integration stack's files in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    request.addfinalizer(teardown)  # before start(): a half-started stack is torn down too
    stack.start()
    return stack


@pytest.fixture(scope="module")
def api(stack):
    """The official REST client, authenticated with a JWT from the api-server's /auth/token."""
    import airflow_client.client as af

    config = af.Configuration(host=stack.base_url, access_token=stack.token())
    with af.ApiClient(config) as client:
        yield client
