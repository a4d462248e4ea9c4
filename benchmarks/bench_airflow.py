"""Airflow benchmark (issue 13): the same years through `airflow dags test biomass_annual` and `biomass run-year`.

Both build the same two consecutive years (2021 starts a chain; 2022 accumulates, synthesizes from 2021 and
deduplicates against it) from the same FAKE crawl (recombined real text, benchmarks/crawl.py) and the same config,
each into a fresh data root. Airflow runs with AIRFLOW_HOME in a temp dir (`airflow db migrate` and `airflow dags
reserialize` first, not timed), the signing key in $BIOMASS_SIGNING_KEY, the run conf naming year and data root.

Prints per year both wall times and the ratio (target: a 100k-document year through Airflow within 1.3x), whether
the two published generations hold the same rows, and where the difference goes: the sum of Airflow's task
durations vs `run-year`'s steps (work inside tasks) and the wall time not inside any task (scheduling, process
start-up between tasks).

    python benchmarks/bench_airflow.py --docs 20000 [--crawls /tmp/bg20k] [--work /tmp/biomass-bench-airflow]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_generation import YEARS, _throwaway_key, make_crawls  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_RATIO = 1.3


def write_config(work: Path, crawls: Path, docs: int, data_root: Path, name: str) -> Path:
    cfg = yaml.safe_load((REPO / "biomass.yaml").read_text())
    cfg["data_root"] = str(data_root)
    cfg["scrape"]["inputs"] = [str(crawls / f"crawl-{docs}-{{year}}" / "part-*.jsonl")]   # make_crawls' layout
    cfg["license"]["inputs"] = [str(REPO / "samples" / "publishers" / "*")]
    path = work / f"biomass-{docs}-{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _run(cmd: list[str], env: dict, log: Path) -> float:
    t = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        print(log.read_text()[-4000:])
        raise SystemExit(f"{' '.join(cmd[:4])} failed (exit {proc.returncode}); log: {log}")
    return wall


def _published(data_root: Path, year: int) -> dict:
    manifest = data_root / "generations" / str(year) / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"{manifest} missing: the year was not published")
    return json.loads(manifest.read_text())


def _content(data_root: Path, year: int) -> str:
    """A digest of the published rows (every shard's bytes, in name order): equal data roots, equal digests."""
    import hashlib

    h = hashlib.sha256()
    for shard in sorted((data_root / "generations" / str(year)).glob("*.parquet")):
        h.update(shard.name.encode())
        h.update(shard.read_bytes())
    return h.hexdigest()[:16]


def task_times(env: dict, year: int) -> list[dict]:
    """Airflow's record of each task instance of the year's run: start, end, seconds."""
    proc = subprocess.run([str(BIN / "airflow"), "tasks", "states-for-dag-run", "biomass_annual",
                           f"{year}-01-01T00:00:00+00:00", "-o", "json"], capture_output=True, text=True, env=env)
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("[")), "[]")
    out = []
    for ti in json.loads(line):
        if ti.get("start_date") and ti.get("end_date"):
            start, end = (datetime.fromisoformat(ti[k]) for k in ("start_date", "end_date"))
            out.append({"task": ti["task_id"], "map_index": ti.get("map_index"), "start": start, "end": end,
                        "seconds": (end - start).total_seconds()})
    return out


