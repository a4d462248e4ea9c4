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

from tests.opt_in import skip_unless_asked
import yaml

from tests.integration.stack import NativeStack


def pytest_collection_modifyitems(config, items):
    skip_unless_asked(items, "integration", "BIOMASS_INTEGRATION", "test-integration")


REVIEWER = "curator"


def stack_config(root: Path) -> Path:
    """The bundled config (review mode auto: the backfill runs unattended) naming `curator` as the one who may
    decide a review; a run started with the review_mode Param `required` waits for them."""
    from biomass.config import BUNDLED_CONFIG

    raw = yaml.safe_load(BUNDLED_CONFIG.read_text())
    for section in ("scrape", "license"):
        raw[section]["inputs"] = [str(BUNDLED_CONFIG.parent / p) for p in raw[section]["inputs"]]
    raw["review"] = {**raw.get("review", {}), "assigned_users": [{"id": REVIEWER, "name": "Curator"}]}
    path = root / "biomass.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="session")
def stack(request) -> NativeStack:
    """One stack for the session: the backfill, the review through REST and the review in the browser share it
    (starting one takes minutes on a shared machine); later modules run later years on the same data root."""
    # Not tmp_path: pytest's base temp is 0700 and the database runs as another user when we are root.
    root = Path(tempfile.mkdtemp(prefix="biomass-it-"))
    # The reviewer has role `user` (may act on DAGs), not admin: what decides is review.assigned_users.
    stack = NativeStack(root=root / "stack", data_root=root / "data", users={REVIEWER: "user"},
                        config=stack_config(root))

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
    """The official REST client, authenticated with a JWT from the api-server's /auth/token (as the admin)."""
    import airflow_client.client as af

    config = af.Configuration(host=stack.base_url, access_token=stack.token())
    with af.ApiClient(config) as client:
        yield client


@pytest.fixture(scope="module")
def reviewer_api(stack):
    """The official REST client as the assigned reviewer."""
    import airflow_client.client as af

    config = af.Configuration(host=stack.base_url, access_token=stack.token(REVIEWER))
    with af.ApiClient(config) as client:
        yield client
