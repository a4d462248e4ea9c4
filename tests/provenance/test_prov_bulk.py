"""The bulk tagger equals the per-document reference: same floats, same verdicts, same Parquet bytes."""

import hashlib
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from biomass.config.provenance import DetectorConfig, ProvenanceConfig
from biomass.lm.tokenize import TokenBatch, join_tokens, whitespace_tokens
from biomass.provenance.detector import StatDetector
from biomass.provenance.fingerprint import FingerprintArchive, _band_keys, signatures
from biomass.provenance.keys import load_watermark_key
from biomass.provenance.tagger import tag_table
from biomass.provenance.watermark import Watermarker
from biomass.storage import write_parquet

from prov_helpers import light_edit

ODD = ["", " ", "one", "two words", "\u200bzero\u200bwidth", "ctl\x01joined", "e\u0301 caf\u00e9", "\u3000x\u3000",
       "the cat sat on the mat " * 20]
TEXT = st.one_of(st.text(max_size=80), st.sampled_from(ODD),
                 st.lists(st.sampled_from(["a", "b", "c", "é", "e\u0301", "\u200b", " ", "\n", "\x01"]),
                          max_size=40).map("".join))


@pytest.fixture(scope="module")
def detector(human_docs):
    return StatDetector.fit(human_docs[80:200], DetectorConfig(), per_bucket=60)


@pytest.fixture(scope="module")
def wm(prov):
    return Watermarker(load_watermark_key(prov), prov.watermark.gamma, prov.watermark.delta)


@pytest.fixture(scope="module")
def mixed(synthetic, human_docs):
    """Watermarked synthetic text (whole, cut, edited), unseen human text and windows of it, odd texts."""
    syn = synthetic.column("text").to_pylist()
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    human = human_docs[200:]
    return (syn + [join_tokens(whitespace_tokens(t)[:120]) for t in syn]
            + [light_edit(t, 0.05, i, pool) for i, t in enumerate(syn)]
            + human + [join_tokens(whitespace_tokens(t)[:60]) for t in human]
            + [join_tokens(whitespace_tokens(t)[:9]) for t in human[:20]] + ODD)


def _z_exact(z, ref):
    return np.asarray(z).tobytes() == np.asarray(ref, dtype=np.float64).tobytes()


def test_watermark_batch_equals_per_text(wm, mixed):
    z, green, pairs = wm.score_batch(TokenBatch.encode(mixed))
    ref = [wm.score(t) for t in mixed]
    assert _z_exact(z, [s.z for s in ref])
    assert green.tolist() == [s.green for s in ref] and pairs.tolist() == [s.pairs for s in ref]
    assert max(z) >= 4.0  # the synthetic text is really watermarked: the comparison covers firing rows


@settings(max_examples=150, deadline=None)
@given(st.lists(TEXT, max_size=10))
def test_watermark_batch_property(texts):
    w = Watermarker(b"TEST-ONLY property key", 0.5, 2.0)
    z, green, pairs = w.score_batch(TokenBatch.encode(texts))
    ref = [w.score(t) for t in texts]
    assert _z_exact(z, [s.z for s in ref])
    assert green.tolist() == [s.green for s in ref] and pairs.tolist() == [s.pairs for s in ref]


def test_detector_batch_equals_per_text(detector, mixed):
    batch = TokenBatch.encode(mixed)
    assert detector.batch_features(batch).tobytes() == detector.features(mixed).tobytes()
    assert detector.score_batch(batch) == detector.score(mixed)


@settings(max_examples=60, deadline=None)
@given(st.lists(TEXT, max_size=6), st.integers(0, 3))
def test_detector_batch_property(detector, human_docs, texts, k):
    texts = texts + [join_tokens(whitespace_tokens(human_docs[200 + k])[:70]) + " " + t for t in texts]
    batch = TokenBatch.encode(texts)
    assert detector.batch_features(batch).tobytes() == detector.features(texts).tobytes()
    assert detector.score_batch(batch) == detector.score(texts)


