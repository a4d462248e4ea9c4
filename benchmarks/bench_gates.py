"""Gate memory: the old gate (whole stage table -> pandas, text included) vs the text-free projection, same run.

FAKE data: ``--docs`` records of ``--chars`` characters each (default 50,000 x 2,000, about 100 MB of text),
every text a window at a seeded random offset into the real human text of the committed fixture
(tests/fixtures/human_text.jsonl.gz), with ids labelled ``fake-bench-``; otherwise plausible scrape records. The
stage file is written with the project's own Parquet writer (``biomass.storage.write_parquet``).

Both approaches run the scrape gate's suite through the same GX machinery (``biomass.gates.runner.validate``):
- old: ``pq.read_table`` of the whole file, ``to_pandas()``, suite v1 (length and not-null checks on ``text``,
  schema check on the rows frame), as the gates did before suite v2;
- new: ``run_gate`` on the Parquet path: needed columns only, ``text_chars`` computed batch by batch, schema check
  on an empty frame of the file's column names.
"load" rows time only getting the frame GX validates; "gate" rows the whole gate. Every measurement runs in a
fresh subprocess after a warm-up gate on a tiny file (imports, GX context), so its figures are its own:
peak RSS above the RSS before the call (Linux VmHWM, reset through /proc/self/clear_refs); tracemalloc peak
(Python heap: pandas object columns count here, Arrow buffers do not; a separate run, as tracing slows the
call); Arrow memory-pool peak; seconds (best of ``--repeat``). Ratios are old / new; no thresholds asserted.

    .venv/bin/python benchmarks/bench_gates.py [--docs 50000] [--chars 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "human_text.jsonl.gz"
MODES = ("load-old", "load-new", "gate-old", "gate-new")
SUMMARY = {"quarantined_fraction": 0.0}


# -- data ----------------------------------------------------------------------------------------------
def build_stage(path: Path, docs: int, chars: int, seed: int = 2026) -> int:
    """Write the FAKE stage file; returns its bytes of text (UTF-8)."""
    import numpy as np
    import pyarrow as pa

    from biomass.schema import RECORD_SCHEMA, make_doc_id, sha256_text
    from biomass.storage import write_parquet

    with gzip.open(FIXTURE, "rt") as fh:
        corpus = " ".join(json.loads(line)["text"] for line in fh)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(corpus) - chars, size=docs)
    texts = [corpus[s:s + chars] for s in starts]
    shas = [sha256_text(t) for t in texts]
    when = datetime(2020, 6, 1, tzinfo=timezone.utc)
    columns = {
        "doc_id": [make_doc_id(f"fake-bench-{i}", sha) for i, sha in enumerate(shas)], "text": texts,
        "source": ["scrape"] * docs, "origin": ["human"] * docs, "synthetic_score": [0.0] * docs,
        "url": [f"https://fake-bench.invalid/{i}" for i in range(docs)], "publisher": [None] * docs,
        "license_id": [None] * docs, "attribution": [None] * docs, "collected_at": [when] * docs,
        "generation": [2021] * docs, "content_sha256": shas, "lang": ["en"] * docs, "human_era": [True] * docs,
        "provenance": ['{"fake":"bench"}'] * docs, "tag_evidence": ['{"fired":[]}'] * docs,
    }
    write_parquet(pa.table(columns, schema=RECORD_SCHEMA), path)
    return sum(len(t.encode()) for t in texts)


# -- the two approaches ------------------------------------------------------------------------------
def thresholds():
    from biomass.config import GateConfig

    return GateConfig(min_rows=1, min_chars=100, max_chars=100_000)


def old_suite():
    """Suite v1 of the scrape gate: v2's checks with the text ones back on ``text`` and the schema on the rows."""
    from dataclasses import replace

    from biomass.gates.suites import build_suite

    out = []
    for check in build_suite("scrape", thresholds()):
        if check.batch == "schema":
            check = replace(check, batch="rows")
        elif check.kwargs.get("column") == "text_chars":
            kwargs = {**check.kwargs, "column": "text"}
            name = "ExpectColumnValueLengthsToBeBetween" if "min_value" in kwargs else check.expectation
            check = replace(check, expectation=name, kwargs=kwargs)
        out.append(check)
    return out


def load_old(path: Path):
    import pyarrow.parquet as pq

    rows = pq.read_table(path)
    return rows, rows.to_pandas()


def load_new(path: Path):
    from biomass.gates.rows import project_parquet
    from biomass.gates.suites import build_suite, columns_read

    rows = project_parquet(path, columns_read(build_suite("scrape", thresholds())))
    return rows, rows.table.to_pandas()


def gate_old(path: Path, gx_root: Path) -> bool:
    import pandas as pd

    from biomass.gates.runner import validate

    rows, frame = load_old(path)  # both stay alive through the validation, as they did
    v = validate("scrape", old_suite(), lambda batch, _: frame if batch == "rows" else pd.DataFrame([SUMMARY]),
                 SUMMARY, gx_root=gx_root, run_name="bench-old")
    return not v.failed


