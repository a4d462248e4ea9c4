"""Fingerprint archive: MinHash signatures of every synthetic document ever produced, to find re-posts.

A lightly edited copy of a synthetic document keeps most of its word 5-gram shingles, so its MinHash signature
agrees with the original's in roughly a Jaccard-sized share of slots. Candidates are found with LSH banding
(sorted band keys, no in-memory index per document) and scored by the share of equal slots.

Shards are Parquet files ``fp-<generation>-<sha12>.parquet`` named by content: adding the same documents twice
writes the same file, so a re-run of a year is idempotent. Each shard records the signature scheme; matching
refuses to compare signatures made by different schemes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from biomass.lm.tokenize import sorted_unique
from biomass.storage import write_file_atomic

SHINGLE_WORDS = 5
_PAIR_CHUNK = 1 << 14


def _dedup_engine():
    """The dedup engine's signature function when it is installed (branch ``dedup``), else None."""
    try:
        from biomass.dedup import signatures as dedup_signatures  # type: ignore[attr-defined]
    except ImportError:
        return None
    return dedup_signatures


def signatures(texts: Sequence[str] | pa.Array | pa.ChunkedArray, num_perm: int = 128, seed: int = 1) -> np.ndarray:
    """(len(texts), num_perm) uint32 MinHash signatures. The one place to swap in ``biomass.dedup.signatures``.
    Arrow arrays go to the dedup engine as they are (no Python string per row)."""
    engine = _dedup_engine()
    arrow = isinstance(texts, (pa.Array, pa.ChunkedArray))
    if engine is None:
        return _datasketch_signatures([t or "" for t in texts.to_pylist()] if arrow else texts, num_perm, seed)
    return np.asarray(engine(texts if arrow else list(texts), num_perm=num_perm, seed=seed), dtype=np.uint32)


def signature_scheme(num_perm: int, seed: int) -> str:
    """Names how signatures were made; an archive refuses to mix schemes."""
    impl = "biomass.dedup" if _dedup_engine() is not None else f"datasketch-affine32-w{SHINGLE_WORDS}"
    return f"{impl}/p{num_perm}/s{seed}"


def shingles(text: str, k: int = SHINGLE_WORDS) -> set[bytes]:
    ws = text.lower().split()
    if len(ws) < k:
        return {" ".join(ws).encode("utf-8")} if ws else set()
    return {" ".join(ws[i:i + k]).encode("utf-8") for i in range(len(ws) - k + 1)}


def _datasketch_signatures(texts: Sequence[str], num_perm: int, seed: int) -> np.ndarray:
    try:
        from datasketch import MinHash
    except ImportError as exc:
        raise ImportError("fingerprinting needs the 'datasketch' package") from exc
    if not texts:
        return np.zeros((0, num_perm), dtype=np.uint32)
    mhs = MinHash.bulk([list(shingles(t)) for t in texts], num_perm=num_perm, seed=seed)
    return np.stack([np.asarray(m.hashvalues) for m in mhs]).astype(np.uint32)


@dataclass(frozen=True)
class Match:
    doc_id: str | None
    generation: int | None
    jaccard: float  # estimated from signature agreement; 0.0 when nothing was found


