"""Policy experiments: N generations of train -> generate -> retrain from one pool of human text, per data policy.

The pool is split once per seed, by a seeded random permutation, into three disjoint parts from the same
distribution: **generation 0** (the human text the first model trains on), the **frozen reference** (never
trained on: the collapse metrics and the held-out perplexity are measured against it) and the **fresh human
pool** some policies draw from every generation. Every policy trains on the same budget B of documents per
generation (B = the size of generation 0) and the model's own output, B documents, is what is measured:

- ``replace``: train on the last generation's output (Shumailov et al. 2024);
- ``accumulate``: train on a seeded sample of B documents from everything so far, generation 0 included
  (Gerstgrasser et al. 2024 accumulate without a budget; at a fixed budget the human share falls as 1/t);
- ``human-floor``: (1 - s) B documents of the last output plus s B fresh human documents (Dohmatob et al. 2024);
- ``filtered``: a crawl of the last output (B docs) and B fresh human docs, provenance stripped; the tagger
  (watermark, fingerprints) drops what it finds synthetic and the model trains on B of the survivors;
- ``filtered-detector`` (opt-in): the same with the statistical detector alone, fitted on generation 0.

Generation 1 is the same for every policy (all train on generation 0 with the same sampling seed: common random
numbers, so differences between policies are not sampling noise of the first step). Also recorded: the tail
coverage of generation 0's own rare words, each generation-0 word's extinction generation, the Vendi score of a
seeded sample (and, opt-in, its embedding Vendi score: ``embedding_vendi``, which needs the optional extra
``embeddings``), and how much synthetic text the filter let through. ``biomass.experiment_report`` turns the rows
into the table with 95% intervals over seeds and the plots. The settings are ``biomass.config.experiment``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import tempfile
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.config.experiment import ExperimentConfig
from biomass.config.provenance import ProvenanceConfig
from biomass.metrics import ReferenceProfile, collapse_metrics, head_tail_perplexity
from biomass.schema import make_doc_id, sha256_text

if TYPE_CHECKING:
    from biomass.metrics.embedding_diversity import Embedder

log = logging.getLogger(__name__)


def arm_label(policy: str, share: float) -> str:
    return f"human-floor {share:g}" if policy == "human-floor" else policy


class Split(NamedTuple):
    gen0: list[str]
    reference: list[str]
    fresh: list[str]


def split_reference(texts: Sequence[str], cfg: ExperimentConfig, seed: int | None = None) -> Split:
    """Generation 0, frozen reference and fresh pool: a seeded random permutation of the distinct texts, cut
    by ``gen0_fraction`` and ``reference_fraction``. Input order does not matter (the texts are sorted first)."""
    pool = sorted(set(texts))
    random.Random(f"split:{cfg.seed if seed is None else seed}").shuffle(pool)
    n0 = int(round(cfg.gen0_fraction * len(pool)))
    nr = int(round(cfg.reference_fraction * len(pool)))
    split = Split(pool[:n0], pool[n0:n0 + nr], pool[n0 + nr:])
    if len(split.gen0) < 5 or len(split.reference) < 5 or not split.fresh:
        raise ValueError(f"pool too small to split: {len(pool)} distinct texts")
    return split


def _table(texts: Sequence[str], tag: str) -> pa.Table:
    ids = [make_doc_id(f"experiment/{tag}/{i}", sha256_text(t)) for i, t in enumerate(texts)]
    return pa.table({"doc_id": ids, "text": list(texts)})


class _Generator:
    """The embedded generator with throwaway keys (labelled: experiment-only, never used to sign a corpus)."""

    def __init__(self, cfg: ExperimentConfig, seed: int, workdir: Path):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(f"experiment-{seed}".encode()).digest())
        pem = raw.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
        self.provenance = ProvenanceConfig(fingerprint_archive=str(workdir / "fingerprints")).with_secrets(
            signing_key=pem, watermark_key=f"experiment-watermark-{seed}")
        self.cfg = cfg
        self.workdir = workdir

    def generate(self, train: Sequence[str], n: int, seed: int, generation: int) -> list[str]:
        from biomass.synth import synthesize_stage

        out = self.workdir / f"gen-{generation}-{seed}.parquet"
        synthesize_stage([_table(train, "train")], n=n, seed=seed, year=generation, parent=generation - 1,
                         config=self.cfg.synthesize, provenance=self.provenance, out_path=str(out))
        texts = pq.read_table(out, columns=["text"]).column("text").to_pylist()
        out.unlink()
        return texts

    def filter_synthetic(self, texts: Sequence[str], detector_reference: Sequence[str] | None = None) -> list[bool]:
        """Strip provenance (only doc_id and text reach the tagger); True where the tagger keeps the text.

        ``detector_reference``: tag with the statistical detector alone, fitted on these human texts (no
        watermark key, no fingerprint archive); else with every signal of the generator's own provenance."""
        from biomass.provenance import tag_table

        if detector_reference is not None:
            tagged = tag_table(_table(texts, "crawl"), config=ProvenanceConfig(), watermarkers=[],
                               reference=list(detector_reference))
        else:
            tagged = tag_table(_table(texts, "crawl"), config=self.provenance)
        return [o != "synthetic" for o in tagged.column("origin").to_pylist()]


