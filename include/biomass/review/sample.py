"""The review sample: what a curator reads before a year is published, drawn deterministically from staging.

Four kinds, each a bounded selection made while streaming the staged files a batch at a time (memory follows
the sample's size and one batch, never the year's):

- ``rare_words``: this year's new documents with the most distinct words that are rare in the frozen reference
  (the tails collapse erases first), ties by doc_id;
- ``synthetic`` and ``unknown_origin``: new documents the tagger called synthetic, or could not place;
- ``near_duplicate``: rows dedup removed, each with the document it matched (this year's, or an earlier
  generation's) next to it;
- ``quarantined``: rows of every other stage's quarantine, a few of each stage and reason.

"Deterministic" picks (all but rare_words) take the rows with the smallest ``blake2b(seed, key)``: the same
staging and seed give the same sample, and a year's sample is no fixed slice of its files. Only the year's new
rows are sampled: rows carried from the parent were reviewed when the parent was published. Written as
``staging/<year>/review/sample.parquet``.
"""

from __future__ import annotations

import hashlib
import heapq
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.cpus import usable_cpus
from biomass.storage import dataset_files, parquet_batches, write_parquet
from biomass.threads import ordered_map

if TYPE_CHECKING:
    from biomass.pipeline.plan import RunPlan

REVIEW_DIR = "review"
SAMPLE_FILE = "sample.parquet"
KINDS = ("rare_words", "synthetic", "unknown_origin", "near_duplicate", "quarantined")
# The dedup quarantine's detail, as assemble writes it: "near duplicate of [generation Y ]doc ID".
_MATCHED = re.compile(r"near duplicate of (?:generation (?P<year>\d+) )?doc (?P<doc>\S+)")
# The metrics' tokens are runs of ``\w`` after NFKC + lowercase (biomass.lm.tokenize.nfkc_word_tokens); in RE2
# terms a separator is anything but a letter, a number or "_".
_SEPARATOR = r"[^\p{L}\p{N}_]+"
_RARE_SHOWN = 12

