"""One year of the loop, as steps that a DAG task, the shell (`biomass run-year`) or a test can call alike.

Every step reads and writes one explicit partition, ``staging/<year>/``, and takes its decisions from the
run plan written by ``make_plan``; nothing depends on ``now()``. Steps:

    plan -> scrape -> gate -> license -> gate -> synthesize -> gate -> assemble -> gate -> publish

A gate that fails raises ``GateFailed`` and leaves staging in place as evidence; only ``publish`` makes a
generation visible, and it writes the manifest last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.accounting import Quarantine, StageCounts
from biomass.config import BiomassConfig, expand_inputs, load_config
from biomass.gates.runner import GateFailed, GateResult, run_gate
from biomass.gates.suites import DERIVED_COLUMNS
from biomass.schema import canonical_json, conform, empty_table
from biomass.storage import GenerationStore, write_parquet

log = logging.getLogger(__name__)

STAGES = ("scrape", "license", "synthesize", "dedup", "assemble")

# What a run may override, by Param name -> config key.
OVERRIDES = {
    "data_root": "data_root",
    "policy": "policy",
    "synthetic_share": "synthetic_share",
    "seed": "seed",
}


@dataclass
class RunPlan:
    year: int
    data_root: str
    parent: int | None
    scrape_inputs: list[str]
    license_inputs: list[str]
    config: dict[str, Any] = field(repr=False)
    config_hash: str = ""
    # Keys fetched at run time (e.g. from Airflow Variables). Never written to plan.json.
    secrets: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    @property
    def cfg(self) -> BiomassConfig:
        cfg = BiomassConfig.model_validate(self.config)
        if self.secrets:
            cfg = cfg.model_copy(update={"provenance": cfg.provenance.with_secrets(**self.secrets)})
        return cfg

    @property
    def store(self) -> GenerationStore:
        return GenerationStore(self.data_root)

    @property
    def staging(self) -> Path:
        return self.store.staging_dir(self.year)

    def stage_seed(self, stage: str) -> int:
        """A stage's own seed, derived from the run seed and the year so years never share randomness."""
        digest = hashlib.sha256(f"{self.cfg.seed}:{self.year}:{stage}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def save(self) -> Path:
        self.staging.mkdir(parents=True, exist_ok=True)
        path = self.staging / "plan.json"
        state = asdict(self)
        state.pop("secrets")
        path.write_text(canonical_json(state) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path, secrets: dict[str, str | None] | None = None) -> "RunPlan":
        """``secrets``: signing_key / watermark_key strings; None values are ignored."""
        kept = {k: v for k, v in (secrets or {}).items() if v}
        return cls(**json.loads(Path(path).read_text()), secrets=kept)


def make_plan(year: int, *, config_path: str | None = None, scrape_inputs: list[str] | None = None,
              license_inputs: list[str] | None = None, **overrides: Any) -> RunPlan:
    """Fix everything a year's run decides up front, clear its old staging, and write ``plan.json``."""
    if not isinstance(year, int) or not 1900 <= year <= 9999:
        raise ValueError(f"year must be a four-digit integer, got {year!r}")
    unknown = set(overrides) - set(OVERRIDES)
    if unknown:
        raise KeyError(f"unknown overrides {sorted(unknown)}; allowed: {sorted(OVERRIDES)}")
    cfg = load_config(config_path).with_overrides({OVERRIDES[k]: v for k, v in overrides.items()})
    if cfg.provenance.fingerprint_archive is None:
        archive = str(Path(cfg.data_root) / "index" / "fingerprints")
        cfg = cfg.model_copy(update={"provenance": cfg.provenance.model_copy(
            update={"fingerprint_archive": archive})})
    scrape = expand_inputs(scrape_inputs if scrape_inputs is not None else cfg.scrape.inputs, year)
    license_ = expand_inputs(license_inputs if license_inputs is not None else cfg.license.inputs, year)
    store = GenerationStore(cfg.data_root)
    plan = RunPlan(year=year, data_root=str(Path(cfg.data_root).resolve()) if "://" not in cfg.data_root
                   else cfg.data_root, parent=store.parent_of(year), scrape_inputs=scrape,
                   license_inputs=license_, config=cfg.model_dump(mode="json"), config_hash=cfg.config_hash())
    if plan.staging.exists():
        shutil.rmtree(plan.staging)
    path = plan.save()
    log.info("plan for %s: parent=%s, %d scrape inputs, %d licence drops, policy=%s -> %s", year, plan.parent,
             len(scrape), len(license_), cfg.policy, path)
    return plan


# -- stage bookkeeping --------------------------------------------------------------------------------------

def _counts_path(plan: RunPlan, stage: str) -> Path:
    return plan.staging / f"{stage}.counts.json"


def _save_counts(plan: RunPlan, counts: StageCounts) -> StageCounts:
    counts.check()
    _counts_path(plan, counts.stage).write_text(canonical_json(counts.as_dict()) + "\n")
    log.info("%s: in=%d out=%d quarantined=%s", counts.stage, counts.rows_in, counts.rows_out,
             dict(counts.quarantined))
    return counts


def load_counts(plan: RunPlan, stage: str) -> StageCounts:
    return StageCounts.from_dict(json.loads(_counts_path(plan, stage).read_text()))


def _read(path: Path) -> pa.Table:
    return pq.read_table(path) if path.exists() else empty_table()


def stage_output(plan: RunPlan, stage: str) -> Path:
    return plan.staging / f"{stage}.parquet"


def stage_quarantine(plan: RunPlan, stage: str) -> Path:
    return plan.staging / f"{stage}.quarantine.parquet"


# -- stages -------------------------------------------------------------------------------------------------

def run_scrape_shard(plan: RunPlan, index: int) -> StageCounts:
    """Scrape one input file (one mapped task per file); the merge step sums the shards."""
    from biomass.stages.scrape import scrape

    source = plan.scrape_inputs[index]
    shard_dir = plan.staging / "scrape"
    shard_dir.mkdir(parents=True, exist_ok=True)
    counts = scrape([source], year=plan.year, config=plan.cfg.scrape, out_path=str(shard_dir / f"{index:05d}.parquet"),
                    quarantine_path=str(shard_dir / f"{index:05d}.quarantine.parquet"))
    counts.check()
    (shard_dir / f"{index:05d}.counts.json").write_text(canonical_json(counts.as_dict()) + "\n")
    return counts


def merge_scrape(plan: RunPlan) -> StageCounts:
    """Concatenate the scraped shards in input order, drop URLs already seen in an earlier shard, tag."""
    shard_dir = plan.staging / "scrape"
    total = StageCounts("scrape")
    tables, quarantines = [], []
    for i in range(len(plan.scrape_inputs)):
        shard = StageCounts.from_dict(json.loads((shard_dir / f"{i:05d}.counts.json").read_text()))
        total.rows_in += shard.rows_in
        total.quarantined.update(shard.quarantined)
        tables.append(_read(shard_dir / f"{i:05d}.parquet"))
        q = shard_dir / f"{i:05d}.quarantine.parquet"
        if q.exists():
            quarantines.append(pq.read_table(q))
    table = pa.concat_tables(tables) if tables else empty_table()
    total.rows_out = table.num_rows
    write_parquet(_tag(plan, table), stage_output(plan, "scrape"))
    if quarantines:
        write_parquet(pa.concat_tables(quarantines), stage_quarantine(plan, "scrape"))
    total.notes["inputs"] = len(plan.scrape_inputs)
    return _save_counts(plan, total)


def run_license(plan: RunPlan) -> StageCounts:
    from biomass.stages.license import license_stage

    out = stage_output(plan, "license")
    counts = license_stage(plan.license_inputs, year=plan.year, config=plan.cfg.license, out_path=str(out),
                           quarantine_path=str(stage_quarantine(plan, "license")),
                           report_path=str(plan.staging / "license.report.json"))
    if out.exists():
        write_parquet(_tag(plan, pq.read_table(out)), out)
    return _save_counts(plan, counts)


def synthetic_target(plan: RunPlan) -> int:
    """How many synthetic docs make the configured share of this year's mix: n = s * H / (1 - s)."""
    human = load_counts(plan, "scrape").rows_out + load_counts(plan, "license").rows_out
    share = plan.cfg.synthetic_share
    return int(round(share * human / (1.0 - share))) if plan.parent is not None else 0


def run_synthesize(plan: RunPlan) -> StageCounts:
    """Train on the parent generation and write synthetic text; a chain's first year has no parent to learn from."""
    from biomass.synth import synthesize_stage

    train = [training_table(plan)] if plan.parent is not None else []
    counts = synthesize_stage(train, n=synthetic_target(plan), seed=plan.stage_seed("synthesize"), year=plan.year,
                              parent=plan.parent, config=plan.cfg.synthesize, provenance=plan.cfg.provenance,
                              out_path=str(stage_output(plan, "synthesize")))
    if plan.parent is None:
        counts.notes["chain_start"] = "no earlier generation under this data root: nothing to train on"
    return _save_counts(plan, counts)


HELD_OUT_SHARE = 0.1


def training_table(plan: RunPlan) -> pa.Table:
    """The parent generation minus the held-out reference documents (scored later for head/tail perplexity)."""
    from biomass.metrics import is_held_out

    parent = plan.store.read(plan.parent, columns=["doc_id", "text"])
    keep = [not is_held_out(d, HELD_OUT_SHARE) for d in parent.column("doc_id").to_pylist()]
    return parent.filter(pa.array(keep, type=pa.bool_()))


def run_assemble(plan: RunPlan) -> StageCounts:
    """The "repeat" stage: near-dedup this year's sources (within the year and against every earlier
    generation), cap the synthetic share of what is new, and mix with the parent's rows by policy."""
    from biomass.dedup import SignatureIndex, from_config

    cfg = plan.cfg
    new = pa.concat_tables([conform(_read(stage_output(plan, s))) for s in ("scrape", "license", "synthesize")])
    carried = empty_table()
    if cfg.policy == "accumulate" and plan.parent is not None:
        carried = conform(plan.store.read(plan.parent))
    index = SignatureIndex(index_root(plan)) if cfg.dedup.scope == "all" else None
    result = from_config(new, cfg.dedup, index=index, year=plan.year, earlier_texts=_earlier_texts(plan))
    _save_counts(plan, result.counts)
    write_parquet(result.clusters, plan.staging / "dedup.clusters.parquet")
    _dedup_quarantine(plan, result.dropped, new)

    kept = conform(result.kept)
    keep, capped = synthetic_cap(kept, cfg.synthetic_share if plan.parent is not None else 0.0)
    counts = StageCounts("assemble", rows_in=carried.num_rows + kept.num_rows)
    quarantine = Quarantine("assemble", counts)
    for row in kept.filter(pa.array(capped)).select(["doc_id", "text"]).to_pylist():
        quarantine.add("over_synthetic_share", doc_id=row["doc_id"], text=row["text"][:2_000],
                       detail=f"synthetic share of new rows capped at {cfg.synthetic_share}")
    quarantine.write(str(stage_quarantine(plan, "assemble")))
    mask = pa.array(keep)
    fresh = kept.filter(mask)
    signatures = result.kept_signatures[np.asarray(keep, dtype=bool)]
    # Deterministic order: carried rows first as they were, new rows by doc_id.
    order = pc.sort_indices(fresh, sort_keys=[("doc_id", "ascending")])
    generation = pa.concat_tables([carried, fresh.take(order)])
    write_parquet(generation, stage_output(plan, "assemble"))
    np.save(plan.staging / "dedup.signatures.npy", signatures[order.to_numpy()])
    write_parquet(fresh.take(order).select(["doc_id"]), plan.staging / "dedup.signature_ids.parquet")
    counts.rows_out = generation.num_rows
    counts.notes.update({"carried_from_parent": carried.num_rows, "new": fresh.num_rows, "policy": cfg.policy})
    return _save_counts(plan, counts)


def _earlier_texts(plan: RunPlan):
    """Texts of earlier generations by doc_id, so matches against history are verified on exact Jaccard."""
    cache: dict[int, dict[str, str]] = {}

    def lookup(year: int, doc_ids: list[str]) -> list[str]:
        if year not in cache:
            table = plan.store.read(year, columns=["doc_id", "text"])
            cache[year] = dict(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))
        return [cache[year][d] for d in doc_ids]

    return lookup


