"""Streamed, mergeable statistics give the figures the whole-table computation gives (tests/metrics/whole_table.py,
the code as it was before streaming), for one batch, many batches, and shards merged in any grouping.

Text is REAL: the committed fixture of Python docs and Debian Reference pages (tests/fixtures/human_text.jsonl.gz);
origins are FAKE labels drawn with a seeded RNG.
"""

from __future__ import annotations

import copy
import gzip
import json
import math
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from biomass.config.metrics import MetricsConfig
from biomass.metrics import ReferenceProfile, collapse_verdict
from biomass.metrics.arrays import unique_sorted
from biomass.metrics.collapse import GenerationStats
from biomass.metrics.counting import DistinctKeys, HyperLogLog, KeyCounts, TokenStats
from biomass.metrics.reference import ReferenceStats
from biomass.schema import ORIGINS
from tests.metrics.whole_table import whole_table_metrics, whole_table_profile

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "human_text.jsonl.gz"
# ttr_corrected was a float mean of per-segment ratios; it is now (sum of types) / (S W), rounded once
FLOAT_TOLERANCE = {"ttr_corrected": 1e-12}
CONFIGS = {
    "default": MetricsConfig(),
    "trigram-tail-mass": MetricsConfig(ngram_n=3, rare_max_count=None, rare_tail_mass=0.2, ttr_window=20),
}


@pytest.fixture(scope="module")
def corpus():
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    rng = np.random.default_rng(7)
    reference, gen = texts[::2], texts[1::2]
    gen = gen + [gen[3], gen[10], "", "..."]  # exact duplicates and documents without a word
    previous = [texts[i] for i in rng.permutation(len(texts))[:120]]
    labels = [*ORIGINS, None]
    origins = [labels[i] for i in rng.integers(0, len(labels), len(gen))]
    return reference, gen, previous, origins


def cuts(n: int, size: int) -> list[slice]:
    return [slice(i, min(i + size, n)) for i in range(0, n, size)] or [slice(0, 0)]


def streamed(gen, origins, reference, config, size, **kw) -> GenerationStats:
    stats = GenerationStats(reference, config, **kw)
    for part in cuts(len(gen), size):
        stats.update(gen[part], origins[part])
    return stats


def previous_stats(previous, size=17) -> TokenStats:
    stats = TokenStats()
    for part in cuts(len(previous), size):
        stats.update(previous[part])
    return stats


