"""The demo's five years give the same manifests, byte for byte, as the committed golden copies.

A refactor must leave every published manifest unchanged (rows, mix, counts, gates, metrics, file hashes). The
years are built with ``biomass run-year`` (one process, ``--workers 1``) from the bundled config and samples, with
a signing key derived from a fixed phrase (FAKE, for this test only), so the synthetic text, its signatures and
the shard hashes are fixed. The config resolves its inputs to absolute paths, which enter the config hash and so
every record, so the config and samples are copied to one fixed folder first: a checkout anywhere gives the same
bytes. Two runs on one machine (two worktrees) take turns through a lock file beside that folder.

A change that is meant to change the output regenerates the copies (``make golden``) and says why in its commit.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("manifests")
YEARS = range(2021, 2026)
KEY_PHRASE = b"biomass golden-manifest test key (FAKE)"
FIXED = Path(tempfile.gettempdir()) / "biomass-golden"   # the same absolute paths on every machine


def fixed_signing_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(KEY_PHRASE).digest())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def build_demo_years() -> dict[int, bytes]:
    """Each demo year's manifest bytes, built in ``FIXED`` from a copy of the bundled config and samples; a
    second run on the machine waits for the first (both need the same folder)."""
    with open(FIXED.with_name(FIXED.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _build_in_fixed()


def _build_in_fixed() -> dict[int, bytes]:
    shutil.rmtree(FIXED, ignore_errors=True)
    checkout = FIXED / "checkout"
    shutil.copytree(REPO / "samples", checkout / "samples")
    shutil.copy2(REPO / "biomass.yaml", checkout / "biomass.yaml")
    env = {**os.environ, "BIOMASS_SIGNING_KEY": fixed_signing_key(), "PYTHONPATH": str(REPO / "include")}
    env.pop("BIOMASS_WATERMARK_KEY", None)
    out = {}
    for year in YEARS:
        proc = subprocess.run([sys.executable, "-m", "biomass.cli", "run-year", str(year), "--workers", "1",
                               "--config", str(checkout / "biomass.yaml"), "--data-root", str(FIXED / "data")],
                              capture_output=True, text=True, env=env, cwd=checkout)
        assert proc.returncode == 0, f"run-year {year} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        out[year] = (FIXED / "data" / "generations" / str(year) / "manifest.json").read_bytes()
    shutil.rmtree(FIXED, ignore_errors=True)
    return out


@pytest.mark.golden
@pytest.mark.timeout(3600)   # five years in one process each: ~4 min on 2 idle cores, far more on a busy machine
def test_demo_years_match_the_golden_manifests():
    built = build_demo_years()
    if os.environ.get("BIOMASS_GOLDEN") == "write":
        GOLDEN.mkdir(exist_ok=True)
        for year, raw in built.items():
            (GOLDEN / f"{year}.json").write_bytes(raw)
        pytest.skip(f"wrote {len(built)} golden manifests to {GOLDEN}")
    differ = [year for year, raw in built.items() if (GOLDEN / f"{year}.json").read_bytes() != raw]
    assert not differ, (f"manifests of {differ} differ from tests/golden/manifests/ (diff them; if the change is "
                        "meant, `make golden` and say why in the commit)")
