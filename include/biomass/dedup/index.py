"""The persistent cross-generation MinHash index: one Arrow IPC file per published generation.

Layout under ``root`` (the pipeline uses ``<data_root>/index/minhash``)::

    index.json             format version and the parameters every generation file was built with
    gen-<year>.arrow       doc_id, signature, and per band the sorted band keys and the rows they came from

Files are memory-mapped: a query reads one band's sorted keys at a time (12 bytes per doc) and the signatures
and doc ids of candidate rows only, each through a map of its own that is dropped after use, so what a query
read does not stay resident (a long-lived map would keep every band's keys counted in the process's memory). A generation file is rewritten by atomic rename, so re-running
a publish for the same year leaves exactly one, complete, file for it.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc

from biomass.config.dedup import IndexParams
from biomass.dedup.generation_file import write_generation_file
from biomass.dedup.lsh import band_keys, choose_bands
from biomass.dedup.minhash import _csr_concat, as_string_array, jaccard_pairs, shingle_sets
from biomass.storage import write_bytes_atomic, write_file_atomic
from biomass.storage import index_generation_path as generation_path
from biomass.storage import index_pending_path as pending_path

INDEX_FORMAT = 1
_META = "index.json"
_GEN = re.compile(r"^gen-(\d+)\.arrow$")
_META_KEY = b"biomass.minhash_index"
# A band key shared by more old docs than this is a boilerplate magnet: only the first ones are compared.
MAX_MATCHES_PER_KEY = 64
# Query rows whose match against history is verified on exact Jaccard per round (texts of both sides held).
EXACT_ROUND_ROWS = 16_384


def _index_meta(params: IndexParams) -> dict:
    """The file format version, then the parameters: what ``index.json`` and every generation file record."""
    return {"format": INDEX_FORMAT, **params.model_dump()}


@dataclass(frozen=True)
class IndexMatches:
    """Best earlier-generation match of each query row that has one (``rows`` ascending)."""

    rows: np.ndarray            # query row numbers
    years: np.ndarray           # generation of the matched doc
    doc_ids: list[str]          # matched doc ids
    similarity: np.ndarray      # exact Jaccard if earlier texts were given, else the signature estimate


def _string_ids(doc_ids: Sequence[str] | pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``string`` ids (the file's doc_id column is string, not large), nulls read as "". String chunks (as
    read from Parquet) are kept as they are: joining them would hold the ids twice (~100 MB at 1M)."""
    if isinstance(doc_ids, pa.ChunkedArray) and pa.types.is_string(doc_ids.type) and not doc_ids.null_count:
        return doc_ids
    return as_string_array(doc_ids).cast(pa.string())


