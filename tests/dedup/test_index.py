"""The cross-generation index: persistent, versioned, idempotent, and only the new data loses rows."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from biomass.dedup import EARLIER_GENERATION, NEAR_DUPLICATE, SignatureIndex, deduplicate, signatures

from .conftest import edit, real_docs


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return real_docs()[:120]


def table(ids, texts, origin="human"):
    return pa.table({"doc_id": ids, "text": texts, "origin": [origin] * len(ids)})


def publish(index: SignatureIndex, year: int, tbl: pa.Table, **kw):
    result = deduplicate(tbl, index=index, year=year, **kw)
    index.add_generation(year, result.kept.column("doc_id"), result.kept_signatures)
    return result


def test_new_rows_matching_an_earlier_generation_are_dropped(tmp_path, docs):
    import random

    index = SignatureIndex(tmp_path / "idx")
    assert index.years() == []
    publish(index, 2021, table([f"y21-{i}" for i in range(60)], docs[:60]))
    rng = random.Random(5)
    # 2022: 20 FAKE light edits of 2021 docs, 40 new docs, and an in-year duplicate pair among the new ones
    old_edits = [edit(docs[i], rng, 0.005) for i in range(20)]
    new = docs[60:100]
    ids = [f"y22-old-{i}" for i in range(20)] + [f"y22-new-{i}" for i in range(40)] + ["y22-new-dup"]
    result = publish(index, 2022, table(ids, old_edits + new + [edit(new[0], rng, 0.005)]))
    dropped = {r["doc_id"]: r for r in result.dropped.to_pylist()}
    for i in range(20):
        row = dropped[f"y22-old-{i}"]
        assert row["reason"] == EARLIER_GENERATION
        assert (row["matched_generation"], row["kept_doc_id"]) == (2021, f"y21-{i}")
    assert dropped["y22-new-dup"]["reason"] == NEAR_DUPLICATE
    assert len(dropped) == 21
    assert result.counts.as_dict()["quarantined"] == {EARLIER_GENERATION: 20, NEAR_DUPLICATE: 1}
    assert index.years() == [2021, 2022]
    assert len(index) == 60 + 40


def test_scope_year_and_before_year_ignore_the_index(tmp_path, docs):
    index = SignatureIndex(tmp_path)
    tbl = table([f"d{i}" for i in range(30)], docs[:30])
    publish(index, 2021, tbl)
    assert deduplicate(tbl, index=index, year=2022).counts.rows_out == 0
    assert deduplicate(tbl, index=index, year=2022, scope="year").counts.rows_out == 30
    # re-running 2021 after it was published must not match itself
    assert deduplicate(tbl, index=index, year=2021).counts.rows_out == 30


def test_add_generation_is_idempotent_and_order_free(tmp_path, docs):
    index = SignatureIndex(tmp_path)
    ids = [f"d{i}" for i in range(50)]
    sigs = signatures(docs[:50])
    path = index.add_generation(2023, ids, sigs)
    first = path.read_bytes()
    index.add_generation(2023, ids, sigs)
    assert path.read_bytes() == first
    perm = np.random.default_rng(0).permutation(50)
    index.add_generation(2023, [ids[i] for i in perm], sigs[perm])
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gen-2023.arrow", "index.json"]
    # a changed generation replaces the entry (no stale rows)
    index.add_generation(2023, ids[:10], sigs[:10])
    assert len(index) == 10


def test_parameters_are_recorded_and_checked(tmp_path, docs):
    index = SignatureIndex(tmp_path, threshold=0.8)
    index.add_generation(2021, ["a", "b"], signatures(docs[:2]))
    meta = json.loads((tmp_path / "index.json").read_text())
    assert meta == {"format": 1, "num_perm": 128, "seed": 1, "threshold": 0.8}
    with pytest.raises(ValueError, match="num_perm"):
        SignatureIndex(tmp_path, num_perm=64)
    with pytest.raises(ValueError, match="num_perm=128 seed=1"):
        deduplicate(table(["x"], [docs[0]]), seed=2, index=SignatureIndex(tmp_path))
    with pytest.raises(ValueError, match="signatures"):
        SignatureIndex(tmp_path).add_generation(2022, ["a"], signatures(docs[:2]))
    (tmp_path / "index.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="format"):
        SignatureIndex(tmp_path)


def test_query_at_another_threshold_rebands(tmp_path, docs):
    index = SignatureIndex(tmp_path)
    sigs = signatures(docs[:40])
    index.add_generation(2021, [f"d{i}" for i in range(40)], sigs)
    for threshold in (0.6, 0.8, 0.95):
        hits = index.query(sigs[:5], threshold=threshold)
        assert hits.rows.tolist() == [0, 1, 2, 3, 4]
        assert hits.doc_ids == [f"d{i}" for i in range(5)]
        assert np.all(hits.similarity == 1.0)


def test_best_match_prefers_the_earliest_generation(tmp_path, docs):
    index = SignatureIndex(tmp_path)
    sigs = signatures(docs[:3])
    index.add_generation(2022, ["late"], sigs[:1])
    index.add_generation(2021, ["early"], sigs[:1])
    hits = index.query(sigs)
    assert (hits.rows.tolist(), hits.years.tolist(), hits.doc_ids) == ([0], [2021], ["early"])
    assert index.query(sigs, years=[2022]).doc_ids == ["late"]


def test_memory_is_well_under_a_kilobyte_per_doc(tmp_path):
    assert SignatureIndex(tmp_path).bytes_per_doc() < 512


def test_exact_cross_generation_verification_with_earlier_texts(tmp_path, docs):
    """With the earlier texts at hand, cross-generation drops follow exact Jaccard (here: edits on both sides
    of the threshold), not the signature estimate."""
    import random

    from biomass.dedup import shingles

    rng = random.Random(11)
    old = docs[:40]
    index = SignatureIndex(tmp_path)
    index.add_generation(2021, [f"o{i}" for i in range(40)], signatures(old))
    new = [edit(old[i % 40], rng, [0.01, 0.03, 0.05, 0.07, 0.1][i % 5]) for i in range(80)]
    ids = [f"fake-n{i}" for i in range(80)]
    by_id = {f"o{i}": t for i, t in enumerate(old)}
    result = deduplicate(table(ids, new), index=index, year=2022, scope="all",
                         earlier_texts=lambda year, wanted: [by_id[d] for d in wanted])
    old_sets = [set(shingles(t)) for t in old]

    def exact_match(text):
        s = set(shingles(text))
        return any(len(s & o) / len(s | o) >= 0.8 for o in old_sets)

    truth = {d for d, t in zip(ids, new) if exact_match(t)}
    dropped = {r["doc_id"] for r in result.dropped.to_pylist() if r["reason"] == EARLIER_GENERATION}
    assert 10 < len(truth) < 70                       # both sides of the threshold are present
    assert dropped == truth


def test_exact_verification_in_rounds_matches_one_round(tmp_path, docs, monkeypatch):
    """Rows matching history are verified a round of query rows at a time (bounded texts held); the matches
    are those of a single round, and the earlier texts are fetched once per round."""
    import random

    from biomass.dedup import index as index_module

    rng = random.Random(5)
    old = docs[:40]
    index = SignatureIndex(tmp_path)
    index.add_generation(2021, [f"o{i}" for i in range(40)], signatures(old))
    new = [edit(old[i % 40], rng, [0.01, 0.05, 0.1][i % 3]) for i in range(90)]
    by_id = {f"o{i}": t for i, t in enumerate(old)}
    calls = []

    def earlier(year, wanted):
        calls.append(len(wanted))
        return [by_id[d] for d in wanted]

    sigs = signatures(new)
    whole = index.query(sigs, before_year=2022, texts=new, earlier_texts=earlier)
    assert len(calls) == 1 and len(whole.rows) > 10
    monkeypatch.setattr(index_module, "EXACT_ROUND_ROWS", 7)
    calls.clear()
    rounds = index.query(sigs, before_year=2022, texts=new, earlier_texts=earlier)
    assert len(calls) > 5
    assert np.array_equal(rounds.rows, whole.rows) and rounds.doc_ids == whole.doc_ids
    assert np.array_equal(rounds.similarity, whole.similarity) and np.array_equal(rounds.years, whole.years)


def _generation_file_as_before(sigs: np.ndarray, ids: list[str], params) -> pa.Table:
    """The index table as add_generation built it with Python lists (the reference for the chunked build)."""
    from biomass.dedup.lsh import band_keys, choose_bands

    order = sorted(range(len(ids)), key=lambda i: (ids[i], i))
    sorted_ids, sorted_sigs = [ids[i] for i in order], sigs[np.array(order, dtype=np.int64)]
    bands, rows = choose_bands(params.threshold, params.num_perm)
    columns = {"doc_id": pa.array(sorted_ids, type=pa.string()),
               "signature": pa.FixedSizeListArray.from_arrays(pa.array(sorted_sigs.ravel(), type=pa.uint32()),
                                                              params.num_perm)}
    for b in range(bands):
        keys = band_keys(sorted_sigs, bands, rows, first=b, count=1)[0]
        sorted_order = np.argsort(keys, kind="stable").astype(np.uint32)
        columns[f"key_{b:03d}"] = pa.array(keys[sorted_order], type=pa.uint64())
        columns[f"row_{b:03d}"] = pa.array(sorted_order, type=pa.uint32())
    return pa.table(columns)


def test_a_generation_file_from_a_memory_map_in_chunks_holds_what_the_list_build_held(tmp_path, docs, monkeypatch):
    import pyarrow.ipc as ipc

    import biomass.dedup.generation_file as generation_file

    monkeypatch.setattr(generation_file, "CHUNK_ROWS", 7)       # many chunks, a ragged last one
    rng = np.random.default_rng(3)
    sigs = signatures(docs, num_perm=128, seed=1)
    ids = [f"{rng.integers(0, 40):04x}" for _ in range(len(sigs))]  # duplicate ids: the sort must be stable
    np.save(tmp_path / "sigs.npy", sigs)
    mapped = np.load(tmp_path / "sigs.npy", mmap_mode="r")
    index = SignatureIndex(tmp_path / "index")
    written = index.add_generation(2021, pa.array(ids), mapped)
    table = ipc.open_file(pa.memory_map(str(written))).read_all()
    assert table.replace_schema_metadata(None).equals(_generation_file_as_before(sigs, ids, index.params))
    again = SignatureIndex(tmp_path / "again").add_generation(2021, ids, sigs)   # a list and an in-memory array
    assert again.read_bytes() == written.read_bytes()


def test_similarity_in_old_row_order_and_small_chunks_equals_the_direct_gather(tmp_path, docs):
    """``estimated_similarity`` walks the pairs in order of the old row, a chunk at a time (one forward pass over
    the generation's signatures); each pair must get what a direct gather of both rows gives, in place."""
    from biomass.dedup.index import estimated_similarity

    index = SignatureIndex(tmp_path / "idx")
    old_sigs = signatures(docs[:80])
    index.add_generation(2021, [f"d{i:03d}" for i in range(80)], old_sigs)
    gen = index.generation(2021)
    stored = gen.signature_rows(np.arange(gen.n))
    assert np.array_equal(stored, old_sigs)              # ids d000.. are in sorted order already
    query = signatures(docs[40:120])
    rng = np.random.default_rng(3)
    q = np.sort(rng.integers(0, len(query), 500))       # query rows ascending, old rows scattered, repeats
    old = rng.integers(0, gen.n, 500)
    want = (query[q] == stored[old]).mean(axis=1)
    for chunk in (1, 7, 64, 10_000):
        assert np.array_equal(estimated_similarity(query, gen, q, old, chunk=chunk), want)


def test_signature_rows_of_a_file_of_many_record_batches(tmp_path, docs):
    """``signature_rows`` reads each record batch's signatures as a view of the map (no combine_chunks, which
    copied the whole column per call): rows in any order, across batch boundaries, as the signatures were."""
    import pyarrow.ipc as ipc

    index = SignatureIndex(tmp_path / "idx")
    sigs = signatures(docs[:50])
    path = index.add_generation(2021, [f"d{i:03d}" for i in range(50)], sigs)
    table = ipc.open_file(pa.OSFile(str(path), "r")).read_all()     # a copy: the file is rewritten below
    tmp = path.with_name("rebatched.arrow")
    with pa.OSFile(str(tmp), "wb") as sink, ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=7)
    del table
    tmp.replace(path)
    index = SignatureIndex(tmp_path / "idx")
    gen = index.generation(2021)
    assert gen.table.column("signature").num_chunks == 8
    rows = np.array([49, 0, 6, 7, 13, 14, 7, 30])
    assert np.array_equal(gen.signature_rows(rows), sigs[rows])
    assert gen.signature_rows(np.zeros(0, np.int64)).shape == (0, sigs.shape[1])


