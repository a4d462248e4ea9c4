"""Which engine runs a dedup from config: the local one, or Spark for the within-table step.

Kept apart from ``engine`` so that the local engine never imports the Spark backend, and the Spark backend can
build on the local engine's pieces without a loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Sequence

import pyarrow as pa

from biomass.accounting import StageCounts
from biomass.dedup.engine import DedupResult, deduplicate

if TYPE_CHECKING:
    from biomass.dedup.index import SignatureIndex


def from_config(table: pa.Table, config, *, index: SignatureIndex | None = None,
                year: int | None = None, spark=None,
                earlier_texts: Callable[[int, list[str]], Sequence[str]] | None = None) -> DedupResult:
    """Run with a ``biomass.config.dedup.DedupConfig`` (threshold, num_perm, seed, scope; ``backend`` if it has one).

    ``backend="spark"`` runs the within-table step on Spark (``spark`` session, else local[2]) and then, with
    ``scope="all"``, checks the kept rows against ``index`` locally; clusters equal the local backend's.
    """
    backend = getattr(config, "backend", "local")
    if backend == "local":
        return deduplicate(table, threshold=config.threshold, num_perm=config.num_perm, seed=config.seed,
                           index=index, year=year, scope=config.scope, earlier_texts=earlier_texts)
    if backend != "spark":
        raise ValueError(f"unknown dedup backend {backend!r}; use 'local' or 'spark'")
    from biomass.dedup.spark import deduplicate_spark

    result = deduplicate_spark(table, spark=spark, threshold=config.threshold, num_perm=config.num_perm,
                               seed=config.seed)
    if index is None or config.scope != "all" or not index.years():
        return result
    later = deduplicate(result.kept, threshold=config.threshold, num_perm=config.num_perm, seed=config.seed,
                        index=index, year=year, scope="all", earlier_texts=earlier_texts)
    dropped = pa.concat_tables([result.dropped, later.dropped])
    counts = StageCounts(stage="dedup", rows_in=table.num_rows, rows_out=later.kept.num_rows,
                         quarantined=result.counts.quarantined + later.counts.quarantined,
                         notes={**result.notes, "earlier_generation_matches":
                                later.notes["earlier_generation_matches"], "index_years": later.notes["index_years"]})
    return DedupResult(kept=later.kept, clusters=result.clusters, dropped=dropped,
                       kept_signatures=later.kept_signatures, counts=counts.check(), notes=counts.notes)
