"""The Spark backend (local[2]) gives exactly the local backend's clusters, kept rows and drops."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

pytestmark = pytest.mark.spark

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - the project machines have Java 17
    pytest.skip("Spark needs Java", allow_module_level=True)


@pytest.fixture(scope="module")
def spark():
    from biomass.dedup.spark import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def test_spark_clusters_equal_local(spark, near_dup_corpus):
    from biomass.dedup import deduplicate
    from biomass.dedup.spark import deduplicate_spark

    table = near_dup_corpus.append_column(
        "origin", pa.array(["synthetic" if i % 3 == 0 else "human" for i in range(near_dup_corpus.num_rows)]))
    local = deduplicate(table, threshold=0.8)
    remote = deduplicate_spark(table, spark=spark, threshold=0.8)
    assert remote.clusters.equals(local.clusters)
    assert remote.kept.equals(local.kept)
    assert remote.dropped.equals(local.dropped)
    assert local.counts.rows_out < table.num_rows            # the corpus does have near duplicates


def test_spark_with_a_big_bucket_and_chains(spark):
    """30 FAKE copies of one doc (a bucket bigger than the pairing window) plus a chain of small edits."""
    from biomass.dedup import deduplicate
    from biomass.dedup.spark import deduplicate_spark

    base = " ".join(f"w{i}" for i in range(200))
    texts = [base] * 30 + [base.replace(f"w{i} ", f"x{i} ", 1) for i in range(0, 200, 7)] + ["alone here"]
    table = pa.table({"doc_id": [f"fake-{i:03d}" for i in range(len(texts))], "text": texts})
    assert deduplicate_spark(table, spark=spark).clusters.equals(deduplicate(table).clusters)