def gate_new(path: Path, gx_root: Path) -> bool:
    from biomass.gates.runner import run_gate

    return run_gate("scrape", path, SUMMARY, thresholds(), gx_root=gx_root, evidence_dir=gx_root / "evidence",
                    run_name="bench-new").success


# -- one measurement, in its own process -------------------------------------------------------------
def _status(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def child(mode: str, path: Path, tiny: Path, work: Path, trace: bool, repeat: int) -> dict:
    import pyarrow as pa

    call = {"load-old": lambda root: load_old(path), "load-new": lambda root: load_new(path),
            "gate-old": lambda root: gate_old(path, root), "gate-new": lambda root: gate_new(path, root)}[mode]
    warm = gate_old if mode.endswith("old") else gate_new
    warm(tiny, work / "warm")
    out: dict = {"mode": mode}
    best = float("inf")
    for i in range(1 if trace else repeat):
        gc.collect()
        root = work / f"gx-{i}"
        if trace:
            tracemalloc.start()
        else:
            try:
                Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
                hwm_reset = True
            except OSError:
                hwm_reset = False
            rss0 = _status("VmRSS:")
            pool0 = pa.default_memory_pool().bytes_allocated()
        t0 = time.perf_counter()
        result = call(root)
        best = min(best, time.perf_counter() - t0)
        if trace:
            out["trace_peak"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        elif i == 0:
            peak = _status("VmHWM:") if hwm_reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            out.update(rss_peak=peak - rss0, pool_peak=pa.default_memory_pool().max_memory() - pool0,
                       hwm_reset=hwm_reset)
        if mode.startswith("gate") and result is not True:
            raise SystemExit(f"{mode}: the gate failed on the benchmark data")
        del result
    if not trace:
        out["seconds"] = best
    return out


def measure(mode: str, path: Path, tiny: Path, work: Path, trace: bool, repeat: int) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--path", str(path), "--tiny", str(tiny),
           "--work", str(work / f"{mode}-{'trace' if trace else 'time'}"), "--repeat", str(repeat)]
    if trace:
        cmd.append("--trace")
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--chars", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per approach (best)")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--tiny", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path, args.tiny, args.work, args.trace, args.repeat)))
        return 0

    with tempfile.TemporaryDirectory(prefix="bench-gates-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        text_bytes = build_stage(tmp / "scrape.parquet", args.docs, args.chars)
        build_stage(tmp / "tiny.parquet", 50, args.chars, seed=1)
        size = (tmp / "scrape.parquet").stat().st_size
        print(f"FAKE stage file: {args.docs:,} docs x {args.chars:,} chars ({text_bytes / 1e6:.1f} MB of UTF-8 "
              f"text; {size / 1e6:.1f} MB Parquet, zstd) from windows of {FIXTURE.name}; built in "
              f"{time.perf_counter() - t0:.1f}s")
        results = {}
        for mode in MODES:
            results[mode] = {**measure(mode, tmp / "scrape.parquet", tmp / "tiny.parquet", tmp, False, args.repeat),
                             **measure(mode, tmp / "scrape.parquet", tmp / "tiny.parquet", tmp, True, 1)}
    mb = 1e6
    print(f"\n{'':<10}{'seconds':>9}{'peak RSS MB':>13}{'tracemalloc MB':>16}{'Arrow pool MB':>15}"
          f"{'RSS / text':>12}")
    for mode, r in results.items():
        print(f"{mode:<10}{r['seconds']:>9.2f}{r['rss_peak'] / mb:>13.1f}{r['trace_peak'] / mb:>16.1f}"
              f"{r['pool_peak'] / mb:>15.1f}{r['rss_peak'] / text_bytes:>12.2f}")
    if not all(r["hwm_reset"] for r in results.values()):
        print("(peak RSS from ru_maxrss: /proc/self/clear_refs was not writable, so it includes the warm-up)")
    print("\nratios old / new (higher is better for the projection):")
    def ratio(old: float, new: float) -> str:
        return "n/a (both < 1 MB)" if max(old, new) < mb else f"{old / max(new, 1):.1f}x"

    for what in ("load", "gate"):
        old, new = results[f"{what}-old"], results[f"{what}-new"]
        print(f"  {what}: peak RSS {ratio(old['rss_peak'], new['rss_peak'])}, "
              f"tracemalloc {ratio(old['trace_peak'], new['trace_peak'])}, "
              f"Arrow pool {ratio(old['pool_peak'], new['pool_peak'])}, time {old['seconds'] / new['seconds']:.2f}x")
    print("(pandas >= 3 keeps strings in Arrow, so loading puts no text on the Python heap; GX's checks on text do)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
