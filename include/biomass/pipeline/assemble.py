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

from biomass.accounting import StageCounts, quarantine_table
from biomass.pipeline.filtering import filtered_files
from biomass.pipeline.plan import RunPlan, save_counts, stage_output, stage_quarantine
from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, conform
from biomass.dedup.engine import CLUSTERS_SCHEMA, cluster_parts
from biomass.storage import SHARD_ROWS, ShardWriter, write_parquet, write_parquet_parts

log = logging.getLogger(__name__)

SIGNED = "dedup/signed"     # under staging/<year>/: the signed shards (biomass.dedup.shards)


def assemble_inputs(plan: RunPlan) -> list[Path]:
    """The files of the year's new rows after the filter stage, in the order dedup numbers them: one per
    scrape tagged part, the licence file, each synthesize part (``biomass.pipeline.filtering.filtered_files``;
    the stage inputs themselves when no filter is configured). ``sign_shard`` signs one of them."""
    return filtered_files(plan)


def signed_folder(plan: RunPlan) -> Path:
    return plan.staging / SIGNED


def sign_shard(plan: RunPlan, index: int) -> int:
    """The mapped step before ``run_assemble``: MinHash signatures (and band keys, text lengths, code points)
    of input file ``index`` of ``assemble_inputs``, into ``staging/<year>/dedup/signed/``. Returns its rows.
    With the Spark backend there is nothing to sign (Spark signs what it reads)."""
    from biomass.dedup.shards import sign_file

    cfg = plan.cfg
    if getattr(cfg.dedup, "backend", "local") == "spark":
        return 0
    record = sign_file(assemble_inputs(plan)[index], signed_folder(plan), index, num_perm=cfg.dedup.num_perm,
                       seed=cfg.dedup.seed, threshold=cfg.dedup.threshold)
    return int(record["rows"])


def run_assemble(plan: RunPlan) -> StageCounts:
    """The "repeat" stage: near-dedup this year's sources (within the year and against every earlier
    generation), cap the synthetic share of what is new, and mix with the parent's rows by policy.

    The reduction after ``sign_shard`` (every shard must be signed). Order of the generation: the parent's
    shards first as they were (``accumulate``), then the new rows that survive, in input order (scrape,
    license, synthesize; each in its file's order)."""
    from biomass.dedup.files import Inputs

    cfg = plan.cfg
    inputs_paths = assemble_inputs(plan)
    plan.store.finish_retirements()   # a retire cut short must not leave withdrawn signatures to match against
    plan.store.finish_publishes()     # a publish cut short must not leave its signatures out of the index
    carried = plan.store.shard_paths(plan.parent) if cfg.policy == "accumulate" and plan.parent is not None else []
    carried_rows = plan.store.read_manifest(plan.parent).rows if carried else 0

    inputs = Inputs(inputs_paths) if inputs_paths else None
    n = inputs.num_rows if inputs is not None else 0
    result, shards = _dedup(plan, inputs)
    save_counts(plan, result.counts)
    write_parquet_parts(cluster_parts(result, SHARD_ROWS), plan.staging / "dedup.clusters.parquet", CLUSTERS_SCHEMA)
    result.clusters = result.cluster_heads = result.ids = None

    kept_keys = result.kept
    keep = synthetic_cap(kept_keys, cfg.synthetic_share if plan.parent is not None else 0.0)[0]
    kept_rows = np.asarray(result.kept_rows, dtype=np.int64)
    write = np.zeros(n, dtype=bool)
    write[kept_rows[keep]] = True
    capped_rows = kept_rows[~keep]                      # ascending
    dropped_rows, dropped = _dropped_by_row(result, inputs, kept_rows)
    # the kept rows' keys (doc_id, origin, collected_at: ~60 bytes a row) are done with once their ids are out
    write_parquet(pa.table({"doc_id": kept_keys.column("doc_id").filter(pa.array(keep))}),
                  plan.staging / "dedup.signature_ids.parquet")
    kept_count = int(kept_keys.num_rows)
    result.kept = kept_keys = None

    counts = StageCounts("assemble", rows_in=carried_rows + kept_count)
    sinks = _QuarantineSinks(plan)
    with ShardWriter(stage_output(plan, "assemble"), RECORD_SCHEMA) as out, sinks:
        for shard in carried:
            out.add_shard(shard)
        for start, batch in (inputs.batches() if inputs is not None else ()):
            table = conform(pa.Table.from_batches([batch]))
            stop = start + table.num_rows
            out.write_table(table.filter(pa.array(write[start:stop])))
            sinks.add(table, start, dropped_rows, dropped, capped_rows, cfg.synthetic_share)
    if sinks.dedup_rows != len(dropped_rows):
        raise RuntimeError(f"{len(dropped_rows)} rows dropped by dedup, {sinks.dedup_rows} found in the inputs")
    if sinks.capped_rows:
        counts.quarantined["over_synthetic_share"] += sinks.capped_rows

    _save_fresh_signatures(plan, result, shards, keep, kept_rows[keep])
    counts.rows_out = out.rows
    counts.notes.update({"carried_from_parent": carried_rows, "new": int(keep.sum()), "policy": cfg.policy,
                         "shards": len(out.files), "carried_shards": len(carried)})
    return save_counts(plan, counts)


