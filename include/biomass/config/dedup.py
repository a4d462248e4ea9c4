"""Near-duplicate settings: the ``dedup`` section of biomass.yaml and the parameters a MinHash index is built with.

Both are here, below the dedup kernels that read them, so that ``biomass.dedup`` never reaches up to the whole
config to learn how a signature is made.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from biomass.strict import StrictModel


class DedupConfig(StrictModel):
    threshold: float = 0.8
    num_perm: int = 128
    seed: int = 1
    scope: Literal["year", "all"] = "all"
    backend: Literal["local", "spark"] = Field("local", description="spark: the within-year step on a Spark "
                                                                     "cluster (SPARK_REMOTE / spark-submit config)")


class IndexParams(StrictModel):
    """What every generation file of one cross-generation index (``biomass.dedup.index``) was built with; stored
    in its ``index.json`` next to the file format version."""

    num_perm: int = 128
    seed: int = 1
    threshold: float = 0.8
