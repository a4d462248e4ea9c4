"""Mapped steps on worker processes: the same bytes as one process, shard failures surface, shards are profiled."""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from biomass.pipeline import make_plan, run_year
from biomass.pipeline.workers import Workers
from biomass.profiling import StepProfile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


def crawl_files(folder: Path, parts: int = 3) -> list[str]:
    """Real human text from the committed fixture, as a crawl of several JSONL files (one scrape shard each)."""
    with gzip.open(FIXTURE, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(parts):
        path = folder / f"part-{k:05d}.jsonl"
        with open(path, "w") as out:
            for i, row in enumerate(rows[k::parts]):
                out.write(json.dumps({"url": f"https://fixture.invalid/{k}/{i}", "text": row["text"],
                                      "collected_at": "2021-03-01T00:00:00Z"}) + "\n")
        paths.append(str(path))
    return paths


def generation_bytes(root: Path, year: int) -> dict[str, str]:
    """Every published file of ``year`` by its path under the generation folder, as a sha256."""
    folder = root / "generations" / str(year)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_worker_processes_publish_the_bytes_of_one(tmp_path, signing_key_env):
    inputs = crawl_files(tmp_path / "crawl")
    published = {}
    for workers in (1, 2):
        root = tmp_path / f"data-{workers}"
        profile = StepProfile()
        run_year(make_plan(2021, data_root=str(root), scrape_inputs=inputs, license_inputs=[]),
                 profile=profile, workers=workers)
        published[workers] = generation_bytes(root, 2021)
        shards = [s for s in profile.steps if s.within == "tag"]
        assert [s.name for s in shards] == ["tag[0]", "tag[1]", "tag[2]"]
        tag = next(s for s in profile.steps if s.name == "tag")
        assert tag.within is None and tag.seconds >= max(s.seconds for s in shards) * 0.99
    assert published[1] and published[1] == published[2], _row_differences(tmp_path / "data-1", tmp_path / "data-2")


def _row_differences(a: Path, b: Path) -> str:
    """Which columns of the published rows differ, with the first differing values (a failure's explanation)."""
    import pyarrow.parquet as pq

    def rows(root: Path):
        return pq.ParquetDataset(sorted(str(p) for p in (root / "generations" / "2021").glob("part-*.parquet"))
                                 ).read()

    x, y = rows(a), rows(b)
    if x.num_rows != y.num_rows:
        return f"{x.num_rows} rows vs {y.num_rows}"
    out = []
    for column in x.column_names:
        u, v = x.column(column).to_pylist(), y.column(column).to_pylist()
        diff = [i for i in range(len(u)) if u[i] != v[i]]
        if diff:
            out.append(f"{column}: {len(diff)} rows differ, e.g. row {diff[0]}: {str(u[diff[0]])[:200]!r} vs "
                       f"{str(v[diff[0]])[:200]!r}")
    return "; ".join(out) or "same rows, different bytes"


def _fails_on_one(plan, index: int) -> int:
    if index == 1:
        raise ValueError(f"shard {index} is bad")
    return index * 10


def _square(plan, index: int) -> int:
    return index * index


@pytest.mark.parametrize("workers", [1, 2])
def test_results_come_back_in_index_order_and_a_shards_error_is_raised(workers):
    with Workers(workers) as pool:
        assert pool.map(None, "square", _square, 5) == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="shard 1 is bad"):
            pool.map(None, "fails", _fails_on_one, 3)
        assert pool.map(None, "square", _square, 2) == [0, 1]   # the pool still works after a failure


def _dies(plan, index: int) -> int:
    import os
    import signal

    if index == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return index


def test_a_worker_killed_mid_shard_fails_the_step_clearly():
    with Workers(2) as pool:
        with pytest.raises(RuntimeError, match="worker process running killed died"):
            pool.map(None, "killed", _dies, 2)
        assert pool.map(None, "square", _square, 3) == [0, 1, 4]   # a new pool replaces the broken one


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be >= 1"):
        Workers(0)


def _environ(plan, index: int) -> str | None:
    import os

    return os.environ.get("BIOMASS_TEST_WORKERS_ENV")


def test_a_shard_sees_the_callers_environment_not_the_fork_servers(monkeypatch):
    """The fork server is one per process and keeps the environment it started with; a later caller's keys (the
    watermark key derives from $BIOMASS_SIGNING_KEY) must reach the shards all the same."""
    monkeypatch.setenv("BIOMASS_TEST_WORKERS_ENV", "first")
    with Workers(2) as pool:
        assert pool.map(None, "env", _environ, 2) == ["first", "first"]
    monkeypatch.setenv("BIOMASS_TEST_WORKERS_ENV", "second")
    with Workers(2) as pool:
        assert pool.map(None, "env", _environ, 2) == ["second", "second"]


# --- steps (fn(plan)) in fresh processes ------------------------------------------------------------------------

_HELD: list[bytearray] = []


