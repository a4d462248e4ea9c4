"""PII benchmark (issue 15): biomass's PII placeholders (``biomass.filters.pii``) vs datatrove 0.10.1's
``PIIFormatter``, as WHOLE PROCESSES on one core (start-up, imports, Parquet read, scrubbing, Parquet write), on
the same real text.

Text: the Debian python3.11-doc and debian-reference-en pages (benchmarks/realtext.py), cut at paragraph breaks
into ~3 KB documents (without those packages, the committed fixture). Three processes: datatrove (e-mail + IPv4,
its circle of placeholders restarted per document, as biomass's is, so outputs compare), biomass on the same two
kinds, and biomass with every kind (e-mail, IPv4, IPv6, phone). Prints how many documents each changed, the share
of documents whose output is identical between datatrove and biomass (e-mail + IPv4), wall/CPU seconds and peak
RSS of each process, and the speed ratios. No target is asserted.
    python benchmarks/bench_pii.py [--docs N] [--runs K]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_filters import build_input  # noqa: E402 (the same input as the filter benchmark)
from procbench import Runner, add_worker_args, run_worker  # noqa: E402


def run_ours(inp: str, out: str, kinds: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from biomass.filters.pii import PIIScrubber

    table = pq.read_table(inp, columns=["doc_id", "text"])
    scrubber = PIIScrubber(kinds=None if kinds == "all" else tuple(kinds.split(",")))
    text, _ = scrubber.scrub_arrow(table.column("text"))
    pq.write_table(pa.table({"doc_id": table.column("doc_id"), "text": text}), out)


def run_datatrove(inp: str, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.pipeline.formatters.pii import PIIFormatter

    table = pq.read_table(inp, columns=["doc_id", "text"])
    formatter = PIIFormatter()
    texts = []
    for text in table.column("text").to_pylist():
        formatter.emails_replacer._replace_i = formatter.ip_replacer._replace_i = 0   # per document, as ours
        texts.append(formatter.format(text))
    pq.write_table(pa.table({"doc_id": table.column("doc_id"), "text": pa.array(texts, pa.string())}), out)


WORKERS = {"ours": run_ours, "datatrove": run_datatrove}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="at most this many documents (default: all)")
    parser.add_argument("--runs", type=int, default=1, help="timed runs of each process (median)")
    add_worker_args(parser, WORKERS)
    args = parser.parse_args()
    if run_worker(args, WORKERS):
        return 0

    import pyarrow.parquet as pq

    runner = Runner(__file__)
    work = runner.work
    inp = work / "pii-input.parquet"
    print(build_input(inp, args.docs))
    procs = {"datatrove (email+ipv4)": ["datatrove", inp, work / "pii-datatrove.parquet"],
             "biomass (email+ipv4)": ["ours", inp, work / "pii-ours.parquet", "email,ipv4"],
             "biomass (all kinds)": ["ours", inp, work / "pii-ours-all.parquet", "all"]}
    figures = {}
    for _ in range(max(args.runs, 1)):   # in turn, so a drift of the machine's speed hits them alike
        for name, cmd in procs.items():
            figures.setdefault(name, []).append(runner.time(*cmd))
    median = {name: sorted(runs)[len(runs) // 2] for name, runs in figures.items()}

    source = pq.read_table(inp).column("text").to_pylist()
    outputs = {name: pq.read_table(cmd[2]).column("text").to_pylist() for name, cmd in procs.items()}
    n = len(source)
    print(f"\n{n} documents")
    for name, texts in outputs.items():
        print(f"  {name:24s} changed {sum(a != b for a, b in zip(source, texts)):5d}")
    same = sum(a == b for a, b in zip(outputs["datatrove (email+ipv4)"], outputs["biomass (email+ipv4)"]))
    print(f"  identical output, datatrove vs biomass (email+ipv4): {same}/{n} ({same / n:.2%}); the rest are the "
          f"deliberate differences (see biomass.filters.pii)")
    print("\nwhole process on one core (start-up, imports, Parquet read, scrub, write)"
          + (f", median of {args.runs}" if args.runs > 1 else ""))
    for name, (wall, cpu, rss) in median.items():
        print(f"  {name:24s} wall {wall:7.2f} s  cpu {cpu:7.2f} s  peak {rss / 2**20:5.0f} MB  {n / wall:8.0f} docs/s")
    dt_wall, dt_cpu, _ = median["datatrove (email+ipv4)"]
    for name in ("biomass (email+ipv4)", "biomass (all kinds)"):
        wall, cpu, _ = median[name]
        print(f"  speed ratio vs datatrove, {name}: {dt_wall / wall:.1f}x wall, {dt_cpu / cpu:.1f}x cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