def synthetic_cap(rows: pa.Table, share: float) -> tuple[list[bool], list[bool]]:
    """Which rows to keep so synthetic rows are at most ``share`` of them: s <= share, i.e.
    synthetic <= share * other / (1 - share). Synthetic means what the tagger concluded (``origin``), so re-posted
    synthetic text found in a crawl counts too. The excess goes by largest doc_id (ids are content hashes)."""
    synthetic = [o == "synthetic" for o in rows.column("origin").to_pylist()]
    human = len(synthetic) - sum(synthetic)
    allowed = int(share * human / (1.0 - share)) if share < 1.0 else len(synthetic)
    ids = rows.column("doc_id").to_pylist()
    ranked = sorted((i for i, s in enumerate(synthetic) if s), key=lambda i: ids[i])
    drop = set(ranked[allowed:])
    keep = [i not in drop for i in range(len(ids))]
    return keep, [not k for k in keep]


def _dedup_quarantine(plan: RunPlan, dropped: pa.Table, new: pa.Table) -> None:
    """Every row dedup removed, with why it lost and to whom, in the year's quarantine."""
    text_of = dict(zip(new.column("doc_id").to_pylist(), new.column("text").to_pylist()))
    q = Quarantine("dedup")
    for row in dropped.to_pylist():
        winner = (f"generation {row['matched_generation']} doc {row['kept_doc_id']}"
                  if row.get("matched_generation") is not None else f"doc {row['kept_doc_id']}")
        q.add(row["reason"], doc_id=row["doc_id"], detail=f"near duplicate of {winner}",
              text=(text_of.get(row["doc_id"]) or "")[:2_000])
    q.write(str(stage_quarantine(plan, "dedup")))


