"""One run per (data root, year): the lock file, its takeover when stale, and `biomass run-year` refusing a second
run. The runs here are other processes taking the lock through the same API (or `run-year` itself)."""

import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from biomass.cli import main as biomass
from biomass.pipeline.lock import LockLost, RunLock, RunLocked
from biomass.storage import GenerationStore

HOLD_SCRIPT = textwrap.dedent("""
    import sys, time
    from biomass.pipeline.lock import RunLock
    lock = RunLock(sys.argv[1], sys.argv[2], timeout=3600).acquire()
    print("held", flush=True)
    with lock.holding(0.05):
        sys.stdin.readline()   # hold until told (or killed)
    lock.release()
""")


class Holder:
    """Another process holding a lock through the lock API, until released or killed."""

    def __init__(self, path: Path, run_id: str):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLD_SCRIPT, str(path), run_id], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                                             "PYTHONPATH": os.pathsep.join(sys.path)})
        assert self.proc.stdout.readline().strip() == "held"

    def release(self) -> None:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.wait(timeout=60) == 0

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def lock_file(tmp_path, holder: dict) -> Path:
    path = tmp_path / "locks" / "2021.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(holder))
    return path


def ago(seconds: float) -> str:
    return (datetime.now(timezone.utc) - timedelta(seconds=seconds)).isoformat(timespec="seconds")


def test_a_second_process_is_refused_with_the_holder_named_and_takes_over_once_the_holder_is_killed(tmp_path,
                                                                                                    caplog):
    path = tmp_path / "locks" / "2021.lock"
    holder = Holder(path, "first-run")
    try:
        with pytest.raises(RunLocked) as caught:
            RunLock(path, "second-run").acquire()
        assert "first-run" in str(caught.value) and f"pid {holder.proc.pid}" in str(caught.value)
    finally:
        holder.kill()
    with caplog.at_level(logging.WARNING, logger="biomass.pipeline.lock"):
        lock = RunLock(path, "second-run").acquire()   # same host, its pid is gone: stale at once
    assert "stale" in caplog.text and f"process {holder.proc.pid}" in caplog.text and "first-run" in caplog.text
    assert json.loads(path.read_text())["run_id"] == "second-run"
    assert lock.release() and not path.exists()


def test_a_released_lock_can_be_taken_again(tmp_path):
    path = tmp_path / "locks" / "2021.lock"
    Holder(path, "first-run").release()
    assert not path.exists()
    RunLock(path, "second-run").acquire().release()


def _race(path: str, run_id: str, start, results, tried) -> None:
    start.wait()
    try:
        RunLock(path, run_id, timeout=5).acquire()
        results.put(run_id)
    except RunLocked:
        results.put(None)
    # The winner stays alive until everyone has tried: on a loaded machine a late process would otherwise find
    # the winner's pid gone and rightly take the lock over as stale (two "winners" that never overlapped).
    tried.wait()


@pytest.mark.parametrize("stale_first", [False, True])
def test_processes_taking_the_lock_at_once_get_exactly_one_winner(tmp_path, stale_first):
    """Also when they all find the same stale lock: only one of them may take it over."""
    path = tmp_path / "locks" / "2021.lock"
    if stale_first:
        lock_file(tmp_path, {"run_id": "dead", "host": "elsewhere", "pid": 1, "started": ago(99),
                             "heartbeat": ago(60)})
    ctx = multiprocessing.get_context("fork")
    start, tried, results = ctx.Barrier(6), ctx.Barrier(6), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(path), f"run-{i}", start, results, tried)) for i in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    won = [r for r in (results.get(timeout=5) for _ in procs) if r]
    assert len(won) == 1, won
    assert json.loads(path.read_text())["run_id"] == won[0]


def test_a_lock_without_a_recent_heartbeat_is_taken_over_from_another_host(tmp_path, caplog):
    path = lock_file(tmp_path, {"run_id": "gone", "host": "elsewhere", "pid": 42, "started": ago(900),
                                "heartbeat": ago(600)})
    with pytest.raises(RunLocked, match="gone"):
        RunLock(path, "mine", timeout=3600).acquire()   # another host, fresh enough: we cannot tell it is dead
    with caplog.at_level(logging.WARNING, logger="biomass.pipeline.lock"):
        RunLock(path, "mine", timeout=300).acquire()
    assert "no heartbeat for" in caplog.text and json.loads(path.read_text())["run_id"] == "mine"


def test_a_run_whose_lock_was_taken_over_learns_it_and_never_releases_the_new_holders(tmp_path):
    path = tmp_path / "locks" / "2021.lock"
    slow = RunLock(path, "slow", timeout=3600, pid=None).acquire()
    path.write_text(json.dumps({"run_id": "new", "host": "h", "pid": None, "started": ago(1), "heartbeat": ago(1)}))
    with pytest.raises(LockLost, match="new"):
        slow.refresh()
    assert not slow.release() and json.loads(path.read_text())["run_id"] == "new"
    with pytest.raises(RunLocked):
        slow.resume()


