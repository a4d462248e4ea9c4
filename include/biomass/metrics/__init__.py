"""Model-collapse metrics: tail coverage, diversity, drift and mix of a generation against a frozen reference.

Typical use in the pipeline::

    config = MetricsConfig()                  # from biomass.config.metrics
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

# The names below are imported on first use (PEP 562), so that importing one submodule does not load the whole
# metrics stack: ``biomass filter`` and DAG parsing stay fast. The settings (MetricsConfig, Bound) are
# biomass.config.metrics.
_EXPORTS = {
    "METRIC_KEYS": "collapse", "GenerationStats": "collapse", "collapse_metrics": "collapse",
    "TokenStats": "counting",
    "head_tail_perplexity": "headtail", "is_held_out": "headtail",
    "iter_texts": "inputs", "read_texts": "inputs", "texts_from_table": "inputs",
    "EmptyReference": "reference", "ReferenceProfile": "reference", "ReferenceStats": "reference",
    "collapse_verdict": "verdict",
}


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'biomass.metrics' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"biomass.metrics.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "METRIC_KEYS",
    "EmptyReference",
    "GenerationStats",
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
