"""What integrity checks add to reading a published generation: verified vs unverified reads, same run.

FAKE data: ``--docs`` records of ``--chars`` characters each (default 50,000 x 2,000, about 100 MB of text),
every text a window at a seeded random offset into the real human text of the committed fixture
(tests/fixtures/human_text.jsonl.gz), ids labelled ``fake-bench-``; published with ``GenerationStore.publish``.

Timed (best of ``--repeat``, in this process, after one warm-up read of each kind):
- ``read doc_id+text``: ``store.read(year, ["doc_id", "text"])``, as assemble and synthesize read a parent;
  verified = file size + sha256, rows, and every record's content_sha256;
- ``batches text+lang``: ``store.iter_batches(year, ["text", "lang"])`` drained, as the generation gate does;
- ``verify-generation``: the whole ``audit`` (every file and record), against the plain read of doc_id+text;
- ``hash texts``: ``storage.text_sha256`` vs ``hashlib`` over ``to_pylist()`` (the per-record cost alone).
Ratios are verified / unverified. No thresholds asserted.

    .venv/bin/python benchmarks/bench_verify.py [--docs 50000] [--chars 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "human_text.jsonl.gz"


def fake_generation(docs: int, chars: int, seed: int = 7) -> pa.Table:
    from biomass.schema import records_to_table, sha256_text

    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        corpus = " ".join(json.loads(line)["text"] for line in fh)
    rng = random.Random(seed)
    rows = []
    when = datetime(2021, 1, 2, tzinfo=timezone.utc)
    for i in range(docs):
        start = rng.randrange(0, max(1, len(corpus) - chars))
        text = corpus[start:start + chars]
        rows.append(dict(doc_id=f"fake-bench-{i:08d}", text=text, source="scrape", origin="human",
                         synthetic_score=0.0, collected_at=when, generation=2021, content_sha256=sha256_text(text),
                         lang="en", human_era=True, provenance="{}", tag_evidence="{}"))
    return records_to_table(rows)


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from biomass.pipeline.verify import audit
    from biomass.storage import GenerationStore, text_sha256

    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=50_000)
    ap.add_argument("--chars", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        store = GenerationStore(tmp)
        table = fake_generation(args.docs, args.chars)
        store.publish(2021, table, {"parent": None})
        size = sum(f["bytes"] for f in store.manifest(2021)["files"])
        print(f"{args.docs} docs x {args.chars} chars, {len(store.manifest(2021)['files'])} shard(s), "
              f"{size / 1e6:.1f} MB on disk")

        def drain(verify: bool) -> None:
            for _ in store.iter_batches(2021, ["text", "lang"], verify=verify):
                pass

        texts = table.column("text")
        rows = [
            ("read doc_id+text", lambda: store.read(2021, ["doc_id", "text"], verify=False),
             lambda: store.read(2021, ["doc_id", "text"])),
            ("batches text+lang", lambda: drain(False), lambda: drain(True)),
            ("verify-generation", lambda: store.read(2021, ["doc_id", "text"], verify=False),
             lambda: list(audit(store, 2021))),
            ("hash texts (hashlib / arrow)", lambda: text_sha256(texts),
             lambda: [hashlib.sha256(t.encode()).hexdigest() for t in texts.to_pylist()]),
        ]
        print(f"{'':32s} {'plain s':>9s} {'checked s':>10s} {'ratio':>7s}")
        for name, plain, checked in rows:
            a, b = best(plain, args.repeat), best(checked, args.repeat)
            print(f"{name:32s} {a:9.3f} {b:10.3f} {b / a:7.2f}")


if __name__ == "__main__":
    main()
