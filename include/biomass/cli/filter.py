"""``biomass filter``: run the curation chain over one record file, outside the pipeline.

The chain is the config's ``filters.chain`` (``--config``, else $BIOMASS_CONFIG or the bundled biomass.yaml), or
the filters named by ``--filters`` in that order: a filter the config's chain lists keeps its parameters there,
any other runs with its defaults. Kept rows then get PII placeholders (e-mails, public IPs, phone numbers) when
the config's ``filters.pii.enabled`` says so, or ``--pii`` / ``--no-pii``. Streamed a batch at a time; prints each filter's counts. Exit codes
(``biomass.exitcodes``): 0 done, 2 bad input (a missing file, an unknown filter, a bad config).
"""

from __future__ import annotations

import argparse
import json

HELP = "run the curation filter chain over a record file: kept rows out, dropped rows to quarantine"


def register(subparsers) -> None:
    p = subparsers.add_parser("filter", help=HELP, description=__doc__.split("\n\n")[1])
    p.add_argument("input", metavar="IN.parquet", help="records (a Parquet file or a shard-set folder)")
    p.add_argument("--out", required=True, metavar="OUT.parquet", help="kept rows, in the record schema")
    p.add_argument("--quarantine", required=True, metavar="Q.parquet",
                   help="dropped rows: reason = the filter's name, detail = why")
    p.add_argument("--filters", metavar="a,b,c", help="these filters in this order instead of the config's "
                   "chain (name or name/version)")
    p.add_argument("--pii", action=argparse.BooleanOptionalAction, default=None,
                   help="replace PII in the kept rows (default: the config's filters.pii.enabled)")
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=_cmd_filter)


def chain_specs(configured: list[dict], names: str | None) -> list[dict]:
    """The specs to build: the config's chain, or ``names`` in order, each with its configured params if any."""
    if names is None:
        return configured
    from biomass.filters.registry import filter_class

    by_name = {filter_class(s["name"]).name: s for s in configured}
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    if not wanted:
        raise ValueError("--filters names no filter; give a comma-separated list such as language,url_blocklist")
    out = []
    for name in wanted:
        cls = filter_class(name)   # UnknownFilter (exit 2) lists the known filters
        spec = by_name.get(cls.name)
        out.append({"name": name, "params": dict(spec["params"])} if spec else name)
    return out


def _cmd_filter(args) -> int:
    from pathlib import Path

    from biomass.config import load_config
    from biomass.filters.registry import build_chain
    from biomass.filters.run import filter_file

    if not Path(args.input).exists():
        raise FileNotFoundError(f"input {args.input} does not exist")
    cfg = load_config(args.config)
    chain = build_chain(chain_specs(cfg.filters.specs(), args.filters))
    pii = cfg.filters.pii
    transforms = []
    if pii.enabled if args.pii is None else args.pii:
        from biomass.filters.pii_records import PIIRowTransform

        transforms.append(PIIRowTransform(pii.params, cfg.provenance))
    counts = filter_file(args.input, chain, args.out, args.quarantine, transforms)
    if args.json:
        print(json.dumps(counts.as_dict(), sort_keys=True))
        return 0
    print(f"filter: {counts.rows_in} rows in, {counts.rows_out} kept -> {args.out}, {counts.rows_quarantined} "
          f"quarantined -> {args.quarantine}")
    width = max((len(f.key) for f in chain), default=0)
    for f in chain:
        figures = counts.notes["filters"][f.name]
        share = figures["dropped"] / figures["seen"] if figures["seen"] else 0.0
        print(f"  {f.key:<{width}}  seen {figures['seen']:>8}  dropped {figures['dropped']:>8}  ({share:.1%})")
    if not chain:
        print("  (empty chain: every row kept)")
    for name, figures in counts.notes.get("transforms", {}).items():
        replaced = ", ".join(f"{k} {v}" for k, v in figures.items() if k not in ("key", "rows"))
        print(f"  {figures['key']}: {figures['rows']} rows rewritten ({replaced})")
    return 0