def index_root(plan: RunPlan) -> Path:
    return Path(plan.data_root) / "index" / "minhash"


# -- collapse metrics -----------------------------------------------------------------------------------------

REFERENCE_PROFILE = Path("reference") / "profile.parquet"


def reference_profile(plan: RunPlan, rows: pa.Table):
    """The frozen human reference: a configured text set, else the human rows of the chain's first generation.

    A chain's first year builds it from its own human rows (published with it); later years load it.
    """
    from biomass.metrics import ReferenceProfile

    cfg = plan.cfg
    if cfg.reference:
        return ReferenceProfile.build(pq.read_table(cfg.reference, columns=["text"]).column("text").to_pylist(),
                                      cfg.metrics)
    published = Path(plan.data_root) / REFERENCE_PROFILE
    if plan.parent is None:
        return ReferenceProfile.build(_human_texts(rows), cfg.metrics)
    if published.exists():
        return ReferenceProfile.load(published)
    first = plan.store.published_years()[0]
    return ReferenceProfile.build(_human_texts(plan.store.read(first)), cfg.metrics)


def _human_texts(rows: pa.Table) -> list[str]:
    mask = pc.is_in(rows.column("origin"), pa.array(["human", "licensed"]))
    return rows.filter(mask).column("text").to_pylist()