def test_resume_refreshes_its_own_lock_and_takes_a_free_one(tmp_path):
    path = tmp_path / "locks" / "2021.lock"
    lock = RunLock(path, "dag-run-1", pid=None)
    lock.resume()                                   # free: taken (a cleared task of a run that had released it)
    first = json.loads(path.read_text())
    assert first["run_id"] == "dag-run-1" and first["pid"] is None
    lock.resume()                                   # its own: refreshed, same start
    assert json.loads(path.read_text())["started"] == first["started"]


def test_holding_keeps_the_heartbeat_fresh(tmp_path):
    path = tmp_path / "locks" / "2021.lock"
    lock = RunLock(path, "busy").acquire()
    old = {**json.loads(path.read_text()), "heartbeat": ago(3000)}
    path.write_text(json.dumps(old))
    with lock.holding(0.02):
        deadline = time.monotonic() + 30
        while json.loads(path.read_text())["heartbeat"] == old["heartbeat"] and time.monotonic() < deadline:
            time.sleep(0.02)
    assert json.loads(path.read_text())["heartbeat"] != old["heartbeat"]
    assert [p.name for p in path.parent.iterdir()] == ["2021.lock"]   # no temp files left behind


def later(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def test_a_lock_waiting_for_review_is_live_without_heartbeats_until_the_reviews_deadline(tmp_path, caplog):
    """A DAG run parked on its review refreshes nothing for days; the lock timeout (an hour) must not free it."""
    waiting = {"run_id": "reviewed", "host": "elsewhere", "pid": None, "started": ago(9000), "heartbeat": ago(7200)}
    path = lock_file(tmp_path, {**waiting, "awaiting_review_until": later(3600)})
    with pytest.raises(RunLocked, match="waiting for review until"):
        RunLock(path, "mine", timeout=3600).acquire()
    path = lock_file(tmp_path, {**waiting, "awaiting_review_until": ago(60)})   # the review's deadline passed
    with caplog.at_level(logging.WARNING, logger="biomass.pipeline.lock"):
        RunLock(path, "mine", timeout=3600).acquire()
    assert "no heartbeat for" in caplog.text and json.loads(path.read_text())["run_id"] == "mine"


def test_await_review_marks_the_lock_heartbeats_keep_the_mark_and_the_next_step_clears_it(tmp_path):
    path = tmp_path / "locks" / "2021.lock"
    lock = RunLock(path, "dag-run-1", timeout=3600, pid=None).acquire()
    until = datetime.now(timezone.utc) + timedelta(hours=72)
    lock.await_review(until)
    marked = json.loads(path.read_text())
    assert datetime.fromisoformat(marked["awaiting_review_until"]) == until.replace(microsecond=0)
    lock.refresh()   # the marking step's heartbeat thread may beat once more after the mark
    assert json.loads(path.read_text())["awaiting_review_until"] == marked["awaiting_review_until"]
    assert json.loads(path.read_text())["started"] == marked["started"]
    lock.resume()    # record_review runs: its heartbeat keeps the lock live again
    assert "awaiting_review_until" not in json.loads(path.read_text())
    path.write_text(json.dumps({**marked, "run_id": "other"}))
    with pytest.raises(LockLost, match="other"):
        lock.await_review(until)


# -- biomass run-year ------------------------------------------------------------------------------------------

def test_run_year_is_refused_while_another_run_holds_the_year_and_leaves_its_staging_alone(tmp_path, capsys):
    store = GenerationStore(tmp_path / "data")
    evidence = store.staging_dir(2021) / "scrape.parquet"
    evidence.parent.mkdir(parents=True)
    evidence.write_bytes(b"the other run's work")
    holder = Holder(store.lock_path(2021), "the-other-run")
    try:
        assert biomass(["run-year", "2021", "--data-root", str(store.data_root)]) == 6
        err = capsys.readouterr().err
        assert "refused" in err and "the-other-run" in err and socket.gethostname() in err
        assert evidence.read_bytes() == b"the other run's work" and store.published_years() == []
    finally:
        holder.release()


def test_two_run_years_of_the_same_year_at_once_publish_once(tmp_path, signing_key_env):
    """Real samples, two `biomass run-year` processes started together: one publishes, the other is refused
    (exit 6) naming it; the lock is gone afterwards, and a rerun works."""
    root = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    cmd = [sys.executable, "-m", "biomass.cli", "run-year", "2021", "--data-root", str(root)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(code for code, _, _ in outs)
    assert codes == [0, 6], [(c, e[-2000:]) for c, _, e in outs]
    refused = next(err for code, _, err in outs if code == 6)
    assert "run-year:" in refused and "another run is building this year" in refused
    store = GenerationStore(root)
    assert store.published_years() == [2021] and not store.lock_path(2021).exists()
    # The rerun only has to find the year free again: in this process (--workers 1), not a fresh one per step.
    assert biomass(["run-year", "2021", "--data-root", str(root), "--workers", "1"]) == 0