def _save_fresh_signatures(plan: RunPlan, result, shards, keep: np.ndarray, fresh_rows: np.ndarray) -> None:
    """``dedup.signatures.npy`` (what publish adds to the index): the new rows kept, streamed from the signed
    shards a window at a time, or from the backend's result where it held them."""
    path = plan.staging / "dedup.signatures.npy"
    if shards is None:
        np.save(path, result.kept_signatures[keep])
        return
    from biomass.dedup.shards import write_npy_rows

    write_npy_rows(shards.take_chunks(fresh_rows), len(fresh_rows), plan.cfg.dedup.num_perm, path)


def _dropped_by_row(result, inputs, kept_rows: np.ndarray) -> tuple[np.ndarray, pa.Table]:
    """Dedup's dropped rows by input row number: ``(rows ascending, their rows of result.dropped)``, matched by
    doc_id (the k-th input row with an id among the dropped takes the k-th dropped entry with that id, so a
    backend that lists them in another order still lines up). Either way ``_QuarantineSinks.add`` checks each
    dropped entry's doc_id against the input row it is written for."""
    if inputs is None:
        return np.zeros(0, np.int64), result.dropped
    if result.dropped_rows is not None:   # the local backend lists them by row already: no keys to re-read
        if len(result.dropped_rows) + len(kept_rows) != inputs.num_rows:
            raise RuntimeError(f"dedup dropped {len(result.dropped_rows)} rows but kept {len(kept_rows)} of "
                               f"{inputs.num_rows}")
        return np.asarray(result.dropped_rows, dtype=np.int64), result.dropped
    keep = np.zeros(inputs.num_rows, dtype=bool)
    keep[kept_rows] = True
    rows = np.flatnonzero(~keep)
    if len(rows) != result.dropped.num_rows:
        raise RuntimeError(f"dedup dropped {result.dropped.num_rows} rows but kept {len(kept_rows)} of "
                           f"{inputs.num_rows}")
    if not len(rows):
        return rows, result.dropped
    ids = inputs.keys().column("doc_id").take(pa.array(rows))
    by_input = np.asarray(pc.sort_indices(pa.table({"id": ids, "at": np.arange(len(rows))}),
                                          [("id", "ascending"), ("at", "ascending")]))
    dropped = result.dropped
    by_result = np.asarray(pc.sort_indices(pa.table({"id": dropped.column("doc_id"), "at": np.arange(len(rows))}),
                                           [("id", "ascending"), ("at", "ascending")]))
    entry = np.empty(len(rows), dtype=np.int64)
    entry[by_input] = by_result
    table = dropped.take(pa.array(entry))
    mismatch = pc.not_equal(table.column("doc_id"), ids)
    if pc.any(mismatch).as_py():
        first = int(np.flatnonzero(np.asarray(mismatch))[0])
        raise RuntimeError(f"dedup's dropped row {int(rows[first])} is {table.column('doc_id')[first]}, "
                           f"the input holds {ids[first]}")
    return rows, table


