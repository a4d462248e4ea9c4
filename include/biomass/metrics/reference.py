"""The frozen human reference every generation is measured against.

A profile holds what the metrics need and nothing else: the count of every reference word, and the 64-bit
hashes (with counts) of the reference's rare n-grams. It is built once from generation 0 (or a configured
reference set), saved, and loaded unchanged every later year, so a metric never moves because the reference did.
Saved bytes are deterministic: words sorted by code point, n-gram hashes sorted, canonical JSON metadata.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.config.metrics import MetricsConfig
from biomass.metrics.counting import KeyCounts, TokenStats
from biomass.metrics.rare import rare_mask
from biomass.schema import canonical_json
from biomass.storage import write_bytes_atomic

PROFILE_FORMAT = 1
PROFILE_KEY = b"biomass.reference_profile"


class EmptyReference(ValueError):
    """The reference has no tokens, so nothing can be measured against it."""


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    settings: dict[str, Any]  # MetricsConfig.profile_settings() it was built with
    words: tuple[str, ...]  # sorted by code point
    counts: np.ndarray  # int64, aligned with words
    rare_ngrams: np.ndarray  # uint64 n-gram hashes, sorted, unique
    rare_ngram_counts: np.ndarray  # int64, aligned with rare_ngrams
    docs: int
    tokens: int
    ngrams: int  # in-document n-gram occurrences
    ngram_types: int  # distinct n-grams

    # -- building ----------------------------------------------------------------------------------
    @classmethod
    def build(cls, texts: Sequence[str], config: MetricsConfig) -> "ReferenceProfile":
        """Count the reference once; raises ``EmptyReference`` if it has no tokens at all."""
        return ReferenceStats(config).update(texts).finish()

    @classmethod
    def from_batches(cls, batches: Iterable[Sequence[str]], config: MetricsConfig) -> "ReferenceProfile":
        """``build`` over a stream of text batches, never holding more than one batch of text."""
        stats = ReferenceStats(config)
        for texts in batches:
            stats.update(texts)
        return stats.finish()

    # -- views ---------------------------------------------------------------------------------------
    def check(self, config: MetricsConfig) -> None:
        """Refuse a config whose tokenisation, rare rule or n differs from the one this profile was built with."""
        wanted = config.profile_settings()
        if wanted != self.settings:
            diff = {k: (self.settings.get(k), v) for k, v in wanted.items() if self.settings.get(k) != v}
            raise ValueError(f"reference profile was built with other settings (profile, config): {diff}; "
                             "rebuild the profile or use its settings")

    def rare_word_mask(self, config: MetricsConfig) -> np.ndarray:
        self.check(config)
        return rare_mask(self.counts, config)

    def rare_words(self, config: MetricsConfig) -> list[str]:
        mask = self.rare_word_mask(config)
        return [w for w, keep in zip(self.words, mask) if keep]

    @cached_property
    def count_of(self) -> dict[str, int]:
        """word -> reference count (0 for unseen words via ``.get(word, 0)``)."""
        return dict(zip(self.words, self.counts.tolist()))

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of everything the metrics read from the profile: statistics measured against a profile are only
        reused against one with the same fingerprint (``GenerationStats.from_bytes``)."""
        digest = hashlib.sha256(canonical_json(self._header()).encode())
        digest.update("\n".join(self.words).encode("utf-8"))
        for array in (self.counts, self.rare_ngrams, self.rare_ngram_counts):
            digest.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
        return digest.hexdigest()

    def summary(self) -> dict[str, Any]:
        return {"docs": self.docs, "tokens": self.tokens, "types": len(self.words), "ngrams": self.ngrams,
                "ngram_types": self.ngram_types, "rare_ngrams": int(self.rare_ngrams.size), **self.settings}

    # -- disk ----------------------------------------------------------------------------------------
    def _header(self) -> dict[str, Any]:
        return {"biomass_reference_profile": PROFILE_FORMAT, "settings": self.settings, "docs": self.docs,
                "tokens": self.tokens, "ngrams": self.ngrams, "ngram_types": self.ngram_types}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``.json`` (readable) or ``.parquet`` (compact); same profile, same bytes."""
        path = Path(path)
        if path.suffix == ".json":
            body = {**self._header(), "words": list(self.words), "counts": self.counts.tolist(),
                    "rare_ngrams": [str(h) for h in self.rare_ngrams.tolist()],
                    "rare_ngram_counts": self.rare_ngram_counts.tolist()}
            write_bytes_atomic(path, (canonical_json(body) + "\n").encode("utf-8"), unique_tmp=False)
        elif path.suffix == ".parquet":
            from biomass.storage import write_parquet

            n_words, n_grams = len(self.words), int(self.rare_ngrams.size)
            # built from arrays, never Python lists of the (millions of) rare n-gram hashes
            table = pa.table(
                {
                    "kind": pa.concat_arrays([pa.repeat("word", n_words).cast(pa.string()),
                                              pa.repeat("ngram", n_grams).cast(pa.string())]),
                    "word": pa.concat_arrays([pa.array(self.words, pa.string()), pa.nulls(n_grams, pa.string())]),
                    "hash": pa.array(np.concatenate([np.zeros(n_words, np.uint64), self.rare_ngrams]), pa.uint64(),
                                     mask=np.arange(n_words + n_grams) < n_words),
                    "count": pa.array(np.concatenate([self.counts, self.rare_ngram_counts]), pa.int64()),
                }
            ).replace_schema_metadata({PROFILE_KEY: canonical_json(self._header()).encode()})
            write_parquet(table, path)
        else:
            raise ValueError(f"save a reference profile as .json or .parquet, not {path.suffix!r}")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "ReferenceProfile":
        path = Path(path)
        if path.suffix == ".json":
            body = json.loads(path.read_text(encoding="utf-8"))
            if body.get("biomass_reference_profile") != PROFILE_FORMAT:
                raise ValueError(f"{path} is not a biomass reference profile (format {PROFILE_FORMAT})")
            words = tuple(body["words"])
            counts = np.array(body["counts"], dtype=np.int64)
            rare = np.array([int(h) for h in body["rare_ngrams"]], dtype=np.uint64)
            rare_counts = np.array(body["rare_ngram_counts"], dtype=np.int64)
            header = body
        else:
            if not is_profile_parquet(path):
                raise ValueError(f"{path} is not a saved reference profile (no {PROFILE_KEY.decode()} metadata)")
            table = pq.read_table(path)
            header = json.loads(table.schema.metadata[PROFILE_KEY])
            is_word = pc.equal(table.column("kind"), "word")
            word_rows, gram_rows = table.filter(is_word), table.filter(pc.invert(is_word))
            # columns as arrays, not Python lists: a profile holds millions of rare n-gram hashes
            words = tuple(word_rows.column("word").to_pylist())
            counts = word_rows.column("count").to_numpy().astype(np.int64)
            rare = gram_rows.column("hash").to_numpy().astype(np.uint64)
            rare_counts = gram_rows.column("count").to_numpy().astype(np.int64)
        return cls(settings=dict(header["settings"]), words=words, counts=_frozen(counts),
                   rare_ngrams=_frozen(rare), rare_ngram_counts=_frozen(rare_counts), docs=int(header["docs"]),
                   tokens=int(header["tokens"]), ngrams=int(header["ngrams"]),
                   ngram_types=int(header["ngram_types"]))


class ReferenceStats:
    """Mergeable counts of a reference stream: every word's count (exact, by word) and every n-gram's count
    (exact, by 64-bit hash). Memory ~ vocabulary + distinct n-grams, which rarity needs in full: whether an
    n-gram is rare is only known once every document has been counted."""

    def __init__(self, config: MetricsConfig) -> None:
        self.config = config
        self.words = TokenStats()
        self.ngrams = KeyCounts()

    def update(self, texts: Sequence[str]) -> "ReferenceStats":
        corpus = self.words.encode(texts)
        self.ngrams.add(corpus.ngram_hashes(self.config.ngram_n, self.words.hashes()))
        return self

    def merge(self, other: "ReferenceStats") -> "ReferenceStats":
        if other.config.profile_settings() != self.config.profile_settings():
            raise ValueError("cannot merge reference counts built with other settings")
        self.words.merge(other.words)
        self.ngrams.merge(other.ngrams)
        return self

    def finish(self) -> ReferenceProfile:
        """The profile; the same for the same documents however they were batched, merged or ordered."""
        words = self.words
        if words.tokens == 0:
            raise EmptyReference(f"the reference ({words.docs} documents) has no tokens; "
                                 "metrics need a non-empty human reference")
        vocab = words.words()
        order = sorted(range(len(vocab)), key=vocab.__getitem__)
        uniq, ucounts = self.ngrams.table()
        rare = rare_mask(ucounts, self.config)
        return ReferenceProfile(
            settings=self.config.profile_settings(),
            words=tuple(vocab[i] for i in order),
            counts=_frozen(words.counts[np.array(order, dtype=np.int64)]),
            rare_ngrams=_frozen(uniq[rare].astype(np.uint64)),
            rare_ngram_counts=_frozen(ucounts[rare].astype(np.int64)),
            docs=words.docs,
            tokens=words.tokens,
            ngrams=self.ngrams.total,
            ngram_types=int(uniq.size),
        )


def is_profile_parquet(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a Parquet file written by ``ReferenceProfile.save`` (not a records table)."""
    meta = pq.read_schema(path).metadata or {}
    return PROFILE_KEY in meta