def _file_bytes_as_before(ids, sigs: np.ndarray, params, year: int) -> bytes:
    """The generation file as add_generation wrote it from the whole table in memory (pyarrow's IPC writer):
    the reference for the chunked writer, byte for byte."""
    import json as json_
    import pyarrow.compute as pc
    import pyarrow.ipc as ipc

    from biomass.dedup.index import INDEX_FORMAT
    from biomass.dedup.lsh import band_keys, choose_bands
    from biomass.dedup.minhash import as_string_array

    ids = as_string_array(ids).cast(pa.string())
    order = pc.sort_indices(ids).to_numpy().astype(np.int64)
    ids, sigs = ids.take(pa.array(order)), np.ascontiguousarray(sigs[order], dtype=np.uint32)
    bands, rows = choose_bands(params.threshold, params.num_perm)
    columns = {"doc_id": ids,
               "signature": pa.FixedSizeListArray.from_arrays(pa.array(sigs.ravel(), type=pa.uint32()),
                                                              params.num_perm)}
    for b in range(bands):
        keys = band_keys(sigs, bands, rows, first=b, count=1)[0]
        sorted_order = np.argsort(keys, kind="stable").astype(np.uint32)
        columns[f"key_{b:03d}"] = pa.array(keys[sorted_order], type=pa.uint64())
        columns[f"row_{b:03d}"] = pa.array(sorted_order, type=pa.uint32())
    meta = {"format": INDEX_FORMAT, "num_perm": params.num_perm, "seed": params.seed, "threshold": params.threshold,
            "year": year, "docs": len(ids), "bands": bands, "rows": rows}
    table = pa.table(columns).replace_schema_metadata({b"biomass.minhash_index": json_.dumps(meta, sort_keys=True)})
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("chunk_rows", [1, 3, 7, 64, 10_000])
@pytest.mark.parametrize("n", [0, 1, 2, 9, 120])
def test_the_chunked_generation_file_is_the_whole_table_file_byte_for_byte(tmp_path, docs, monkeypatch,
                                                                            chunk_rows, n):
    import biomass.dedup.generation_file as generation_file

    monkeypatch.setattr(generation_file, "CHUNK_ROWS", chunk_rows)
    rng = np.random.default_rng(n)
    sigs = signatures(docs[:n], num_perm=128, seed=1) if n else np.zeros((0, 128), dtype=np.uint32)
    # duplicate ids (the sort must be stable), ids of different lengths, an empty one, a null (read as ""),
    # and non-ASCII ones: offsets and data are written a chunk at a time
    pool = ["", "a", "ä-ß", "doc-0001", "x" * 40, "0", "zz", "日本語"]
    ids = pa.array([None if i == 4 else pool[int(rng.integers(0, len(pool)))] + f"{rng.integers(0, 5)}"
                    for i in range(n)], type=pa.string())
    chunked = pa.chunked_array([ids[:n // 2], ids[n // 2:]], type=pa.string())   # as read from Parquet
    np.save(tmp_path / "sigs.npy", sigs)
    mapped = np.load(tmp_path / "sigs.npy", mmap_mode="r")
    index = SignatureIndex(tmp_path / "index")
    written = index.add_generation(2021, chunked, mapped, pending=True)
    assert written.read_bytes() == _file_bytes_as_before(chunked, sigs, index.params, 2021)
    import pyarrow.compute as pc
    no_nulls = pc.fill_null(chunked, "")   # kept as chunks, not joined
    assert isinstance(no_nulls, pa.ChunkedArray) and (n < 2 or no_nulls.num_chunks == 2)
    assert index.add_generation(2021, no_nulls, mapped, pending=True).read_bytes() == written.read_bytes()
    # and the index reads it back: every row's id and signature, every band's keys
    if n:
        index.add_generation(2021, chunked, mapped)
        gen = index.generation(2021)
        assert gen.n == n and gen.signature_rows(np.arange(n)).shape == (n, 128)


def test_a_generation_file_for_another_threshold_is_the_whole_table_file_too(tmp_path, docs, monkeypatch):
    import biomass.dedup.generation_file as generation_file

    monkeypatch.setattr(generation_file, "CHUNK_ROWS", 5)
    sigs = signatures(docs[:40], num_perm=64, seed=3)
    ids = [f"d{i % 13}" for i in range(40)]
    index = SignatureIndex(tmp_path, num_perm=64, seed=3, threshold=0.5)
    written = index.add_generation(2020, ids, sigs)
    assert written.read_bytes() == _file_bytes_as_before(ids, sigs, index.params, 2020)
