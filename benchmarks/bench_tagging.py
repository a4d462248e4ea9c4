"""Tagging accuracy: TPR and FPR by length bucket, every provenance column stripped (only doc_id + text).

Real human text (Python 3.11 docs + Debian Reference HTML, else the committed fixture) is split by a seeded
hash into four disjoint parts: the generator's training text, the detector's human-era reference, a stand-in
"foreign" generator's training text, and held-out human test text that neither the generator nor the detector
ever saw. Positives are the project's own synthetic text: whole documents, 200-word cuts, and 5%-edited
copies (word substitutions, deletions and insertions). Negatives are held-out human windows of every length
bucket, short ones included. A second table gives the detector's ROC against the unwatermarked stand-in
generator, which is the honest measure of what it does for text we did not make.

A speed section (``--speed``, also run by default) tags >= 20k ~300-word real-text windows (5% of them the
project's watermarked synthetic text) with the per-document reference engine and the bulk engine in the same
run, checks they give equal tables, and times ``biomass tag`` as a whole process (start-up, detector fit and
Parquet I/O included). Pin it to one core: ``taskset -c 0``.

Run: .venv/bin/python benchmarks/bench_tagging.py [--quick] [--speed-only] [--speed-docs N]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from biomass.config import SynthesizeConfig  # noqa: E402
from biomass.config.provenance import ProvenanceConfig  # noqa: E402
from biomass.lm.ngram import NgramModel  # noqa: E402
from biomass.lm.tokenize import join_tokens, whitespace_tokens  # noqa: E402
from biomass.provenance.detector import StatDetector  # noqa: E402
from biomass.provenance.fingerprint import FingerprintArchive  # noqa: E402
from biomass.provenance.keys import generate_keypair  # noqa: E402
from biomass.provenance.tagger import tag_table  # noqa: E402
from biomass.synth.stage import synthesize_stage  # noqa: E402

LEN_BUCKETS = [(20, 50), (50, 100), (100, 200), (200, 400), (400, 800), (800, 100_000)]


def load_docs() -> tuple[list[str], str]:
    from realtext import load_real_docs

    docs = load_real_docs(min_words=100)
    if docs:
        return [d["text"] for d in docs], "python3.11-doc + debian-reference HTML (installed packages)"
    fixture = HERE.parent / "tests" / "fixtures" / "human_text.jsonl.gz"
    with gzip.open(fixture, "rt") as fh:
        return [json.loads(line)["text"] for line in fh], f"committed fixture {fixture.name}"


def split(docs: list[str], seed: int, cuts: tuple[float, float, float] = (0.3, 0.55, 0.7)) -> dict[str, list[str]]:
    """Disjoint parts by a seeded hash, cut at the ``cuts`` fractions of the hash order."""
    order = sorted(docs, key=lambda t: hashlib.sha256(f"{seed}\x00{t}".encode()).digest())
    n = len(order)
    cut = [0, *(int(n * c) for c in cuts), n]
    names = ["generator", "reference", "foreign", "human_test"]
    return {name: order[cut[i]:cut[i + 1]] for i, name in enumerate(names)}


def edit(text: str, rate: float, rng: np.random.Generator, pool: list[str]) -> str:
    """Light edit: each word is substituted, deleted, or followed by an insertion with total prob ``rate``."""
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate / 3:
            out.append(pool[int(rng.integers(len(pool)))])
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out.extend([w, pool[int(rng.integers(len(pool)))]])
        else:
            out.append(w)
    return " ".join(out)


def windows(docs: list[str], lo: int, hi: int, per_doc: int, rng: np.random.Generator) -> list[str]:
    out = []
    for d in docs:
        ws = d.split()
        if len(ws) < lo:
            continue
        for _ in range(per_doc):
            length = int(rng.integers(lo, min(hi, len(ws) + 1))) if len(ws) > lo else lo
            start = int(rng.integers(0, len(ws) - length + 1))
            out.append(" ".join(ws[start:start + length]))
    return out


def bucket(n: int) -> str:
    for lo, hi in LEN_BUCKETS:
        if lo <= n < hi:
            return f"{lo}-{hi - 1}" if hi < 100_000 else f"{lo}+"
    return f"<{LEN_BUCKETS[0][0]}"


def stripped(texts: list[str], prefix: str) -> pa.Table:
    return pa.table({"doc_id": [f"{prefix}{i}" for i in range(len(texts))], "text": texts})


def bench_speed(parts: dict[str, list[str]], syn: list[str], prov: ProvenanceConfig, detector: StatDetector,
          archive: FingerprintArchive, tmp: str, n: int, rng: np.random.Generator) -> None:
    """docs/s of the per-document engine and the bulk engine on the same table, then `biomass tag` as a process."""
    import os
    import subprocess

    import pyarrow.parquet as pq

    human = [d.split() for d in parts["human_test"] + parts["foreign"] if len(d.split()) >= 200]
    texts = []
    while len(texts) < n:
        if rng.random() < 0.05:
            texts.append(syn[int(rng.integers(len(syn)))])
            continue
        ws = human[int(rng.integers(len(human)))]
        length = int(rng.integers(200, min(400, len(ws)) + 1))
        start = int(rng.integers(0, len(ws) - length + 1))
        texts.append(" ".join(ws[start:start + length]))
    table = stripped(texts, "s")
    words_total = sum(len(t.split()) for t in texts)
    out = {}
    for engine in ("scalar", "bulk"):
        t0 = time.perf_counter()
        out[engine] = tag_table(table, config=prov, detector=detector, archive=archive, engine=engine)
        out[engine + "_s"] = time.perf_counter() - t0
    same = out["scalar"].equals(out["bulk"])
    print(f"speed: {n} docs ({words_total / n:.0f} words each on average), in-process tag_table, same run:")
    for engine in ("scalar", "bulk"):
        print(f"  {engine:<7}{n / out[engine + '_s']:>9.0f} docs/s")
    print(f"  bulk / per-document: {out['scalar_s'] / out['bulk_s']:.1f}x; tables equal: {same}")
    path = f"{tmp}/speed.parquet"
    pq.write_table(table, path)
    ref = f"{tmp}/speed_ref.parquet"
    pq.write_table(stripped(parts["reference"], "r"), ref)
    env = {**os.environ, "BIOMASS_SIGNING_KEY": prov.signing_key.get_secret_value()}  # watermark key derives from it
    cmd = [sys.executable, "-m", "biomass.cli", "tag", path, "--out", f"{tmp}/speed_out.parquet",
           "--reference", ref, "--archive", prov.fingerprint_archive]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    print(f"  `biomass tag` whole process (start-up, detector fit on {len(parts['reference'])} docs, Parquet I/O): "
          f"{wall:.1f}s, {n / wall:.0f} docs/s\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer documents (smoke run)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--speed-only", action="store_true", help="only the bulk vs per-document speed section")
    ap.add_argument("--speed-docs", type=int, default=20_000)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    docs, origin = load_docs()
    parts = split(docs, args.seed)
    print(f"human text: {origin}; {len(docs)} docs -> " + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))

    private_pem, _ = generate_keypair()
    with tempfile.TemporaryDirectory() as tmp:
        prov = ProvenanceConfig(fingerprint_archive=f"{tmp}/fp").with_secrets(signing_key=private_pem.decode())
        n_syn = 60 if args.quick else 200
        t0 = time.perf_counter()
        train = stripped(parts["generator"], "g")
        counts = synthesize_stage([train], n=n_syn, seed=args.seed, year=2026, parent=2025,
                                  config=SynthesizeConfig(), provenance=prov, out_path=f"{tmp}/syn.parquet")
        t_syn = time.perf_counter() - t0
        import pyarrow.parquet as pq

        syn = pq.read_table(f"{tmp}/syn.parquet").column("text").to_pylist()
        print(f"synthesize: {counts.rows_out} docs, {sum(len(s.split()) for s in syn)} words from "
              f"{counts.notes['train_docs']} training docs in {t_syn:.1f}s")

        # speed baseline in the same run: the same model sampled with and without the watermark
        from biomass.provenance.keys import load_watermark_key
        from biomass.provenance.watermark import Watermarker

        model = NgramModel.train(parts["generator"])
        wm = Watermarker(load_watermark_key(prov), prov.watermark.gamma, prov.watermark.delta)
        speed = {}
        for name, accept in (("plain", None), ("watermarked", wm.acceptor(model.vocab))):
            t0 = time.perf_counter()
            n_words = sum(len(model.sample(whitespace_tokens(d)[:8], 1000, [j], accept))
                          for j, d in enumerate(parts["generator"][:30]))
            speed[name] = n_words / (time.perf_counter() - t0)
        print(f"sampling: plain {speed['plain']:.0f} words/s, watermarked {speed['watermarked']:.0f} words/s "
              f"(watermark costs {speed['plain'] / speed['watermarked']:.2f}x)")

        t0 = time.perf_counter()
        detector = StatDetector.fit(parts["reference"], prov.detector)
        print(f"detector fit on {len(parts['reference'])} reference docs in {time.perf_counter() - t0:.1f}s; "
              f"in-sample AUC by bucket {json.dumps(detector.report())}")
        archive = FingerprintArchive(prov.fingerprint_archive)
        bench_speed(parts, syn, prov, detector, archive, tmp, args.speed_docs, rng)
        if args.speed_only:
            return

        pool = sorted({w for d in parts["human_test"][:50] for w in d.split()})
        positives = {
            "whole": syn,
            "cut200": [join_tokens(whitespace_tokens(s)[:200]) for s in syn if len(whitespace_tokens(s)) >= 200],
            "edited5%": [edit(s, 0.05, rng, pool) for s in syn],
            "cut200+edited5%": [edit(join_tokens(whitespace_tokens(s)[:200]), 0.05, rng, pool) for s in syn
                                if len(whitespace_tokens(s)) >= 200],
        }
        per_doc = 2 if args.quick else 6
        negatives = [w for lo, hi in LEN_BUCKETS for w in windows(parts["human_test"], lo, hi, per_doc, rng)]
        negatives += parts["human_test"]

        t0 = time.perf_counter()
        rows = []
        for kind, texts in positives.items():
            tagged = tag_table(stripped(texts, kind), config=prov, detector=detector, archive=archive)
            rows += [(kind, len(t.split()), o, json.loads(e)["fired"]) for t, o, e in
                     zip(texts, tagged.column("origin").to_pylist(), tagged.column("tag_evidence").to_pylist())]
        tagged = tag_table(stripped(negatives, "h"), config=prov, detector=detector, archive=archive)
        rows += [("human", len(t.split()), o, json.loads(e)["fired"]) for t, o, e in
                 zip(negatives, tagged.column("origin").to_pylist(), tagged.column("tag_evidence").to_pylist())]
        t_tag = time.perf_counter() - t0
        n_tagged = sum(len(v) for v in positives.values()) + len(negatives)
        print(f"tagging: {n_tagged} texts in {t_tag:.1f}s ({n_tagged / t_tag:.0f} texts/s)\n")

        print("TPR on the project's synthetic text (origin == synthetic), by kind and length bucket")
        print(f"{'kind':<18}{'bucket':<10}{'n':>6}{'TPR':>8}   signals that fired (share of rows)")
        for kind in positives:
            sel = [r for r in rows if r[0] == kind]
            for b in sorted({bucket(r[1]) for r in sel}, key=lambda s: int(s.strip("<+").split("-")[0])):
                rs = [r for r in sel if bucket(r[1]) == b]
                tpr = np.mean([r[2] == "synthetic" for r in rs])
                sig = {s: sum(s in r[3] for r in rs) / len(rs) for s in ("manifest", "watermark", "fingerprint", "detector")}
                print(f"{kind:<18}{b:<10}{len(rs):>6}{tpr:>8.3f}   " + " ".join(f"{k}={v:.2f}" for k, v in sig.items()))
            print(f"{kind:<18}{'all':<10}{len(sel):>6}{np.mean([r[2] == 'synthetic' for r in sel]):>8.3f}")
        print("\nFPR on held-out human text (origin == synthetic), by length bucket")
        print(f"{'bucket':<10}{'n':>6}{'FP':>5}{'FPR':>9}{'unknown':>9}   signals that fired (count)")
        hum = [r for r in rows if r[0] == "human"]
        for b in sorted({bucket(r[1]) for r in hum}, key=lambda s: int(s.strip("<+").split("-")[0])):
            rs = [r for r in hum if bucket(r[1]) == b]
            fp = sum(r[2] == "synthetic" for r in rs)
            unk = sum(r[2] == "unknown" for r in rs) / len(rs)
            sig = {s: sum(s in r[3] for r in rs) for s in ("watermark", "fingerprint", "detector")}
            print(f"{b:<10}{len(rs):>6}{fp:>5}{fp / len(rs):>9.4f}{unk:>9.3f}   " +
                  " ".join(f"{k}={v}" for k, v in sig.items()))
        fp = sum(r[2] == "synthetic" for r in hum)
        print(f"{'all':<10}{len(hum):>6}{fp:>5}{fp / len(hum):>9.4f}")
        pos = [r for r in rows if r[0] != "human"]
        print(f"\nOVERALL  TPR {np.mean([r[2] == 'synthetic' for r in pos]):.4f} (n={len(pos)}, target >= 0.98)   "
              f"FPR {fp / len(hum):.4f} (n={len(hum)}, target <= 0.002)")

        # The detector alone, against text from a generator we do not control (unwatermarked stand-in).
        foreign = NgramModel.train(parts["foreign"], order=3)
        prompts = [whitespace_tokens(t)[:8] for t in parts["foreign"]]
        print("\nDetector alone vs. a foreign generator (unwatermarked KN trigram on disjoint text); ROC by bucket")
        print(f"{'bucket':<10}{'n_h':>6}{'n_f':>6}{'AUC':>7}{'TPR@fired':>11}{'FPR@fired':>11}{'TPR@p<.01':>11}{'FPR@p<.01':>11}")
        for lo, hi in LEN_BUCKETS[1:]:
            n_f = 30 if args.quick else 100
            fake = [join_tokens(foreign.sample(prompts[j % len(prompts)], int(rng.integers(lo, min(hi, 1500))),
                                               [args.seed, lo, j]))
                    for j in range(n_f)]
            human = windows(parts["human_test"], lo, hi, 2, rng)
            sh, sf = detector.score(human), detector.score(fake)
            zh = np.array([s.z for s in sh])
            zf = np.array([s.z for s in sf])
            auc = float((zf[:, None] > zh[None, :]).mean() + 0.5 * (zf[:, None] == zh[None, :]).mean())
            print(f"{bucket(lo):<10}{len(human):>6}{len(fake):>6}{auc:>7.3f}"
                  f"{np.mean([s.fired for s in sf]):>11.3f}{np.mean([s.fired for s in sh]):>11.4f}"
                  f"{np.mean([s.p < 0.01 for s in sf]):>11.3f}{np.mean([s.p < 0.01 for s in sh]):>11.4f}")


if __name__ == "__main__":
    main()
