"""Shared fixtures. Airflow reads AIRFLOW_HOME at import, so the test home is set before anything imports it."""

from __future__ import annotations

import os
import subprocess
import sys
import shutil
import atexit
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests are derandomized by default, so CI judges every commit on the same examples; set
# HYPOTHESIS_PROFILE=explore (fresh randomness; more examples where a test sets no max_examples of its own) to
# hunt for the next hole on purpose.
# No deadline: a shared 2-core CI machine makes per-example timings noise (a first call that imports pyarrow.compute
# took 1.5 s), and timing is not what these tests check.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("explore", max_examples=1000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="biomass-test-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(REPO / "plugins")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.pop("BIOMASS_DATA_ROOT", None)
os.environ.pop("BIOMASS_CONFIG", None)


def _throwaway_signing_key() -> str:
    """A fresh Ed25519 key per test session (never a key from the repo); the watermark key derives from it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


os.environ.pop("BIOMASS_SIGNING_KEY", None)
os.environ.pop("BIOMASS_WATERMARK_KEY", None)


@pytest.fixture(scope="module")
def signing_key_env():
    """Runs that synthesize need a key: a throwaway one in $BIOMASS_SIGNING_KEY for the test's duration."""
    os.environ["BIOMASS_SIGNING_KEY"] = _throwaway_signing_key()
    yield os.environ["BIOMASS_SIGNING_KEY"]
    os.environ.pop("BIOMASS_SIGNING_KEY", None)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated SQLite metadata DB in a throwaway AIRFLOW_HOME, made once per test session."""
    airflow = Path(sys.executable).parent / "airflow"
    proc = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO



@pytest.fixture(scope="session")
def session_signing_key() -> str:
    """One throwaway key for the runs built once per session and shared between modules (and for the tests that
    build on them: the watermark key derives from it)."""
    return _throwaway_signing_key()


@pytest.fixture(scope="session")
def published_2021(tmp_path_factory, session_signing_key) -> Path:
    """A data root with 2021 built and published on the bundled samples (biomass.yaml defaults), once per session.
    Read only: the fixtures that build later years on it build on a copy (nothing in it names its root but
    staging/2021/plan.json, which no later year reads)."""
    from biomass.pipeline import make_plan, run_year

    root = tmp_path_factory.mktemp("year-2021") / "data"
    with pytest.MonkeyPatch.context() as env:    # restores whatever key the requesting module had set
        env.setenv("BIOMASS_SIGNING_KEY", session_signing_key)
        run_year(make_plan(2021, data_root=str(root)))
    return root


@pytest.fixture(scope="session")
def two_published_years(tmp_path_factory, published_2021, session_signing_key):
    """``(plan, manifest, key)``: 2022 built and published (defaults) on a copy of ``published_2021``, once per
    session, signed with ``key``; ``plan`` is 2022's, ``manifest`` what its run returned. Shared by several
    modules, so read only: copy ``plan.data_root`` (shutil.copytree) to change anything, and run with ``key`` in
    $BIOMASS_SIGNING_KEY (the watermark key derives from it)."""
    from biomass.pipeline import make_plan, run_year

    root = tmp_path_factory.mktemp("two-years") / "data"
    shutil.copytree(published_2021, root, symlinks=True)
    plan = make_plan(2022, data_root=str(root))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BIOMASS_SIGNING_KEY", session_signing_key)
        manifest = run_year(plan)
    return plan, manifest, session_signing_key