class _Generation:
    def __init__(self, path: Path, params: IndexParams):
        self.path = path
        source = pa.memory_map(str(path), "r")
        reader = ipc.open_file(source)
        meta = json.loads(reader.schema.metadata[_META_KEY])
        if meta.get("format") != INDEX_FORMAT:
            raise ValueError(f"{path}: index format {meta.get('format')}, this biomass reads {INDEX_FORMAT}")
        if meta["num_perm"] != params.num_perm or meta["seed"] != params.seed:
            raise ValueError(f"{path}: built with num_perm={meta['num_perm']} seed={meta['seed']}, "
                             f"index expects num_perm={params.num_perm} seed={params.seed}")
        self.meta = meta
        self.year = int(meta["year"])
        self.table = reader.read_all()   # zero-copy over the memory map
        self.n = self.table.num_rows
        self.bands, self.rows_per_band = int(meta["bands"]), int(meta["rows"])

    def _mapped(self) -> pa.Table:
        """The file through a map of its own: what is read through it stops counting as this process's memory
        once the caller drops it (the long-lived ``table`` is used for doc ids of matched rows only)."""
        return ipc.open_file(pa.memory_map(str(self.path), "r")).read_all()

    def signature_rows(self, rows: np.ndarray) -> np.ndarray:
        """Copies of the signatures of ``rows``, through a short-lived map."""
        rows = np.asarray(rows, dtype=np.int64)
        width = self.meta["num_perm"]
        out = np.empty((len(rows), width), dtype=np.uint32)
        table = self._mapped()
        start = 0
        for chunk in table.column("signature").chunks:   # views of the map, one record batch each: no
            stop = start + len(chunk)                     # combine_chunks, which copies the whole column
            here = np.flatnonzero((rows >= start) & (rows < stop))
            if len(here):
                flat = chunk.values.to_numpy(zero_copy_only=True)[chunk.offset * width:(chunk.offset + len(chunk)) * width]
                out[here] = flat.reshape(len(chunk), width)[rows[here] - start]
            start = stop
        del table
        return out

    def sorted_keys(self, bands: int, rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per band, its sorted keys and the rows they came from: copies read one band at a time through a
        short-lived map (12 bytes a doc held, not every band's keys and the signatures left resident)."""
        if (bands, rows) == (self.bands, self.rows_per_band):
            for b in range(bands):
                table = self._mapped()
                keys = table.column(f"key_{b:03d}").combine_chunks().to_numpy(zero_copy_only=True).copy()
                order = table.column(f"row_{b:03d}").combine_chunks().to_numpy(zero_copy_only=True).copy()
                del table
                yield keys, order
            return
        for b in range(bands):   # index built for another threshold: re-band, a window of signatures at a time
            keys = np.empty(self.n, dtype=np.uint64)
            for lo in range(0, self.n, 65536):
                part = self.signature_rows(np.arange(lo, min(lo + 65536, self.n)))
                keys[lo:lo + len(part)] = band_keys(part, bands, rows, first=b, count=1)[0]
            order = np.argsort(keys, kind="stable").astype(np.uint32)
            yield keys[order], order

    def doc_id(self, row: int) -> str:
        return self.table.column("doc_id")[int(row)].as_py()


SIMILARITY_CHUNK_PAIRS = 65_536


def estimated_similarity(sigs, gen: "_Generation", q: np.ndarray, old: np.ndarray,
                         chunk: int | None = None) -> np.ndarray:
    """Share of equal signature values of each pair ``(q[i], old[i])``: query rows of ``sigs`` against rows of
    ``gen``. The pairs are taken in order of the old row, ``chunk`` at a time, so the generation's signatures
    are read in one forward pass (each chunk's rows lie in one stretch of the file, read through a map dropped
    after it), not a scattered gather over the whole signature column per chunk."""
    chunk = SIMILARITY_CHUNK_PAIRS if chunk is None else chunk
    sim = np.empty(len(q), dtype=np.float64)
    by_old = np.argsort(old, kind="stable")
    for lo in range(0, len(q), chunk):   # bounded temporaries
        sel = by_old[lo:lo + chunk]
        sim[sel] = (sigs[q[sel]] == gen.signature_rows(old[sel])).mean(axis=1)
    return sim


class SignatureIndex:
    """MinHash signatures of every published generation, queried for near duplicates of new documents."""

    def __init__(self, root: str | os.PathLike[str], *, num_perm: int | None = None, seed: int | None = None,
                 threshold: float | None = None):
        self.root = Path(root)
        meta_path = self.root / _META
        if meta_path.exists():
            stored = json.loads(meta_path.read_text())
            if stored.get("format") != INDEX_FORMAT:
                raise ValueError(f"{meta_path}: index format {stored.get('format')}, this biomass reads "
                                 f"{INDEX_FORMAT}; rebuild the index")
            self.params = IndexParams(num_perm=stored["num_perm"], seed=stored["seed"],
                                      threshold=stored["threshold"])
            for name, want in (("num_perm", num_perm), ("seed", seed)):
                if want is not None and want != getattr(self.params, name):
                    raise ValueError(f"{meta_path} was built with {name}={getattr(self.params, name)}, "
                                     f"asked for {want}")
            if threshold is not None:
                self.params = self.params.model_copy(update={"threshold": threshold})
        else:
            self.params = IndexParams(num_perm=num_perm or 128, seed=1 if seed is None else seed,
                                      threshold=0.8 if threshold is None else threshold)
        self._cache: dict[int, tuple[float, _Generation]] = {}

    # -- reading ------------------------------------------------------------------------------------
    def path_for(self, year: int) -> Path:
        return generation_path(self.root, year)

    def years(self) -> list[int]:
        if not self.root.exists():
            return []
        return sorted(int(m.group(1)) for p in self.root.iterdir() if (m := _GEN.match(p.name)))

    def generation(self, year: int) -> _Generation:
        path = self.path_for(year)
        mtime = path.stat().st_mtime_ns
        cached = self._cache.get(year)
        if cached is None or cached[0] != mtime:
            cached = (mtime, _Generation(path, self.params))
            self._cache[year] = cached
        return cached[1]

    def __len__(self) -> int:
        return sum(self.generation(y).n for y in self.years())

    def query(self, sigs: np.ndarray, *, threshold: float | None = None, before_year: int | None = None,
              years: Iterable[int] | None = None, texts=None,
              earlier_texts: Callable[[int, list[str]], Sequence[str]] | None = None) -> IndexMatches:
        """Best match (Jaccard >= threshold) of each row of ``sigs`` among the chosen generations.

        Without ``earlier_texts`` the Jaccard is estimated from the signatures (share of equal values). With
        it (``earlier_texts(year, doc_ids) -> texts`` of those earlier docs) and ``texts`` (the query rows'
        texts, or a callable giving the texts of ascending row numbers, for inputs not held in memory), candidates the signatures cannot rule out (error < 1e-9) are verified with exact Jaccard.
        Ties go to the earliest generation, then the smallest doc_id, so the answer never depends on order.
        """
        threshold = self.params.threshold if threshold is None else threshold
        bands, rows = choose_bands(threshold, self.params.num_perm)
        if isinstance(sigs, np.ndarray) or not hasattr(sigs, "band_keys"):
            sigs = np.ascontiguousarray(sigs, dtype=np.uint32)
            query_keys = lambda b: band_keys(sigs, bands, rows, first=b, count=1)[0]   # noqa: E731
        else:   # signatures held on disk (``shards.SignedShards``): their band keys, one band at a time
            query_keys = lambda b: sigs.band_keys(bands, rows, b)   # noqa: E731
        if sigs.ndim != 2 or sigs.shape[1] != self.params.num_perm:
            raise ValueError(f"signatures must have shape (n, {self.params.num_perm}), got {sigs.shape}")
        chosen = self.years() if years is None else sorted(set(int(y) for y in years) & set(self.years()))
        if before_year is not None:
            chosen = [y for y in chosen if y < before_year]
        found_rows, found_years, found_old, found_sim = [], [], [], []
        for year in chosen:
            gen = self.generation(year)
            if gen.n == 0 or len(sigs) == 0:
                continue
            pairs = []
            for b, (skeys, order) in enumerate(gen.sorted_keys(bands, rows)):
                qkeys = query_keys(b)
                lo = np.searchsorted(skeys, qkeys, side="left")
                hi = np.searchsorted(skeys, qkeys, side="right")
                cnt = np.minimum(hi - lo, MAX_MATCHES_PER_KEY)
                if not cnt.any():
                    continue
                q = np.repeat(np.arange(len(sigs), dtype=np.int64), cnt)
                start = np.repeat(lo - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
                pos = start + np.arange(len(q))
                pairs.append((q.astype(np.uint64) << np.uint64(32)) | order[pos].astype(np.uint64))
            if not pairs:
                continue
            packed = np.unique(np.concatenate(pairs))
            q = (packed >> np.uint64(32)).astype(np.int64)
            old = (packed & np.uint64(0xFFFFFFFF)).astype(np.int64)
            sim = estimated_similarity(sigs, gen, q, old)
            if earlier_texts is not None and texts is not None:
                # keep what the estimate cannot exclude: P(estimate < cut | J >= t) < 1e-9 (6 sigma)
                p = self.params.num_perm
                cut = threshold - 6.0 * math.sqrt(threshold * (1.0 - threshold) / p) - 1.0 / p
                maybe = np.flatnonzero(sim >= cut)      # ascending query rows (packed pairs are sorted)
                sim = np.zeros(len(q), dtype=np.float64)
                # rounds of at most EXACT_ROUND_ROWS query rows: the texts held (and shingled) per round are
                # bounded, however many rows of a big year match history
                cuts = np.searchsorted(q[maybe], np.unique(q[maybe])[::EXACT_ROUND_ROWS])
                for sel in np.split(maybe, cuts[1:]) if len(maybe) else []:
                    old_rows = np.unique(old[sel])
                    old_ids = pc.take(gen.table.column("doc_id"), pa.array(old_rows)).to_pylist()
                    old_texts = earlier_texts(year, old_ids)
                    if len(old_texts) != len(old_ids):
                        raise ValueError(f"earlier_texts gave {len(old_texts)} texts for {len(old_ids)} doc ids")
                    q_rows = np.unique(q[sel])
                    # each side is hashed, then let go, before the other is read: a copy of both sides' text
                    # joined into one array was this step's peak (1M documents: ~1.09 GB)
                    old_sets = shingle_sets(as_string_array(old_texts))
                    del old_texts
                    q_texts = texts(q_rows) if callable(texts) else as_string_array(texts).take(pa.array(q_rows))
                    q_sets = shingle_sets(q_texts)
                    del q_texts
                    offsets, hashes = _csr_concat([q_sets, old_sets])
                    del q_sets, old_sets
                    left = np.searchsorted(q_rows, q[sel])
                    right = len(q_rows) + np.searchsorted(old_rows, old[sel])
                    sim[sel] = jaccard_pairs(offsets, hashes, left, right)
                    del offsets, hashes
            ok = sim >= threshold
            if ok.any():
                found_rows.append(q[ok])
                found_years.append(np.full(int(ok.sum()), year, dtype=np.int64))
                found_old.append(pc.take(gen.table.column("doc_id"), pa.array(old[ok])).to_pylist())
                found_sim.append(sim[ok])
        if not found_rows:
            return IndexMatches(np.zeros(0, np.int64), np.zeros(0, np.int64), [], np.zeros(0, np.float64))
        rows_ = np.concatenate(found_rows)
        years_ = np.concatenate(found_years)
        docs_ = [d for part in found_old for d in part]
        sims_ = np.concatenate(found_sim)
        doc_rank = np.argsort(np.argsort(np.array(docs_, dtype=object), kind="stable"), kind="stable")
        order = np.lexsort((doc_rank, years_, -sims_, rows_))
        first = np.ones(len(order), dtype=bool)
        first[1:] = rows_[order][1:] != rows_[order][:-1]
        best = order[first]
        return IndexMatches(rows_[best], years_[best], [docs_[i] for i in best], sims_[best])

    # -- writing (publish only) ---------------------------------------------------------------------
    def add_generation(self, year: int, doc_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
                       signatures: np.ndarray, *, pending: bool = False) -> Path:
        """Write (or atomically rewrite) the entry for ``year``. Only the publish step calls this.

        ``pending``: write it under ``pending_path`` instead, for ``GenerationStore.publish`` to commit with the
        generation's manifest."""
        ids = _string_ids(doc_ids)
        if signatures.ndim != 2 or signatures.shape != (len(ids), self.params.num_perm):
            raise ValueError(f"need {len(ids)} signatures of {self.params.num_perm} values, got {signatures.shape}")
        bands, rows = choose_bands(self.params.threshold, self.params.num_perm)
        meta = {**_index_meta(self.params), "year": int(year), "docs": len(ids), "bands": bands, "rows": rows}
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / _META).exists():
            write_bytes_atomic(self.root / _META,
                               (json.dumps(_index_meta(self.params), sort_keys=True) + "\n").encode())
        target = pending_path(self.root, year) if pending else self.path_for(year)

        def write(tmp: Path) -> None:
            # Same content -> same bytes: rows by doc_id (a stable sort: equal ids keep their order); written a
            # chunk at a time (the whole table of a 1M-document year is over 1 GB)
            write_generation_file(tmp, ids, signatures, bands, rows, {_META_KEY: json.dumps(meta, sort_keys=True)})

        write_file_atomic(target, write)
        self._cache.pop(int(year), None)
        return target

    def bytes_per_doc(self) -> float:
        """Resident bytes per indexed doc a query needs: the sorted band keys and their row numbers."""
        bands, _ = choose_bands(self.params.threshold, self.params.num_perm)
        return float(bands * (8 + 4))