def _label(ti: dict) -> str:
    return ti["task"] if ti["map_index"] in (None, -1, "", "-1") else f"{ti['task']}[{ti['map_index']}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--crawls", type=Path, default=None,
                   help="folder with crawl-N-<year>/part-*.jsonl (default: --work; generated there if missing)")
    p.add_argument("--work", type=Path, default=Path("/tmp/biomass-bench-airflow"))
    p.add_argument("--keep", action="store_true", help="keep the data roots and AIRFLOW_HOME")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    crawls = args.crawls or args.work
    if args.crawls is None:
        make_crawls(args.work, args.docs)
    roots = {"run-year": args.work / f"data-{args.docs}-run-year", "airflow": args.work / f"data-{args.docs}-airflow"}
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)
    configs = {name: write_config(args.work, crawls, args.docs, root, name) for name, root in roots.items()}

    home = Path(tempfile.mkdtemp(prefix="airflow-home-", dir=args.work))
    base = {k: v for k, v in os.environ.items() if k not in ("BIOMASS_DATA_ROOT", "BIOMASS_CONFIG")}
    base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "include"), os.environ.get("PYTHONPATH")]))
    base["BIOMASS_SIGNING_KEY"] = os.environ.get("BIOMASS_SIGNING_KEY") or _throwaway_key()
    af_env = {**base, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
              "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
              "AIRFLOW__CORE__UNIT_TEST_MODE": "False", "BIOMASS_CONFIG": str(configs["airflow"])}
    t = time.perf_counter()
    _run([str(BIN / "airflow"), "db", "migrate"], af_env, args.work / "airflow-migrate.log")
    _run([str(BIN / "airflow"), "dags", "reserialize"], af_env, args.work / "airflow-reserialize.log")
    print(f"AIRFLOW_HOME={home}: db migrate + dags reserialize in {time.perf_counter() - t:.0f} s (not counted)")
    print(f"crawl: {crawls}/crawl-{args.docs}-<year>/; load average before: {os.getloadavg()[0]:.2f}")

    rows = []
    for year in YEARS:
        profile = args.work / f"profile-{args.docs}-{year}.json"
        # `airflow dags test` runs one task at a time in one process, so run-year does too (--workers 1): the
        # ratio is what Airflow adds, not what a second core buys (Celery workers run mapped tasks in parallel).
        ry = _run([str(BIN / "biomass"), "run-year", str(year), "--config", str(configs["run-year"]),
                   "--workers", "1", "--profile-out", str(profile)], base, args.work / f"run-year-{year}.log")
        conf = {"year": year, "data_root": str(roots["airflow"])}
        af = _run([str(BIN / "airflow"), "dags", "test", "biomass_annual", f"{year}-01-01T00:00:00+00:00",
                   "-c", json.dumps(conf)], af_env, args.work / f"airflow-{year}.log")
        a, b = _published(roots["run-year"], year), _published(roots["airflow"], year)
        same = _content(roots["run-year"], year) == _content(roots["airflow"], year)
        steps = sum(s["seconds"] for s in json.loads(profile.read_text())["steps"] if not s.get("within"))
        tis = task_times(af_env, year)
        in_tasks = sum(ti["seconds"] for ti in tis)
        span = ((max(ti["end"] for ti in tis) - min(ti["start"] for ti in tis)).total_seconds() if tis else af)
        rows.append(dict(year=year, ry=ry, af=af, ratio=af / ry, rows_ry=a["rows"], rows_af=b["rows"], same=same,
                         steps=steps, tasks=len(tis), in_tasks=in_tasks, between=span - in_tasks,
                         outside=af - span))
        r = rows[-1]
        print(f"\nyear {year}: run-year {ry:.1f} s, airflow dags test {af:.1f} s, ratio {r['ratio']:.2f}x; "
              f"published rows {a['rows']:,} / {b['rows']:,}, shard bytes {'identical' if same else 'DIFFER'}")
        print(f"  run-year: {steps:.1f} s in steps, {ry - steps:.1f} s start-up and plan")
        print(f"  airflow: {len(tis)} task instances, {in_tasks:.1f} s inside tasks "
              f"({(in_tasks - steps) / max(len(tis), 1):+.2f} s a task vs run-year's steps), "
              f"{r['between']:.1f} s between tasks ({r['between'] / max(len(tis) - 1, 1):.2f} s a gap), "
              f"{r['outside']:.1f} s before the first and after the last (CLI start-up, DAG parse, run set-up)")
        slow = sorted(tis, key=lambda ti: -ti["seconds"])[:6]
        print("  slowest tasks: " + ", ".join(f"{_label(ti)} {ti['seconds']:.1f}s" for ti in slow))

    print(f"\n{'year':<6}{'run-year s':>12}{'airflow s':>11}{'ratio':>8}   target <= {TARGET_RATIO}x")
    for r in rows:
        print(f"{r['year']:<6}{r['ry']:>12.1f}{r['af']:>11.1f}{r['ratio']:>8.2f}   "
              f"{'met' if r['ratio'] <= TARGET_RATIO else 'NOT met'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not args.keep:
        for root in (*roots.values(), home):
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
