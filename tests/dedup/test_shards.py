"""Signatures as mapped per-shard steps (``biomass.dedup.shards``) give exactly the one-process dedup: same
clusters, dropped rows, counts and kept signatures, whatever order the shards were signed in."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.dedup import SignatureIndex, shards
from biomass.dedup.engine import cluster_table
from biomass.dedup.files import Inputs, deduplicate_inputs, deduplicate_signed
from biomass.dedup.lsh import band_keys, candidate_pairs, choose_bands, pairs_from_band
from biomass.dedup.minhash import signatures
from biomass.pipeline.assemble import synthetic_cap
from tests.dedup.test_files import _records


def _split(tmp_path, table: pa.Table, parts: int = 3) -> list:
    size = -(-table.num_rows // parts)
    paths = []
    for k in range(parts):
        paths.append(tmp_path / f"in{k}.parquet")
        pq.write_table(table.slice(k * size, size), paths[-1], row_group_size=29)
    return paths


def _sign(paths, folder, order=None):
    for i in (order if order is not None else range(len(paths))):
        shards.sign_file(paths[i], folder, i, num_perm=128, seed=1, threshold=0.8)
    return shards.SignedShards(folder, paths, num_perm=128, seed=1)


@pytest.mark.parametrize("verify", ["exact", "estimate"])
def test_sharded_path_gives_the_clusters_of_one_process(tmp_path, near_dup_corpus, monkeypatch, verify):
    monkeypatch.setattr(shards, "BATCH_BYTES", 8 << 10)     # many batches per shard
    monkeypatch.setattr(shards, "WINDOW_ROWS", 7)            # gathers cross many windows
    table = _records(near_dup_corpus)
    paths = _split(tmp_path, table)
    # an earlier generation holding some of the sources: matches against history go through the shards too
    index = SignatureIndex(tmp_path / "index", num_perm=128, seed=1, threshold=0.8)
    old = table.slice(0, 60)
    index.add_generation(2020, old.column("doc_id"), signatures(old.column("text")))
    old_texts = dict(zip(old.column("doc_id").to_pylist(), old.column("text").to_pylist()))
    earlier = (lambda year, ids: [old_texts[i] for i in ids]) if verify == "exact" else None
    kwargs = dict(threshold=0.8, verify=verify, index=index, year=2021, earlier_texts=earlier)

    want = deduplicate_inputs(Inputs(paths), **kwargs)
    signed = _sign(paths, tmp_path / "signed", order=[2, 0, 1])
    got = deduplicate_signed(Inputs(paths), signed, **kwargs)

    assert want.notes["earlier_generation_matches"] > 0 and want.notes["verified_pairs"] > 0
    assert got.clusters is None and cluster_table(got).equals(want.clusters)
    assert got.dropped.equals(want.dropped)
    assert got.kept.equals(want.kept)
    assert np.array_equal(got.kept_rows, want.kept_rows)
    assert got.counts.as_dict() == want.counts.as_dict()
    kept = np.concatenate(list(signed.take_chunks(got.kept_rows)))
    assert np.array_equal(kept, want.kept_signatures)


def test_shard_files_do_not_depend_on_signing_order(tmp_path, near_dup_corpus):
    paths = _split(tmp_path, _records(near_dup_corpus))
    _sign(paths, tmp_path / "a")
    _sign(paths, tmp_path / "b", order=[2, 1, 0])
    a, b = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 3 * 5
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


def test_signed_shards_hold_the_inputs_signatures_and_band_keys(tmp_path, near_dup_corpus, monkeypatch):
    monkeypatch.setattr(shards, "WINDOW_ROWS", 5)
    table = _records(near_dup_corpus)
    paths = _split(tmp_path, table)
    signed = _sign(paths, tmp_path / "signed")
    sigs = signatures(table.column("text"))
    rows = np.random.default_rng(3).integers(0, table.num_rows, 200)
    assert np.array_equal(signed[rows], sigs[rows])
    bands, r = choose_bands(0.8, 128)
    for b in (0, bands - 1):
        assert np.array_equal(signed.band_keys(bands, r, b), band_keys(sigs, bands, r, first=b, count=1)[0])
    for b in (0, 9):    # other bands than the shards were keyed with: hashed from the signatures
        assert np.array_equal(signed.band_keys(10, 12, b), band_keys(sigs, 10, 12, first=b, count=1)[0])
    assert np.array_equal(signed.candidate_pairs(bands, r), candidate_pairs(sigs, bands, r))


def test_a_shard_signed_from_another_file_is_refused(tmp_path, near_dup_corpus):
    paths = _split(tmp_path, _records(near_dup_corpus))
    _sign(paths, tmp_path / "signed")
    pq.write_table(pq.read_table(paths[1]).slice(1), paths[1])
    with pytest.raises(ValueError, match="sign it again"):
        shards.SignedShards(tmp_path / "signed", paths, num_perm=128, seed=1)
    shards.sign_file(paths[1], tmp_path / "signed", 1, num_perm=128, seed=1, threshold=0.8)
    assert len(shards.SignedShards(tmp_path / "signed", paths, num_perm=128, seed=1)) == sum(
        pq.ParquetFile(p).metadata.num_rows for p in paths)
    (tmp_path / "signed" / "00002.json").unlink()
    with pytest.raises(FileNotFoundError, match="has not been signed"):
        shards.SignedShards(tmp_path / "signed", paths, num_perm=128, seed=1)


def test_pairs_from_band_equal_the_kernel():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**32, (300, 128), dtype=np.uint64).astype(np.uint32)
    sigs = base[rng.integers(0, 300, 4000)]
    noise = rng.random(sigs.shape) < 0.2
    sigs[noise] = rng.integers(0, 2**32, int(noise.sum()), dtype=np.uint64).astype(np.uint32)
    bands, r = choose_bands(0.8, 128)
    keys = band_keys(sigs, bands, r)
    for window in (1, 3, 16):
        got = np.unique(np.concatenate([pairs_from_band(keys[b], window) for b in range(bands)]))
        want = candidate_pairs(sigs, bands, r) if window == 16 else None
        if want is not None:
            assert np.array_equal(got, (want[:, 0].astype(np.uint64) << np.uint64(32)) | want[:, 1])
        assert len(got) > 0


def test_streamed_npy_has_np_saves_bytes(tmp_path):
    m = np.arange(5 * 128, dtype=np.uint32).reshape(5, 128)
    shards.write_npy_rows(iter([m[:2], m[2:]]), 5, 128, tmp_path / "x.npy")
    buf = io.BytesIO()
    np.save(buf, m)
    assert (tmp_path / "x.npy").read_bytes() == buf.getvalue()


def _cap_by_python(rows: pa.Table, share: float) -> list[bool]:
    """The synthetic cap as it was written first, in Python (the reference the array version must equal)."""
    synthetic = [o == "synthetic" for o in rows.column("origin").to_pylist()]
    human = len(synthetic) - sum(synthetic)
    allowed = int(share * human / (1.0 - share)) if share < 1.0 else len(synthetic)
    ids = rows.column("doc_id").to_pylist()
    ranked = sorted((i for i, s in enumerate(synthetic) if s), key=lambda i: ids[i])
    drop = set(ranked[allowed:])
    return [i not in drop for i in range(len(ids))]


@pytest.mark.parametrize("share", [0.0, 0.1, 0.3, 1.0])
def test_synthetic_cap_equals_the_python_rule(share):
    rng = np.random.default_rng(5)
    n = 500
    rows = pa.table({"doc_id": [f"{x:04d}" for x in rng.integers(0, 300, n)],     # repeated ids too
                     "origin": rng.choice(["human", "synthetic", "licensed", None], n).tolist()})
    keep, capped = synthetic_cap(rows, share)
    assert keep.tolist() == _cap_by_python(rows, share)
    assert np.array_equal(capped, ~keep)


def test_band_ranges_side_by_side_give_the_kernels_pairs(monkeypatch):
    """candidate_pairs on several threads (bands split into ranges, merged) equals one call over every band and
    the numpy reference (pairs_from_band)."""
    from biomass.dedup import lsh
    from biomass.dedup.minhash import kernel

    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**32, (200, 128), dtype=np.uint64).astype(np.uint32)
    sigs = base[rng.integers(0, 200, 3000)]
    noise = rng.random(sigs.shape) < 0.25
    sigs[noise] = rng.integers(0, 2**32, int(noise.sum()), dtype=np.uint64).astype(np.uint32)
    bands, r = choose_bands(0.8, 128)
    whole = np.frombuffer(kernel().candidate_pairs(sigs, 128, bands, r, lsh.WINDOW), dtype=np.uint64)
    ranges = [np.frombuffer(kernel().candidate_pairs(sigs, 128, bands, r, lsh.WINDOW, lo, hi - lo), dtype=np.uint64)
              for lo, hi in ((0, 7), (7, 8), (8, bands))]
    assert np.array_equal(np.unique(np.concatenate(ranges)), whole)
    keys = band_keys(sigs, bands, r)
    assert np.array_equal(np.unique(np.concatenate([pairs_from_band(k) for k in keys])), whole)
    monkeypatch.setattr(lsh, "_PARALLEL_ROWS", 0)
    for threads in (1, 2, 3, bands + 5):
        got = candidate_pairs(sigs, bands, r, threads=threads)
        assert np.array_equal((got[:, 0].astype(np.uint64) << np.uint64(32)) | got[:, 1], whole)
    with pytest.raises(ValueError, match="bad shapes"):
        kernel().candidate_pairs(sigs, 128, bands, r, lsh.WINDOW, 3, bands)


def test_dropped_rows_by_row_number_equal_the_doc_id_matching(tmp_path, near_dup_corpus):
    """Assemble takes the local backend's dropped rows by the row numbers dedup gives (no second read of every
    row's keys); that must line up exactly as matching them back by doc_id does (the path other backends take)."""
    import dataclasses

    from biomass.pipeline.assemble import _dropped_by_row

    table = _records(near_dup_corpus)
    paths = _split(tmp_path, table)
    index = SignatureIndex(tmp_path / "index", num_perm=128, seed=1, threshold=0.8)
    old = table.slice(0, 60)
    index.add_generation(2020, old.column("doc_id"), signatures(old.column("text")))
    inputs = Inputs(paths)
    result = deduplicate_signed(inputs, _sign(paths, tmp_path / "signed"), threshold=0.8, index=index, year=2021)
    assert result.dropped_rows is not None and len(result.dropped_rows) > 10
    rows, dropped = _dropped_by_row(result, inputs, result.kept_rows)
    want_rows, want = _dropped_by_row(dataclasses.replace(result, dropped_rows=None), inputs, result.kept_rows)
    assert np.array_equal(rows, want_rows)
    assert dropped.equals(want)
    with pytest.raises(RuntimeError, match="dropped"):
        _dropped_by_row(dataclasses.replace(result, dropped_rows=result.dropped_rows[1:]), inputs, result.kept_rows)