def parent_model_perplexity(plan: RunPlan, reference) -> dict[str, Any]:
    """The parent-trained generator's perplexity on held-out head and tail reference text (never trained on)."""
    from biomass.metrics import head_tail_perplexity, is_held_out
    from biomass.synth import NgramModel

    first = plan.store.read(plan.store.published_years()[0], columns=["doc_id", "text", "origin"])
    held_out = [t for d, t, o in zip(*(first.column(c).to_pylist() for c in ("doc_id", "text", "origin")))
                if o in ("human", "licensed") and is_held_out(d, HELD_OUT_SHARE)]
    if not held_out:
        return {"perplexity_head": None, "perplexity_tail": None, "tail_head_ratio": None}
    model = NgramModel.train(training_table(plan).column("text").to_pylist(), plan.cfg.synthesize.order)
    figures = head_tail_perplexity(model, held_out, plan.cfg.metrics, reference=reference)
    return {k: figures[k] for k in ("perplexity_head", "perplexity_tail", "tail_head_ratio")}


def run_measure(plan: RunPlan) -> dict[str, Any]:
    """Collapse metrics of the assembled year against the reference and the parent; verdict for the gate."""
    from biomass.metrics import collapse_metrics, collapse_verdict

    cfg = plan.cfg
    rows = _read(stage_output(plan, "assemble"))
    reference = reference_profile(plan, rows)
    if plan.parent is None and not cfg.reference:
        reference.save(plan.staging / "reference.profile.parquet")
    previous = plan.store.read(plan.parent, columns=["text"]).column("text").to_pylist() if plan.parent else None
    dedup = load_counts(plan, "dedup")
    metrics = collapse_metrics(rows.column("text").to_pylist(), reference, previous=previous,
                               origins=rows.column("origin").to_pylist(),
                               duplicate_rate=dedup.rows_quarantined / max(dedup.rows_in, 1), config=cfg.metrics)
    if plan.parent is not None:
        metrics.update(parent_model_perplexity(plan, reference))
    verdict = collapse_verdict(metrics, cfg.metrics)
    out = {"metrics": metrics, "collapse": verdict}
    (plan.staging / "metrics.json").write_text(canonical_json(out) + "\n")
    for reason in verdict["reasons"]:
        log.warning("collapse %s: %s", verdict["status"], reason)
    return out


