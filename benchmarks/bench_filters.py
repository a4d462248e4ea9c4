"""Quality-filter benchmark (issue 15): biomass's four quality filters as a chain vs datatrove 0.10.1's, as WHOLE
PROCESSES on one core (start-up, imports, Parquet read, filtering, writing the decisions), on the same real text.

Text: the Debian python3.11-doc and debian-reference-en pages, then git's release notes as Debian ships them
(benchmarks/realtext.py; all written by people), cut at paragraph breaks into ~3 KB documents; without the doc packages, the committed fixture tests/fixtures/human_text.jsonl.gz. The chain
is gopher_quality -> gopher_repetition -> fineweb_quality -> c4_quality with datatrove's default parameters on
both sides; C4 goes last because datatrove's C4 filter rewrites the text it keeps (biomass's only decides), so
placed last it cannot change what the other filters see. Each process writes, per document, the first filter
that dropped it and the rule, and this script compares them.

Prints: agreement per filter (over the documents that reached it in both chains) and overall, wall and CPU
seconds and peak RSS of each process (the median of ``--runs`` runs of each side, interleaved, with the CPU
seconds' spread), docs/s and the speed ratio of the medians (target >= 30x). By default every real document
(3842: the 3162 pieces of the Debian pages and 680 of git's release notes; ~40 s of cpu for datatrove's side): with
fewer, start-up is most of biomass's process.
With ``--recombined K``, K more documents of whole real paragraphs drawn at random (FAKE, ids ``fake-recombined-*``):
a larger N on both sides, where start-up weighs as little as it does in a year's run.
    python benchmarks/bench_filters.py [--docs N] [--recombined K] [--runs K]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from procbench import REPO, Runner, add_worker_args, run_worker, worker_from_argv  # noqa: E402 (one core)

FIXTURE = REPO / "tests" / "fixtures" / "human_text.jsonl.gz"
CHAIN = ["gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality"]


def build_input(path: Path, max_docs: int | None, recombined: int = 0) -> str:
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO / "benchmarks"))
    from realtext import load_git_notes, load_real_docs, pieces, recombine

    real, notes = load_real_docs(), load_git_notes()
    if real:
        texts = [d["text"] for d in real + notes]
        source = (f"Debian python3.11-doc + debian-reference ({len(real)} pages) + git's release notes "
                  f"({len(notes)} files)")
    else:
        with gzip.open(FIXTURE, "rt") as fh:
            texts = [json.loads(line)["text"] for line in fh]
        source = f"{FIXTURE.relative_to(REPO)} ({len(texts)} texts; Debian doc packages not installed)"
    docs = pieces(texts)[:max_docs]
    ids = [f"real-{i:05d}" for i in range(len(docs))]
    extra = recombine(docs, recombined) if recombined else []
    ids += [f"fake-recombined-{i:05d}" for i in range(len(extra))]
    table = pa.table({"doc_id": ids, "text": docs + extra})
    pq.write_table(table, path, use_dictionary=False, write_statistics=False)
    every = docs + extra
    return (f"{source} -> {len(docs)} documents"
            + (f" + {len(extra)} FAKE documents recombined from their paragraphs" if extra else "")
            + f", {sum(map(len, every)) / len(every):.0f} chars on average")


# -- the two workers (each run as its own process) -----------------------------------------------------------
def _rows(pa, table, rows: list[int]):
    """The given rows of ``table``, as slices of its runs of consecutive rows: ``Table.take`` or ``pa.array`` of
    Python values would import pandas on first use (~0.25 s of cpu), work that is no filtering and that
    datatrove's worker does not do."""
    runs, start = [], None
    for k, r in enumerate(rows):
        if start is None:
            start = r
        if k + 1 == len(rows) or rows[k + 1] != r + 1:
            runs.append(table.slice(start, r - start + 1))
            start = None
    return pa.concat_tables(runs) if runs else table.slice(0, 0)


def run_ours(inp: str, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomass.filters import build_chain

    table = pq.ParquetFile(inp).read(columns=["doc_id", "text"])   # read_table would import pyarrow.dataset
    alive = list(range(table.num_rows))
    result: list[list | None] = [None] * table.num_rows
    for f in build_chain(CHAIN):
        decisions = f.decide(_rows(pa, table, alive))
        survivors = []
        for row, d in zip(alive, decisions):
            if d is None:
                survivors.append(row)
            else:
                result[row] = [f.name, d.split(":")[0]]
        alive = survivors
    Path(out).write_text(json.dumps(result))


def run_datatrove(inp: str, out: str) -> None:
    import pyarrow.parquet as pq
    from datatrove.data import Document
    from datatrove.pipeline.filters import (C4QualityFilter, FineWebQualityFilter, GopherQualityFilter,
                                            GopherRepetitionFilter)

    chain = [("gopher_quality", GopherQualityFilter()), ("gopher_repetition", GopherRepetitionFilter()),
             ("fineweb_quality", FineWebQualityFilter()), ("c4_quality", C4QualityFilter())]
    table = pq.ParquetFile(inp).read(columns=["doc_id", "text"])   # read_table would import pyarrow.dataset
    result: list[list | None] = []
    for doc_id, text in zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()):
        doc = Document(text=text, id=doc_id)
        verdict = None
        for name, f in chain:
            res = f.filter(doc)
            if res is not True:
                verdict = [name, res[1] if isinstance(res, tuple) else "dropped"]
                break
        result.append(verdict)
    Path(out).write_text(json.dumps(result))