def _seed(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:4], "big")


class _FreshPool:
    """Fresh human documents in a seeded order, each handed out once; past the end it starts over (counted)."""

    def __init__(self, texts: Sequence[str], seed: int):
        self.texts = list(texts)
        random.Random(f"fresh:{seed}").shuffle(self.texts)
        self.cursor = 0
        self.reused = 0

    def take(self, n: int) -> list[str]:
        out = [self.texts[(self.cursor + i) % len(self.texts)] for i in range(n)]
        self.reused += max(0, min(n, self.cursor + n - len(self.texts)))
        self.cursor += n
        return out


def _words(texts: Sequence[str]) -> Counter:
    from biomass.lm.tokenize import nfkc_word_tokens

    return Counter(w for t in texts for w in nfkc_word_tokens(t))


def resolve_embedder(cfg: ExperimentConfig, embedder: Embedder | None = None) -> Embedder | None:
    """The embedder for the embedding Vendi score: None when the config does not ask for it, else ``embedder``
    or the packaged MiniLM model (raises ``EmbeddingsUnavailable`` now, before any generation runs)."""
    if not cfg.embedding_vendi:
        return None
    if embedder is not None:
        return embedder
    from biomass.metrics.embedding_diversity import minilm_embedder

    return minilm_embedder()


