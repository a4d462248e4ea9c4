"""`biomass dedup IN... --out OUT --clusters CL` end to end on files."""

from __future__ import annotations

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.dedup import cli


def biomass_dedup(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="biomass")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["dedup", *argv])
    return args.func(args)


def test_cli_writes_kept_rows_and_clusters(tmp_path, near_dup_corpus, capsys):
    half = near_dup_corpus.num_rows // 2
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    pq.write_table(near_dup_corpus.slice(0, half), a)
    pq.write_table(near_dup_corpus.slice(half).append_column("extra", pa.array(["x"] * (near_dup_corpus.num_rows - half))), b)
    out, cl, dr = tmp_path / "out.parquet", tmp_path / "cl.parquet", tmp_path / "dropped.parquet"
    assert biomass_dedup([str(a), str(b), "--out", str(out), "--clusters", str(cl), "--dropped", str(dr),
                          "--threshold", "0.8"]) == 0
    counts = json.loads(capsys.readouterr().out)
    kept, clusters, dropped = pq.read_table(out), pq.read_table(cl), pq.read_table(dr)
    assert counts["in"] == near_dup_corpus.num_rows == clusters.num_rows
    assert counts["out"] == kept.num_rows == near_dup_corpus.num_rows - dropped.num_rows
    assert clusters.column_names == ["doc_id", "cluster_id"]
    assert "extra" in kept.column_names                      # other columns pass through
    assert set(kept.column("doc_id").to_pylist()) == set(clusters.column("cluster_id").to_pylist())


def test_cli_with_index_reads_earlier_generations(tmp_path, near_dup_corpus):
    from biomass.dedup import SignatureIndex, signatures

    small = near_dup_corpus.slice(0, 20)
    SignatureIndex(tmp_path / "idx").add_generation(2020, small.column("doc_id"), signatures(small.column("text")))
    pq.write_table(small, tmp_path / "in.parquet")
    assert biomass_dedup([str(tmp_path / "in.parquet"), "--out", str(tmp_path / "o.parquet"),
                          "--index", str(tmp_path / "idx"), "--year", "2021"]) == 0
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 0


def test_small_pages_switches_numpy_and_arrow_off_huge_pages():
    import numpy as np

    set_hugepage = np._core.multiarray._set_madvise_hugepage
    pool, hugepage = pa.default_memory_pool(), set_hugepage(True)
    try:
        cli.small_pages()
        assert pa.default_memory_pool().backend_name == "system"
        assert set_hugepage(True) is False                           # returns the setting it replaces
    finally:
        pa.set_memory_pool(pool)
        set_hugepage(hugepage)