WORKERS = {"ours": run_ours, "datatrove": run_datatrove}


def agreement(ours: list, theirs: list) -> None:
    n = len(ours)
    print(f"\nagreement on {n} documents (same keep/drop; same first filter and rule when dropped)")
    for name in CHAIN:
        reached = [i for i in range(n)
                   if all(v is None or CHAIN.index(v[0]) >= CHAIN.index(name) for v in (ours[i], theirs[i]))]
        same = sum((ours[i] is not None and ours[i][0] == name) == (theirs[i] is not None and theirs[i][0] == name)
                   for i in reached)
        same_rule = sum(ours[i] == theirs[i] for i in reached
                        if theirs[i] is not None and theirs[i][0] == name)
        drops = sum(1 for i in reached if theirs[i] is not None and theirs[i][0] == name)
        print(f"  {name:18s} reached {len(reached):5d}  decisions agree {same / max(len(reached), 1):8.4%}  "
              f"datatrove drops {drops:5d}, same rule {same_rule}")
    keep_same = sum((a is None) == (b is None) for a, b in zip(ours, theirs))
    exact = sum(a == b for a, b in zip(ours, theirs))
    print(f"  chain keep/drop agree {keep_same / n:.4%}; identical verdicts {exact / n:.4%}; "
          f"kept {sum(a is None for a in ours)} (biomass) / {sum(b is None for b in theirs)} (datatrove)")
    bad = [i for i in range(n) if ours[i] != theirs[i]]
    for i in bad[:10]:
        print(f"    disagreement doc {i}: biomass {ours[i]}, datatrove {theirs[i]}")


def _median(runs: list[tuple[float, float, int]]) -> tuple[float, float, int]:
    """Median wall, cpu and peak RSS, each taken on its own."""
    return tuple(sorted(col)[len(col) // 2] for col in zip(*runs))   # type: ignore[return-value]


def _spread(runs: list[tuple[float, float, int]]) -> str:
    cpus = sorted(r[1] for r in runs)
    return f"(median of {len(runs)}; cpu {cpus[0]:.2f}-{cpus[-1]:.2f} s)" if len(runs) > 1 else "(1 run)"


def main() -> int:
    if worker_from_argv(WORKERS):   # before argparse: the workers' start-up is measured
        return 0
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None,
                        help="at most this many documents (default: all, 3842; the first 3162 are the Debian pages)")
    parser.add_argument("--recombined", type=int, default=0,
                        help="add this many FAKE documents made of random whole paragraphs of the real ones")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs of each side, interleaved; each figure is that side's median (default 3)")
    add_worker_args(parser, WORKERS)
    args = parser.parse_args()
    if run_worker(args, WORKERS):
        return 0

    runner = Runner(__file__)
    work = runner.work
    inp = work / "filters-input.parquet"
    print(build_input(inp, args.docs, args.recombined))
    out_ours, out_dt = work / "filters-ours.json", work / "filters-datatrove.json"
    # both sides the same way: interleaved runs (so a busy spell of the shared machine hits both), median of each
    runs: dict[str, list[tuple[float, float, int]]] = {"ours": [], "datatrove": []}
    for _ in range(max(args.runs, 1)):
        runs["ours"].append(runner.time("ours", inp, out_ours))
        runs["datatrove"].append(runner.time("datatrove", inp, out_dt))
    (wall, cpu, rss), (dt_wall, dt_cpu, dt_rss) = (_median(runs["ours"]), _median(runs["datatrove"]))
    ours, theirs = json.loads(out_ours.read_text()), json.loads(out_dt.read_text())
    n = len(ours)
    agreement(ours, theirs)
    print("\nwhole process on one core (start-up, imports, Parquet read, four filters as a chain, write)")
    print(f"  biomass    wall {wall:8.2f} s  cpu {cpu:8.2f} s  peak {rss / 2**20:6.0f} MB  {n / wall:8.0f} docs/s"
          f"  {_spread(runs['ours'])}")
    print(f"  datatrove  wall {dt_wall:8.2f} s  cpu {dt_cpu:8.2f} s  peak {dt_rss / 2**20:6.0f} MB  "
          f"{n / dt_wall:8.0f} docs/s  {_spread(runs['datatrove'])}")
    ratio, cpu_ratio = dt_wall / wall, dt_cpu / cpu
    # the verdict is on CPU seconds: on a machine shared with other jobs a process's wall time is mostly waiting
    # for a core, and that wait does not scale with the work (the wall ratio is printed, not judged)
    print(f"  speed ratio {cpu_ratio:.1f}x cpu (target >= 30x: {'met' if cpu_ratio >= 30 else 'NOT met'}), "
          f"{ratio:.1f}x wall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
