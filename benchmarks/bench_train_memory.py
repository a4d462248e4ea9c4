"""Memory of the synthesizer's steps against the parent's size: train_synthesizer and one sampling shard, each in a
fresh process, and the measure step's load of the same model (scoring 2,000 held-out documents), for a 100k- and a
1M-document parent, with the sample bound (``synthesize.max_train_docs``, default
100,000) and without it (the whole parent). Prints each step's peak RSS and the 1M/100k ratio (issue 13: flat in N,
within 1.3x).

Why not two whole ``biomass run-year`` years: on this 2-core machine a 1M year 2 is most of an hour, and these two
steps' memory depends only on the parent they train on. The parent here is FAKE data: the benchmark crawl's
documents (benchmarks/crawl.py, recombined real text) written as one Parquet generation (doc_id, text), minus the
held-out share, fed to the same functions the pipeline steps call (``collect`` + ``save_training``, then
``load_training`` + ``sample_range`` over the pipeline's shard range 0 of a 0.3 synthetic share). Wall times are
printed too; on a shared machine they are noisy.

    python benchmarks/bench_train_memory.py [--work /tmp/biomass-bench-generation] [--docs 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

SHARE = 0.3
STEPS = ("train_synthesizer", "synthesize[0]", "measure model")


def parent_path(work: Path, docs: int) -> Path:
    return work / f"parent-{docs}.parquet"


def make_parent(work: Path, docs: int) -> Path:
    """The crawl's first year as a generation's (doc_id, text), written once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomass.schema import make_doc_id, sha256_text

    path = parent_path(work, docs)
    if path.exists():
        return path
    folder = work / f"crawl-{docs}-2021"   # the first year of bench_generation's crawl, made the same way
    if not folder.exists():
        subprocess.run([sys.executable, str(Path(__file__).with_name("crawl.py")), str(folder), "--docs", str(docs),
                        "--year", "2021", "--part-docs", "50000"], check=True)
    crawl = sorted(folder.glob("part-*.jsonl"))
    tmp = path.with_suffix(".tmp")
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string())])
    with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
        for part in crawl:
            ids, texts = [], []
            for line in part.open():
                rec = json.loads(line)
                ids.append(make_doc_id(rec["url"], sha256_text(rec["text"])))
                texts.append(rec["text"])
            w.write_table(pa.table({"doc_id": ids, "text": texts}, schema=schema), row_group_size=20_000)
    tmp.replace(path)
    return path


def training_batches(path: Path):
    """As ``biomass.pipeline.synthesis.training_batches``: the parent minus the held-out share, a batch at a time."""
    import pyarrow as pa

    from biomass.metrics import is_held_out
    from biomass.storage import parquet_batches

    for batch in parquet_batches(path, ["doc_id", "text"]):   # ~4 MB batches, as GenerationStore reads a shard
        keep = [not is_held_out(d, 0.1) for d in batch.column("doc_id").to_pylist()]
        yield batch.filter(pa.array(keep, type=pa.bool_()))


def _config(bound: int | None):
    from biomass.config import SynthesizeConfig

    return SynthesizeConfig(max_train_docs=bound)


