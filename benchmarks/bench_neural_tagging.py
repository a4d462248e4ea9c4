"""Text from generators we do not control: the LM detector (SmolLM2-135M as scorer) vs the n-gram detector.

Real human text (default: the experiment's pool of five Debian doc sources, pieces of ~2,000 characters; --pool small:
Python 3.11 docs + Debian Reference as bench_tagging.py) is split by a seeded hash: "generator" trains our own n-gram
generator, "reference" calibrates both detectors, "foreign" trains the word-salad chain and gives every generator
its prompts, and "human_test" is held-out human text that no model and no calibration saw, one window per document
and length bucket so its texts are independent draws (SmolLM2 itself was trained on web text before these docs
were chosen; we cannot rule out that it saw some of them, which would make human text look *more* machine-like to
it and so can only inflate false positives, not hide them).

Three kinds of foreign text, each cut to lengths drawn uniformly inside each length bucket:
  * SmolLM2-135M-Instruct's own continuations of the prompts (llama.cpp, temperature 1.0 and the sampling
    defaults of llama.cpp's OpenAI server: top-k 40, top-p 0.95, min-p 0.05, repeat penalty 1.1; cached in
    .bench/ so a second run skips generation);
  * FAKE word salad: a word-bigram chain (maximum-likelihood successors, no smoothing) trained on "foreign";
  * our own Kneser-Ney trigram generator's output with the watermark switched off (as a stranger would see it).
A text counts as detected when the detector *fires* (its own rule, the one the tagger uses to say ``synthetic``:
beyond the human calibration score that leaves <= --target-fpr of human text beyond it with 95% confidence, see
biomass.provenance.detector; too small a calibration keeps the extreme-value rule). The human rows give the false
positives of that rule, with a one-sided 95% Clopper-Pearson upper bound. --no-lm: the n-gram detector only.

Speed: both detectors score the same human test texts in the same run (the machine is shared: read ratios).

Run: .venv/bin/python benchmarks/bench_neural_tagging.py [--quick] [--no-lm] [--lm-human N] [--per-bucket N] [--threads N]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_tagging import load_docs, split, windows  # noqa: E402

from biomass.config.provenance import DetectorConfig, LMDetectorConfig  # noqa: E402
from biomass.lm.ngram import NgramModel  # noqa: E402
from biomass.lm.tokenize import join_tokens, whitespace_tokens  # noqa: E402
from biomass.provenance.detector import FEATURES as NG_FEATURES, StatDetector  # noqa: E402
from biomass.provenance.lm_detector import LlamaScorer, LMDetector, packaged_model_path, roc_auc  # noqa: E402

BUCKETS = [(50, 100), (100, 200), (200, 400)]
PROMPT_WORDS = 8
SERVER_SAMPLING = {"temperature": 1.0, "top_k": 40, "top_p": 0.95, "min_p": 0.05, "repeat_penalty": 1.1}


def bname(lo: int, hi: int) -> str:
    return f"{lo}-{hi - 1}"


def bigram_chain(docs: list[str]):
    """FAKE generator: each next word drawn from the observed successors of the current word (MLE bigrams)."""
    succ: dict[str, list[str]] = defaultdict(list)
    for d in docs:
        ws = whitespace_tokens(d)
        for a, b in zip(ws, ws[1:]):
            succ[a].append(b)
    starts = sorted(succ)

    def sample(prompt: list[str], length: int, rng: np.random.Generator) -> list[str]:
        out = list(prompt)
        while len(out) < length:
            nxt = succ.get(out[-1])
            out.append(nxt[int(rng.integers(len(nxt)))] if nxt else starts[int(rng.integers(len(starts)))])
        return out[:length]

    return sample


def smollm2_outputs(prompts: list[list[str]], max_tokens: int, threads: int, seed: int) -> tuple[list[str], float]:
    """SmolLM2's continuations (prompt included), cached per prompt under the model and settings in .bench/;
    and the generation rate in tokens/s (0 when all came from the cache)."""
    model = packaged_model_path()
    key = hashlib.sha256(json.dumps([model, max_tokens, seed, SERVER_SAMPLING]).encode()).hexdigest()[:16]
    cache = HERE.parent / ".bench" / f"smollm2-{key}.jsonl"
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[row["i"], join_tokens(row["prompt"])] = row["text"]
    out, n_tokens, t0, llm = [], 0, time.perf_counter(), None
    for i, p in enumerate(prompts):
        if (i, join_tokens(p)) not in done:
            if llm is None:
                from llama_cpp import Llama

                llm = Llama(model_path=model, n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
            r = llm.create_completion(join_tokens(p), max_tokens=max_tokens, seed=seed * 1_000_003 + i,
                                      **SERVER_SAMPLING)
            done[i, join_tokens(p)] = join_tokens(p + whitespace_tokens(r["choices"][0]["text"]))
            n_tokens += r["usage"]["completion_tokens"]
            cache.parent.mkdir(exist_ok=True)
            with cache.open("a") as fh:
                fh.write(json.dumps({"i": i, "prompt": p, "text": done[i, join_tokens(p)]}) + "\n")
        out.append(done[i, join_tokens(p)])
    return out, n_tokens / (time.perf_counter() - t0) if n_tokens else 0.0


def cuts(texts: list[str], lo: int, hi: int, rng: np.random.Generator) -> list[str]:
    """Each text cut to a length drawn in [lo, hi) (texts shorter than lo are left out)."""
    out = []
    for t in texts:
        ws = whitespace_tokens(t)
        if len(ws) >= lo:
            out.append(join_tokens(ws[:int(rng.integers(lo, min(hi, len(ws) + 1)))]))
    return out


def load_pool(piece_chars: int) -> list[str]:
    """The experiment's bigger human pool (benchmarks/experiment_corpus.py's sources: Python, Debian Reference,
    PostgreSQL 15, git manuals and release notes), cut at paragraph breaks into pieces of ~``piece_chars``."""
    from realtext import MORE_SOURCES, SOURCES, load_git_notes, load_real_docs, pieces

    docs = load_real_docs(min_words=50, sources={**SOURCES, **MORE_SOURCES}) + load_git_notes(50)
    seen, out = set(), []
    for text in pieces([d["text"] for d in docs], piece_chars):
        if len(text.split()) >= 50 and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def pool_split(docs: list[str], seed: int) -> dict[str, list[str]]:
    """Disjoint parts by a seeded hash; human_test is the largest, as the FPR bound needs its count."""
    return split(docs, seed, cuts=(0.1, 0.6, 0.65))


def cp_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate seen k times in n (exact binomial)."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


def one_window_each(docs: list[str], lo: int, hi: int, rng: np.random.Generator) -> list[str]:
    """At most one window per document, so the human texts of a bucket are independent draws."""
    return windows(docs, lo, hi, 1, rng)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer texts (smoke run)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--pool", choices=["experiment", "small"], default="experiment",
                    help="experiment: all five Debian doc sources (apt-get install postgresql-doc-15 git-doc); "
                         "small: Python docs + Debian Reference, as the first run")
    ap.add_argument("--piece-chars", type=int, default=2000)
    ap.add_argument("--target-fpr", type=float, default=0.002)
    ap.add_argument("--ng-cal", type=int, default=3000, help="human calibration windows per bucket (n-gram; the "
                    "threshold uses the first from each calibration document, ~0.4 of the reference docs)")
    ap.add_argument("--no-lm", action="store_true", help="n-gram detector only (no neural extra needed)")
    ap.add_argument("--lm-docs", type=int, default=12, help="SmolLM2 documents generated (each cut per bucket)")
    ap.add_argument("--max-tokens", type=int, default=300, help="tokens SmolLM2 generates per document")
    ap.add_argument("--foreign", type=int, default=300, help="salad / own-generator texts per bucket (n-gram)")
    ap.add_argument("--lm-foreign", type=int, default=15, help="... of which the LM detector scores this many")
    ap.add_argument("--lm-human", type=int, default=60, help="held-out human texts per bucket (LM detector)")
    ap.add_argument("--per-bucket", type=int, default=60, help="human calibration windows per bucket (LM detector)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads (on a shared machine 1 beat 2: "
                    "its threads wait for each other at every layer)")
    ap.add_argument("--score-tokens", type=int, default=256, help="model tokens scored per text (its start)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    t_start = time.perf_counter()
    if args.quick:
        args.lm_docs, args.foreign, args.lm_foreign, args.lm_human, args.per_bucket = 6, 50, 5, 10, 10
        args.score_tokens, args.ng_cal = 128, 600
    rng = np.random.default_rng(args.seed)
    if args.pool == "experiment":
        docs, origin = load_pool(args.piece_chars), f"experiment pool, pieces of ~{args.piece_chars} chars"
        if not docs:
            sys.exit("no experiment pool: apt-get install python3.11-doc debian-reference-en postgresql-doc-15 "
                     "git-doc git (or --pool small)")
        parts = pool_split(docs, args.seed)
    else:
        docs, origin = load_docs()
        parts = split(docs, args.seed)
    print(f"human text: {origin}; {len(docs)} docs -> " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))
    print("machine shared with other jobs: absolute times are noisy, ratios are from the same run\n")

    prompts = [whitespace_tokens(d)[:PROMPT_WORDS] for d in parts["foreign"]]
    lm_texts: list[str] = []
    if not args.no_lm:
        t0 = time.perf_counter()
        lm_texts, gen_rate = smollm2_outputs(prompts[:args.lm_docs], args.max_tokens, args.threads, args.seed)
        lens = [len(whitespace_tokens(t)) for t in lm_texts]
        print(f"SmolLM2-135M-Instruct (Q4_1 GGUF, llama.cpp, {args.threads} threads): {len(lm_texts)} docs, words "
              f"min/median/max {min(lens)}/{int(np.median(lens))}/{max(lens)}, "
              + (f"generated at {gen_rate:.0f} tokens/s in {time.perf_counter() - t0:.0f}s" if gen_rate else
                 "from the .bench cache"))
        print(f"  e.g. {lm_texts[0][:300]!r}")
    chain = bigram_chain(parts["foreign"])
    own = NgramModel.train(parts["generator"], order=3)

    populations: dict[str, dict[str, list[str]]] = {"human": {}, "smollm2": {}, "salad": {}, "own-ngram": {}}
    for lo, hi in BUCKETS:
        b = bname(lo, hi)
        human = one_window_each(parts["human_test"], lo, hi, rng)
        populations["human"][b] = [human[i] for i in rng.permutation(len(human))]
        populations["smollm2"][b] = cuts(lm_texts, lo, hi, rng)
        lengths = rng.integers(lo, hi, size=args.foreign)
        populations["salad"][b] = [join_tokens(chain(prompts[j % len(prompts)], int(n), rng))
                                   for j, n in enumerate(lengths)]
        populations["own-ngram"][b] = [join_tokens(own.sample(prompts[j % len(prompts)], int(n), [args.seed, lo, j]))
                                       for j, n in enumerate(lengths)]
    print(f"  salad e.g. {populations['salad'][bname(*BUCKETS[0])][0][:200]!r}\n")

    t0 = time.perf_counter()
    ng_cfg = DetectorConfig(target_fpr=args.target_fpr)
    ng_det = StatDetector.fit(parts["reference"], ng_cfg, human_per_bucket=args.ng_cal)
    t_ng_fit = time.perf_counter() - t0
    print(f"n-gram detector fitted in {t_ng_fit:.1f}s on {len(parts['reference'])} reference docs: "
          f"{json.dumps(ng_det.report())}")
    ng: dict[tuple[str, str], dict] = {}
    ng_time = [0.0, 0]
    for pop, by_bucket in populations.items():
        for b, texts in by_bucket.items():
            t0 = time.perf_counter()
            sc = ng_det.score(texts)
            if pop == "human":
                ng_time[0] += time.perf_counter() - t0
                ng_time[1] += len(texts)
            ng[pop, b] = {"fired": [s.fired for s in sc], "z": [s.z for s in sc],
                          "words": [len(t.split()) for t in texts]}

    a = args.target_fpr
    print(f"\nn-gram detector (one-sided): fires above the human calibration score that leaves <= {a} of human text "
          f"above it with 95% confidence,\nwhere its bucket has >= {math.ceil(math.log(0.05) / math.log(1 - a))} "
          f"calibration documents (rule 'quantile'), else p <= 1e-6 and beyond all of them (rule 'extreme')")
    print("FPR on held-out human text (one window per document), 95% one-sided Clopper-Pearson upper bound; "
          "TPR = share fired")
    print(f"{'bucket':<9}{'rule':>9}{'n_docs':>7}{'n_h':>6}{'FP':>5}{'FPR':>8}{'FPR<=':>8}"
          + "".join(f"  | {p:<9}{'n':>5}{'TPR':>7}{'AUC':>6}" for p in ("smollm2", "salad", "own-ngram")))
    for lo, hi in BUCKETS:
        b = bname(lo, hi)
        cal = ng_det.buckets[ng_det._bucket(lo)]
        h = ng[("human", b)]
        fp, n = sum(h["fired"]), len(h["fired"])
        line = (f"{b:<9}{'quantile' if cal.threshold is not None else 'extreme':>9}{cal.n_docs:>7}{n:>6}{fp:>5}"
                f"{fp / n:>8.4f}{cp_upper(fp, n):>8.4f}")
        for pop in ("smollm2", "salad", "own-ngram"):
            r = ng[pop, b]
            tpr = np.mean(r["fired"]) if r["fired"] else float("nan")
            line += f"  | {'':<9}{len(r['fired']):>5}{tpr:>7.3f}{roc_auc(h['z'], r['z']):>6.2f}"
        print(line)
    for pop in ("smollm2", "salad", "own-ngram"):
        long = [f for b in map(lambda x: bname(*x), BUCKETS) for f, w in zip(ng[pop, b]["fired"], ng[pop, b]["words"])
                if w >= 150]
        if long:
            print(f"  {pop:<10} >= 150 words: TPR ng {np.mean(long):.3f} (n={len(long)})")

    print("\nWhich n-gram feature could catch the salad (AUC salad vs human per feature, > 0.5: salad higher;"
          " all buckets)")
    fh = np.concatenate([ng_det.features(populations["human"][bname(*x)][:2000]) for x in BUCKETS])
    for pop in ("salad", "own-ngram", "smollm2"):
        texts = [t for x in BUCKETS for t in populations[pop][bname(*x)]]
        if not texts:
            continue
        fp_ = ng_det.features(texts)
        print(f"  {pop:<10}" + "  ".join(f"{name} {roc_auc(fh[:, i], fp_[:, i]):.2f}"
                                         for i, name in enumerate(NG_FEATURES)))
    second_statistic(parts["reference"], populations, ng_det, a, rng)
    print(f"(n-gram part: {time.perf_counter() - t_start:.0f}s so far)")
    if args.no_lm:
        return
    lm_part(args, parts, populations, ng_det, ng_time)


def second_statistic(reference: list[str], populations, ng_det, a: float, rng: np.random.Generator) -> None:
    """Measured, not built into the detector: the Fisher score at a/2 OR Herdan's C alone (the one feature that
    separates the salad) at a/2, each thresholded by ``fire_threshold`` on one window per reference document that
    the detector's trigram model did not train on (text it trained on scores more human: the threshold would sit low)."""
    from biomass.provenance.detector import BUCKET_EDGES, _hash_order, fire_threshold

    docs = _hash_order([t for t in reference if len(t.split()) >= BUCKET_EDGES[0]], ng_det.config.seed)
    reference = docs[(len(docs) * 4) // 10:]  # StatDetector.fit trains its reference model on the first 40%
    i_h = NG_FEATURES.index("herdan_c")
    print(f"\nA second statistic (Fisher score OR Herdan's C, {a / 2} each, thresholds from one window per "
          f"reference doc the trigram model did not train on):")
    print(f"{'bucket':<9}{'n_cal':>6}{'n_h':>6}{'FP':>5}{'FPR<=':>8}  | salad TPR  own-ngram TPR")
    for lo, hi in BUCKETS:
        b = bname(lo, hi)
        cal = one_window_each(reference, lo, hi, rng)
        t_s = fire_threshold(np.array([s for _, s in ng_det.raw_scores(cal)]), a / 2)
        t_h = fire_threshold(ng_det.features(cal)[:, i_h], a / 2)
        if t_s is None or t_h is None:
            print(f"{b:<9}{len(cal):>6}  too few calibration documents for {a / 2}")
            continue

        def fired(texts):
            scores = np.array([s for _, s in ng_det.raw_scores(texts)])
            return (scores > t_s) | (ng_det.features(texts)[:, i_h] > t_h)

        h = fired(populations["human"][b])
        fp = int(h.sum())
        print(f"{b:<9}{len(cal):>6}{len(h):>6}{fp:>5}{cp_upper(fp, len(h)):>8.4f}  | "
              f"{fired(populations['salad'][b]).mean():>9.3f}  {fired(populations['own-ngram'][b]).mean():>13.3f}")


def lm_part(args, parts, populations, ng_det, ng_time) -> None:
    a = args.target_fpr
    config = DetectorConfig(kind="lm", target_fpr=a,
                            lm=LMDetectorConfig(n_threads=args.threads, per_bucket=args.per_bucket,
                                                max_tokens=args.score_tokens))
    t0 = time.perf_counter()
    scorer = LlamaScorer(n_threads=args.threads, n_ctx=config.lm.n_ctx, max_tokens=config.lm.max_tokens)
    lm_det = LMDetector.fit(parts["reference"], config, scorer=scorer)
    t_fit = time.perf_counter() - t0
    n_cal = sum(c.n_human for c in lm_det.buckets.values())
    print(f"\nLM detector calibrated on {n_cal} human windows of {len(parts['reference'])} reference docs in "
          f"{t_fit:.0f}s: {json.dumps(lm_det.report())}")

    results: dict[tuple[str, str], dict] = {}
    timing = {"lm_s": 0.0, "docs": 0, "tokens": 0}
    for pop, by_bucket in populations.items():
        for b, all_texts in by_bucket.items():
            texts = all_texts[:args.lm_human if pop == "human" else args.lm_foreign]
            t0 = time.perf_counter()
            feats = lm_det.features(texts)
            lm_scores = [lm_det._judge(lm_det._bucket(len(t.split())), float(f[0])) for t, f in zip(texts, feats)]
            t_lm = time.perf_counter() - t0
            if pop == "human":
                timing["lm_s"] += t_lm
                timing["docs"] += len(texts)
                timing["tokens"] += sum(min(len(scorer.llm.tokenize(t.encode(), add_bos=False)), scorer.max_tokens)
                                        for t in texts)
            results[pop, b] = {"n": len(texts), "feats": feats, "lm": [s.fired for s in lm_scores],
                               "lm_z": [s.z for s in lm_scores], "words": [len(t.split()) for t in texts]}

    print(f"LM detector (two-sided, {a / 2} per side; quantile rule where a bucket has >= "
          f"{math.ceil(math.log(0.05) / math.log(1 - a / 2))} calibration documents, else the extreme-value rule)")
    print(f"{'bucket':<9}{'n_docs':>7}{'n_h':>6}{'FP':>5}{'FPR':>8}{'FPR<=':>8}"
          + "".join(f"  | {p:<9}{'n':>4}{'TPR':>7}{'AUC':>6}" for p in ("smollm2", "salad", "own-ngram")))
    for lo, hi in BUCKETS:
        b = bname(lo, hi)
        cal = lm_det.buckets[lm_det._bucket(lo)]
        h = results["human", b]
        fp, n = sum(h["lm"]), h["n"]
        line = f"{b:<9}{cal.n_docs:>7}{n:>6}{fp:>5}{fp / n:>8.4f}{cp_upper(fp, n):>8.4f}"
        for pop in ("smollm2", "salad", "own-ngram"):
            r = results[pop, b]
            auc = roc_auc(np.abs(h["lm_z"]), np.abs(r["lm_z"]))
            tpr = np.mean(r["lm"]) if r["lm"] else float("nan")
            line += f"  | {'':<9}{r['n']:>4}{tpr:>7.3f}{auc:>6.2f}"
        print(line)
    print("AUC: |z| of the LM detector, foreign vs human, same bucket.")
    for pop in ("smollm2", "salad", "own-ngram"):
        sel = [(f, w) for b in map(lambda x: bname(*x), BUCKETS) for f, w in zip(results[pop, b]["lm"],
                                                                                 results[pop, b]["words"])]
        long = [f for f, w in sel if w >= 150]
        if long:
            print(f"  {pop:<10} >= 150 words: TPR lm {np.mean(long):.3f} (n={len(long)})")

    print("\nMedian of each LM feature by population (all buckets): discrepancy D, mean log p, mean log-rank")
    for pop in populations:
        f = np.concatenate([results[pop, bname(*x)]["feats"] for x in BUCKETS])
        if len(f):
            print(f"  {pop:<10}" + "  ".join(f"{v:>8.3f}" for v in np.median(f, axis=0)))

    lm_rate, ng_rate = timing["docs"] / timing["lm_s"], ng_time[1] / ng_time[0]
    tok_rate = timing["tokens"] / timing["lm_s"]
    print(f"\nspeed, CPU, {args.threads} threads, same run: LM detector on {timing['docs']} human test texts "
          f"({timing['tokens'] / timing['docs']:.0f} model tokens each on average), n-gram on {ng_time[1]}:")
    print(f"  LM detector     {lm_rate:>9.1f} docs/s  ({tok_rate:.0f} tokens/s scored)")
    print(f"  n-gram detector {ng_rate:>9.1f} docs/s  (LM detector is {ng_rate / lm_rate:.0f}x slower)")
    gflops = tok_rate * 2 * 135e6 / 1e9
    print(f"  the LM forward pass is ~2 x 135M = 0.27 GFLOP per token: {gflops:.0f} GFLOP/s achieved here. A GPU "
          f"(not measured: none here) runs such a model in\n  batches at thousands of GFLOP/s, so ~100x this rate is "
          f"a plausible order of magnitude; the per-token vocabulary statistics (49k logits) would move to it too.")
    n_needed = math.ceil(math.log(0.05) / math.log(1 - a))
    print(f"  showing FPR <= {a} with 0 false positives takes {n_needed} human texts a bucket: "
          f"~{3 * n_needed / lm_rate / 3600:.1f} h of LM scoring here for three buckets (calibration as much again)")


if __name__ == "__main__":
    main()
