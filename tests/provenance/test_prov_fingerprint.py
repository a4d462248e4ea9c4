import numpy as np

from biomass.provenance.fingerprint import FingerprintArchive, _datasketch_signatures

from prov_helpers import light_edit


def test_fallback_signatures_match_datasketch(human_docs):
    from datasketch import MinHash

    from biomass.provenance.fingerprint import shingles

    sig = _datasketch_signatures(human_docs[:3], num_perm=64, seed=3)
    for text, row in zip(human_docs[:3], sig):
        m = MinHash(num_perm=64, seed=3)
        for s in sorted(shingles(text)):
            m.update(s)
        assert np.array_equal(np.asarray(m.hashvalues, dtype=np.uint32), row)


def test_lightly_edited_repost_is_found(tmp_path, synthetic, human_docs):
    archive = FingerprintArchive(tmp_path / "fp")
    ids = synthetic.column("doc_id").to_pylist()
    texts = synthetic.column("text").to_pylist()
    archive.add(ids, texts, generation=2025)
    pool = sorted({w for d in human_docs[200:220] for w in d.split()})
    reposts = [light_edit(t, 0.05, i, pool) for i, t in enumerate(texts)]
    matches = archive.match(reposts)
    assert [m.doc_id for m in matches] == ids
    assert all(m.jaccard >= 0.3 and m.generation == 2025 for m in matches)
    # a long excerpt of a re-post is still close; unrelated human text is not
    human = archive.match(human_docs[200:260])
    assert max(m.jaccard for m in human) < 0.2


def test_archive_is_idempotent_and_persistent(tmp_path, synthetic):
    ids = synthetic.column("doc_id").to_pylist()[:5]
    texts = synthetic.column("text").to_pylist()[:5]
    a = FingerprintArchive(tmp_path / "fp")
    first = a.add(ids, texts, 2025)
    second = a.add(list(reversed(ids)), list(reversed(texts)), 2025)
    assert first == second and len(a) == 5
    reopened = FingerprintArchive(tmp_path / "fp")
    assert reopened.match([texts[2]])[0].doc_id == ids[2]


def test_empty_archive_matches_nothing(tmp_path, human_docs):
    assert FingerprintArchive(tmp_path / "none").match(human_docs[:2])[0].doc_id is None