def _band_keys(sigs: np.ndarray, bands: int) -> np.ndarray:
    """(n, bands) uint64 keys: each band's rows hashed together."""
    n, p = sigs.shape
    rows = p // bands
    out = np.empty((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for b in range(bands):
            h = np.full(n, np.uint64(0xCBF29CE484222325) ^ np.uint64(b))
            for r in range(rows):
                h = (h ^ sigs[:, b * rows + r].astype(np.uint64)) * np.uint64(0x100000001B3)
            out[:, b] = h
    return out


class FingerprintArchive:
    """MinHash signatures of synthetic documents under ``root``; ``add`` new ones, ``match`` suspects."""

    def __init__(self, root: str | os.PathLike[str], num_perm: int = 128, seed: int = 1, bands: int = 64):
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        self.root = Path(root)
        self.num_perm = num_perm
        self.seed = seed
        self.bands = bands
        self.scheme = signature_scheme(num_perm, seed)
        self._cache: tuple[list[str], np.ndarray, np.ndarray] | None = None
        self._bands_index: list[tuple[np.ndarray, np.ndarray]] | None = None  # per band: (order, sorted keys)

    def add(self, doc_ids: Sequence[str], texts: Sequence[str], generation: int) -> Path | None:
        """Store signatures of ``texts``; returns the shard written (None for no texts)."""
        if not texts:
            return None
        order = sorted(range(len(doc_ids)), key=lambda i: doc_ids[i])
        ids = [doc_ids[i] for i in order]
        sigs = signatures([texts[i] for i in order], self.num_perm, self.seed)
        table = pa.table({
            "doc_id": pa.array(ids, pa.string()),
            "generation": pa.array([generation] * len(ids), pa.int32()),
            "signature": pa.array(list(sigs), pa.list_(pa.uint32(), self.num_perm)),
        }).replace_schema_metadata({b"biomass.fingerprint_scheme": self.scheme.encode()})
        digest = hashlib.sha256(self.scheme.encode() + "\n".join(ids).encode() + sigs.tobytes()).hexdigest()
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"fp-{generation}-{digest[:12]}.parquet"
        write_file_atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
        self._cache = None
        self._bands_index = None
        return path

    def _load(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        if self._cache is None:
            ids: list[str] = []
            gens: list[np.ndarray] = []
            sigs: list[np.ndarray] = []
            for path in sorted(self.root.glob("fp-*.parquet")) if self.root.is_dir() else []:
                meta = pq.read_schema(path).metadata or {}
                scheme = meta.get(b"biomass.fingerprint_scheme", b"").decode()
                if scheme != self.scheme:
                    raise ValueError(f"{path} holds signatures of scheme {scheme!r}, this archive uses "
                                     f"{self.scheme!r}; re-fingerprint the archive")
                t = pq.read_table(path)
                ids.extend(t.column("doc_id").to_pylist())
                gens.append(t.column("generation").to_numpy())
                flat = t.column("signature").combine_chunks().flatten().to_numpy()
                sigs.append(flat.reshape(-1, self.num_perm))
            sig = np.concatenate(sigs) if sigs else np.zeros((0, self.num_perm), np.uint32)
            gen = np.concatenate(gens) if gens else np.zeros(0, np.int32)
            self._cache = (ids, gen, sig)
        return self._cache

    def __len__(self) -> int:
        return len(self._load()[0])

    def _band_index(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The archive's band keys sorted once per band (not once per ``match`` call: the tagger calls it per batch)."""
        if self._bands_index is None:
            akeys = _band_keys(self._load()[2], self.bands)
            self._bands_index = []
            for b in range(self.bands):
                order = np.argsort(akeys[:, b], kind="stable")
                self._bands_index.append((order, akeys[order, b]))
        return self._bands_index

    def _best(self, query: np.ndarray, qkeys: np.ndarray, archive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per query the archive row with the highest slot agreement among its LSH candidates (ties: the smallest
        row; none when no candidate agrees at all), all candidate pairs of all bands scored at once."""
        q_parts, c_parts = [], []
        for b, (order, sorted_keys) in enumerate(self._band_index()):
            lo = np.searchsorted(sorted_keys, qkeys[:, b], side="left")
            count = np.searchsorted(sorted_keys, qkeys[:, b], side="right") - lo
            total = int(count.sum())
            if total:
                first = np.repeat(np.cumsum(count) - count, count)
                q_parts.append(np.repeat(np.arange(len(query), dtype=np.int64), count))
                c_parts.append(order[np.repeat(lo, count) + np.arange(total) - first].astype(np.int64))
        best = np.full(len(query), -1, dtype=np.int64)
        best_j = np.zeros(len(query))
        if not q_parts:
            return best, best_j
        pair = sorted_unique(np.concatenate(q_parts) * len(archive) + np.concatenate(c_parts))
        q, cand = pair // len(archive), pair % len(archive)
        agree = np.empty(len(pair), np.int64)
        for lo in range(0, len(pair), _PAIR_CHUNK):  # bounded: (chunk, num_perm) booleans at a time
            hi = lo + _PAIR_CHUNK
            agree[lo:hi] = (archive[cand[lo:hi]] == query[q[lo:hi]]).sum(axis=1)
        pick = np.lexsort((cand, -agree, q))  # per query: most agreement first, then the smallest row
        head = pick[np.r_[True, q[pick][1:] != q[pick][:-1]]]
        head = head[agree[head] > 0]
        best[q[head]] = cand[head]
        best_j[q[head]] = agree[head] / self.num_perm  # what ndarray.mean of the equal-slot flags gives
        return best, best_j

    def match(self, texts: Sequence[str] | pa.Array | pa.ChunkedArray) -> list[Match]:
        """Best archived match per text by estimated Jaccard (LSH candidates, then slot agreement)."""
        ids, gens, archive = self._load()
        if not len(texts):
            return []
        if not ids:
            return [Match(None, None, 0.0) for _ in range(len(texts))]
        arrow = isinstance(texts, (pa.Array, pa.ChunkedArray))
        query = signatures(texts if arrow else list(texts), self.num_perm, self.seed)
        qkeys = _band_keys(query, self.bands)
        best, best_j = self._best(query, qkeys, archive)
        return [Match(ids[i], int(gens[i]), float(best_j[q])) if i >= 0 else Match(None, None, 0.0)
                for q, i in enumerate(best)]
