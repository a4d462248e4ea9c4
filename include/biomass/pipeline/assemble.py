"""Stage 4, "repeat": near-dedup the year's sources against themselves and history, cap the synthetic share, mix."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline.plan import RunPlan, read_stage, save_counts, stage_output, stage_quarantine
from biomass.schema import conform, empty_table
from biomass.storage import write_parquet

log = logging.getLogger(__name__)


def run_assemble(plan: RunPlan) -> StageCounts:
    """The "repeat" stage: near-dedup this year's sources (within the year and against every earlier
    generation), cap the synthetic share of what is new, and mix with the parent's rows by policy."""
    from biomass.dedup import SignatureIndex, from_config

    cfg = plan.cfg
    new = pa.concat_tables([conform(read_stage(stage_output(plan, s))) for s in ("scrape", "license", "synthesize")])
    carried = empty_table()
    if cfg.policy == "accumulate" and plan.parent is not None:
        carried = conform(plan.store.read(plan.parent))
    plan.store.finish_retirements()   # a retire cut short must not leave withdrawn signatures to match against
    plan.store.finish_publishes()     # nor a publish cut short leave a published year out of the index
    index = SignatureIndex(index_root(plan)) if cfg.dedup.scope == "all" else None
    result = from_config(new, cfg.dedup, index=index, year=plan.year, earlier_texts=_earlier_texts(plan))
    save_counts(plan, result.counts)
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
    return save_counts(plan, counts)


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
    return plan.store.minhash_dir
