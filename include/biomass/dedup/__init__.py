"""MinHash near-duplicate removal: datasketch-identical signatures, flat-array LSH, cross-generation index.

    from biomass.dedup import signatures, deduplicate, DedupResult, SignatureIndex

Pipeline use (one generation ``year``)::

    index = SignatureIndex(data_root / "index" / "minhash")           # read-only until publish
    result = deduplicate(table, threshold=cfg.threshold, num_perm=cfg.num_perm, seed=cfg.seed,
                         index=index, year=year, scope=cfg.scope,
                         earlier_texts=texts_of)   # optional: exact Jaccard against earlier generations
    # texts_of(year, doc_ids) -> their texts, e.g. from GenerationStore.read(year, columns=["doc_id", "text"]);
    # without it cross-generation matches are judged on the signatures (estimated Jaccard, ~0.94 P/R at 0.8)
    # result.kept -> next stage; result.dropped / result.quarantine_rows(table) -> quarantine;
    # result.counts is a checked StageCounts(stage="dedup")
    ...
    index.add_generation(year, result.kept.column("doc_id"), result.kept_signatures)   # publish step only

Modules: ``minhash`` (signatures and the compiled kernel), ``lsh`` (bands, candidate pairs), ``engine``
(verification, clusters, keep rule), ``index`` (SignatureIndex), ``evaluate`` (exact ground truth, pairwise
P/R/F1), ``spark`` (scale-out backend), ``backend`` (local or Spark, from config), ``files`` (Parquet to
Parquet in bounded memory), ``cli`` (``biomass dedup``, on ``files``).
"""

from biomass.dedup.engine import (
    EARLIER_GENERATION,
    NEAR_DUPLICATE,
    ORIGIN_PRIORITY,
    DedupResult,
    deduplicate,
)
from biomass.dedup.backend import from_config
from biomass.dedup.lsh import choose_bands
from biomass.dedup.minhash import shingles, signatures

__all__ = [
    "EARLIER_GENERATION", "NEAR_DUPLICATE", "ORIGIN_PRIORITY", "DedupResult", "SignatureIndex",
    "choose_bands", "deduplicate", "from_config", "shingles", "signatures",
]


def __getattr__(name: str):
    """``SignatureIndex`` on first use: its parameters are a pydantic model, which ``biomass dedup`` without
    ``--index`` never needs (~0.2 s of start-up)."""
    if name == "SignatureIndex":
        from biomass.dedup.index import SignatureIndex

        return SignatureIndex
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