class _QuarantineSinks:
    """The dedup and assemble quarantines, streamed batch by batch (text cut to ``QUARANTINE_TEXT_CHARS``),
    never held: the rows dedup dropped and the rows the synthetic cap set aside."""

    def __init__(self, plan: RunPlan):
        from biomass.storage import ParquetStream

        self.dedup = ParquetStream(stage_quarantine(plan, "dedup"), QUARANTINE_SCHEMA)
        self.capped = ParquetStream(stage_quarantine(plan, "assemble"), QUARANTINE_SCHEMA)
        self.dedup_rows = self.capped_rows = 0

    def __enter__(self) -> "_QuarantineSinks":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        for sink in (self.dedup, self.capped):
            sink.__exit__(exc_type, exc, tb)

    def add(self, table: pa.Table, start: int, dropped_rows: np.ndarray, dropped: pa.Table,
            capped_rows: np.ndarray, share: float) -> None:
        stop = start + table.num_rows
        lo, hi = np.searchsorted(dropped_rows, [start, stop])
        if hi > lo:
            here = table.take(pa.array(dropped_rows[lo:hi] - start))
            d = dropped.slice(lo, hi - lo)
            if not pc.all(pc.equal(d.column("doc_id"), here.column("doc_id"))).as_py():
                raise RuntimeError(f"dedup's dropped rows {lo}..{hi} do not match the input rows {start}..{stop}")
            year = pc.cast(d.column("matched_generation"), pa.string())
            winner = pc.if_else(pc.is_null(year), pc.binary_join_element_wise("doc ", d.column("kept_doc_id"), ""),
                                pc.binary_join_element_wise("generation ", year, " doc ", d.column("kept_doc_id"),
                                                            ""))
            detail = pc.binary_join_element_wise("near duplicate of ", winner, "")
            self.dedup.write_table(quarantine_table("dedup", here, d.column("reason"), detail, with_url=False))
            self.dedup_rows += hi - lo
        lo, hi = np.searchsorted(capped_rows, [start, stop])
        if hi > lo:
            here = table.take(pa.array(capped_rows[lo:hi] - start))
            self.capped.write_table(quarantine_table("assemble", here, "over_synthetic_share",
                                                     f"synthetic share of new rows capped at {share}", with_url=False))
            self.capped_rows += here.num_rows


def _dedup(plan: RunPlan, inputs):
    """``(result, signed shards or None)``: the dedup result for the year's new rows, with ``kept_rows`` (input
    row numbers, ascending). The local backend reads the signatures ``sign_shard`` wrote."""
    from biomass.dedup import SignatureIndex
    from biomass.dedup.files import deduplicate_signed
    from biomass.dedup.shards import SignedShards

    cfg = plan.cfg
    index = SignatureIndex(index_root(plan)) if cfg.dedup.scope == "all" else None
    if inputs is None:
        return _empty_dedup(), None
    if getattr(cfg.dedup, "backend", "local") == "spark":
        return _dedup_spark(plan, inputs, index), None
    shards = SignedShards(signed_folder(plan), inputs.paths, num_perm=cfg.dedup.num_perm, seed=cfg.dedup.seed)
    return deduplicate_signed(inputs, shards, threshold=cfg.dedup.threshold, num_perm=cfg.dedup.num_perm,
                              seed=cfg.dedup.seed, index=index, year=plan.year,
                              earlier_texts=_earlier_texts(plan)), shards


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

    def lookup(year: int, doc_ids: list[str]) -> pa.Array:
        wanted = pa.array(sorted(set(doc_ids)), pa.string())
        hits = [hit for batch in plan.store.iter_batches(year, ["doc_id", "text"])
                if (hit := batch.filter(pc.is_in(batch.column("doc_id"), value_set=wanted))).num_rows]
        found = pa.concat_tables(hits) if hits else None      # iter_batches yields small tables
        if found is None or found.num_rows == 0:
            raise KeyError(f"generation {year} holds none of the {len(doc_ids)} documents asked for")
        where = pc.index_in(pa.array(doc_ids, pa.string()), value_set=found.column("doc_id").combine_chunks())
        if where.null_count:
            missing = pc.filter(pa.array(doc_ids, pa.string()), pc.is_null(where))
            raise KeyError(f"generation {year} has no document {missing[0]}")
        return found.column("text").combine_chunks().take(where)

    return lookup


def synthetic_cap(rows: pa.Table, share: float) -> tuple[np.ndarray, np.ndarray]:
    """Which rows to keep so synthetic rows are at most ``share`` of them: s <= share, i.e.
    synthetic <= share * other / (1 - share). Synthetic means what the tagger concluded (``origin``), so re-posted
    synthetic text found in a crawl counts too. The excess goes by largest doc_id (ids are content hashes; equal
    ids by position). Returns ``(keep, capped)`` boolean arrays."""
    synthetic = np.asarray(pc.fill_null(pc.equal(rows.column("origin"), "synthetic"), False), dtype=bool)
    n = len(synthetic)
    human = n - int(synthetic.sum())
    allowed = int(share * human / (1.0 - share)) if share < 1.0 else n
    candidates = np.flatnonzero(synthetic)
    ids = rows.column("doc_id").take(pa.array(candidates, pa.int64()))
    ranked = candidates[np.asarray(pc.sort_indices(pa.table({"id": ids, "at": candidates}),
                                                   [("id", "ascending"), ("at", "ascending")]), dtype=np.int64)]
    keep = np.ones(n, dtype=bool)
    keep[ranked[allowed:]] = False
    return keep, ~keep


def index_root(plan: RunPlan) -> Path:
    return plan.store.minhash_dir
