"""A shard's GenerationStats saved as bytes and read back merge into exactly the figures of the whole-table
computation (tests/metrics/whole_table.py); the bytes depend only on the statistics; statistics measured against
another reference or config are refused, never merged.

Text is REAL (tests/fixtures/human_text.jsonl.gz, Python docs and Debian Reference pages); origins are FAKE labels.
"""

from __future__ import annotations

import gzip
import json
from functools import reduce
from pathlib import Path

import numpy as np
import pytest

from biomass.config.metrics import MetricsConfig
from biomass.metrics import ReferenceProfile
from biomass.metrics.collapse import GenerationStats
from biomass.metrics.counting import TokenStats
from biomass.metrics.stats_file import StatsMismatch, stats_from_bytes, stats_to_bytes, word_counts_from_bytes
from biomass.schema import ORIGINS
from tests.metrics.whole_table import whole_table_metrics, whole_table_profile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="module")
def corpus():
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    rng = np.random.default_rng(11)
    gen = texts[1::2] + [texts[3], "", "..."]  # an exact duplicate and documents without a word
    labels = [*ORIGINS, None]
    origins = [labels[i] for i in rng.integers(0, len(labels), len(gen))]
    return texts[::2], gen, origins, texts[:90]


def _parts(reference, config, gen, origins, size, **kw):
    return [GenerationStats(reference, config, **kw).update(gen[i:i + size], origins[i:i + size])
            for i in range(0, len(gen), size)]


@pytest.mark.parametrize("config", [MetricsConfig(), MetricsConfig(ngram_n=3, rare_max_count=None,
                                                                   rare_tail_mass=0.2, ttr_window=20)])
def test_saved_shards_merge_into_the_whole_table_figures(corpus, config):
    reference_texts, gen, origins, previous = corpus
    reference = whole_table_profile(reference_texts, config)
    want = whole_table_metrics(gen, reference, previous=previous, origins=origins, duplicate_rate=0.25,
                               config=config)
    saved = [stats_to_bytes(p) for p in _parts(reference, config, gen, origins, 37)]
    loaded = [stats_from_bytes(b, reference, config) for b in saved]
    assert [stats_to_bytes(s) for s in loaded] == saved   # read back, saved again: the same bytes
    previous_counts = reduce(TokenStats.merge, [word_counts_from_bytes(stats_to_bytes(
        GenerationStats(reference, config).update(previous[i:i + 25]))) for i in range(0, len(previous), 25)],
        TokenStats())
    got = reduce(GenerationStats.merge, loaded, GenerationStats(reference, config)).finish(
        previous=previous_counts, duplicate_rate=0.25)
    for key, value in want.items():
        if key == "ttr_corrected":
            assert got[key] == pytest.approx(value, rel=1e-12), key
        else:
            assert got[key] == value, key
    assert got["exact_duplicate_rate"] > 0 and got["share_unknown"] > 0


def test_a_reference_profile_loaded_from_disk_reads_the_same_statistics(tmp_path, corpus):
    reference_texts, gen, origins, _ = corpus
    config = MetricsConfig()
    built = ReferenceProfile.build(reference_texts, config)
    loaded = ReferenceProfile.load(built.save(tmp_path / "profile.parquet"))
    assert loaded.fingerprint == built.fingerprint
    data = stats_to_bytes(GenerationStats(built, config).update(gen, origins))
    assert stats_to_bytes(stats_from_bytes(data, loaded, config)) == data


def test_a_sketched_distinct_bigram_count_survives_the_round_trip(corpus):
    reference_texts, gen, origins, _ = corpus
    config = MetricsConfig()
    reference = ReferenceProfile.build(reference_texts, config)
    parts = _parts(reference, config, gen, origins, 40, exact_distinct_limit=2000)
    assert not parts[0].distinct_bigrams.is_exact
    loaded = [stats_from_bytes(stats_to_bytes(p), reference, config) for p in parts]
    whole = GenerationStats(reference, config, exact_distinct_limit=2000).update(gen, origins).finish()
    assert reduce(GenerationStats.merge, loaded[1:], loaded[0]).finish() == whole


def test_statistics_of_another_reference_or_config_are_refused(corpus):
    reference_texts, gen, origins, _ = corpus
    config = MetricsConfig()
    reference = ReferenceProfile.build(reference_texts, config)
    data = stats_to_bytes(GenerationStats(reference, config).update(gen[:20], origins[:20]))
    with pytest.raises(StatsMismatch, match="another reference"):
        stats_from_bytes(data, ReferenceProfile.build(reference_texts[:-1], config), config)
    with pytest.raises(StatsMismatch, match="measured with"):
        stats_from_bytes(data, reference, MetricsConfig(ttr_window=20))
    with pytest.raises(StatsMismatch, match="not a biomass"):
        stats_from_bytes(b"PAR1" + data[4:], reference, config)
    with pytest.raises(StatsMismatch, match="bytes"):
        stats_from_bytes(data + b"\0" * 8, reference, config)