# -- tagging ------------------------------------------------------------------------------------------------

def _tag(plan: RunPlan, table: pa.Table) -> pa.Table:
    """Run the provenance tagger on a stage's input: `origin` must come from evidence, not from the label."""
    if table.num_rows == 0:
        return table
    from biomass.provenance import tag_table

    return tag_table(table, config=plan.cfg.provenance, reference=detector_reference(plan, table) or None)


DETECTOR_REFERENCE_DOCS = 400
MIN_DETECTOR_REFERENCE = 20


def detector_reference(plan: RunPlan, table: pa.Table) -> list[str]:
    """Human-era text to calibrate the foreign-generator detector: the chain's first generation, else this input.
    Too little of it (see StatDetector.fit) gives []: the detector then reports itself uncalibrated."""
    from biomass.provenance.detector import BUCKET_EDGES

    years = plan.store.published_years()
    source = plan.store.read(years[0], columns=["text", "human_era"]) if years else table
    texts = [t for t in source.filter(source.column("human_era")).column("text").to_pylist()
             if len(t.split()) >= BUCKET_EDGES[0]]
    return sorted(texts)[:DETECTOR_REFERENCE_DOCS] if len(texts) >= MIN_DETECTOR_REFERENCE else []


# -- gates --------------------------------------------------------------------------------------------------

GATE_INPUT = {"scrape": "scrape", "license": "license", "synthesize": "synthesize", "generation": "assemble",
              "collapse": "assemble"}


def gate_summary(plan: RunPlan, gate: str, rows: pa.Table) -> dict[str, Any]:
    """The stage-level figures a gate checks besides the rows themselves."""
    stage = GATE_INPUT[gate]
    if gate == "collapse":
        measured = json.loads((plan.staging / "metrics.json").read_text())["metrics"]
        return {k: (float(v) if isinstance(v, (int, float)) else None) for k, v in measured.items()
                if not isinstance(v, (dict, list))}
    if gate == "generation":
        dedup = load_counts(plan, "dedup")
        total = max(rows.num_rows, 1)
        origins = Counter(rows.column("origin").to_pylist())
        new_sources = Counter(rows.filter(pc.equal(rows.column("generation"), plan.year)).column("origin")
                              .to_pylist())
        new_total = max(sum(new_sources.values()), 1)
        parent_rows = plan.store.manifest(plan.parent)["rows"] if plan.parent is not None else None
        target = plan.cfg.synthetic_share if plan.parent is not None else 0.0
        drift = distribution_drift(plan.store.read(plan.parent, columns=["text", "lang"]), rows) \
            if plan.parent is not None else {"length_drift": None, "lang_drift": None}
        return {
            **drift,
            "duplicate_rate": dedup.rows_quarantined / max(dedup.rows_in, 1),
            "human_share": (origins["human"] + origins["licensed"]) / total,
            "synthetic_share": new_sources["synthetic"] / new_total,
            "synthetic_share_error": abs(new_sources["synthetic"] / new_total - target),
            "row_change": (rows.num_rows / parent_rows) if parent_rows else None,
        }
    counts = load_counts(plan, stage)
    return {"quarantined_fraction": counts.rows_quarantined / counts.rows_in if counts.rows_in else 0.0}


