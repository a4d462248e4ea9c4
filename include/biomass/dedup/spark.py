"""Scale-out backend: the local dedup algorithm on Apache Spark (band keys, group-by, connected components).

Every step matches the local backend, so clusters are identical on the same input: the same compiled kernel
computes signatures, band keys and exact Jaccard on the executors; each LSH bucket pairs each row with the
next ``WINDOW`` rows in row order (as ``lsh.candidate_pairs`` does); verified pairs are joined into connected
components by min-label propagation; the cluster head is the best row by origin, collected_at, doc_id, row.

Pointing it at a cluster: build the session yourself and pass it in, e.g.
``SparkSession.builder.master("spark://host:7077").getOrCreate()`` (or ``spark-submit --master yarn ...``).
Executors import biomass, so install the project (wheel with its compiled kernel, same Python minor version)
on every worker, or ship it with ``--py-files``/``spark.archives``. Locally, ``spark_session()`` starts
``local[2]`` with few shuffle partitions (Spark's default 200 is slow on 2 cores).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pyarrow as pa

from biomass.dedup.engine import ORIGIN_PRIORITY, DedupResult, assemble, priority_ranks
from biomass.dedup.lsh import WINDOW, choose_bands

MAX_ROUNDS = 64


def _pyspark():
    try:
        import pyspark  # noqa: F401
        from pyspark.sql import SparkSession, functions as F
    except ImportError as exc:  # pragma: no cover - pyspark is in the lock, this guards hand-made envs
        raise ImportError("the Spark dedup backend needs pyspark (pip install pyspark==4.3.0) and Java 17") from exc
    return SparkSession, F


def spark_session(master: str = "local[2]", app_name: str = "biomass-dedup", shuffle_partitions: int = 4):
    import logging
    import os
    import sys

    # py4j logs every connection open/close at INFO, including from __del__ at interpreter exit, after logging
    # has closed its streams ("--- Logging error ---"); its warnings still show.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    SparkSession, _ = _pyspark()
    builder = SparkSession.builder
    if master.startswith("local"):   # workers must run this interpreter (the venv with biomass and pyarrow)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.pyspark.python", os.environ["PYSPARK_PYTHON"])
    return (builder.master(master).appName(app_name)
            .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.ui.enabled", "false")
            .getOrCreate())


def _band_keys_fn(num_perm: int, seed: int, bands: int, rows: int):
    def fn(batches):
        from biomass.dedup.lsh import band_keys
        from biomass.dedup.minhash import signatures

        for batch in batches:
            sigs = signatures(batch.column("text"), num_perm=num_perm, seed=seed, threads=1)
            row = batch.column("row").to_numpy()
            for band in range(bands):
                keys = band_keys(sigs, bands, rows, first=band, count=1)[0].view(np.int64)
                yield pa.record_batch({"band": pa.array(np.full(len(row), band, np.int32)),
                                       "key": pa.array(keys), "row": pa.array(row)})
    return fn


def _verify_fn(threshold: float):
    def fn(batches):
        from biomass.dedup.minhash import jaccard_pairs, shingle_sets

        for batch in batches:
            m = batch.num_rows
            if m == 0:
                continue
            texts = pa.concat_arrays([batch.column("text_a").cast(pa.large_string()),
                                      batch.column("text_b").cast(pa.large_string())])
            offsets, hashes = shingle_sets(texts, threads=1)
            sim = jaccard_pairs(offsets, hashes, np.arange(m), np.arange(m, 2 * m))
            ok = sim >= threshold
            yield pa.record_batch({"a": batch.column("a").filter(pa.array(ok)),
                                   "b": batch.column("b").filter(pa.array(ok))})
    return fn


def cluster_frame(df, *, threshold: float = 0.8, num_perm: int = 128, seed: int = 1):
    """Spark DataFrame ``(row, label)``: the component (min row) of every row of ``df`` (row, text, ...)."""
    _, F = _pyspark()
    bands, rows = choose_bands(threshold, num_perm)
    keys = df.select("row", "text").mapInArrow(_band_keys_fn(num_perm, seed, bands, rows),
                                               "band int, key long, row long")
    buckets = (keys.groupBy("band", "key").agg(F.sort_array(F.collect_list("row")).alias("rows"))
               .where(F.size("rows") > 1))
    # pair position i with i+1 .. i+WINDOW inside each row-sorted bucket, exactly like lsh.candidate_pairs
    pairs = buckets.select(F.explode(F.expr(
        f"flatten(transform(sequence(0, size(rows) - 2), i -> transform(sequence(i + 1, "
        f"least(i + {WINDOW}, size(rows) - 1)), j -> named_struct('a', rows[i], 'b', rows[j]))))")).alias("p"))
    pairs = pairs.select(F.col("p.a").alias("a"), F.col("p.b").alias("b")).distinct()
    texts = df.select("row", "text")
    joined = (pairs.join(texts.withColumnRenamed("row", "a").withColumnRenamed("text", "text_a"), "a")
              .join(texts.withColumnRenamed("row", "b").withColumnRenamed("text", "text_b"), "b"))
    edges = joined.select("a", "b", "text_a", "text_b").mapInArrow(_verify_fn(threshold), "a long, b long")
    edges = edges.localCheckpoint()
    both = edges.union(edges.select(F.col("b").alias("a"), F.col("a").alias("b")))
    labels = both.select(F.col("a").alias("row")).distinct().withColumn("label", F.col("row"))
    for _ in range(MAX_ROUNDS):   # min-label propagation; rounds ~ the longest shortest path in a cluster
        spread = (both.join(labels, both.a == labels.row).select(both.b.alias("row"), "label")
                  .union(labels).groupBy("row").agg(F.min("label").alias("label"))).localCheckpoint()
        changed = spread.join(labels.withColumnRenamed("label", "old"), "row").where("label != old").count()
        labels = spread
        if changed == 0:
            break
    else:  # pragma: no cover - would need a path longer than MAX_ROUNDS through near duplicates
        raise RuntimeError(f"connected components did not converge in {MAX_ROUNDS} rounds")
    return (df.select("row").join(labels, "row", "left")
            .select("row", F.coalesce("label", "row").alias("label")))


def head_frame(df, labels):
    """``(row, label, head_row, cluster_id)``: the best row of each cluster by the keep priority."""
    from pyspark.sql import Window

    _, F = _pyspark()
    ranked = labels.join(df.select("row", "doc_id", "origin_rank", "when"), "row")
    w = Window.partitionBy("label").orderBy("origin_rank", "when", "doc_id", "row")
    heads = (ranked.withColumn("k", F.row_number().over(w)).where("k = 1")
             .select("label", F.col("row").alias("head_row"), F.col("doc_id").alias("cluster_id")))
    return labels.join(heads, "label").select("row", "label", "head_row", "cluster_id")


def prepare(spark, table: pa.Table, origin_priority: Sequence[str] = ORIGIN_PRIORITY):
    """A Spark DataFrame ``(row, doc_id, text, origin_rank, when)`` from an Arrow table (driver side)."""
    ids = table.column("doc_id").combine_chunks().cast(pa.string())
    origin, when, _ = priority_ranks(table, ids, origin_priority)
    local = pa.table({"row": pa.array(np.arange(table.num_rows, dtype=np.int64)), "doc_id": ids,
                      "text": table.column("text").combine_chunks().cast(pa.string()).fill_null(""),
                      "origin_rank": pa.array(origin), "when": pa.array(when)})
    return spark.createDataFrame(local.to_pandas()), ids


def deduplicate_spark(table: pa.Table, *, spark=None, threshold: float = 0.8, num_perm: int = 128, seed: int = 1,
                      origin_priority: Sequence[str] = ORIGIN_PRIORITY) -> DedupResult:
    """``deduplicate`` (within the table, exact verification) with the heavy steps on Spark.

    The result is the same ``DedupResult`` as the local backend's. Cross-generation matching stays with
    ``SignatureIndex`` on the driver (run ``deduplicate(..., index=...)`` on the kept rows if needed).
    """
    from biomass.dedup.minhash import signatures

    spark = spark or spark_session()
    df, ids = prepare(spark, table, origin_priority)
    df = df.localCheckpoint()
    labels = cluster_frame(df, threshold=threshold, num_perm=num_perm, seed=seed)
    heads = head_frame(df, labels).toPandas().sort_values("row")
    n = table.num_rows
    label_arr = heads["label"].to_numpy(dtype=np.int64) if n else np.zeros(0, np.int64)
    sigs = signatures(table.column("text"), num_perm=num_perm, seed=seed)   # kept_signatures, for publishing
    bands, rows = choose_bands(threshold, num_perm)
    result = assemble(table, ids, label_arr, sigs, np.zeros(n, bool), np.full(n, -1, np.int64),
                      np.full(n, None, dtype=object), origin_priority,
                      {"threshold": threshold, "num_perm": num_perm, "seed": seed, "bands": bands, "rows": rows,
                       "verify": "exact", "backend": "spark"})
    spark_clusters = pa.array(heads["cluster_id"].tolist(), pa.string())
    if not result.clusters.column("cluster_id").combine_chunks().equals(spark_clusters):
        raise AssertionError("Spark cluster heads disagree with the shared keep rule")  # pragma: no cover
    return result
