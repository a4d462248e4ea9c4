"""How fast are the collapse metrics? numpy pipeline vs a plain-Python Counter baseline, same run, same data.

FAKE data: Zipfian word salad over a 50k-word vocabulary. Prints seconds, docs/s and the speed-up ratio, then
times the numpy pipeline alone at 100k documents (the scale the pipeline has to handle).

    .venv/bin/python benchmarks/bench_metrics.py [--docs 100000] [--words 120] [--baseline-docs 20000]

Streamed versus whole-list (``--stream``), on recombined REAL text (benchmarks/crawl.py; FAKE documents, real
words): for each N, the reference and the previous generation are the first N documents of one crawl, the
generation the first N of the next year's crawl. Each path runs in its own process and reports wall time and
peak RSS: the whole-list path is the code as it was (tests/metrics/whole_table.py: every text in a list, one
id array over every token); the streamed path is what ``run_measure`` does (Parquet record batches into
``ReferenceStats``, ``GenerationStats``, ``TokenStats``). Both must give the same figures.

    python benchmarks/crawl.py A.jsonl --docs 400000 --year 2021; python benchmarks/crawl.py B.jsonl ... --year 2022
    .venv/bin/python benchmarks/bench_metrics.py --stream A.jsonl B.jsonl --sizes 100000 200000 400000
"""

from __future__ import annotations

import argparse
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

from biomass.config.metrics import MetricsConfig
from biomass.metrics import ReferenceProfile, collapse_metrics

_WORD = re.compile(r"\w+")


def fake_corpus(seed: int, docs: int, words: int, vocab: int = 50_000, s: float = 1.1) -> list[str]:
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, vocab + 1) ** s
    p /= p.sum()
    names = np.array([f"w{i:x}" for i in range(vocab)])
    draws = rng.choice(vocab, size=(docs, words), p=p)
    return [" ".join(row) for row in names[draws]]


