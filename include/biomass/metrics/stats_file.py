"""One shard's ``GenerationStats`` as bytes: what the measure step saves per shard and publish keeps next to it.

A generation's figures are the merge of its shards' statistics, so a shard measured once (in the year that
published it) never has to be tokenised again: a later year that carries the shard unchanged reads its
statistics back, and the next year's ``js_divergence_prev`` merges the word counts of the parent's shards.

Layout (deterministic: same statistics, same bytes)::

    b"BIOMSTAT"  u64 little-endian header length  canonical-JSON header  arrays

The header records the settings and the reference fingerprint the statistics were measured against (loading
against another raises ``StatsMismatch``, so the caller measures the shard again), the scalar tallies and, per
array, its name, dtype and length; arrays follow in that order as raw little-endian bytes, each padded to 8.
Words are stored once, newline-joined UTF-8 (a token is a run of ``\\w``, never a newline).
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from typing import Any

import numpy as np

from biomass.metrics.collapse import GenerationStats
from biomass.config.metrics import MetricsConfig
from biomass.metrics.counting import DistinctKeys, TokenStats
from biomass.metrics.reference import ReferenceProfile
from biomass.schema import canonical_json

MAGIC = b"BIOMSTAT"
FORMAT = 1
_LEN = struct.Struct("<Q")


class StatsMismatch(ValueError):
    """Saved statistics that cannot stand for the shard here: another format, reference or metrics config."""


def measured_with(config: MetricsConfig) -> dict[str, Any]:
    """The settings a shard's statistics depend on (besides the reference)."""
    return {**config.profile_settings(), "ttr_window": config.ttr_window}


def stats_to_bytes(stats: GenerationStats) -> bytes:
    words = stats.words
    bigram_keys, bigram_registers = stats.distinct_bigrams.snapshot()
    text_keys, _ = stats.distinct_texts.snapshot()
    arrays: list[tuple[str, np.ndarray]] = [
        ("words", np.frombuffer("\n".join(words.words()).encode("utf-8"), dtype=np.uint8)),
        ("word_counts", words.counts[: words.vocab_size]),
        ("rare_ngram_seen", np.packbits(stats.rare_ngram_seen)),
        ("distinct_texts", text_keys),
    ]
    if bigram_registers is not None:
        arrays.append(("bigram_registers", bigram_registers))
    else:
        arrays.append(("distinct_bigrams", bigram_keys))
    header = {
        "biomass_generation_stats": FORMAT,
        "settings": measured_with(stats.config),
        "reference": stats.reference.fingerprint,
        "exact_distinct_limit": stats.distinct_bigrams.exact_limit,
        "precision": stats.distinct_bigrams.precision,
        "docs": words.docs, "tokens": words.tokens, "vocab": words.vocab_size,
        "bigrams": stats.bigrams, "segment_types": stats.segment_types, "segments": stats.segments,
        "with_origins": stats._with_origins,
        "origins": dict(sorted(stats.origins.items())) if stats.origins is not None else None,
        "arrays": [[name, a.dtype.str.lstrip("<|="), int(a.size)] for name, a in arrays],
    }
    head = canonical_json(header).encode("utf-8")
    parts = [MAGIC, _LEN.pack(len(head)), head, _pad(len(head))]
    for _, a in arrays:
        raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
        parts += [raw, _pad(len(raw))]
    return b"".join(parts)


def _pad(n: int) -> bytes:
    return b"\0" * (-n % 8)


def _parse(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if data[: len(MAGIC)] != MAGIC:
        raise StatsMismatch("not a biomass generation-statistics file")
    (size,) = _LEN.unpack_from(data, len(MAGIC))
    at = len(MAGIC) + _LEN.size
    header = json.loads(data[at: at + size])
    if header.get("biomass_generation_stats") != FORMAT:
        raise StatsMismatch(f"generation-statistics format {header.get('biomass_generation_stats')!r}, "
                            f"this biomass reads {FORMAT}")
    at += size + len(_pad(size))
    arrays = {}
    for name, dtype, count in header["arrays"]:
        dt = np.dtype("<" + dtype) if dtype not in ("u1", "b1", "i1") else np.dtype(dtype)
        arrays[name] = np.frombuffer(data, dtype=dt, count=count, offset=at).astype(dt.newbyteorder("="))
        at += count * dt.itemsize + len(_pad(count * dt.itemsize))
    if at != len(data):
        raise StatsMismatch(f"generation-statistics file is {len(data)} bytes, its header describes {at}")
    return header, arrays


def _word_counts(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> TokenStats:
    text = arrays["words"].tobytes().decode("utf-8")
    words = text.split("\n") if header["vocab"] else []
    return TokenStats.from_counts(words, arrays["word_counts"], header["docs"], header["tokens"])


def word_counts_from_bytes(data: bytes) -> TokenStats:
    """Only the word counts (they depend on the tokeniser alone, not on the reference)."""
    header, arrays = _parse(data)
    return _word_counts(header, arrays)


def stats_from_bytes(data: bytes, reference: ReferenceProfile, config: MetricsConfig) -> GenerationStats:
    """The statistics ``stats_to_bytes`` saved, to merge with others measured against ``reference`` and ``config``;
    ``StatsMismatch`` if they were measured against another."""
    header, arrays = _parse(data)
    if header["settings"] != measured_with(config):
        raise StatsMismatch(f"statistics measured with {header['settings']}, not {measured_with(config)}")
    if header["reference"] != reference.fingerprint:
        raise StatsMismatch("statistics measured against another reference profile")
    stats = GenerationStats(reference, config, exact_distinct_limit=header["exact_distinct_limit"])
    stats.words = _word_counts(header, arrays)
    stats.bigrams = int(header["bigrams"])
    stats.distinct_bigrams = DistinctKeys.from_snapshot(
        arrays.get("distinct_bigrams"), arrays.get("bigram_registers"), header["exact_distinct_limit"],
        header["precision"])
    stats.rare_ngram_seen = np.unpackbits(arrays["rare_ngram_seen"], count=reference.rare_ngrams.size).astype(bool)
    stats.segment_types, stats.segments = int(header["segment_types"]), int(header["segments"])
    stats.distinct_texts = DistinctKeys.from_snapshot(arrays["distinct_texts"], None, exact_limit=None)
    stats._with_origins = header["with_origins"]
    stats.origins = Counter(header["origins"]) if header["origins"] is not None else None
    return stats