SAMPLE_SCHEMA = pa.schema([
    pa.field("kind", pa.string(), nullable=False),
    pa.field("rank", pa.int32(), nullable=False),
    pa.field("doc_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("origin", pa.string()),
    pa.field("stage", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("detail", pa.string()),
    pa.field("locator", pa.string()),
    pa.field("url", pa.string()),
    pa.field("score", pa.float64()),
    pa.field("rare_words", pa.list_(pa.string())),
    pa.field("matched_generation", pa.int32()),
    pa.field("matched_doc_id", pa.string()),
    pa.field("matched_text", pa.string()),
    pa.field("text", pa.string()),
])


def review_dir(plan: "RunPlan") -> Path:
    return plan.staging / REVIEW_DIR


def sample_path(plan: "RunPlan") -> Path:
    return review_dir(plan) / SAMPLE_FILE


def pick_key(seed: int, key: str) -> bytes:
    """The order deterministic picks follow: a seeded hash, so no file position decides what is shown."""
    return hashlib.blake2b(f"{seed}\0{key}".encode(), digest_size=16).digest()


class _Smallest:
    """The ``k`` entries with the smallest sort keys seen so far (a bounded heap; ties by arrival)."""

    def __init__(self, k: int):
        self.k, self._heap, self._n = k, [], 0

    def offer(self, key, item_fn) -> None:
        """``item_fn`` builds the item only when it is kept (most offers are not)."""
        if self.k <= 0:
            return
        self._n += 1
        entry = (_Neg(key), -self._n)
        if len(self._heap) < self.k:
            heapq.heappush(self._heap, (entry, item_fn()))
        elif entry > self._heap[0][0]:
            heapq.heapreplace(self._heap, (entry, item_fn()))

    def items(self) -> list:
        return [item for _, item in sorted(self._heap, key=lambda e: (e[0][0].key, -e[0][1]))]


class _Neg:
    """Inverts an order, so a min-heap keeps the largest inverted (= smallest) keys at its root to evict."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key

    def __lt__(self, other: "_Neg") -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Neg) and self.key == other.key


def rare_reference_words(profile_path: Path, metrics_config) -> pa.Array:
    """The reference's rare words (the metrics' rule), as an Arrow string array: no Python string per word."""
    from biomass.metrics.rare import rare_mask

    table = pq.read_table(profile_path, columns=["kind", "word", "count"])
    words = table.filter(pc.equal(table.column("kind"), "word"))
    mask = rare_mask(words.column("count").to_numpy().astype(np.int64), metrics_config)
    return words.column("word").combine_chunks().filter(pa.array(mask))


def rare_word_hits(texts: pa.Array | pa.ChunkedArray, rare: pa.Array) -> tuple[np.ndarray, pa.Array, np.ndarray]:
    """Per document, how many distinct reference-rare words it holds: ``(scores, rare tokens, their docs)``.

    Tokenised in Arrow as the metrics tokenise in Python (NFKC, lowercase, runs of letters/numbers/_); the rare
    set is first cut to the words this batch holds, so each batch's lookup table is small."""
    n = len(texts)
    lowered = pc.utf8_lower(pc.utf8_normalize(pc.fill_null(texts, ""), "NFKC"))
    tokens = pc.split_pattern_regex(lowered, _SEPARATOR)
    flat = pc.list_flatten(tokens)
    parents = np.asarray(pc.list_parent_indices(tokens))
    present = pc.unique(flat)
    here = rare.filter(pc.is_in(rare, value_set=present)) if len(present) else rare.slice(0, 0)
    hit = np.asarray(pc.is_in(flat, value_set=here).fill_null(False), dtype=bool) if len(here) else \
        np.zeros(len(flat), dtype=bool)
    hit_words, hit_docs = flat.filter(pa.array(hit)), parents[hit]
    scores = np.zeros(n, dtype=np.int64)
    if len(hit_words):
        pairs = pa.table({"doc": hit_docs, "word": hit_words}).group_by(["doc", "word"]).aggregate([])
        scores = np.bincount(np.asarray(pairs.column("doc")), minlength=n).astype(np.int64)
    return scores, hit_words, hit_docs


def _new_shards(plan: "RunPlan") -> list[Path]:
    """The generation's shards that hold this year's new rows (the parent's carried shards come first)."""
    import json

    from biomass.pipeline.plan import stage_output

    shards = dataset_files(stage_output(plan, "assemble"))
    notes = json.loads((plan.staging / "assemble.counts.json").read_text()).get("notes", {})
    return shards[int(notes.get("carried_shards", 0)):]


def _generation_batches(plan: "RunPlan", columns: list[str]) -> Iterator[pa.RecordBatch]:
    for shard in _new_shards(plan):
        yield from parquet_batches(shard, columns)


def _cut(text: str | None, chars: int) -> str | None:
    return text if text is None or len(text) <= chars else text[:chars] + "…"


def draw_sample(plan: "RunPlan") -> pa.Table:
    """Draw the year's review sample from its staging and write it (``sample_path``); returns it."""
    cfg = plan.cfg.review
    seed = plan.stage_seed("review")
    rows: list[dict[str, Any]] = []
    near = _near_duplicates(plan, cfg.per_kind, seed)
    wanted = {r["matched_doc_id"]: r for r in near if r["matched_generation"] is None}
    rare, synthetic, unknown = _from_generation(plan, cfg, seed, wanted)
    _matched_from_history(plan, near, cfg.text_chars)
    for kind, picked in (("rare_words", rare), ("synthetic", synthetic), ("unknown_origin", unknown),
                         ("near_duplicate", near), ("quarantined", _quarantined(plan, cfg.per_reason, seed))):
        for rank, row in enumerate(picked):
            rows.append({**row, "kind": kind, "rank": rank, "text": _cut(row.get("text"), cfg.text_chars)})
    table = pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA)
    write_parquet(table, sample_path(plan))
    return table


def _doc_row(batch: pa.RecordBatch, i: int, **extra) -> dict[str, Any]:
    return {"doc_id": batch.column("doc_id")[i].as_py(), "source": batch.column("source")[i].as_py(),
            "origin": batch.column("origin")[i].as_py(), "url": batch.column("url")[i].as_py(),
            "text": batch.column("text")[i].as_py(), **extra}


