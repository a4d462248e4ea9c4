"""Policy experiments: N generations of train -> generate -> retrain from one human reference, per data policy.

The reference texts are split once, deterministically, into generation 0 (what the first model trains on and
what the collapse metrics compare against) and a held-out pool of fresh human text that some policies draw
from every year. Each generation trains the embedded generator on the policy's training set and samples D
documents (D = the size of generation 0). What is measured is the model's own output, the same D documents
for every policy, so the figures compare like with like:

- ``replace``: train only on the last generation's output (Shumailov et al. 2024);
- ``accumulate``: train on everything so far, generation 0 included (Gerstgrasser et al. 2024);
- ``human-floor``: the last generation's output plus a fresh human share ``human_floor`` of D;
- ``filtered``: like human-floor, but the corpus reaches training with its provenance stripped and the
  tagger (watermark, fingerprints, detector) drops what it finds synthetic before training.

Also measured each generation: the model's perplexity on held-out head and tail reference sentences.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.config import SynthesizeConfig
from biomass.metrics import MetricsConfig, ReferenceProfile, collapse_metrics, head_tail_perplexity
from biomass.provenance.config import ProvenanceConfig
from biomass.schema import canonical_json, make_doc_id, sha256_text

log = logging.getLogger(__name__)
POLICIES = ("replace", "accumulate", "human-floor", "filtered")


@dataclass(frozen=True)
class ExperimentConfig:
    generations: int = 5
    policies: tuple[str, ...] = POLICIES
    seed: int = 7
    human_floor: float = 0.3
    pool_fraction: float = 0.4
    heldout_fraction: float = 0.1
    synthesize: SynthesizeConfig = field(default_factory=SynthesizeConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)

    def __post_init__(self) -> None:
        unknown = set(self.policies) - set(POLICIES)
        if unknown:
            raise ValueError(f"unknown policies {sorted(unknown)}; choose from {', '.join(POLICIES)}")
        if self.generations < 1:
            raise ValueError("generations must be >= 1")


def _bucket(text: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_reference(texts: Sequence[str], cfg: ExperimentConfig) -> tuple[list[str], list[str], list[str]]:
    """(generation 0, fresh human pool, held-out sentences source), by a seeded hash of each text."""
    gen0, pool, heldout = [], [], []
    for text in sorted(set(texts)):
        u = _bucket(text, cfg.seed)
        if u < cfg.heldout_fraction:
            heldout.append(text)
        elif u < cfg.heldout_fraction + cfg.pool_fraction:
            pool.append(text)
        else:
            gen0.append(text)
    if len(gen0) < 5 or not heldout:
        raise ValueError(f"reference too small to split: {len(gen0)} gen-0 docs, {len(heldout)} held out")
    return gen0, pool, heldout


def _table(texts: Sequence[str], tag: str) -> pa.Table:
    ids = [make_doc_id(f"experiment/{tag}/{i}", sha256_text(t)) for i, t in enumerate(texts)]
    return pa.table({"doc_id": ids, "text": list(texts)})


class _Generator:
    """The embedded generator with throwaway keys (labelled: experiment-only, never used to sign a corpus)."""

    def __init__(self, cfg: ExperimentConfig, workdir: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"experiment-{cfg.seed}".encode()).digest())
        pem = raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.provenance = ProvenanceConfig(fingerprint_archive=str(workdir / "fingerprints")).with_secrets(
            signing_key=pem, watermark_key=f"experiment-watermark-{cfg.seed}")
        self.cfg = cfg
        self.workdir = workdir

    def generate(self, train: Sequence[str], n: int, seed: int, generation: int) -> list[str]:
        from biomass.synth import synthesize_stage

        out = self.workdir / f"gen-{generation}-{seed}.parquet"
        synthesize_stage([_table(train, "train")], n=n, seed=seed, year=generation, parent=generation - 1,
                         config=self.cfg.synthesize, provenance=self.provenance, out_path=str(out))
        return pq.read_table(out, columns=["text"]).column("text").to_pylist()

    def filter_synthetic(self, texts: Sequence[str]) -> list[str]:
        """Strip provenance, tag, and keep what the tagger does not call synthetic."""
        from biomass.provenance import tag_table

        tagged = tag_table(_table(texts, "corpus"), config=self.provenance)
        return [t for t, o in zip(tagged.column("text").to_pylist(), tagged.column("origin").to_pylist())
                if o != "synthetic"]


def run_policy(policy: str, reference_texts: Sequence[str], cfg: ExperimentConfig,
               workdir: str | Path | None = None) -> list[dict[str, Any]]:
    """Rows of (policy, generation, metrics...) for generations 0..N of one policy."""
    from biomass.synth import NgramModel

    gen0, pool, heldout = split_reference(reference_texts, cfg)
    reference = ReferenceProfile.build(gen0, cfg.metrics)
    d = len(gen0)
    n_fresh = int(round(cfg.human_floor * d))
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        gen = _Generator(cfg, Path(tmp))
        # Generation 0 is the human data itself: the baseline every policy starts from.
        rows = [_measure(policy, 0, gen0, None, reference, NgramModel.train(gen0, cfg.synthesize.order),
                         heldout, cfg, {"train_docs": d})]
        history: list[str] = list(gen0)
        corpus: list[str] = list(gen0)
        for t in range(1, cfg.generations + 1):
            if policy == "replace":
                train = corpus
            elif policy == "accumulate":
                train = history
            elif policy == "human-floor":
                train = corpus
            else:
                train = gen.filter_synthetic(corpus) if t > 1 else corpus
            seed = int.from_bytes(hashlib.sha256(f"{cfg.seed}:{policy}:{t}".encode()).digest()[:4], "big")
            n_synth = d if policy in ("replace", "accumulate") else d - n_fresh
            output = gen.generate(train, d, seed, t)  # the model's own output, measured for every policy
            fresh = [pool[(t * n_fresh + i) % len(pool)] for i in range(n_fresh)] if pool and n_fresh else []
            previous = corpus
            corpus = output[:n_synth] + (fresh if policy in ("human-floor", "filtered") else [])
            history = history + output
            model = NgramModel.train(train, cfg.synthesize.order)  # the model that wrote `output`
            rows.append(_measure(policy, t, output, previous, reference, model, heldout, cfg,
                                 {"train_docs": len(train)}))
    return rows


def _measure(policy: str, t: int, texts: Sequence[str], previous: Sequence[str] | None,
             reference: ReferenceProfile, model: Any, heldout: Sequence[str],
             cfg: ExperimentConfig, extra: dict[str, Any]) -> dict[str, Any]:
    metrics = collapse_metrics(list(texts), reference, previous=list(previous) if previous else None,
                               config=cfg.metrics)
    perplexity = head_tail_perplexity(model, list(heldout), cfg.metrics, reference=reference)
    row = {"policy": policy, "generation": t, **extra}
    row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None})
    row.update({k: perplexity[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")})
    return row


def run_experiment(reference_texts: Sequence[str], cfg: ExperimentConfig, out_dir: str | Path) -> Path:
    """Every policy, then the table (CSV + JSON) and the plots; returns the output folder."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for policy in cfg.policies:
        log.info("experiment: policy %s, %d generations", policy, cfg.generations)
        rows.extend(run_policy(policy, reference_texts, cfg, workdir=out))
    write_results(rows, out)
    return out


