"""StepProfile: each step's own peak memory (the high-water mark is reset per step), time and bytes written."""

from __future__ import annotations

import json
import os
import sys

import pytest

from biomass.profiling import StepProfile

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc figures are Linux only")


@linux
def test_a_steps_peak_is_its_own_not_the_process_high_water_mark(tmp_path):
    profile = StepProfile()
    with profile.step("big"):
        block = bytearray(300 * 2**20)   # touched pages count towards RSS
        block[::4096] = b"x" * len(block[::4096])
        del block
    with profile.step("small"):
        sum(range(1000))
    big, small = profile.steps
    assert big.peak_rss_mb - small.peak_rss_mb > 250
    assert [s.name for s in profile.steps] == ["big", "small"] and big.seconds >= 0


@linux
def test_bytes_written_and_the_json_record(tmp_path):
    profile = StepProfile()
    with profile.step("write"):
        with open(tmp_path / "f", "wb") as fh:
            fh.write(os.urandom(8 * 2**20))
            fh.flush()
            os.fsync(fh.fileno())
    assert profile.steps[0].written_mb >= 7.9
    profile.write(tmp_path / "p.json")
    assert json.loads((tmp_path / "p.json").read_text())["steps"][0]["name"] == "write"


def test_a_failing_step_is_still_recorded():
    profile = StepProfile()
    with pytest.raises(RuntimeError):
        with profile.step("gate"):
            raise RuntimeError("gate failed")
    assert [s.name for s in profile.steps] == ["gate"]