def _from_generation(plan: "RunPlan", cfg, seed: int, wanted: dict[str, dict]) -> tuple[list, list, list]:
    """One pass over the new rows: the rare-word leaders, synthetic and unknown picks, and the texts of this
    year's documents that removed near duplicates (``wanted``, filled in place)."""
    rare_words = rare_reference_words(plan.staging / "measure" / "reference.profile.parquet", plan.cfg.metrics)
    rare, synthetic, unknown = _Smallest(cfg.rare_docs), _Smallest(cfg.per_kind), _Smallest(cfg.per_kind)
    wanted_ids = pa.array(sorted(wanted), pa.string())
    score = bool(cfg.rare_docs and len(rare_words))

    def scored(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, Any]:
        return batch, rare_word_hits(batch.column("text"), rare_words) if score else None

    # Tokenising is most of the step's time (~10 s per 50k documents on a core) and Arrow's kernels release the
    # GIL, so batches are scored on every core; results come back in file order, so the sample is unchanged.
    batches = _generation_batches(plan, ["doc_id", "text", "source", "origin", "url"])
    for batch, hits in ordered_map(scored, batches, usable_cpus(), name="biomass-review"):
        ids = batch.column("doc_id").to_pylist()
        if hits is not None:
            scores, hit_words, hit_docs = hits
            top = np.argsort(-scores, kind="stable")[: cfg.rare_docs]
            for i in top:
                if scores[i] == 0:
                    break
                words = sorted(set(hit_words.filter(pa.array(hit_docs == i)).to_pylist()),
                               key=lambda w: (w.isdigit(), w))[:_RARE_SHOWN]
                rare.offer((-int(scores[i]), ids[i]),
                           lambda i=i, words=words: _doc_row(batch, int(i), score=float(scores[i]), rare_words=words))
        origins = batch.column("origin").to_pylist()
        for i, origin in enumerate(origins):
            if origin == "synthetic":
                synthetic.offer(pick_key(seed, ids[i]), lambda i=i: _doc_row(batch, i))
            elif origin == "unknown":
                unknown.offer(pick_key(seed, ids[i]), lambda i=i: _doc_row(batch, i))
        if len(wanted_ids):
            for i in np.flatnonzero(np.asarray(pc.is_in(batch.column("doc_id"), value_set=wanted_ids))):
                wanted[ids[i]]["matched_text"] = _cut(batch.column("text")[int(i)].as_py(), cfg.text_chars)
    return rare.items(), synthetic.items(), unknown.items()


def _near_duplicates(plan: "RunPlan", k: int, seed: int) -> list[dict[str, Any]]:
    path = plan.staging / "dedup.quarantine.parquet"
    picked = _Smallest(k)
    if path.exists():
        for b, batch in enumerate(parquet_batches(path)):
            for i, doc_id in enumerate(batch.column("doc_id").to_pylist()):
                picked.offer(pick_key(seed, f"{doc_id or ''}\0{b}:{i}"),
                             lambda batch=batch, i=i: batch.slice(i, 1).to_pylist()[0])
    out = []
    for row in picked.items():
        match = _MATCHED.match(row.get("detail") or "")
        out.append({**row, "matched_doc_id": match["doc"] if match else None,
                    "matched_generation": int(match["year"]) if match and match["year"] else None})
    return out


def _matched_from_history(plan: "RunPlan", near: list[dict[str, Any]], chars: int) -> None:
    """The texts of earlier generations' documents that near duplicates matched: each generation read once,
    a batch at a time, keeping only the asked-for documents."""
    by_year: dict[int, dict[str, list[dict]]] = {}
    for row in near:
        if row["matched_generation"] is not None and row["matched_doc_id"]:
            by_year.setdefault(row["matched_generation"], {}).setdefault(row["matched_doc_id"], []).append(row)
    for year, wanted in sorted(by_year.items()):
        if year not in plan.store.published_years():
            continue
        ids = pa.array(sorted(wanted), pa.string())
        for batch in plan.store.iter_batches(year, ["doc_id", "text"]):
            hits = batch.filter(pc.is_in(batch.column("doc_id"), value_set=ids))
            for doc_id, text in zip(hits.column("doc_id").to_pylist(), hits.column("text").to_pylist()):
                for row in wanted.get(doc_id, []):
                    row["matched_text"] = _cut(text, chars)


def _quarantined(plan: "RunPlan", per_reason: int, seed: int) -> list[dict[str, Any]]:
    """A few rows of every stage and reason, from each stage's quarantine file (dedup's are near duplicates,
    shown with their match; the review's own exclusions come after the sample)."""
    groups: dict[tuple[str, str], _Smallest] = {}
    files = sorted(p for p in plan.staging.glob("*.quarantine.parquet")
                   if p.name not in ("dedup.quarantine.parquet", "review.quarantine.parquet"))
    for path in files:
        for b, batch in enumerate(parquet_batches(path)):
            stages, reasons = batch.column("stage").to_pylist(), batch.column("reason").to_pylist()
            ids, locators = batch.column("doc_id").to_pylist(), batch.column("locator").to_pylist()
            for i, (stage, reason) in enumerate(zip(stages, reasons)):
                group = groups.setdefault((stage, reason), _Smallest(per_reason))
                key = pick_key(seed, f"{path.name}\0{ids[i] or ''}\0{locators[i] or ''}\0{b}:{i}")
                group.offer(key, lambda batch=batch, i=i: batch.slice(i, 1).to_pylist()[0])
    return [row for key in sorted(groups) for row in groups[key].items()]


def load_sample(plan: "RunPlan") -> pa.Table:
    path = sample_path(plan)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: the review sample of {plan.year} has not been drawn "
                                f"(the run has not reached its review step)")
    return pq.read_table(path)