def write_results(rows: list[dict[str, Any]], out: Path) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame.to_csv(out / "experiment.csv", index=False, float_format="%.6g")
    (out / "experiment.json").write_text(canonical_json(rows) + "\n")
    plot(frame, out / "experiment.png")


PLOTTED = ("tail_coverage", "tail_coverage_ngram", "distinct_2", "unigram_entropy", "ttr_corrected",
           "zipf_exponent", "js_divergence", "js_divergence_prev", "perplexity_head", "perplexity_tail", "tail_head_ratio")


def plot(frame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in PLOTTED if m in frame.columns and frame[m].notna().any()]
    cols = 3
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        for policy, group in frame.groupby("policy", sort=False):
            ax.plot(group["generation"], group[metric], marker="o", label=policy)
        ax.set_title(metric)
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("biomass policy experiment: the generator's own output, by generation")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def load_reference_texts(paths: Sequence[str]) -> list[str]:
    texts: list[str] = []
    for path in paths:
        table = pq.read_table(path)
        if "origin" in table.column_names:
            keep = [o in ("human", "licensed") for o in table.column("origin").to_pylist()]
            table = table.filter(pa.array(keep))
        texts.extend(table.column("text").to_pylist())
    return texts


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="run N generations under each data policy and plot the metrics")
    p.add_argument("--reference", action="append", required=True, help="Parquet with a text column (repeatable)")
    p.add_argument("--generations", type=int, default=5)
    p.add_argument("--policy", action="append", dest="policies", choices=POLICIES)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--human-floor", type=float, default=0.3)
    p.add_argument("--out", required=True, help="folder for experiment.csv / .json / .png")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    cfg = ExperimentConfig(generations=args.generations, policies=tuple(args.policies or POLICIES), seed=args.seed,
                           human_floor=args.human_floor)
    out = run_experiment(load_reference_texts(args.reference), cfg, args.out)
    print((out / "experiment.csv").read_text())
    print(f"plots: {out / 'experiment.png'}")
    return 0


# -- steps for the experiment DAG (one mapped task per policy, then one summary) ---------------------------------

def run_policy_to_file(policy: str, reference_paths: Sequence[str], cfg: ExperimentConfig, out_dir: str) -> str:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = run_policy(policy, load_reference_texts(reference_paths), cfg, workdir=out)
    path = out / f"policy-{policy}.json"
    path.write_text(canonical_json(rows) + "\n")
    return str(path)


def summarize_files(paths: Sequence[str], out_dir: str) -> str:
    rows = [row for p in paths for row in json.loads(Path(p).read_text())]
    write_results(rows, Path(out_dir))
    return str(Path(out_dir) / "experiment.png")
