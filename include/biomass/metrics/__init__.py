"""Model-collapse metrics: tail coverage, diversity, drift and mix of a generation against a frozen reference.

Typical use in the pipeline::

    config = MetricsConfig()
    ref = ReferenceProfile.build(gen0_texts, config); ref.save("reference.parquet")   # once
    ref = ReferenceProfile.load("reference.parquet")                                  # every later year
    m = collapse_metrics(texts, ref, previous=prev_texts, origins=origins, duplicate_rate=d, config=config)
    verdict = collapse_verdict(m, config)     # {"status": "ok" | "warn" | "fail", "reasons": [...], ...}

A generation too large to hold is measured from mergeable statistics, a batch (or a shard) at a time::

    stats = GenerationStats(ref, config)
    for texts, origins in batches:
        stats.update(texts, origins)          # or: one GenerationStats per shard, then .merge(...)
    m = stats.finish(previous=prev_word_counts, duplicate_rate=d)     # prev: a TokenStats

Definitions and formulae: docs/metrics.md.
"""

from biomass.metrics.collapse import METRIC_KEYS, GenerationStats, collapse_metrics
from biomass.metrics.counting import TokenStats
from biomass.metrics.config import Bound, MetricsConfig
from biomass.metrics.headtail import head_tail_perplexity, is_held_out
from biomass.metrics.inputs import iter_texts, read_texts, texts_from_table
from biomass.metrics.reference import EmptyReference, ReferenceProfile, ReferenceStats
from biomass.metrics.verdict import collapse_verdict

__all__ = [
    "METRIC_KEYS",
    "Bound",
    "EmptyReference",
    "GenerationStats",
    "MetricsConfig",
    "ReferenceProfile",
    "ReferenceStats",
    "TokenStats",
    "collapse_metrics",
    "collapse_verdict",
    "head_tail_perplexity",
    "is_held_out",
    "iter_texts",
    "read_texts",
    "texts_from_table",
]
