"""Generation benchmark: two consecutive years of N documents each through `biomass run-year`, whole processes.

The crawl is FAKE (recombined real text, see benchmarks/crawl.py), written as JSONL by a script, never
committed. Year 1 starts a chain (no parent, nothing synthesized); year 2 re-crawls 10% of year 1 with small
edits, synthesizes at the config's share (0.3) from year 1 and deduplicates against it. Each year is one
`biomass run-year` process under `/usr/bin/time -v`, with `--profile-out` for the per-step figures.

Prints per step: wall seconds, input docs/s (documents scraped that year / step seconds), peak RSS of the step,
MB written; then per year: wall, peak RSS, rows, the targets of issue 13 (a 1M-document year <= 30 min, peak RSS
<= 3 GB), and, when an earlier result for another N is in --work, how the peak grew with N (target <= 1.3x).

    python benchmarks/bench_generation.py --docs 100000 [--work /tmp/biomass-bench-generation] [--keep] [--warc]

``--warc``: the same documents also as HTML pages in a WARC.gz per year (benchmarks/crawl_warc.py, written by
warcio), each year built from both inputs into two data roots, JSONL then WARC, in the same run; then per step
what the WARC costs more, and what extraction (WARC parsing + main-text extraction, in the scrape step) adds
per page and for 1M crawled pages.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
YEARS = (2021, 2022)
TARGET_SECONDS_1M = 30 * 60
TARGET_PEAK_MB = 3 * 1024
TARGET_FLAT = 1.3


PART_DOCS = 50_000   # documents per crawl file: a crawl comes as many files, and the scrape is mapped over them


def make_crawls(work: Path, docs: int) -> list[Path]:
    crawls = []
    for year in YEARS:
        path = work / f"crawl-{docs}-{year}"
        if not path.exists():
            cmd = [sys.executable, str(REPO / "benchmarks" / "crawl.py"), str(path), "--docs", str(docs),
                   "--year", str(year), "--part-docs", str(PART_DOCS)]
            if crawls:
                cmd += ["--recrawl-of", str(crawls[-1]), "--recrawl", "0.1"]
            t = time.perf_counter()
            subprocess.run(cmd, check=True)
            size = sum(f.stat().st_size for f in path.iterdir())
            print(f"wrote {path.name}/ ({size / 2**20:.0f} MB) in {time.perf_counter() - t:.0f} s")
        crawls.append(path)
    return crawls


def make_warcs(work: Path, docs: int, crawls: list[Path]) -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    from crawl_warc import write_warc

    for crawl in crawls:   # one WARC file per crawl file, as the JSONL years are split
        folder = crawl.with_name(f"{crawl.name}-warc")
        if not folder.exists():
            t = time.perf_counter()
            tmp = folder.with_name(f".{folder.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            for part in sorted(crawl.glob("part-*.jsonl")):
                write_warc(part, tmp / f"{part.stem}.warc.gz")
            tmp.replace(folder)
            size = sum(f.stat().st_size for f in folder.iterdir())
            print(f"wrote {folder.name}/ ({size / 2**20:.0f} MB) in {time.perf_counter() - t:.0f} s")


def write_config(work: Path, docs: int, kind: str = "jsonl") -> Path:
    cfg = yaml.safe_load((REPO / "biomass.yaml").read_text())
    suffix = "" if kind == "jsonl" else f"-{kind}"
    cfg["data_root"] = str(work / f"data-{docs}{suffix}")
    cfg["scrape"]["inputs"] = [str(work / f"crawl-{docs}-{{year}}{suffix}" / f"part-*.{'jsonl' if kind == 'jsonl' else 'warc.gz'}")]
    cfg["license"]["inputs"] = [str(REPO / "samples" / "publishers" / "*")]
    path = work / f"biomass-{docs}{suffix}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_year(year: int, config: Path, work: Path, docs: int, kind: str = "jsonl") -> dict:
    profile = work / f"profile-{docs}-{year}{'' if kind == 'jsonl' else '-' + kind}.json"
    cmd = ["/usr/bin/time", "-v", str(BIN / "biomass"), "run-year", str(year), "--config", str(config),
           "--profile-out", str(profile)]
    env = {**os.environ, "BIOMASS_SIGNING_KEY": os.environ.get("BIOMASS_SIGNING_KEY") or _throwaway_key()}
    env.pop("BIOMASS_DATA_ROOT", None)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
        raise SystemExit(f"biomass run-year {year} failed (exit {proc.returncode})")
    steps = json.loads(profile.read_text())["steps"]
    # The profile resets the kernel's high-water mark before each step, and ru_maxrss (what time -v reports)
    # reads that same mark, so the process peak is the largest step peak (or time's figure if larger).
    peaks = [s["peak_rss_mb"] for s in steps if s["peak_rss_mb"] is not None]
    peak_mb = max(peaks + ([int(peak.group(1)) / 1024] if peak else []), default=None)
    return {"year": year, "wall": wall, "peak_mb": peak_mb, "steps": steps}


def _throwaway_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def report(result: dict, docs: int, manifest: dict) -> None:
    print(f"\nyear {result['year']}: {docs:,} documents scraped; published {manifest['rows']:,} rows "
          f"(mix {manifest.get('mix')})")
    print(f"{'step':<18}{'seconds':>9}{'docs/s':>10}{'peak MB':>9}{'MB written':>12}")
    steps = result["steps"]
    for s in steps:
        if s.get("within"):
            continue
        _line(s["name"], s, docs)
        shards = [t for t in steps if t.get("within") == s["name"]]
        if len(shards) > 1:   # a mapped step's shards ran in parallel: their slowest and their largest peak
            slowest = max(shards, key=lambda t: t["seconds"])
            biggest = max(shards, key=lambda t: t["peak_rss_mb"] or 0)
            print(f"  {len(shards)} shards: slowest {slowest['name']} {slowest['seconds']:.1f} s, "
                  f"largest peak {biggest['name']} {biggest['peak_rss_mb'] or 0:.0f} MB")
    stepped = sum(s["seconds"] for s in steps if not s.get("within"))
    print(f"{'(start-up, plan)':<18}{result['wall'] - stepped:>9.1f}")
    print(f"{'whole process':<18}{result['wall']:>9.1f}{docs / result['wall']:>10.0f}{result['peak_mb']:>9.0f}")


def _line(name: str, s: dict, docs: int) -> None:
    rate = docs / s["seconds"] if s["seconds"] > 0 else float("inf")
    print(f"{name:<18}{s['seconds']:>9.1f}{rate:>10.0f}{s['peak_rss_mb'] or 0:>9.0f}{s['written_mb'] or 0:>12.0f}")


def compare_warc(jsonl: dict, warc: dict, docs: int) -> dict:
    """Per step: WARC seconds - JSONL seconds; what the scrape steps (reading + extraction) add per page."""
    a = {st["name"]: st["seconds"] for st in jsonl["steps"] if not st.get("within")}
    b = {st["name"]: st["seconds"] for st in warc["steps"] if not st.get("within")}
    print(f"\nyear {jsonl['year']}, the same {docs:,} documents as JSONL and as WARC pages")
    print(f"{'step':<18}{'JSONL s':>9}{'WARC s':>9}{'WARC-JSONL':>12}")
    for name in dict.fromkeys([*a, *b]):
        print(f"{name:<18}{a.get(name, 0):>9.1f}{b.get(name, 0):>9.1f}{b.get(name, 0) - a.get(name, 0):>+12.1f}")
    scrape_a = sum(v for k, v in a.items() if k.startswith("scrape"))
    scrape_b = sum(v for k, v in b.items() if k.startswith("scrape"))
    per_page = (scrape_b - scrape_a) / docs
    whole = (warc["wall"] - jsonl["wall"]) / docs
    print(f"{'whole process':<18}{jsonl['wall']:>9.1f}{warc['wall']:>9.1f}{warc['wall'] - jsonl['wall']:>+12.1f}")
    print(f"extraction (WARC parsing + HTML main text, scrape steps): {per_page * 1e3:+.2f} ms a page, "
          f"{per_page * 1e6 / 60:+.1f} min for 1M crawled pages; whole year {whole * 1e3:+.2f} ms a page "
          f"({whole * 1e6 / 60:+.1f} min for 1M)")
    return {"year": jsonl["year"], "scrape_ms_per_page": per_page * 1e3, "year_ms_per_page": whole * 1e3}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=100_000)
    p.add_argument("--work", type=Path, default=Path("/tmp/biomass-bench-generation"))
    p.add_argument("--keep", action="store_true", help="keep the data root (the crawls are always kept)")
    p.add_argument("--warc", action="store_true", help="also build the years from the same pages in WARC files")
    args = p.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    crawls = make_crawls(args.work, args.docs)
    kinds = ["jsonl", "warc"] if args.warc else ["jsonl"]
    if args.warc:
        make_warcs(args.work, args.docs, crawls)
    configs = {kind: write_config(args.work, args.docs, kind) for kind in kinds}
    roots = {kind: args.work / f"data-{args.docs}{'' if kind == 'jsonl' else '-' + kind}" for kind in kinds}
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)

    results: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for year in YEARS:
        for kind in kinds:          # interleaved, so a drift in the machine's speed hits both alike
            result = run_year(year, configs[kind], args.work, args.docs, kind)
            manifest = json.loads((roots[kind] / "generations" / str(year) / "manifest.json").read_text())
            if args.warc:
                print(f"\n[{kind}]", end="")
            report(result, args.docs, manifest)
            results[kind].append(result)
    if not args.keep:
        for root in roots.values():
            shutil.rmtree(root, ignore_errors=True)
    if args.warc:
        extraction = [compare_warc(a, b, args.docs) for a, b in zip(results["jsonl"], results["warc"])]
        (args.work / f"result-{args.docs}-warc.json").write_text(
            json.dumps({"docs": args.docs, "results": results["warc"], "extraction": extraction}, indent=2))
    results = results["jsonl"]

    year_wall = max(r["wall"] for r in results)
    peak = max(r["peak_mb"] for r in results)
    projected = year_wall * 1_000_000 / args.docs
    print(f"\nslowest year: {year_wall:.0f} s for {args.docs:,} docs; a 1M-document year at this rate: "
          f"{projected / 60:.0f} min (target <= {TARGET_SECONDS_1M // 60} min: "
          f"{'met' if projected <= TARGET_SECONDS_1M else 'NOT met'}; linear projection unless N = 1M)")
    print(f"peak RSS: {peak:.0f} MB (target <= {TARGET_PEAK_MB} MB: {'met' if peak <= TARGET_PEAK_MB else 'NOT met'})")
    out = args.work / f"result-{args.docs}.json"
    out.write_text(json.dumps({"docs": args.docs, "results": results}, indent=2))
    for other in sorted(args.work.glob("result-*.json")):
        prior = json.loads(other.read_text())
        if prior["docs"] < args.docs and "extraction" not in prior:
            base = max(r["peak_mb"] for r in prior["results"])
            growth = peak / base
            print(f"peak at {args.docs:,} / peak at {prior['docs']:,} docs: {growth:.2f}x "
                  f"(target <= {TARGET_FLAT}x: {'met' if growth <= TARGET_FLAT else 'NOT met'})")


if __name__ == "__main__":
    main()
