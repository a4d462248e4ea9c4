"""Near-duplicate removal for one generation: signatures -> LSH candidates -> verification -> clusters -> keep.

Definition (issue 4): documents whose shingle-set Jaccard is >= ``threshold`` belong in the same cluster
(clusters are connected components of that relation). Each cluster keeps one row, chosen by origin
(human > licensed > synthetic > unknown), then the earliest ``collected_at``, then the smallest ``doc_id``.
With a :class:`SignatureIndex`, rows that near-duplicate a document of an earlier published generation are
dropped from the new data only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterator, Literal, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.accounting import StageCounts
from biomass.dedup.lsh import candidate_pairs, choose_bands
from biomass.dedup.minhash import (_map, as_string_array, default_threads, jaccard_pairs, shingle_sets,
                                   signatures, text_table)

if TYPE_CHECKING:   # the index's parameters are a pydantic model (~0.2 s to import): only a run with one pays
    from biomass.dedup.index import SignatureIndex

ORIGIN_PRIORITY = ("human", "licensed", "synthetic", "unknown")
NEAR_DUPLICATE = "near_duplicate"
EARLIER_GENERATION = "near_duplicate_of_earlier_generation"

CLUSTERS_SCHEMA = pa.schema([pa.field("doc_id", pa.string(), nullable=False),
                             pa.field("cluster_id", pa.string(), nullable=False)])
DROPPED_SCHEMA = pa.schema([
    pa.field("doc_id", pa.string(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("kept_doc_id", pa.string(), metadata={"doc": "survivor of the cluster, or the earlier doc matched"}),
    pa.field("matched_generation", pa.int32(), metadata={"doc": "year of the earlier generation matched"}),
    pa.field("lost_on", pa.string(), metadata={"doc": "origin | collected_at | doc_id | earlier_generation"}),
])


@dataclass
class DedupResult:
    kept: pa.Table
    clusters: pa.Table
    dropped: pa.Table
    kept_signatures: np.ndarray | None     # None when the signatures stayed on disk (shards.SignedShards)
    counts: StageCounts
    notes: dict = field(default_factory=dict)
    kept_rows: np.ndarray | None = None     # input row numbers of ``kept``, ascending
    dropped_rows: np.ndarray | None = None  # input row numbers of ``dropped``, ascending (None: another order)
    # with ``clusters`` None: each row's cluster head (a row number) and the doc ids, for ``cluster_parts``
    cluster_heads: np.ndarray | None = None
    ids: pa.Array | None = None

    def quarantine_rows(self, table: pa.Table) -> list[dict]:
        """Dropped rows as ``Quarantine.add`` keyword dicts (text included), in input order."""
        text_by_id = dict(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))
        out = []
        for row in self.dropped.to_pylist():
            where = f" (generation {row['matched_generation']})" if row["matched_generation"] is not None else ""
            out.append({"reason": row["reason"], "doc_id": row["doc_id"], "text": text_by_id.get(row["doc_id"]),
                        "detail": f"kept {row['kept_doc_id']}{where}; lost on {row['lost_on']}"})
        return out


def _origin_rank(table: pa.Table, priority: Sequence[str]) -> np.ndarray:
    n = table.num_rows
    unknown = len(priority)
    if "origin" not in table.column_names:
        return np.full(n, priority.index("unknown") if "unknown" in priority else unknown, dtype=np.int64)
    rank = {name: i for i, name in enumerate(priority)}
    default = rank.get("unknown", unknown)
    names = pa.array(list(rank), pa.string())
    codes = pc.index_in(pc.cast(table.column("origin"), pa.string()), value_set=names)   # null: missing/other
    ranks = np.array([rank[name] for name in rank], dtype=np.int64)       # last wins, as a dict would
    found = np.asarray(pc.fill_null(codes, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.where(found >= 0, ranks[np.maximum(found, 0)], default)


def _collected_rank(table: pa.Table) -> np.ndarray:
    """Microseconds since epoch; missing -> after everything (a dated row beats an undated one)."""
    n = table.num_rows
    last = np.iinfo(np.int64).max
    if "collected_at" not in table.column_names:
        return np.full(n, last, dtype=np.int64)
    col = table.column("collected_at")
    if pa.types.is_timestamp(col.type):
        col = pc.cast(col, pa.timestamp("us", tz=col.type.tz))
    elif pa.types.is_date(col.type):
        col = pc.cast(pc.cast(col, pa.date32()), pa.timestamp("us"))
    elif pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        col = pc.cast(col, pa.timestamp("us"))
    else:
        raise ValueError(f"collected_at must be a timestamp, date or ISO string, got {col.type}")
    ints = pc.fill_null(pc.cast(col, pa.int64()), last)
    return np.asarray(ints.to_numpy(zero_copy_only=False), dtype=np.int64)


def components(n: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component label per row (labels are arbitrary; callers relabel).

    Union-find in numpy: every edge hooks the larger of its two roots under the smaller, then pointer jumping
    makes every row point at its root again, until no edge joins two roots. (scipy's csgraph gives the same
    partition, but importing it costs a command ~0.2 s.)
    """
    parent = np.arange(n, dtype=np.int64)
    if len(left) == 0:
        return parent
    left, right = np.asarray(left, dtype=np.int64), np.asarray(right, dtype=np.int64)
    while True:
        a, b = parent[left], parent[right]
        differ = a != b
        if not differ.any():
            return parent
        a, b = a[differ], b[differ]
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def _batches(pairs_local: np.ndarray, n_docs: int, batch_docs: int) -> list[np.ndarray]:
    """Group docs into batches of whole candidate-graph components, about ``batch_docs`` docs each, so every
    doc is hashed once and only one batch of shingle sets is in memory."""
    comp = components(n_docs, pairs_local[:, 0], pairs_local[:, 1])
    order = np.argsort(comp, kind="stable")
    comp_sorted = comp[order]
    starts = np.flatnonzero(np.concatenate([[True], comp_sorted[1:] != comp_sorted[:-1]]))
    out, begin = [], 0
    for s in starts[1:]:
        if s - begin >= batch_docs:
            out.append(order[begin:s])
            begin = s
    out.append(order[begin:])
    return out


