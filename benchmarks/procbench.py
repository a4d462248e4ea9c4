"""Whole-process benchmarking shared by the filter, PII and decontamination benchmarks.

Each side of a comparison runs as its own process (the benchmark script re-executed with ``--worker NAME
PATHS...``), pinned to one core and measured by ``/usr/bin/time -v``, so start-up, imports and I/O count as they do
for a user. Inputs and outputs go to the repository's ``.bench`` folder; workers import biomass from ``include/``,
byte-compiled first as an installed package is (this machine sets PYTHONDONTWRITEBYTECODE, so without it every
worker would compile biomass's sources again, while the libraries it is compared with come compiled).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import argparse

# argparse, subprocess, compileall and tempfile are imported where the timing side needs them: a worker's own
# start-up is part of what is measured, and the harness should add as little of its own to it as it can.

REPO = Path(__file__).resolve().parents[1]


def add_worker_args(parser: argparse.ArgumentParser, workers: dict[str, Callable[..., object]]) -> None:
    """The hidden ``--worker NAME PATHS...`` arguments the benchmark re-executes itself with."""
    import argparse

    parser.add_argument("--worker", choices=sorted(workers), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)


def worker_from_argv(workers: dict[str, Callable[..., object]]) -> bool:
    """Run the worker ``--worker NAME PATHS...`` asks for straight from ``sys.argv``, before the script parses its
    own options (True), or do nothing (False): a worker then imports no argparse (~10 ms of the start-up both
    sides' measured processes would otherwise pay)."""
    if len(sys.argv) < 3 or sys.argv[1] != "--worker" or sys.argv[2] not in workers:
        return False
    workers[sys.argv[2]](*sys.argv[3:])
    return True


def run_worker(args: argparse.Namespace, workers: dict[str, Callable[..., object]]) -> bool:
    """Run the worker asked for (True), or do nothing when this is the benchmark's own process (False)."""
    if not args.worker:
        return False
    workers[args.worker](*args.paths)
    return True


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of one process, pinned to one core."""
    import shutil
    import subprocess
    import tempfile
    import time

    pin = ["taskset", "-c", str(min(os.sched_getaffinity(0)))] if shutil.which("taskset") else []
    with tempfile.NamedTemporaryFile(suffix=".time") as tf:
        t0 = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name, *pin, *cmd], env=env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
        stats = dict(line.strip().split(": ", 1) for line in Path(tf.name).read_text().splitlines()
                     if ": " in line)
    cpu = float(stats["User time (seconds)"]) + float(stats["System time (seconds)"])
    return wall, cpu, int(stats["Maximum resident set size (kbytes)"]) * 1024


class Runner:
    """Times the workers of one benchmark script: ``Runner(__file__).time("ours", inp, out)``."""

    def __init__(self, script: str) -> None:
        self.work = REPO / ".bench"
        self.work.mkdir(exist_ok=True)
        import compileall

        compileall.compile_dir(str(REPO / "include" / "biomass"), quiet=1)
        self.cmd = [sys.executable, str(Path(script).resolve())]
        self.env = dict(os.environ,
                        PYTHONPATH=os.pathsep.join([str(REPO / "include"), os.environ.get("PYTHONPATH", "")]))

    def time(self, worker: str, *paths: str) -> tuple[float, float, int]:
        """Wall seconds, CPU seconds and peak RSS of one run of ``worker`` on ``paths``, in a fresh process."""
        return timed([*self.cmd, "--worker", worker, *map(str, paths)], self.env)