LENGTH_BINS = np.logspace(1, 7, 25)  # characters, log-spaced: 10 .. 10M


def distribution_drift(before: pa.Table, after: pa.Table) -> dict[str, float]:
    """Jensen-Shannon divergence (bits) of text-length histograms, and total variation of language shares."""
    def hist(table: pa.Table) -> np.ndarray:
        lengths = pc.utf8_length(table.column("text")).to_numpy(zero_copy_only=False)
        counts, _ = np.histogram(lengths, bins=LENGTH_BINS)
        return counts / max(counts.sum(), 1)

    p, q = hist(before), hist(after)
    m = (p + q) / 2
    def kl(a, b):
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / b[mask])))
    langs_before = Counter(before.column("lang").to_pylist())
    langs_after = Counter(after.column("lang").to_pylist())
    nb, na = max(sum(langs_before.values()), 1), max(sum(langs_after.values()), 1)
    tv = 0.5 * sum(abs(langs_before[k] / nb - langs_after[k] / na) for k in set(langs_before) | set(langs_after))
    return {"length_drift": 0.5 * kl(p, m) + 0.5 * kl(q, m), "lang_drift": tv}


def _derive(gate: str, rows: pa.Table, plan: RunPlan) -> pa.Table:
    for column in DERIVED_COLUMNS.get(gate, ()):
        if column == "signature_valid":
            from biomass.provenance.verify import row_verdicts

            valid = [v.ok for v in row_verdicts(rows, plan.cfg.provenance)]
            rows = rows.append_column("signature_valid", pa.array(valid, type=pa.bool_()))
    return rows


def run_gate_for(plan: RunPlan, gate: str, thresholds: dict[str, Any] | None = None) -> GateResult:
    """Validate a stage's output; record the verdict; raise GateFailed if the year must stop."""
    cfg = plan.cfg
    g = cfg.gates.model_copy(update=thresholds or {})
    if gate == "collapse":
        g = g.model_copy(update={"collapse_bounds": [b.model_dump() for b in cfg.metrics.bounds]})
    rows = _read(stage_output(plan, GATE_INPUT[gate]))
    summary = gate_summary(plan, gate, rows)
    result = run_gate(gate, _derive(gate, rows, plan), summary, g, gx_root=Path(plan.data_root) / "gx",
                      evidence_dir=plan.staging / "gates", run_name=f"{plan.year}-{gate}")
    gates_dir = plan.staging / "gates"
    gates_dir.mkdir(parents=True, exist_ok=True)
    (gates_dir / f"{gate}.json").write_text(canonical_json({**result.summary(), "summary": summary}) + "\n")
    log.info(result.explain())
    if not result.success:
        raise GateFailed(result)
    return result


# -- publish ------------------------------------------------------------------------------------------------

def publish(plan: RunPlan) -> dict[str, Any]:
    """Make the year visible: shards, quarantine, manifest last; then remember its signatures for dedup."""
    from biomass.dedup import SignatureIndex

    gates = {}
    for gate in GATE_INPUT:
        path = plan.staging / "gates" / f"{gate}.json"
        if not path.exists():
            raise RuntimeError(f"gate {gate!r} has not passed for {plan.year}; refusing to publish")
        verdict = json.loads(path.read_text())
        if not verdict["success"]:
            raise RuntimeError(f"gate {gate!r} failed for {plan.year}; refusing to publish")
        gates[gate] = verdict
    stages = {s: load_counts(plan, s).as_dict() for s in STAGES}
    table = pq.read_table(stage_output(plan, "assemble"))
    quarantines = [pq.read_table(p) for p in sorted(plan.staging.glob("*.quarantine.parquet"))]
    quarantine = pa.concat_tables(quarantines) if quarantines else None
    cfg = plan.cfg
    fields = {
        "config_hash": plan.config_hash,
        "seed": cfg.seed,
        "policy": cfg.policy,
        "synthetic_share_target": cfg.synthetic_share if plan.parent is not None else 0.0,
        "parent": plan.parent,
        "inputs": {"scrape": plan.scrape_inputs, "license": plan.license_inputs},
        "stages": stages,
        "gates": gates,
        "mix": mix_of(table),
        **json.loads((plan.staging / "metrics.json").read_text()),
    }
    manifest = plan.store.publish(plan.year, table, fields, quarantine=quarantine)
    staged_reference = plan.staging / "reference.profile.parquet"
    if staged_reference.exists():
        target = Path(plan.data_root) / REFERENCE_PROFILE
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(staged_reference, target.with_name(".profile.tmp"))
        target.with_name(".profile.tmp").replace(target)
    ids = pq.read_table(plan.staging / "dedup.signature_ids.parquet").column("doc_id").to_pylist()
    signatures = np.load(plan.staging / "dedup.signatures.npy")
    SignatureIndex(index_root(plan)).add_generation(plan.year, ids, signatures)
    log.info("published generation %s: %d rows in %d files", plan.year, manifest["rows"], len(manifest["files"]))
    return manifest