def verified_pairs(arr: pa.Array | None, sigs: np.ndarray, pairs: np.ndarray, threshold: float,
                   verify: str, threads: int | None = None, table=None) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs whose (exact or estimated) Jaccard reaches ``threshold``."""
    ok = verified_mask(arr, sigs, pairs, threshold, verify, threads, table)
    return pairs[ok, 0], pairs[ok, 1]


def verified_mask(arr: pa.Array | None, sigs: np.ndarray | None, pairs: np.ndarray, threshold: float,
                  verify: str, threads: int | None = None, table=None) -> np.ndarray:
    """Per candidate pair (rows of ``arr`` / ``sigs``): does its exact or estimated Jaccard reach ``threshold``?
    ``exact`` needs only ``arr``, ``estimate`` only ``sigs``."""
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    left, right = pairs[:, 0], pairs[:, 1]
    if verify == "estimate":
        ok = np.empty(len(pairs), dtype=bool)
        for lo in range(0, len(pairs), 65536):
            sl = slice(lo, lo + 65536)
            ok[sl] = (sigs[left[sl]] == sigs[right[sl]]).mean(axis=1) >= threshold
        return ok
    if verify != "exact":
        raise ValueError(f"verify must be 'exact' or 'estimate', got {verify!r}")
    involved = np.unique(pairs.ravel())
    local = np.searchsorted(involved, pairs).astype(np.int64)
    ok = np.zeros(len(pairs), dtype=bool)
    batch_of = np.empty(len(involved), dtype=np.int64)
    pos_in_batch = np.empty(len(involved), dtype=np.int64)
    batches = _batches(local, len(involved), max(256, len(arr) // 64))
    for b, docs in enumerate(batches):
        batch_of[docs] = b
        pos_in_batch[docs] = np.arange(len(docs))
    pair_batch = batch_of[local[:, 0]]
    by_batch = np.argsort(pair_batch, kind="stable")
    cuts = np.searchsorted(pair_batch[by_batch], np.arange(len(batches) + 1))

    def verify_batch(b: int) -> None:
        docs, sel = batches[b], by_batch[cuts[b]:cuts[b + 1]]
        if len(sel) == 0:
            return
        rows_sorted = np.sort(involved[docs])
        offsets, hashes = shingle_sets(arr, rows_sorted, threads=1, table=table)
        # shingle_sets got the docs sorted by row; map batch positions to that order
        rank = np.empty(len(docs), dtype=np.int64)
        rank[np.argsort(involved[docs], kind="stable")] = np.arange(len(docs))
        sim = jaccard_pairs(offsets, hashes, rank[pos_in_batch[local[sel, 0]]], rank[pos_in_batch[local[sel, 1]]])
        ok[sel] = sim >= threshold

    # batches run side by side (the kernels release the GIL); each writes its own slots of ok
    _map(verify_batch, list(range(len(batches))), default_threads() if threads is None else threads)
    return ok


def deduplicate(table: pa.Table, *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                index: SignatureIndex | None = None, year: int | None = None,
                scope: Literal["year", "all"] = "all", origin_priority: Sequence[str] = ORIGIN_PRIORITY,
                verify: Literal["exact", "estimate"] = "exact", bands: int | None = None, rows: int | None = None,
                threads: int | None = None,
                earlier_texts: Callable[[int, list[str]], Sequence[str]] | None = None) -> DedupResult:
    """Cluster near duplicates in ``table`` and keep one row per cluster; see the module docstring.

    ``year``: the generation being built; only index generations before it are consulted (so a re-run after
    publishing does not match itself). ``scope="year"`` ignores the index. ``earlier_texts(year, doc_ids)``:
    texts of earlier docs, to verify cross-generation matches with exact Jaccard instead of the signatures.
    """
    for col in ("doc_id", "text"):
        if col not in table.column_names:
            raise ValueError(f"dedup input needs a {col!r} column; it has {table.column_names}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    arr = as_string_array(table.column("text"))
    table_ = text_table(arr)
    sigs = signatures(arr, num_perm=num_perm, seed=seed, threads=threads, table=table_)
    return cluster_and_keep(
        table, sigs, lambda pairs: verified_pairs(arr, sigs, pairs, threshold, verify, threads, table_),
        threshold=threshold, num_perm=num_perm, seed=seed, index=index, year=year, scope=scope,
        origin_priority=origin_priority, verify=verify, bands=bands, rows=rows, threads=threads, texts=arr,
        earlier_texts=earlier_texts)


def doc_ids(table: pa.Table) -> pa.Array:
    ids = table.column("doc_id")
    ids = (ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids).cast(pa.string())
    if ids.null_count:
        raise ValueError("doc_id must not be null")
    return ids


def cluster_and_keep(table: pa.Table, sigs: np.ndarray, verify_pairs: Callable[[np.ndarray], tuple],
                     *, threshold: float, num_perm: int, seed: int, index: SignatureIndex | None,
                     year: int | None, scope: str, origin_priority: Sequence[str], verify: str,
                     bands: int | None, rows: int | None, threads: int | None, texts=None,
                     earlier_texts=None, build_clusters: bool = True) -> DedupResult:
    """Everything after the signatures: LSH candidates, ``verify_pairs(pairs) -> (left, right)``, clusters,
    earlier generations, keep rule. ``table`` needs doc_id (and origin, collected_at if it has them), no text:
    the file backend hands it only those columns and verifies from the files."""
    n = table.num_rows
    ids = doc_ids(table)

    # 1. within-table clusters
    if bands is None or rows is None:
        bands, rows = choose_bands(threshold, num_perm)
    pairs = (sigs.candidate_pairs(bands, rows) if hasattr(sigs, "candidate_pairs")   # shards.SignedShards
             else candidate_pairs(sigs, bands, rows, threads=threads))
    left, right = verify_pairs(pairs)
    labels = components(n, left, right)

    # 2. earlier generations
    matched = np.zeros(n, dtype=bool)
    matched_year = np.full(n, -1, dtype=np.int64)
    matched_doc = np.full(n, None, dtype=object)
    if index is not None and scope == "all":
        if (index.params.num_perm, index.params.seed) != (num_perm, seed):
            raise ValueError(f"index at {index.root} uses num_perm={index.params.num_perm} "
                             f"seed={index.params.seed}, dedup asked for num_perm={num_perm} seed={seed}")
        hits = index.query(sigs, threshold=threshold, before_year=year, texts=texts,
                           earlier_texts=earlier_texts if verify == "exact" else None)
        matched[hits.rows] = True
        matched_year[hits.rows] = hits.years
        matched_doc[hits.rows] = np.array(hits.doc_ids, dtype=object)

    notes = {"threshold": threshold, "num_perm": num_perm, "seed": seed, "bands": bands, "rows": rows,
             "verify": verify, "candidate_pairs": int(len(pairs)), "verified_pairs": int(len(left)),
             "earlier_generation_matches": int(matched.sum()),
             "index_years": [y for y in (index.years() if index is not None and scope == "all" else [])
                             if year is None or y < year]}
    return assemble(table, ids, labels, sigs, matched, matched_year, matched_doc, origin_priority, notes,
                    build_clusters=build_clusters)


def priority_ranks(table: pa.Table, ids: pa.Array, origin_priority: Sequence[str]):
    """``(origin rank, collected_at rank, doc_id rank)`` per row; lower is kept first."""
    n = table.num_rows
    origin = _origin_rank(table, list(origin_priority))
    when = _collected_rank(table)
    id_rank = (np.asarray(pc.rank(ids, sort_keys="ascending", tiebreaker="first"), dtype=np.int64)
               if n else np.zeros(0, np.int64))
    return origin, when, id_rank


def assemble(table: pa.Table, ids: pa.Array, labels: np.ndarray, sigs: np.ndarray, matched: np.ndarray,
             matched_year: np.ndarray, matched_doc: np.ndarray, origin_priority: Sequence[str],
             notes: dict, build_clusters: bool = True) -> DedupResult:
    """From cluster labels to kept rows, clusters, dropped rows and counts (shared by every backend).
    ``build_clusters=False``: leave ``clusters`` None and keep each row's head instead (``cluster_parts``
    writes the table a row group at a time: a second column of every doc id never exists whole)."""
    n = table.num_rows
    # 3. keep priority: origin, collected_at, doc_id, then input position (a total order)
    origin, when, id_rank = priority_ranks(table, ids, origin_priority)
    prio = np.lexsort((np.arange(n), id_rank, when, origin))        # best first
    del id_rank                     # per-row temporaries go as soon as they are used: n * 8 bytes each
    rank = np.empty(n, dtype=np.int64)
    rank[prio] = np.arange(n)
    del prio

    # cluster head = best-ranked member; survivor = best-ranked member not matched to an earlier generation
    by_cluster = np.lexsort((rank, labels))
    del rank
    lab_sorted = labels[by_cluster]
    is_start = np.ones(n, dtype=bool)
    is_start[1:] = lab_sorted[1:] != lab_sorted[:-1]
    del lab_sorted
    starts = np.flatnonzero(is_start)
    seg = np.cumsum(is_start) - 1
    del is_start
    head_of = np.empty(n, dtype=np.int64)
    survivor_of = np.full(n, -1, dtype=np.int64)
    if n:
        head_of[by_cluster] = by_cluster[starts][seg]
        free_pos = np.where(matched[by_cluster], n, np.arange(n))
        first_free = np.minimum.reduceat(free_pos, starts)
        survivor = np.where(first_free < n, by_cluster[np.minimum(first_free, n - 1)], -1)
        survivor_of[by_cluster] = survivor[seg]
        del free_pos, first_free, survivor
    del by_cluster, seg

    keep = ~matched & (survivor_of == np.arange(n))
    dropped_rows = np.flatnonzero(~keep)
    from_old = matched[dropped_rows]
    surv = survivor_of[dropped_rows]
    surv_safe = np.where(surv >= 0, surv, 0)
    lost_code = np.where(origin[dropped_rows] != origin[surv_safe], 0,
                         np.where(when[dropped_rows] != when[surv_safe], 1, 2))
    old_mask = pa.array(from_old, pa.bool_())
    reasons = pc.if_else(old_mask, EARLIER_GENERATION, NEAR_DUPLICATE)
    kept_ids = pc.if_else(old_mask, pa.array(matched_doc[dropped_rows], pa.string()),
                          ids.take(pa.array(surv_safe, pa.int64())))
    gens = pa.array(matched_year[dropped_rows].astype(np.int32), pa.int32(), mask=~from_old)
    lost_codes = np.where(from_old, 3, lost_code)
    lost = pa.DictionaryArray.from_arrays(pa.array(lost_codes, pa.int8()),
                                          pa.array(["origin", "collected_at", "doc_id", "earlier_generation"]))
    dropped = pa.table({"doc_id": ids.take(pa.array(dropped_rows, pa.int64())),
                        "reason": reasons, "kept_doc_id": kept_ids,
                        "matched_generation": gens, "lost_on": lost.cast(pa.string())},
                       schema=DROPPED_SCHEMA)
    clusters = _cluster_part(ids, head_of, 0, n) if build_clusters else None
    kept_idx = np.flatnonzero(keep)
    kept = table.take(pa.array(kept_idx, type=pa.int64()))
    # compact the kept signatures in place (kept_idx[j] >= j), so they never exist twice; signatures on disk
    # (shards.SignedShards) stay there: the caller streams the kept ones out
    held = isinstance(sigs, np.ndarray)
    for lo in range(0, len(kept_idx) if held else 0, 1024):
        chunk = kept_idx[lo:lo + 1024]
        sigs[lo:lo + len(chunk)] = sigs[chunk]
    counts = StageCounts(stage="dedup", rows_in=n, rows_out=len(kept_idx),
                         quarantined=Counter({reason: k for reason, k in (
                             (NEAR_DUPLICATE, int((~from_old).sum())), (EARLIER_GENERATION, int(from_old.sum())))
                             if k}))
    notes = {**notes, "clusters": int(len(starts)),
             "multi_doc_clusters": int(np.sum(np.diff(np.append(starts, n)) > 1))}
    counts.notes.update(notes)
    return DedupResult(kept=kept, clusters=clusters, dropped=dropped, kept_signatures=sigs[:len(kept_idx)] if held else None,
                       counts=counts.check(), notes=notes, kept_rows=kept_idx, dropped_rows=dropped_rows,
                       cluster_heads=None if build_clusters else head_of, ids=None if build_clusters else ids)


def _cluster_part(ids: pa.Array, heads: np.ndarray, lo: int, hi: int) -> pa.Table:
    return pa.table({"doc_id": ids.slice(lo, hi - lo), "cluster_id": ids.take(pa.array(heads[lo:hi], pa.int64()))},
                    schema=CLUSTERS_SCHEMA)


def cluster_parts(result: DedupResult, rows: int) -> Iterator[pa.Table]:
    """The clusters table (doc_id, cluster_id per row) in pieces of ``rows`` rows, in order."""
    if result.clusters is not None:
        yield from (result.clusters.slice(lo, rows) for lo in range(0, result.clusters.num_rows, rows))
        return
    n = len(result.cluster_heads)
    for lo in range(0, n, rows):
        yield _cluster_part(result.ids, result.cluster_heads, lo, min(lo + rows, n))


def cluster_table(result: DedupResult) -> pa.Table:
    """The clusters table whole (tests and small inputs; the pipeline writes ``cluster_parts``)."""
    parts = list(cluster_parts(result, 1 << 30))
    return parts[0] if len(parts) == 1 else pa.concat_tables(parts) if parts else CLUSTERS_SCHEMA.empty_table()
