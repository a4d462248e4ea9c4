"""Synthesis at scale: the old path (whole tables in memory, scalar sampler) vs the new one, same run.

Data: REAL human text (Debian's python3.11-doc and debian-reference-en, via ``realtext.py``; else the committed
fixture), cut into ``--parent-docs`` documents: windows at seeded offsets, lognormal lengths (median ~330 words,
40..3000), written as Parquet shards of the project's writer, like a published parent. Windows of one corpus
repeat its n-grams, so the model is smaller than a real parent of that many documents would give (its size is
printed).

Each path runs in a fresh subprocess (its peak RSS is its own: VmHWM) and reports: training seconds (reading the
parent and counting), sampling seconds and docs/s (everything after training: sampling, watermark, signing,
language id, writing), peak RSS. The old path is the stage as it was at ``--old-rev`` (extracted with git
archive), fed as it was fed (the whole parent read into one table; ``max_train_docs`` raised to the whole
parent); it may run on fewer documents (``--old-docs``): compare per-document figures. No thresholds asserted.

    .venv/bin/python benchmarks/bench_synth.py [--parent-docs 50000] [--docs 20000] [--old-docs 2000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "human_text.jsonl.gz"
OLD_REV = "4dce294"  # the last commit with the old synthesis path


def real_words() -> list[str]:
    sys.path.insert(0, str(Path(__file__).parent))
    from realtext import load_real_docs

    docs = load_real_docs()
    if not docs:
        with gzip.open(FIXTURE, "rt") as fh:
            docs = [json.loads(line) for line in fh]
    return " ".join(d["text"] for d in docs).split(" ")


def build_parent(folder: Path, n: int, seed: int = 2026, shard_rows: int = 20_000) -> int:
    import numpy as np
    import pyarrow as pa

    from biomass.storage import write_parquet

    corpus = real_words()
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.lognormal(5.8, 0.8, n).astype(int), 40, 3000)
    starts = rng.integers(0, len(corpus) - 3000, n)
    folder.mkdir(parents=True, exist_ok=True)
    for lo in range(0, n, shard_rows):
        hi = min(lo + shard_rows, n)
        texts = [" ".join(corpus[s:s + k]) for s, k in zip(starts[lo:hi], lengths[lo:hi])]
        write_parquet(pa.table({"doc_id": [f"bench-{i:07d}" for i in range(lo, hi)], "text": texts}),
                      folder / f"part-{lo // shard_rows:05d}.parquet")
    return int(lengths.sum())


def _hwm() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def child(path: str, parent: Path, n: int, out: Path) -> dict:
    """Run one path; training time is the time spent in the stage's training step (wrapped, not re-run)."""
    import pyarrow.parquet as pq

    import biomass.synth.stage as stage
    from biomass.config import SynthesizeConfig
    from biomass.config.provenance import ProvenanceConfig
    from biomass.provenance.keys import generate_keypair

    shards = sorted(parent.glob("part-*.parquet"))
    prov = ProvenanceConfig().with_secrets(signing_key=generate_keypair()[0].decode(), watermark_key="bench")
    timing = {}
    if path == "old":
        from biomass.lm import ngram

        train_fn = ngram.NgramModel.train
        read_fn = stage.training_docs

        def timed_read(*a, **k):
            t0 = time.perf_counter()
            try:
                return read_fn(*a, **k)
            finally:
                timing["train"] = timing.get("train", 0.0) + time.perf_counter() - t0

        def timed_train(*a, **k):
            t0 = time.perf_counter()
            try:
                return train_fn(*a, **k)
            finally:
                timing["train"] = timing.get("train", 0.0) + time.perf_counter() - t0

        stage.training_docs = timed_read
        ngram.NgramModel.train = timed_train
        config = SynthesizeConfig(max_train_docs=10**9)
        t0 = time.perf_counter()
        train = [pq.read_table(p, columns=["doc_id", "text"]) for p in shards]  # as the pipeline read it
        timing["train"] = time.perf_counter() - t0
    else:
        from biomass.storage import parquet_batches

        collect = stage.collect

        def timed_collect(*a, **k):
            t0 = time.perf_counter()
            try:
                return collect(*a, **k)
            finally:
                timing["train"] = time.perf_counter() - t0

        stage.collect = timed_collect
        config = SynthesizeConfig()
        train = (b for p in shards for b in parquet_batches(p, ["doc_id", "text"]))
        t0 = time.perf_counter()
    counts = stage.synthesize_stage(train, n=n, seed=7, year=2026, parent=2025, config=config, provenance=prov,
                                    out_path=str(out))
    total = time.perf_counter() - t0
    sample_s = total - timing["train"]
    return {"path": path, "train_s": timing["train"], "sample_s": sample_s, "docs": counts.rows_out,
            "docs_per_s": counts.rows_out / sample_s, "peak_rss": _hwm(), "train_docs": counts.notes["train_docs"],
            "model_vocab": counts.notes.get("model_vocab"), "model_train_words": counts.notes.get("model_train_words")}


def run_child(path: str, parent: Path, n: int, work: Path, old_root: Path | None) -> dict:
    include = str(old_root / "include") if path == "old" else str(REPO / "include")
    cmd = [sys.executable, __file__, "--child", path, "--parent", str(parent), "--docs", str(n),
           "--out", str(work / f"{path}.parquet")]
    done = subprocess.run(cmd, capture_output=True, text=True, env={"PYTHONPATH": include, "PATH": "/usr/bin:/bin"})
    if done.returncode:
        raise SystemExit(f"{path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parent-docs", type=int, default=50_000)
    ap.add_argument("--docs", type=int, default=20_000, help="documents the new path writes")
    ap.add_argument("--old-docs", type=int, default=2_000, help="documents the old path writes (it is slow)")
    ap.add_argument("--old-rev", default=OLD_REV)
    ap.add_argument("--skip-old", action="store_true")
    ap.add_argument("--child", choices=["old", "new"], help=argparse.SUPPRESS)
    ap.add_argument("--parent", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.parent, args.docs, args.out)))
        return 0
    sys.path.insert(0, str(REPO / "include"))
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        work = Path(tmp)
        words = build_parent(work / "parent", args.parent_docs)
        print(f"parent: {args.parent_docs:,} docs, {words:,} words (real text, Debian docs)")
        rows = [run_child("new", work / "parent", args.docs, work, None)]
        if not args.skip_old:
            old_root = work / "old"
            old_root.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", args.old_rev, "include/biomass"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(old_root)], input=archive, check=True)
            rows.append(run_child("old", work / "parent", args.old_docs, work, old_root))
    print(f"model: vocab {rows[0]['model_vocab']:,}, {rows[0]['model_train_words']:,} training words")
    print(f"{'path':5} {'train docs':>10} {'train s':>8} {'docs':>7} {'sample s':>9} {'docs/s':>8} {'ms/doc':>7} "
          f"{'peak RSS':>9}")
    for r in rows:
        print(f"{r['path']:5} {r['train_docs']:>10,} {r['train_s']:>8.1f} {r['docs']:>7,} {r['sample_s']:>9.1f} "
              f"{r['docs_per_s']:>8.0f} {1000 / r['docs_per_s']:>7.2f} {r['peak_rss'] / 2**20:>7.0f}MB")
    if len(rows) == 2:
        new, old = rows
        print(f"ratios old/new: train time {old['train_s'] / new['train_s']:.2f}x, sampling per doc "
              f"{new['docs_per_s'] / old['docs_per_s']:.2f}x, peak RSS {old['peak_rss'] / new['peak_rss']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