def baseline(texts: list[str], ref_texts: list[str], k: int = 3, window: int = 50) -> dict[str, float]:
    """The obvious pure-Python version: Counters of strings and tuples, sets per MSTTR segment."""
    def toks(t):
        return _WORD.findall(unicodedata.normalize("NFKC", t).lower())

    ref_docs = [toks(t) for t in ref_texts]
    ref_uni = Counter(w for d in ref_docs for w in d)
    ref_bi = Counter(b for d in ref_docs for b in zip(d, d[1:]))
    docs = [toks(t) for t in texts]
    uni = Counter(w for d in docs for w in d)
    bi = Counter(b for d in docs for b in zip(d, d[1:]))
    n = sum(uni.values())
    rare = [w for w, c in ref_uni.items() if c <= k]
    rare_bi = [b for b, c in ref_bi.items() if c <= k]
    segs = [len(set(d[i:i + window])) / window for d in docs for i in range(0, len(d) - window + 1, window)]
    ref_n = sum(ref_uni.values())
    js = 0.0
    for w in set(ref_uni) | set(uni):
        p, q = ref_uni[w] / ref_n, uni[w] / n
        m = (p + q) / 2
        js += (p * math.log2(p / m) if p else 0) / 2 + (q * math.log2(q / m) if q else 0) / 2
    return {
        "tail_coverage": sum(w in uni for w in rare) / len(rare),
        "tail_coverage_ngram": sum(b in bi for b in rare_bi) / len(rare_bi),
        "distinct_2": len(bi) / sum(bi.values()),
        "ttr_corrected": sum(segs) / len(segs),
        "unigram_entropy": -sum(c / n * math.log2(c / n) for c in uni.values()),
        "js_divergence": js,
    }


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# -- streamed vs whole-list on real text ------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def crawl_to_parquet(jsonl: Path, out: Path, docs: int, origins: bool) -> None:
    """The first ``docs`` records of a crawl as a records Parquet file (doc_id, text, origin), 50k-row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    labels = ("human", "licensed", "synthetic")
    schema = pa.schema([("doc_id", pa.string()), ("text", pa.string()), ("origin", pa.string())])
    with open(jsonl, encoding="utf-8") as fh, pq.ParquetWriter(out, schema, compression="zstd") as writer:
        rows: list[dict] = []
        for i, line in enumerate(fh):
            if i == docs:
                break
            rows.append({"doc_id": f"d{i:08d}", "text": json.loads(line)["text"],
                         "origin": labels[i % 3] if origins else "human"})
            if len(rows) == 50_000:
                writer.write_table(pa.Table.from_pylist(rows, schema))
                rows = []
        if rows:
            writer.write_table(pa.Table.from_pylist(rows, schema))


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM). Not ru_maxrss: Linux carries that across exec, so a child started by a
    big parent would report the parent's size."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_path(mode: str, ref: str, prev: str, gen: str) -> dict:
    """One measurement in this process (called in a fresh subprocess): figures, seconds, peak RSS per phase."""
    import pyarrow.parquet as pq

    config = MetricsConfig()
    out: dict = {"mode": mode}
    start = time.perf_counter()
    if mode == "whole":
        sys.path.insert(0, str(REPO))
        from tests.metrics.whole_table import whole_table_metrics, whole_table_profile

        profile = whole_table_profile(pq.read_table(ref, columns=["text"]).column("text").to_pylist(), config)
        out["peak_mb_reference"] = _peak_mb()
        rows = pq.read_table(gen, columns=["text", "origin"])
        previous = pq.read_table(prev, columns=["text"]).column("text").to_pylist()
        figures = whole_table_metrics(rows.column("text").to_pylist(), profile, previous=previous,
                                      origins=rows.column("origin").to_pylist(), config=config)
    else:
        from biomass.metrics import GenerationStats, TokenStats
        from biomass.storage import parquet_batches

        profile = ReferenceProfile.from_batches(
            (b.column("text").to_pylist() for b in parquet_batches(ref, ["text"])), config)
        out["peak_mb_reference"] = _peak_mb()
        stats = GenerationStats(profile, config)
        for b in parquet_batches(gen, ["text", "origin"]):
            stats.update(b.column("text").to_pylist(), b.column("origin").to_pylist())
        out["peak_mb_generation"] = _peak_mb()
        previous = TokenStats()
        for b in parquet_batches(prev, ["text"]):
            previous.update(b.column("text").to_pylist())
        figures = stats.finish(previous=previous)
        out["held"] = {
            "generation_words": stats.words.vocab_size, "previous_words": previous.vocab_size,
            "reference_words": len(profile.words), "reference_ngram_types": profile.ngram_types,
            "reference_rare_ngrams": int(profile.rare_ngrams.size),
            "distinct_bigrams_exact": stats.distinct_bigrams.is_exact, "texts": stats.docs,
        }
    out["seconds"] = time.perf_counter() - start
    out["peak_mb"] = _peak_mb()
    out["figures"] = figures
    return out


def stream_benchmark(crawl_a: Path, crawl_b: Path, sizes: list[int], workdir: Path, whole_max: int) -> None:
    print("streamed vs whole-list collapse metrics, recombined real text (reference = previous = year A[:N], "
          "generation = year B[:N]); each path in its own process")
    print(f"{'N':>8} {'path':>6} {'seconds':>8} {'peak RSS MB':>12} {'RSS after ref':>14}   streamed/whole")
    for n in sizes:
        ref, gen = workdir / f"a-{n}.parquet", workdir / f"b-{n}.parquet"
        crawl_to_parquet(crawl_a, ref, n, origins=False)
        crawl_to_parquet(crawl_b, gen, n, origins=True)
        results = {}
        for mode in ("whole", "stream") if n <= whole_max else ("stream",):
            proc = subprocess.run([sys.executable, __file__, "--_path", mode, str(ref), str(ref), str(gen)],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"{mode} path failed:\n{proc.stderr}")
            results[mode] = json.loads(proc.stdout.splitlines()[-1])
        stream = results["stream"]
        whole = results.get("whole", stream)  # past --whole-max: the streamed path alone
        for key, value in whole["figures"].items():  # the same figures, or the comparison means nothing
            other = stream["figures"][key]
            assert (value == other if not isinstance(value, float)
                    else math.isclose(value, other, rel_tol=1e-12)), (key, value, other)
        for r in results.values():
            ratio = (f"time x{stream['seconds'] / whole['seconds']:.2f}, RSS x{stream['peak_mb'] / whole['peak_mb']:.2f}"
                     if r is stream and whole is not stream else "")
            print(f"{n:>8} {r['mode']:>6} {r['seconds']:>8.1f} {r['peak_mb']:>12.0f} {r['peak_mb_reference']:>14.0f}"
                  f"   {ratio}")
        print(f"{'':>8} held by the streamed path: {json.dumps(stream['held'])}; "
              f"RSS after generation pass {stream['peak_mb_generation']:.0f} MB")
        ref.unlink()
        gen.unlink()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=120)
    ap.add_argument("--baseline-docs", type=int, default=20_000)
    ap.add_argument("--stream", nargs=2, metavar=("CRAWL_A", "CRAWL_B"), type=Path,
                    help="streamed vs whole-list on two benchmarks/crawl.py JSONL files")
    ap.add_argument("--sizes", nargs="+", type=int, default=[100_000, 200_000])
    ap.add_argument("--workdir", type=Path, help="where the Parquet inputs go (default: a temp dir)")
    ap.add_argument("--whole-max", type=int, default=200_000,
                    help="run the whole-list path only up to this N (it needs ~35 KB of RAM per document here)")
    ap.add_argument("--_path", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._path:
        print(json.dumps(run_path(*args._path)))
        return
    if args.stream:
        with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
            stream_benchmark(*args.stream, args.sizes, Path(tmp), args.whole_max)
        return
    config = MetricsConfig()

    n = args.baseline_docs
    ref_texts, gen = fake_corpus(1, n, args.words), fake_corpus(2, n, args.words, vocab=20_000)
    base, t_base = timed(lambda: baseline(gen, ref_texts))
    fast, t_fast = timed(lambda: collapse_metrics(gen, ReferenceProfile.build(ref_texts, config), config=config))
    for key, value in base.items():  # same numbers, or the comparison means nothing
        assert math.isclose(value, fast[key], rel_tol=1e-9), (key, value, fast[key])
    print(f"{n} docs x {args.words} words (reference + generation, identical results):")
    print(f"  baseline (Counter/sets) {t_base:6.2f} s   numpy {t_fast:6.2f} s   speed-up x{t_base / t_fast:.1f}")

    ref_texts = fake_corpus(3, args.docs, args.words)
    gen, prev = fake_corpus(4, args.docs, args.words, vocab=20_000), fake_corpus(5, args.docs, args.words)
    ref, t_ref = timed(lambda: ReferenceProfile.build(ref_texts, config))
    _, t_gen = timed(lambda: collapse_metrics(gen, ref, previous=prev, config=config))
    tokens = args.docs * args.words
    print(f"{args.docs} docs x {args.words} words ({tokens / 1e6:.0f}M tokens per corpus):")
    print(f"  build reference {t_ref:6.2f} s ({args.docs / t_ref:,.0f} docs/s)")
    print(f"  collapse_metrics with previous {t_gen:6.2f} s ({2 * args.docs / t_gen:,.0f} docs/s tokenised)")


if __name__ == "__main__":
    main()
