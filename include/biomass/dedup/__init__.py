"""MinHash near-duplicate removal: datasketch-identical signatures, flat-array LSH, cross-generation index.

    from biomass.dedup import signatures, deduplicate, DedupResult, SignatureIndex

Pipeline use (one generation ``year``)::

    index = SignatureIndex(data_root / "index" / "minhash")           # read-only until publish
    result = deduplicate(table, threshold=cfg.threshold, num_perm=cfg.num_perm, seed=cfg.seed,
                         index=index if cfg.scope == "all" else None, year=year)
    # result.kept -> next stage; result.dropped / result.quarantine_rows(table) -> quarantine;
    # result.counts is a checked StageCounts(stage="dedup")
    ...
    index.add_generation(year, result.kept.column("doc_id"), result.kept_signatures)   # publish step only

Modules: ``minhash`` (signatures and the compiled kernel), ``lsh`` (bands, candidate pairs), ``engine``
(verification, clusters, keep rule), ``index`` (SignatureIndex), ``evaluate`` (exact ground truth, pairwise
P/R/F1), ``spark`` (scale-out backend), ``cli`` (``biomass dedup``).
"""

from biomass.dedup.engine import (
    EARLIER_GENERATION,
    NEAR_DUPLICATE,
    ORIGIN_PRIORITY,
    DedupResult,
    deduplicate,
    from_config,
)
from biomass.dedup.index import SignatureIndex
from biomass.dedup.lsh import choose_bands
from biomass.dedup.minhash import shingles, signatures

__all__ = [
    "EARLIER_GENERATION", "NEAR_DUPLICATE", "ORIGIN_PRIORITY", "DedupResult", "SignatureIndex",
    "choose_bands", "deduplicate", "from_config", "shingles", "signatures",
]
