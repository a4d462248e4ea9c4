"""How fast are the collapse metrics? numpy pipeline vs a plain-Python Counter baseline, same run, same data.

FAKE data: Zipfian word salad over a 50k-word vocabulary. Prints seconds, docs/s and the speed-up ratio, then
times the numpy pipeline alone at 100k documents (the scale the pipeline has to handle).

    .venv/bin/python benchmarks/bench_metrics.py [--docs 100000] [--words 120] [--baseline-docs 20000]
"""

from __future__ import annotations

import argparse
import math
import re
import time
import unicodedata
from collections import Counter

import numpy as np

from biomass.metrics import MetricsConfig, ReferenceProfile, collapse_metrics

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--words", type=int, default=120)
    ap.add_argument("--baseline-docs", type=int, default=20_000)
    args = ap.parse_args()
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