def _holds_300_mb(plan) -> int:
    """A step that leaves memory behind in its process (as a module-level cache or a fragmented heap would)."""
    import os

    _HELD.append(bytearray(300 * 2**20))
    _HELD[-1][:: 4096] = b"x" * len(range(0, 300 * 2**20, 4096))   # touch every page: resident, not just mapped
    return os.getpid()


def _small(plan) -> int:
    import os

    return os.getpid()


def test_with_workers_each_step_runs_in_a_fresh_process_and_gives_its_memory_back():
    """A year's peak must be its largest step's: a step after a big one starts from a fresh process, so what the
    big one left behind does not count against it (with workers=1, one process, it does)."""
    import os

    profile = StepProfile()
    with Workers(2) as pool:
        big_pid = pool.run(None, "big", _holds_300_mb, profile)
        small_pid = pool.run(None, "small", _small, profile)
    assert os.getpid() not in (big_pid, small_pid) and big_pid != small_pid
    big, small = (next(s for s in profile.steps if s.name == n) for n in ("big", "small"))
    assert big.peak_rss_mb > 300 and small.peak_rss_mb < big.peak_rss_mb - 250
    assert [s.name for s in profile.steps] == ["big", "small"]   # a step's process is not listed as a shard

    one = StepProfile()
    with Workers(1) as pool:
        assert pool.run(None, "big", _holds_300_mb, one) == os.getpid()
        pool.run(None, "small", _small, one)
    _HELD.clear()
    assert one.steps[1].peak_rss_mb > 300   # the contrast: in one process the memory is carried into the next step


def _gate_fails(plan):
    from biomass.gates.runner import GateFailed, GateResult

    raise GateFailed(GateResult(gate="scrape", success=False, evaluated=3,
                                failed=[{"expectation": "expect_column_values_to_not_be_null", "column": "text",
                                         "why": "a document has no text", "observed": "2 null"}]))


class _Unpicklable(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def _raises_unpicklable(plan):
    raise _Unpicklable("left", "right")


def test_a_steps_exception_comes_back_as_itself_or_described():
    from biomass.gates.runner import GateFailed
    from biomass.pipeline.workers import StepError

    with Workers(2) as pool:
        with pytest.raises(GateFailed) as failed:
            pool.run(None, "gate_scrape", _gate_fails)
        assert failed.value.result.gate == "scrape" and failed.value.result.evaluated == 3
        with pytest.raises(StepError, match=r"_Unpicklable: left/right"):
            pool.run(None, "odd", _raises_unpicklable)
        assert pool.run(None, "after", _small) > 0


def _step_dies(plan):
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)


def test_a_step_whose_process_is_killed_fails_clearly():
    with Workers(2) as pool:
        with pytest.raises(RuntimeError, match="worker process running publish died"):
            pool.run(None, "publish", _step_dies)


_ORPHAN_SCRIPT = '''
import os, sys, time
from pathlib import Path
from biomass.pipeline.workers import Workers

def shard(plan, index):
    Path(plan, f"{index}.pid").write_text(str(os.getpid()))
    time.sleep(120)   # a long shard: still running when the run is killed

def main(folder):
    with Workers(2) as pool:
        pool.map(folder, "long", shard, 2)
'''


def test_workers_die_with_a_killed_run(tmp_path):
    """A run killed mid-step (SIGKILL, OOM) must not leave its workers finishing shards into a staging folder
    that the next run, after taking the stale lock over, writes too."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "orphan_run.py").write_text(_ORPHAN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), *sys.path])}
    run = subprocess.Popen([sys.executable, "-c", "import sys, orphan_run; orphan_run.main(sys.argv[1])",
                            str(tmp_path)], env=env, cwd=tmp_path)
    pid_files = [tmp_path / "0.pid", tmp_path / "1.pid"]
    deadline = time.monotonic() + 60
    while not all(p.exists() and p.read_text() for p in pid_files):
        assert run.poll() is None and time.monotonic() < deadline, "the workers never started"
        time.sleep(0.1)
    workers = [int(p.read_text()) for p in pid_files]
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 20
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [w for w in workers if _alive(w)]
    assert not alive, f"workers {alive} outlived the killed run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"   # a zombie has exited
    except FileNotFoundError:
        return False


def _leaves_a_pool_running(plan) -> str:
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver"))
    pool.submit(int, "1").result()
    _HELD.append(pool)   # kept, as a cache would keep it
    return "done"


def test_a_step_that_leaves_child_processes_running_does_not_hang_the_run():
    """Its process would join them at exit and wait forever (a signature-check pool kept for the process's life
    hung a 100k-document run at gate_synthesize)."""
    import threading

    out = []
    with Workers(2) as pool:
        runner = threading.Thread(target=lambda: out.append(pool.run(None, "leaky", _leaves_a_pool_running)),
                                  daemon=True)
        runner.start()
        runner.join(120)
    assert out == ["done"]
