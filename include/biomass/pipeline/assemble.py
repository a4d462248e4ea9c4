"""Stage 4, "repeat": near-dedup the year's sources against themselves and history, cap the synthetic share, mix.

Streams: the year's new rows are deduplicated from their stage files (``biomass.dedup.files``: text is read in
passes, never held), the parent's rows are carried as its published shards unchanged (linked, not re-encoded),
and the generation is written as a shard set (``staging/<year>/generation/``) that publish links into place.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.accounting import Quarantine, StageCounts
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import RECORD_SCHEMA, conform
from biomass.storage import ShardWriter, dataset_files, write_parquet

log = logging.getLogger(__name__)

NEW_SOURCES = ("scrape", "license", "synthesize")
QUARANTINE_TEXT_CHARS = 2_000


def run_assemble(plan: RunPlan) -> StageCounts:
    """The "repeat" stage: near-dedup this year's sources (within the year and against every earlier
    generation), cap the synthetic share of what is new, and mix with the parent's rows by policy.

    Order of the generation: the parent's shards first as they were (``accumulate``), then the new rows that
    survive, in input order (scrape, license, synthesize; each in its file's order)."""
    from biomass.dedup.files import Inputs

    cfg = plan.cfg
    inputs_paths = [f for s in NEW_SOURCES for f in dataset_files(stage_output(plan, s))]
    plan.store.finish_retirements()   # a retire cut short must not leave withdrawn signatures to match against
    plan.store.finish_publishes()     # a publish cut short must not leave its signatures out of the index
    carried = plan.store.shard_paths(plan.parent) if cfg.policy == "accumulate" and plan.parent is not None else []
    carried_rows = plan.store.manifest(plan.parent)["rows"] if carried else 0

    inputs = Inputs(inputs_paths) if inputs_paths else None
    result = _dedup(plan, inputs)
    save_counts(plan, result.counts)
    write_parquet(result.clusters, plan.staging / "dedup.clusters.parquet")

    kept_keys = result.kept
    keep, capped = synthetic_cap(kept_keys, cfg.synthetic_share if plan.parent is not None else 0.0)
    keep = np.asarray(keep, dtype=bool)
    kept_rows = np.asarray(result.kept_rows, dtype=np.int64)
    write = np.zeros(inputs.num_rows if inputs is not None else 0, dtype=bool)
    write[kept_rows[keep]] = True
    capped_rows = set(kept_rows[~keep].tolist())
    dropped = _dropped_by_row(result, inputs, kept_rows)

    counts = StageCounts("assemble", rows_in=carried_rows + int(kept_keys.num_rows))
    quarantine = Quarantine("assemble", counts)
    dedup_quarantine = Quarantine("dedup")
    with ShardWriter(stage_output(plan, "assemble"), RECORD_SCHEMA) as out:
        for shard in carried:
            out.add_shard(shard)
        for start, batch in (inputs.batches() if inputs is not None else ()):
            table = conform(pa.Table.from_batches([batch]))
            stop = start + table.num_rows
            out.write_table(table.filter(pa.array(write[start:stop])))
            _quarantine_rows(table, start, dropped, capped_rows, dedup_quarantine, quarantine, cfg.synthetic_share)
    if len(dedup_quarantine) != len(dropped):
        raise RuntimeError(f"{len(dropped)} rows dropped by dedup, {len(dedup_quarantine)} found in the inputs")
    dedup_quarantine.write(str(stage_quarantine(plan, "dedup")))
    quarantine.write(str(stage_quarantine(plan, "assemble")))

    fresh_ids = kept_keys.column("doc_id").filter(pa.array(keep))
    np.save(plan.staging / "dedup.signatures.npy", result.kept_signatures[keep])
    write_parquet(pa.table({"doc_id": fresh_ids}), plan.staging / "dedup.signature_ids.parquet")
    counts.rows_out = out.rows
    counts.notes.update({"carried_from_parent": carried_rows, "new": int(keep.sum()), "policy": cfg.policy,
                         "shards": len(out.files), "carried_shards": len(carried)})
    return save_counts(plan, counts)


def _dropped_by_row(result, inputs, kept_rows: np.ndarray) -> dict[int, dict]:
    """Dedup's dropped rows keyed by input row number (the rows not kept), matched by doc_id in input order."""
    if inputs is None:
        return {}
    rows = np.setdiff1d(np.arange(inputs.num_rows, dtype=np.int64), kept_rows)
    if len(rows) != result.dropped.num_rows:
        raise RuntimeError(f"dedup dropped {result.dropped.num_rows} rows but kept {len(kept_rows)} of "
                           f"{inputs.num_rows}")
    ids = inputs.keys().column("doc_id").to_pylist()
    by_id: dict[str, list[dict]] = {}
    for row in result.dropped.to_pylist():
        by_id.setdefault(row["doc_id"], []).append(row)
    return {int(r): by_id[ids[r]].pop(0) for r in rows}


def _quarantine_rows(table: pa.Table, start: int, dropped: dict[int, dict], capped: set[int],
                     dedup_quarantine: Quarantine, quarantine: Quarantine, share: float) -> None:
    """Quarantine rows of this input batch that dedup dropped or the synthetic cap set aside, with their text."""
    stop = start + table.num_rows
    here = [r for r in range(start, stop) if r in dropped or r in capped]
    if not here:
        return
    rows = table.take(pa.array([r - start for r in here], pa.int64())).select(["doc_id", "text"]).to_pylist()
    for r, row in zip(here, rows):
        text = (row["text"] or "")[:QUARANTINE_TEXT_CHARS]
        if r in dropped:
            d = dropped[r]
            if d["doc_id"] != row["doc_id"]:
                raise RuntimeError(f"dedup's dropped row {r} is {d['doc_id']}, the input holds {row['doc_id']}")
            winner = (f"generation {d['matched_generation']} doc {d['kept_doc_id']}"
                      if d.get("matched_generation") is not None else f"doc {d['kept_doc_id']}")
            dedup_quarantine.add(d["reason"], doc_id=d["doc_id"], detail=f"near duplicate of {winner}", text=text)
        else:
            quarantine.add("over_synthetic_share", doc_id=row["doc_id"], text=text,
                           detail=f"synthetic share of new rows capped at {share}")


def _dedup(plan: RunPlan, inputs):
    """The dedup result for the year's new rows, with ``kept_rows`` (input row numbers, ascending)."""
    from biomass.dedup import SignatureIndex
    from biomass.dedup.files import deduplicate_inputs

    cfg = plan.cfg
    index = SignatureIndex(index_root(plan)) if cfg.dedup.scope == "all" else None
    if inputs is None:
        return _empty_dedup()
    if getattr(cfg.dedup, "backend", "local") == "spark":
        return _dedup_spark(plan, inputs, index)
    return deduplicate_inputs(inputs, threshold=cfg.dedup.threshold, num_perm=cfg.dedup.num_perm,
                              seed=cfg.dedup.seed, index=index, year=plan.year, earlier_texts=_earlier_texts(plan))


def _dedup_spark(plan: RunPlan, inputs, index):
    """The Spark backend reads the new rows as one table (Spark is where such a table belongs); kept rows are
    mapped back to input positions by doc_id, in input order."""
    from biomass.dedup import from_config
    from biomass.storage import dataset_batches

    table = pa.concat_tables([conform(pa.Table.from_batches([b])) for p in inputs.paths for b in dataset_batches(p)])
    result = from_config(table, plan.cfg.dedup, index=index, year=plan.year, earlier_texts=_earlier_texts(plan))
    positions: dict[str, list[int]] = {}
    for i, doc_id in enumerate(table.column("doc_id").to_pylist()):
        positions.setdefault(doc_id, []).append(i)
    rows = [positions[d].pop(0) for d in result.kept.column("doc_id").to_pylist()]
    order = np.argsort(rows, kind="stable")
    result.kept = result.kept.take(pa.array(order)).select(["doc_id", "origin"])
    result.kept_signatures = result.kept_signatures[order]
    result.kept_rows = np.asarray(rows, dtype=np.int64)[order]
    return result


def _empty_dedup():
    from biomass.dedup import deduplicate
    from biomass.schema import empty_table

    result = deduplicate(empty_table())
    result.kept_rows = np.zeros(0, dtype=np.int64)
    return result


def _earlier_texts(plan: RunPlan):
    """Texts of earlier generations' documents by doc_id, so matches against history are verified on exact
    Jaccard. Each call streams that generation's shards and keeps only the asked-for texts."""

    def lookup(year: int, doc_ids: list[str]) -> list[str]:
        wanted = pa.array(sorted(set(doc_ids)), pa.string())
        found: dict[str, str] = {}
        for batch in plan.store.iter_batches(year, ["doc_id", "text"]):
            hit = batch.filter(pc.is_in(batch.column("doc_id"), value_set=wanted))
            found.update(zip(hit.column("doc_id").to_pylist(), hit.column("text").to_pylist()))
        return [found[d] for d in doc_ids]

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


def index_root(plan: RunPlan) -> Path:
    return plan.store.minhash_dir