def assert_same_figures(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for key, value in want.items():
        if key in FLOAT_TOLERANCE and value is not None:
            assert got[key] == pytest.approx(value, rel=FLOAT_TOLERANCE[key], abs=0), key
        else:
            assert got[key] == value, key  # exact, None included


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("size", [10_000, 1, 7, 50])
def test_streamed_batches_equal_the_whole_table(corpus, name, size):
    reference_texts, gen, previous, origins = corpus
    config = CONFIGS[name]
    ref = whole_table_profile(reference_texts, config)
    want = whole_table_metrics(gen, ref, previous=previous, origins=origins, duplicate_rate=0.125, config=config)
    got = streamed(gen, origins, ref, config, size).finish(previous_stats(previous), duplicate_rate=0.125)
    assert_same_figures(got, want)
    assert got["exact_duplicate_rate"] > 0 and got["tail_coverage"] is not None
    assert collapse_verdict(got, config) == collapse_verdict(want, config)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("suffix", [".json", ".parquet"])
def test_reference_from_batches_saves_the_whole_table_bytes(tmp_path, corpus, name, suffix):
    reference_texts = corpus[0]
    config = CONFIGS[name]
    want = whole_table_profile(reference_texts, config).save(tmp_path / f"whole{suffix}").read_bytes()
    batched = ReferenceProfile.from_batches((reference_texts[p] for p in cuts(len(reference_texts), 9)), config)
    assert batched.save(tmp_path / f"batched{suffix}").read_bytes() == want
    # shards merged out of order: the same counts, hence the same profile
    shards = [ReferenceStats(config).update(reference_texts[p]) for p in cuts(len(reference_texts), 40)]
    merged = reduce(ReferenceStats.merge, shards[::-1], ReferenceStats(config)).finish()
    assert merged.save(tmp_path / f"merged{suffix}").read_bytes() == want


def _shards(corpus, config, size):
    reference_texts, gen, _, origins = corpus
    ref = whole_table_profile(reference_texts, config)
    return ref, [GenerationStats(ref, config).update(gen[p], origins[p]) for p in cuts(len(gen), size)]


def test_shards_merged_in_any_grouping_give_identical_figures(corpus):
    config = MetricsConfig()
    prev = previous_stats(corpus[2])
    ref, parts = _shards(corpus, config, 30)
    whole = streamed(corpus[1], corpus[3], ref, config, 10_000).finish(prev)
    left = reduce(GenerationStats.merge, parts[1:], parts[0])
    assert left.finish(prev) == whole
    ref, parts = _shards(corpus, config, 30)
    right = reduce(lambda acc, s: s.merge(acc), parts[-2::-1], parts[-1])  # a + (b + (c + ...))
    assert right.finish(prev) == whole
    ref, parts = _shards(corpus, config, 30)
    pairs = [parts[i].merge(parts[i + 1]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
    assert reduce(GenerationStats.merge, pairs[1:], pairs[0]).finish(prev) == whole


def test_shards_merged_out_of_order_agree_to_float_rounding(corpus):
    """Commutative in the counts; only the order of the entropy / JS float sums changes."""
    config = MetricsConfig()
    prev = previous_stats(corpus[2])
    ref, parts = _shards(corpus, config, 30)
    whole = streamed(corpus[1], corpus[3], ref, config, 10_000).finish(prev)
    backwards = reduce(GenerationStats.merge, parts[-2::-1], parts[-1]).finish(prev)
    for key, value in whole.items():
        if isinstance(value, float):
            assert backwards[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
        else:
            assert backwards[key] == value, key


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_batchings_and_merge_trees_match_one_pass(corpus, data):
    reference_texts, gen, _, origins = corpus
    gen, origins = gen[-60:], origins[-60:]  # includes the duplicates and the empty documents
    config = MetricsConfig(ttr_window=30)
    ref = _profile(reference_texts, config)
    n = len(gen)
    bounds = sorted(set(data.draw(st.lists(st.integers(0, n), max_size=12))) | {0, n})
    parts = [GenerationStats(ref, config).update(gen[a:b], origins[a:b]) for a, b in zip(bounds, bounds[1:])]
    while len(parts) > 1:  # merge neighbours (document order kept) in a random tree
        i = data.draw(st.integers(0, len(parts) - 2))
        parts[i: i + 2] = [parts[i].merge(parts[i + 1])]
    assert parts[0].finish() == GenerationStats(ref, config).update(gen, origins).finish()


_PROFILES: dict = {}


def _profile(texts, config):
    key = (id(texts), config.model_dump_json())
    if key not in _PROFILES:
        _PROFILES[key] = ReferenceProfile.build(texts, config)
    return _PROFILES[key]


# -- distinct_2 past the exact limit: a HyperLogLog estimate --------------------------------------------------


def test_distinct_2_past_the_exact_limit_is_an_estimate_within_its_error_bound(corpus):
    reference_texts, gen, _, origins = corpus
    config = MetricsConfig()
    ref = _profile(reference_texts, config)
    exact = streamed(gen, origins, ref, config, 25).finish()
    sketched = streamed(gen, origins, ref, config, 25, exact_distinct_limit=1000).finish()
    assert sketched["distinct_2"] != exact["distinct_2"]  # it really was estimated
    # 1.04 / sqrt(2**16) = 0.41 % standard error; 4 sigma
    assert sketched["distinct_2"] == pytest.approx(exact["distinct_2"], rel=4 * 1.04 / 256)
    assert {k: v for k, v in sketched.items() if k != "distinct_2"} == {
        k: v for k, v in exact.items() if k != "distinct_2"}


@pytest.mark.parametrize("distinct", [1_000, 50_000, 400_000, 3_000_000])
def test_hyperloglog_error_stays_within_four_standard_errors(distinct):
    rng = np.random.default_rng(distinct)
    keys = rng.integers(0, 2**63, size=distinct, dtype=np.uint64) * np.uint64(2)  # structured: all even
    keys = unique_sorted(keys)  # (np.unique is hash-based and ~30x slower here)
    sketch = HyperLogLog()
    sketch.add(keys)
    assert abs(sketch.estimate() / keys.size - 1) <= 4 * 1.04 / 256


def test_distinct_keys_depends_only_on_the_set():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 2**64 - 1, size=20_000, dtype=np.uint64)
    keys = np.concatenate((keys, keys[:5000]))  # repeats across batches

    def count(limit, pieces, grouping):
        counters = []
        for piece in np.array_split(keys, pieces):
            c = DistinctKeys(limit)
            c.add_distinct(unique_sorted(piece))
            counters.append(c)
        order = counters if grouping == "in order" else counters[::-1]
        return reduce(DistinctKeys.merge, order[1:], order[0]).count()

    assert count(None, 1, "in order") == 20_000
    # an exact part (small) merged with a sketched one (large), both ways round
    small, large = DistinctKeys(5000), DistinctKeys(5000)
    small.add_distinct(unique_sorted(keys[:1000]))
    large.add_distinct(unique_sorted(keys[1000:20_000]))  # no key of small
    assert small.is_exact and not large.is_exact
    one = DistinctKeys(5000)
    one.add_distinct(unique_sorted(keys))
    assert copy.deepcopy(small).merge(large).count() == copy.deepcopy(large).merge(small).count() == one.count()
    for limit in (100, 15_000, 30_000):  # sketched mid-way in some parts, all, or none
        values = {count(limit, pieces, g) for pieces in (1, 3, 16) for g in ("in order", "reversed")}
        assert len(values) == 1, (limit, values)
    assert count(30_000, 3, "in order") == 20_000  # under the limit: exact
    assert isinstance(count(15_000, 3, "in order"), float)


def test_key_counts_merge_is_exact():
    rng = np.random.default_rng(4)
    keys = rng.integers(0, 500, size=10_000).astype(np.uint64)
    parts = [KeyCounts() for _ in range(5)]
    for part, piece in zip(parts, np.array_split(keys, 7)[:5]):
        part.add(piece)
    rest = KeyCounts()
    for piece in np.array_split(keys, 7)[5:]:
        rest.add(piece)
    merged = reduce(KeyCounts.merge, [*parts[::-1], rest], KeyCounts())
    uniq, counts = np.unique(keys, return_counts=True)
    got_keys, got_counts = merged.table()
    assert np.array_equal(got_keys, uniq) and np.array_equal(got_counts, counts) and merged.total == keys.size


# -- refusals ---------------------------------------------------------------------------------------------------


def test_batches_must_agree_on_origins_and_merges_on_the_reference(corpus):
    reference_texts, gen, _, origins = corpus
    config = MetricsConfig()
    ref = _profile(reference_texts, config)
    stats = GenerationStats(ref, config).update(gen[:3], origins[:3]).update([], None)  # empty batch: no opinion
    with pytest.raises(ValueError, match="carry origins and others do not"):
        stats.update(gen[3:5])
    other = GenerationStats(ReferenceProfile.build(gen[:5], config), config)
    with pytest.raises(ValueError, match="another reference"):
        stats.merge(other)
    with pytest.raises(ValueError, match="origins has 1 entries for 2 texts"):
        stats.update(gen[:2], ["human"])


def test_merging_origin_free_shards_leaves_shares_unknown(corpus):
    reference_texts, gen, _, _ = corpus
    config = MetricsConfig()
    ref = _profile(reference_texts, config)
    merged = GenerationStats(ref, config).update(gen[:4]).merge(GenerationStats(ref, config).update(gen[4:8]))
    figures = merged.finish()
    assert figures["share_human"] is None and figures["docs"] == 8
    assert math.isclose(figures["exact_duplicate_rate"], 0.0, abs_tol=0)
