"""MinHash near-duplicate removal: datasketch-identical signatures, flat-array LSH, cross-generation index.

    from biomass.dedup import signatures, deduplicate, DedupResult, SignatureIndex
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
