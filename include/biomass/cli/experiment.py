"""``biomass experiment``: run N generations under each data policy and plot the collapse metrics."""

from __future__ import annotations

from biomass.config.experiment import EXTRA_POLICIES, POLICIES, ExperimentConfig
from biomass.experiment import load_reference_texts, run_experiment


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="run N generations under each data policy and plot the metrics")
    p.add_argument("--reference", action="append", required=True,
                   help="Parquet with a text column (repeatable): the pool split into gen 0, reference, fresh")
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--policy", action="append", dest="policies", choices=POLICIES + EXTRA_POLICIES)
    p.add_argument("--seed", type=int, action="append", dest="seeds", help="repeatable; default 7")
    p.add_argument("--human-floor", type=float, default=0.3)
    p.add_argument("--share", type=float, action="append", default=[], help="extra human-floor share (repeatable)")
    p.add_argument("--gen0-fraction", type=float, default=0.2, help="share of the pool that is generation 0")
    p.add_argument("--reference-fraction", type=float, default=0.3, help="share of the pool frozen as reference")
    p.add_argument("--vendi-docs", type=int, default=200)
    p.add_argument("--embedding-vendi", action="store_true",
                   help="also the Vendi score of sentence embeddings (all-MiniLM-L6-v2) of the same sample; needs "
                        "the optional extra 'embeddings' (requirements-embeddings.txt)")
    p.add_argument("--budget", type=int, default=None, help="training documents per generation (default: gen 0)")
    p.add_argument("--out", required=True, help="folder for experiment.csv / .json / .md / *.png")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    cfg = ExperimentConfig(generations=args.generations, policies=tuple(args.policies or POLICIES),
                           seeds=tuple(args.seeds or (7,)), human_floor=args.human_floor,
                           share_sweep=tuple(args.share), gen0_fraction=args.gen0_fraction,
                           reference_fraction=args.reference_fraction, vendi_docs=args.vendi_docs, budget=args.budget,
                           embedding_vendi=args.embedding_vendi)
    out = run_experiment(load_reference_texts(args.reference), cfg, args.out)
    print((out / "experiment.md").read_text())
    print(f"results and plots: {out}")
    return 0