def mix_of(table: pa.Table) -> dict[str, dict[str, int]]:
    return {col: dict(sorted(Counter(table.column(col).to_pylist()).items())) for col in ("source", "origin")}


def asset_extra(manifest: dict[str, Any]) -> dict[str, Any]:
    """The figures an asset event carries: small, flat, and enough to read a year at a glance."""
    stages = manifest["stages"]
    return {
        "year": manifest["year"],
        "rows": manifest["rows"],
        "parent": manifest["parent"],
        "policy": manifest["policy"],
        "sources": manifest["mix"]["source"],
        "origins": manifest["mix"]["origin"],
        "duplicates_removed": stages["dedup"]["in"] - stages["dedup"]["out"],
        "quarantined": {s: sum(c["quarantined"].values()) for s, c in stages.items()},
        "gates": {g: v["success"] for g, v in manifest["gates"].items()},
        "config_hash": manifest["config_hash"],
        "metrics": {k: v for k, v in manifest.get("metrics", {}).items() if isinstance(v, (int, float))},
        "collapse": manifest.get("collapse", {}).get("status"),
    }


def run_year(plan: RunPlan) -> dict[str, Any]:
    """The whole year in one process, in DAG order (the shell and tests use this; the DAG runs the same steps)."""
    for i in range(len(plan.scrape_inputs)):
        run_scrape_shard(plan, i)
    merge_scrape(plan)
    run_gate_for(plan, "scrape")
    run_license(plan)
    run_gate_for(plan, "license")
    run_synthesize(plan)
    run_gate_for(plan, "synthesize")
    run_assemble(plan)
    run_gate_for(plan, "generation")
    run_measure(plan)
    run_gate_for(plan, "collapse")
    return publish(plan)


# -- CLI ----------------------------------------------------------------------------------------------------

def register(subparsers) -> None:
    p = subparsers.add_parser("run-year", help="build and publish one generation without Airflow")
    p.add_argument("year", type=int)
    p.add_argument("--config", help="config file (default: $BIOMASS_CONFIG or the bundled biomass.yaml)")
    p.add_argument("--data-root")
    p.add_argument("--scrape-input", action="append", dest="scrape_inputs")
    p.add_argument("--license-input", action="append", dest="license_inputs")
    p.add_argument("--policy", choices=["replace", "accumulate"])
    p.add_argument("--synthetic-share", type=float)
    p.add_argument("--seed", type=int)
    p.set_defaults(func=_cmd_run_year)

    g = subparsers.add_parser("generations", help="list the published generations of a data root")
    g.add_argument("--config")
    g.add_argument("--data-root")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_generations)


def _cmd_run_year(args) -> int:
    plan = make_plan(args.year, config_path=args.config, scrape_inputs=args.scrape_inputs,
                     license_inputs=args.license_inputs, data_root=args.data_root, policy=args.policy,
                     synthetic_share=args.synthetic_share, seed=args.seed)
    try:
        manifest = run_year(plan)
    except GateFailed as exc:
        print(exc)
        return 1
    print(f"published {manifest['year']}: {manifest['rows']} rows -> {plan.store.generation_dir(plan.year)}")
    return 0


def _cmd_generations(args) -> int:
    from biomass.report import generations_table

    root = args.data_root or load_config(args.config).data_root
    store = GenerationStore(root)
    if args.json:
        print(json.dumps([m for _, m in store.iter_published()], indent=2))
    else:
        print(generations_table(store))
    return 0
