"""biomass metrics: collapse metrics of generation files against a reference, as JSON or a table.

    biomass metrics --reference REF GEN.parquet... [--json] [--metrics-config FILE] [--save-reference OUT]

REF is a records Parquet file (``doc_id``, ``text``) from which a profile is built, or a profile saved by
``ReferenceProfile.save`` (.json or .parquet). Each GEN needs ``doc_id`` and ``text``; ``origin`` is used if present.
``js_divergence_prev`` of each GEN is measured against the GEN listed before it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from biomass import exitcodes
from biomass.metrics.collapse import GenerationStats
from biomass.config.metrics import MetricsConfig
from biomass.metrics.inputs import iter_texts
from biomass.metrics.reference import ReferenceProfile, is_profile_parquet
from biomass.metrics.verdict import collapse_verdict

TABLE_COLUMNS = ("docs", "tokens", "tail_coverage", "tail_coverage_ngram", "distinct_1", "distinct_2",
                 "ttr_corrected", "unigram_entropy", "zipf_exponent", "js_divergence", "js_divergence_prev",
                 "share_synthetic")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("metrics", help="model-collapse metrics of generations against a reference",
                              description=__doc__.splitlines()[0])
    p.add_argument("--reference", required=True, help="records Parquet (doc_id, text) or a saved profile")
    p.add_argument("generations", nargs="+", metavar="GEN", help="records Parquet files, oldest first")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per GEN")
    p.add_argument("--metrics-config", help="YAML or JSON file with MetricsConfig fields")
    p.add_argument("--save-reference", help="also save the reference profile here (.json or .parquet)")
    p.add_argument("--fail-on-collapse", action="store_true", help=f"exit {exitcodes.CHECK_FAILED} if any GEN's collapse verdict is fail")
    p.set_defaults(func=run)


def load_metrics_config(path: str | None) -> MetricsConfig:
    if path is None:
        return MetricsConfig()
    text = Path(path).read_text(encoding="utf-8")
    if path.endswith(".json"):
        data = json.loads(text)
    else:
        import yaml

        data = yaml.safe_load(text) or {}
    return MetricsConfig.model_validate(data.get("metrics", data))


def load_reference(path: str, config: MetricsConfig) -> ReferenceProfile:
    """A saved profile as is, or a profile built from a records file."""
    if path.endswith(".json") or (path.endswith(".parquet") and Path(path).is_file() and is_profile_parquet(path)):
        return ReferenceProfile.load(path)
    return ReferenceProfile.from_batches((texts for texts, _ in iter_texts(path)), config)


def measure_files(reference: ReferenceProfile, paths: Sequence[str], config: MetricsConfig) -> list[dict[str, Any]]:
    """One result per path, in order; each path's previous generation is the path before it. Files are read a
    record batch at a time; only their word counts are kept from one path to the next."""
    results = []
    previous = None
    for path in paths:
        stats = GenerationStats(reference, config)
        for texts, origins in iter_texts(path):
            stats.update(texts, origins)
        metrics = stats.finish(previous=previous)
        results.append({"path": str(path), **metrics, "verdict": collapse_verdict(metrics, config)["status"]})
        previous = stats.words
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    header = ["GEN", *TABLE_COLUMNS, "verdict"]
    rows = [[Path(r["path"]).name, *(_cell(r[c]) for c in TABLE_COLUMNS), r["verdict"]] for r in results]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if math.isfinite(value) else str(value)
    return str(value)


def run(args: argparse.Namespace) -> int:
    config = load_metrics_config(args.metrics_config)
    reference = load_reference(args.reference, config)
    if args.save_reference:
        reference.save(args.save_reference)
    results = measure_files(reference, args.generations, config)
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False, allow_nan=False))
    else:
        print(format_table(results))
    if args.fail_on_collapse and any(r["verdict"] == "fail" for r in results):
        return exitcodes.CHECK_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``biomass metrics`` on its own (``python -m biomass.cli.metrics``), e.g. before the other stages exist."""
    parser = argparse.ArgumentParser(prog="biomass")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["metrics", *(argv if argv is not None else sys.argv[1:])])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
