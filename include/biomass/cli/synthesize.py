"""``biomass synthesize``: train the configured generator on parquet inputs and write synthetic records."""

from __future__ import annotations

import argparse
import json

from biomass.storage import parquet_batches


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synthesize", help="train a generator on --train inputs, write N synthetic records")
    p.add_argument("--train", action="append", required=True, help="parquet with doc_id and text (repeatable)")
    p.add_argument("--n", type=int, required=True, help="number of documents to generate")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="output parquet (record schema)")
    p.add_argument("--year", type=int, default=None, help="generation year the output belongs to")
    p.add_argument("--parent", type=int, default=None, help="parent generation the training text came from")
    p.add_argument("--config", default=None, help="biomass config file (default: $BIOMASS_CONFIG or bundled)")
    p.add_argument("--key-file", default=None, help="Ed25519 signing key (else config / $BIOMASS_SIGNING_KEY)")
    p.add_argument("--archive", default=None, help="fingerprint archive folder to add the outputs to")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from biomass.config import load_config
    from biomass.config.provenance_flags import provenance_from
    from biomass.synth.stage import synthesize_stage

    cfg = load_config(args.config)
    prov = provenance_from(args.config, key_file=args.key_file, archive=args.archive)

    def batches():   # a function: a sample (synthesize.max_train_docs) reads the training files twice
        return (batch for path in args.train for batch in parquet_batches(path, ["doc_id", "text"]))

    counts = synthesize_stage(batches, n=args.n, seed=args.seed, year=args.year, parent=args.parent,
                              config=cfg.synthesize, provenance=prov, out_path=args.out)
    print(json.dumps(counts.as_dict(), sort_keys=True))
    return 0
