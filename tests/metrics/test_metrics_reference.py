"""The frozen reference: saved once, loaded unchanged, byte-identical for the same content."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.config.metrics import MetricsConfig
from biomass.metrics import ReferenceProfile, collapse_metrics
from biomass.metrics.word_ids import ngram_hash


@pytest.fixture(scope="module")
def texts(make_fake_corpus):
    return make_fake_corpus(seed=21, docs=60, words_per_doc=40)


def test_profile_contents_by_hand():
    # FAKE reference: "b a" | "a c a" -> a:3 b:1 c:1; bigrams ba, ac, ca (each once)
    cfg = MetricsConfig(rare_max_count=1)
    ref = ReferenceProfile.build(["b a", "A, c a"], cfg)
    assert ref.words == ("a", "b", "c") and ref.counts.tolist() == [3, 1, 1]
    assert (ref.docs, ref.tokens, ref.ngrams, ref.ngram_types) == (2, 5, 3, 3)
    assert ref.rare_words(cfg) == ["b", "c"]
    assert ref.rare_ngrams.tolist() == sorted(ngram_hash(p) for p in (("b", "a"), ("a", "c"), ("c", "a")))
    assert ref.count_of["a"] == 3 and ref.count_of.get("zzz", 0) == 0


@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_save_load_round_trip_and_deterministic_bytes(tmp_path, texts, suffix):
    cfg = MetricsConfig()
    ref = ReferenceProfile.build(texts, cfg)
    first = ref.save(tmp_path / f"a{suffix}")
    # the same documents in another order make the same profile, hence the same bytes
    shuffled = [texts[i] for i in np.random.default_rng(1).permutation(len(texts))]
    second = ReferenceProfile.build(shuffled, cfg).save(tmp_path / f"b{suffix}")
    assert first.read_bytes() == second.read_bytes()
    loaded = ReferenceProfile.load(first)
    assert loaded.words == ref.words and loaded.settings == ref.settings
    assert np.array_equal(loaded.counts, ref.counts)
    assert np.array_equal(loaded.rare_ngrams, ref.rare_ngrams) and loaded.rare_ngrams.dtype == np.uint64
    assert np.array_equal(loaded.rare_ngram_counts, ref.rare_ngram_counts)
    gen = texts[:20]
    assert collapse_metrics(gen, loaded, config=cfg) == collapse_metrics(gen, ref, config=cfg)


def test_profile_arrays_are_frozen(texts):
    ref = ReferenceProfile.build(texts, MetricsConfig())
    with pytest.raises(ValueError):
        ref.counts[0] = 99


def test_load_refuses_what_is_not_a_profile(tmp_path):
    records = tmp_path / "records.parquet"
    pq.write_table(pa.table({"doc_id": ["1"], "text": ["hello"]}), records)
    with pytest.raises(ValueError, match="not a saved reference profile"):
        ReferenceProfile.load(records)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"words": []}))
    with pytest.raises(ValueError, match="not a biomass reference profile"):
        ReferenceProfile.load(other)
    with pytest.raises(ValueError, match=".json or .parquet"):
        ReferenceProfile.build(["a b"], MetricsConfig()).save(tmp_path / "x.csv")


@pytest.mark.parametrize("rare_max_count", [3, 10_000])   # some rare n-grams; every n-gram rare
def test_parquet_profile_is_the_table_the_list_based_writer_made(tmp_path, texts, rare_max_count):
    """save/load go through arrays, not Python lists; the table (hence the bytes) is the one the lists made."""
    ref = ReferenceProfile.build(texts, MetricsConfig(rare_max_count=rare_max_count))
    n_words, n_grams = len(ref.words), int(ref.rare_ngrams.size)
    assert n_grams > 0
    want = pa.table({
        "kind": pa.array(["word"] * n_words + ["ngram"] * n_grams, pa.string()),
        "word": pa.array(list(ref.words) + [None] * n_grams, pa.string()),
        "hash": pa.array([None] * n_words + ref.rare_ngrams.tolist(), pa.uint64()),
        "count": pa.array(np.concatenate([ref.counts, ref.rare_ngram_counts]), pa.int64()),
    })
    path = ref.save(tmp_path / "profile.parquet")
    assert pq.read_table(path).replace_schema_metadata(None).equals(want)
    back = ReferenceProfile.load(path)
    assert back.words == ref.words and back.fingerprint == ref.fingerprint
    assert np.array_equal(back.rare_ngrams, ref.rare_ngrams) and back.rare_ngrams.dtype == np.uint64