def run_arm(policy: str, share: float, texts: Sequence[str], cfg: ExperimentConfig, seed: int,
            workdir: str | Path | None = None,
            embedder: Embedder | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Rows of (arm, seed, generation, metrics...) for generations 0..N, and the extinction record
    {counts: generation-0 count per word, extinct: first generation whose output lacks it (0 = never)}.
    ``embedder``: used when ``cfg.embedding_vendi`` (default: the packaged MiniLM model)."""
    from biomass.lm.ngram import NgramModel
    from biomass.metrics.vendi import sample_docs, vendi_score

    embed = resolve_embedder(cfg, embedder)
    split = split_reference(texts, cfg, seed)
    budget = min(cfg.budget or len(split.gen0), len(split.gen0))
    gen0 = split.gen0[:budget]
    reference = ReferenceProfile.build(split.reference, cfg.metrics)
    heldout = sample_docs(split.reference, cfg.perplexity_docs, _seed(seed, "perplexity"))
    gen0_counts = _words(gen0)
    gen0_rare = {w for w, c in gen0_counts.items() if c <= (cfg.metrics.rare_max_count or 3)}
    extinct = dict.fromkeys(gen0_counts, 0)
    fresh = _FreshPool(split.fresh, seed)
    label = arm_label(policy, share)
    base = {"policy": label, "share": share, "seed": seed}

    def measure(t: int, output: list[str], train: Sequence[str], extra: dict[str, Any]) -> dict[str, Any]:
        model = NgramModel.train(train, cfg.synthesize.order)  # the model that wrote `output`
        row = {**base, "generation": t, "train_docs": len(train), **extra}
        row.update({k: v for k, v in collapse_metrics(output, reference, config=cfg.metrics).items()
                    if isinstance(v, (int, float)) or v is None})
        seen = _words(output)
        row["tail_coverage_gen0"] = sum(w in seen for w in gen0_rare) / len(gen0_rare) if gen0_rare else None
        vendi_sample = sample_docs(output, cfg.vendi_docs, _seed(seed, label, t, "vendi"))
        row["vendi_bigram"] = vendi_score(vendi_sample)
        if embed is not None:
            from biomass.metrics.embedding_diversity import embedding_vendi

            row["vendi_embedding"] = embedding_vendi(vendi_sample, embed)
        ppl = head_tail_perplexity(model, heldout, cfg.metrics, reference=reference)
        row.update({k: ppl[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")})
        if t:
            for w in extinct:
                if not extinct[w] and w not in seen:
                    extinct[w] = t
        return row

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        gen = _Generator(cfg, seed, Path(tmp))
        rows = [measure(0, gen0, gen0, {"synthetic_in_train": 0.0, "fresh_reused": 0})]  # the baseline
        history = list(gen0)
        output = list(gen0)
        n_out = int(math.ceil(budget * 1.05)) + 2  # a few outputs are quarantined as too short
        for t in range(1, cfg.generations + 1):
            rng = random.Random(_seed(seed, label, t, "train"))
            synthetic_in_train, extra = 0, {}
            if t == 1:
                train = gen0
            elif policy == "replace":
                train, synthetic_in_train = output, len(output)
            elif policy == "accumulate":
                idx = sorted(rng.sample(range(len(history)), min(budget, len(history))))
                train = [history[i] for i in idx]
                synthetic_in_train = sum(i >= len(gen0) for i in idx)
            elif policy == "human-floor":
                n_fresh = int(round(share * budget))
                kept = rng.sample(output, min(budget - n_fresh, len(output)))
                train, synthetic_in_train = kept + fresh.take(n_fresh), len(kept)
            else:
                crawl = [(text, True) for text in output] + [(text, False) for text in fresh.take(budget)]
                rng.shuffle(crawl)
                keep = gen.filter_synthetic([text for text, _ in crawl],
                                            gen0 if policy == "filtered-detector" else None)
                survivors = [(text, synth) for (text, synth), k in zip(crawl, keep) if k]
                train = [text for text, _ in survivors[:budget]]
                synthetic_in_train = sum(synth for _, synth in survivors[:budget])
                caught = sum(synth and not k for (_, synth), k in zip(crawl, keep))
                dropped_human = sum(not synth and not k for (_, synth), k in zip(crawl, keep))
                extra = {"filter_recall": caught / len(output) if output else None,
                         "filter_human_dropped": dropped_human / budget}
            output = gen.generate(train, n_out, _seed(seed, t, "sample"), t)[:budget]
            history += output
            rows.append(measure(t, output, train, {
                "synthetic_in_train": synthetic_in_train / len(train) if train else None,
                "fresh_reused": fresh.reused, **extra}))
    words = sorted(extinct)
    record = {**base, "generations": cfg.generations, "words": len(words),
              "counts": [gen0_counts[w] for w in words], "extinct": [extinct[w] for w in words]}
    return rows, record


def run_experiment(reference_texts: Sequence[str], cfg: ExperimentConfig, out_dir: str | Path,
                   embedder: Embedder | None = None) -> Path:
    """Every arm under every seed, then the results (CSV, JSON, Markdown table, plots); returns the folder."""
    from biomass.experiment_report import write_results

    embedder = resolve_embedder(cfg, embedder)  # load the model once, and fail before the first generation

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    for seed in cfg.seed_list:
        for policy, share in cfg.arms():
            log.info("experiment: seed %d, %s, %d generations", seed, arm_label(policy, share), cfg.generations)
            r, rec = run_arm(policy, share, reference_texts, cfg, seed, workdir=out, embedder=embedder)
            rows += r
            records.append(rec)
    write_results(rows, records, out, cfg)
    return out


def load_reference_texts(paths: Sequence[str]) -> list[str]:
    texts: list[str] = []
    for path in paths:
        table = pq.read_table(path)
        if "origin" in table.column_names:
            keep = [o in ("human", "licensed") for o in table.column("origin").to_pylist()]
            table = table.filter(pa.array(keep))
        texts.extend(table.column("text").to_pylist())
    return texts


# -- steps for the experiment DAG (one mapped task per policy, then one summary) ---------------------------------

def experiment_inputs(reference: Sequence[str] | None, data_root: str | None, out_dir: str | None,
                      run_id: str) -> dict[str, Any]:
    """The reference files and the output folder of one experiment run, fixed once for every policy task: the
    given files, else the oldest published generation's shards; the given folder, else
    ``<data_root>/experiments/<run id>`` (the run id made safe for a path)."""
    import re

    from biomass.config import load_config
    from biomass.storage import GenerationStore

    root = data_root or load_config().data_root
    if not reference:
        store = GenerationStore(root)
        years = store.published_years()
        if not years:
            raise ValueError(f"no published generation under {root}: pass the `reference` Param")
        reference = [str(p) for p in store.shard_paths(years[0])]
    out = out_dir or str(Path(root) / "experiments" / re.sub(r"[^\w.-]+", "_", run_id))
    return {"reference": list(reference), "out_dir": out}


def config_from_params(params: dict[str, Any], policies: Sequence[str]) -> ExperimentConfig:
    """The DAG's Params as a config (``seeds`` empty: the single ``seed``)."""
    return ExperimentConfig(generations=params["generations"], policies=tuple(policies), seed=params["seed"],
                            seeds=tuple(params.get("seeds") or ()) or None, human_floor=params["human_floor"],
                            share_sweep=tuple(params.get("share_sweep") or ()),
                            embedding_vendi=bool(params.get("embedding_vendi", False)))


def run_policy_to_file(policy: str, reference_paths: Sequence[str], cfg: ExperimentConfig, out_dir: str) -> str:
    """Every seed of one policy (and, for human-floor, of the share sweep) into policy-<name>.json."""
    from biomass.storage import write_json_atomic

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = load_reference_texts(reference_paths)
    embedder = resolve_embedder(cfg)
    rows, records = [], []
    for seed in cfg.seed_list:
        for p, share in cfg.arms():
            if p == policy:
                r, rec = run_arm(p, share, texts, cfg, seed, workdir=out, embedder=embedder)
                rows += r
                records.append(rec)
    path = out / f"policy-{policy}.json"
    write_json_atomic(path, {"rows": rows, "extinction": records})
    return str(path)


def summarize_files(paths: Sequence[str], out_dir: str, cfg: ExperimentConfig | None = None) -> str:
    import json

    from biomass.experiment_report import write_results

    parts = [json.loads(Path(p).read_text()) for p in paths]
    rows = [row for part in parts for row in part["rows"]]
    records = [rec for part in parts for rec in part["extinction"]]
    write_results(rows, records, Path(out_dir), cfg or ExperimentConfig())
    return str(Path(out_dir) / "experiment.png")


__all__ = ["Split", "arm_label", "config_from_params", "experiment_inputs", "load_reference_texts",
           "resolve_embedder", "run_arm", "run_experiment", "run_policy_to_file", "split_reference", "summarize_files"]
