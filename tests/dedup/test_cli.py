"""`biomass dedup IN... --out OUT --clusters CL` end to end on files."""

from __future__ import annotations

import argparse
import json

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.cli import dedup as dedup_cli


def biomass_dedup(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="biomass")
    dedup_cli.register(parser.add_subparsers(dest="command"))
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
        dedup_cli.small_pages()
        assert pa.default_memory_pool().backend_name == "system"
        assert set_hugepage(True) is False                           # returns the setting it replaces
    finally:
        pa.set_memory_pool(pool)
        set_hugepage(hugepage)


def test_cli_without_out_writes_only_the_decisions(tmp_path, near_dup_corpus, capsys):
    pq.write_table(near_dup_corpus, tmp_path / "in.parquet")
    with_out = [str(tmp_path / "in.parquet"), "--out", str(tmp_path / "o.parquet"), "--clusters", str(tmp_path / "c1.parquet")]
    assert biomass_dedup(with_out) == 0
    first = json.loads(capsys.readouterr().out)
    assert biomass_dedup([str(tmp_path / "in.parquet"), "--clusters", str(tmp_path / "c2.parquet"),
                          "--dropped", str(tmp_path / "d.parquet")]) == 0
    assert json.loads(capsys.readouterr().out) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c1.parquet", "c2.parquet", "d.parquet", "in.parquet",
                                                          "o.parquet"]
    assert (tmp_path / "c1.parquet").read_bytes() == (tmp_path / "c2.parquet").read_bytes()
    assert pq.read_table(tmp_path / "d.parquet").num_rows == first["in"] - first["out"] > 0


def test_cli_run_never_imports_pandas(tmp_path, near_dup_corpus):
    """pyarrow would import pandas (~0.4 s) on its first numpy conversion; the command tells it not to, and
    pandas stays importable by anyone who wants it."""
    import subprocess
    import sys

    pq.write_table(near_dup_corpus, tmp_path / "in.parquet")
    script = ("import sys; from biomass.cli import dedup; dedup.main([sys.argv[1], '--out', sys.argv[2]]); "
              "print('pandas' in sys.modules); import numpy, pyarrow; pyarrow.array(numpy.arange(3)); "
              "print('pandas' in sys.modules); import pandas; print(pandas.Series([1]).sum())")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "in.parquet"), str(tmp_path / "o.parquet")],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[1:] == ["False", "False", "1"]


def test_cli_run_without_index_never_imports_pydantic(tmp_path, near_dup_corpus):
    """The typed manifest and the index's parameters are pydantic models (~0.2 s to import, on every run); a
    dedup of files that neither reads a manifest nor opens an index must not pay for them."""
    import subprocess
    import sys

    pq.write_table(near_dup_corpus, tmp_path / "in.parquet")
    script = ("import sys; from biomass.cli import dedup; "
              "dedup.main([sys.argv[1], '--out', sys.argv[2], '--clusters', sys.argv[3]]); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    proc = subprocess.run([sys.executable, "-c", script, *(str(tmp_path / n) for n in ("in.parquet", "o.parquet",
                                                                                          "c.parquet"))],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"