def run_step(work: Path, docs: int, bound: int | None, step: str) -> dict:
    """One step in this process (called in a fresh one by ``main``)."""
    from biomass.profiling import StepProfile

    config = _config(bound)
    model_dir = work / f"model-{docs}-{bound}"
    profile = StepProfile()
    if step == "train_synthesizer":
        from biomass.lm.model_store import save_training
        from biomass.lm.training import collect

        parent = parent_path(work, docs)
        with profile.step(step):
            training = collect(lambda: training_batches(parent), order=config.order,
                               prompt_tokens=config.prompt_tokens, max_docs=config.max_train_docs, seed=11)
            save_training(training, model_dir)
        extra = {"train_docs": len(training), "parent_docs": training.parent_docs,
                 "trigrams": int(len(training.model.levels[-1].keys))}
    elif step == "synthesize[0]":
        from biomass.lm.model_store import load_training
        from biomass.pipeline.synthesis import shard_count, shard_range
        from biomass.config.provenance import ProvenanceConfig
        from biomass.synth.stage import sample_range

        n = math.ceil(SHARE / (1 - SHARE) * docs)
        lo, hi = shard_range(n, shard_count(n, config.shard_docs), 0)
        prov = ProvenanceConfig(fingerprint_archive=str(work / f"fp-{docs}-{bound}")).with_secrets(
            signing_key=os.environ["BIOMASS_SIGNING_KEY"])
        with profile.step(step):
            training = load_training(model_dir)
            counts = sample_range(training, lo=lo, hi=hi, n=n, seed=11, year=2022, parent=2021, config=config,
                                  provenance=prov, out_path=str(work / f"synth-{docs}-{bound}.parquet"))
        extra = {"rows": counts.rows_out, "shard_docs": hi - lo}
    elif step == "measure model":
        import pyarrow.parquet as pq

        from biomass.lm.model_store import load_model
        from biomass.metrics import is_held_out

        texts = []   # held-out documents (never trained on), as finish_measure scores them
        for batch in pq.ParquetFile(parent_path(work, docs)).iter_batches(batch_size=20_000):
            texts += [t for d, t in zip(batch.column("doc_id").to_pylist(), batch.column("text").to_pylist())
                      if is_held_out(d, 0.1)]
            if len(texts) >= 2_000:
                break
        with profile.step(step):
            model = load_model(model_dir)
            perplexity = model.perplexity(texts[:2_000])
        extra = {"perplexity": round(perplexity, 3)}
    else:
        raise SystemExit(f"unknown step {step}")
    s = profile.steps[0]
    return {"docs": docs, "bound": bound, "step": step, "seconds": s.seconds, "peak_rss_mb": s.peak_rss_mb, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/biomass-bench-generation"))
    ap.add_argument("--docs", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--bounds", default="100000,none", help="sample bounds to compare (none: the whole parent)")
    ap.add_argument("--one", nargs=3, metavar=("DOCS", "BOUND", "STEP"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        docs, bound, step = int(args.one[0]), None if args.one[1] == "none" else int(args.one[1]), args.one[2]
        print(json.dumps(run_step(args.work, docs, bound, step)))
        return
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")   # as the biomass CLI sets it for every step
    if not os.environ.get("BIOMASS_SIGNING_KEY"):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_generation import _throwaway_key

        os.environ["BIOMASS_SIGNING_KEY"] = _throwaway_key()
    for docs in args.docs:
        t = time.perf_counter()
        make_parent(args.work, docs)
        print(f"parent of {docs:,} documents ready ({time.perf_counter() - t:.0f} s)", flush=True)
    bounds = [None if b == "none" else int(b) for b in args.bounds.split(",")]
    results = []
    for bound in bounds:
        for docs in args.docs:
            for step in STEPS:
                out = subprocess.run([sys.executable, __file__, "--work", str(args.work), "--one", str(docs),
                                      str(bound).lower(), step], capture_output=True, text=True)
                if out.returncode != 0:
                    raise SystemExit(out.stderr[-3000:])
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results.append(r)
                print(json.dumps(r), flush=True)
    print("\nmachine shared with other jobs: peaks are reliable, seconds are not")
    print(f"{'step':<20}{'bound':>9}" + "".join(f"{f'{d:,} MB':>14}" for d in args.docs) + f"{'ratio':>8}")
    for bound in bounds:
        for step in STEPS:
            peaks = [next(r["peak_rss_mb"] for r in results if (r["docs"], r["bound"], r["step"]) == (d, bound, step))
                     for d in args.docs]
            cells = "".join(f"{p:>14.0f}" for p in peaks)
            print(f"{step:<20}{str(bound):>9}{cells}{peaks[-1] / peaks[0]:>8.2f}")
    (args.work / "result-train-memory.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