def test_tag_table_bulk_equals_scalar(tmp_path, mixed, synthetic, prov, detector, wm):
    archive = FingerprintArchive(tmp_path / "fp")
    archive.add(synthetic.column("doc_id").to_pylist()[:15], synthetic.column("text").to_pylist()[:15], 2025)
    rows = len(mixed)
    table = pa.table({"doc_id": [f"m{i}" for i in range(rows)], "text": mixed,
                      "source": (["synthetic", "scrape", "license", None] * rows)[:rows],
                      "human_era": ([True, False, None] * rows)[:rows]})
    ours = synthetic.select(["doc_id", "text", "source", "human_era"])
    table = pa.concat_tables([table, ours.cast(table.schema)])
    settings_ = [Watermarker(b"TEST-ONLY older key", 0.5, 1.5), wm]
    for kwargs in ({}, {"watermarkers": settings_}):
        ref = tag_table(table, config=prov, detector=detector, archive=archive, engine="scalar", **kwargs)
        for batch_rows in (7, 4096):
            got = tag_table(table, config=prov, detector=detector, archive=archive, batch_rows=batch_rows, **kwargs)
            assert got.equals(ref)
        origins = set(ref.column("origin").to_pylist())
        assert {"synthetic", "human", "unknown", "licensed"} <= origins
    write_parquet(ref, tmp_path / "ref.parquet")
    write_parquet(got, tmp_path / "got.parquet")
    digest = [hashlib.sha256((tmp_path / f"{n}.parquet").read_bytes()).hexdigest() for n in ("ref", "got")]
    assert digest[0] == digest[1]


def test_tag_table_with_manifests_and_no_key(synthetic, keypair):
    keyless = ProvenanceConfig(trusted_public_keys=[keypair[1]])
    table = synthetic.slice(0, 12)
    assert tag_table(table, config=keyless, batch_rows=5).equals(tag_table(table, config=keyless, engine="scalar"))


def _match_reference(archive: FingerprintArchive, texts):
    """The per-band, per-candidate loop ``match`` used before it scored all candidate pairs at once."""
    ids, gens, sigs = archive._load()
    query = signatures(list(texts), archive.num_perm, archive.seed)
    akeys, qkeys = _band_keys(sigs, archive.bands), _band_keys(query, archive.bands)
    best, best_j = np.full(len(texts), -1), np.zeros(len(texts))
    for b in range(archive.bands):
        order = np.argsort(akeys[:, b], kind="stable")
        sorted_keys = akeys[order, b]
        lo = np.searchsorted(sorted_keys, qkeys[:, b], side="left")
        hi = np.searchsorted(sorted_keys, qkeys[:, b], side="right")
        for qi in np.nonzero(hi > lo)[0]:
            cand = order[lo[qi]:hi[qi]]
            j = (sigs[cand] == query[qi]).mean(axis=1)
            k = int(np.argmax(j))
            if j[k] > best_j[qi] or (j[k] == best_j[qi] and best[qi] >= 0 and cand[k] < best[qi]):
                best_j[qi], best[qi] = float(j[k]), int(cand[k])
    return [(ids[i], int(gens[i]), float(best_j[q])) if i >= 0 else (None, None, 0.0) for q, i in enumerate(best)]


def test_fingerprint_match_equals_candidate_loop(tmp_path, synthetic, human_docs):
    archive = FingerprintArchive(tmp_path / "fp")
    syn = synthetic.column("text").to_pylist()
    ids = synthetic.column("doc_id").to_pylist()
    archive.add(ids, syn, 2025)
    archive.add([f"dup{i}" for i in range(5)], syn[:5], 2026)  # exact ties: the smallest archive row wins
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    texts = syn + [light_edit(t, rate, i, pool) for rate in (0.05, 0.3) for i, t in enumerate(syn)] + human_docs[200:260] + ["", "x"]
    got = [(m.doc_id, m.generation, m.jaccard) for m in archive.match(texts)]
    assert got == _match_reference(archive, texts)
    assert got == [(m.doc_id, m.generation, m.jaccard) for m in archive.match(pa.array(texts))]
    assert sum(m[2] > 0 for m in got) > len(syn)
