"""Start-up: ``biomass --help`` and ``biomass dedup --help`` as whole processes, against ``python -c pass``.

Every command is started ``--repeat`` times, the commands in turn (A B C A B C ...) so a drift of the machine's
speed hits them alike; figures are the median and the spread of wall seconds, the median CPU (user + system,
the kernel's accounting of the finished child: steadier than wall time on a shared machine), and each median
divided by the median of ``python -c pass`` from the same run. "eager" rebuilds what ``biomass --help`` did before the static
command table: import every command module and let each register its sub-parsers.

The package is run from two copies of ``include/`` made for this run: one byte-compiled (``compileall``, as
``make venv`` does), one source only with ``PYTHONDONTWRITEBYTECODE=1`` (how an editable install without a
compile step behaves when bytecode is not written), so the cost of compiling on every start is shown too.
No thresholds are asserted.

    .venv/bin/python benchmarks/bench_startup.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import compileall
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EAGER = ("import argparse, importlib, sys\n"
         "from biomass.cli import COMMANDS\n"
         "p = argparse.ArgumentParser(prog='biomass')\n"
         "sub = p.add_subparsers(dest='command', required=True, metavar='COMMAND')\n"
         "for m in dict.fromkeys(m for m, _ in COMMANDS.values()):\n"
         "    importlib.import_module(m).register(sub)\n"
         "p.parse_args(['--help'])\n")


def _biomass() -> list[str]:
    script = Path(sys.executable).with_name("biomass")
    return [str(script)] if script.exists() else [sys.executable, "-m", "biomass.cli"]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return took, _cpu() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    try:
        compiled, source = tmp / "compiled", tmp / "source"
        for target in (compiled, source):
            shutil.copytree(REPO / "include", target, ignore=shutil.ignore_patterns("__pycache__"))
        compileall.compile_dir(str(compiled), quiet=1)
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        envs = {"compiled": {**base, "PYTHONPATH": str(compiled)},
                "source": {**base, "PYTHONPATH": str(source), "PYTHONDONTWRITEBYTECODE": "1"}}
        biomass = _biomass()
        cases = [("python -c pass", [sys.executable, "-c", "pass"], "compiled")]
        for variant in ("compiled", "source"):
            cases += [(f"biomass --help ({variant})", [*biomass, "--help"], variant),
                      (f"biomass dedup --help ({variant})", [*biomass, "dedup", "--help"], variant),
                      (f"eager: import every command ({variant})", [sys.executable, "-c", EAGER], variant)]
        for _, cmd, variant in cases:  # warm-up: the page cache, not counted
            _run(cmd, envs[variant])
        wall: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        cpu: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for _ in range(args.repeat):
            for name, cmd, variant in cases:
                w, c = _run(cmd, envs[variant])
                wall[name].append(w)
                cpu[name].append(c)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    floor_wall, floor_cpu = (statistics.median(d["python -c pass"]) for d in (wall, cpu))
    print(f"whole process, {args.repeat} runs each, in turn; seconds; x = median / median of python -c pass")
    print(f"{'command':42} {'wall min':>8} {'median':>7} {'max':>7} {'x':>6} {'cpu med':>8} {'x':>6}")
    for name in wall:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:42} {min(wall[name]):8.3f} {w:7.3f} {max(wall[name]):7.3f} {w / floor_wall:6.1f} "
              f"{c:8.3f} {c / floor_cpu:6.1f}")


if __name__ == "__main__":
    main()
