"""Clusters against exact Jaccard ground truth computed in plain Python (no MinHash, no kernel)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from biomass.dedup import choose_bands, deduplicate, shingles
from biomass.dedup.evaluate import cluster_labels, exact_clusters, exact_similar_pairs, pairwise_scores


def python_truth(texts: list[str], threshold: float) -> tuple[set[tuple[int, int]], np.ndarray]:
    sets = [set(shingles(t)) for t in texts]
    pairs = set()
    for i, j in itertools.combinations(range(len(texts)), 2):
        a, b = sets[i], sets[j]
        if len(a) > len(b) / threshold or len(b) > len(a) / threshold:   # size filter: J <= min/max
            continue
        if len(a & b) / len(a | b) >= threshold:
            pairs.add((i, j))
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        parent[find(i)] = find(j)
    return pairs, np.array([find(i) for i in range(len(texts))])


@pytest.fixture(scope="module")
def truth(near_dup_corpus):
    texts = near_dup_corpus.column("text").to_pylist()
    return python_truth(texts, 0.8)


def test_corpus_has_pairs_on_both_sides_of_the_threshold(near_dup_corpus, truth):
    pairs, labels = truth
    assert len(pairs) >= 60, "the fixture should contain many true near-duplicate pairs"
    assert len(set(labels)) < near_dup_corpus.num_rows


def test_exact_verification_matches_ground_truth(near_dup_corpus, truth):
    _, labels = truth
    result = deduplicate(near_dup_corpus, threshold=0.8)
    scores = pairwise_scores(cluster_labels(result.clusters, near_dup_corpus.column("doc_id")), labels)
    assert scores.f1 >= 0.97, scores
    assert scores.precision == 1.0, scores   # every merge is a verified exact-Jaccard edge


def test_estimated_verification_is_close(near_dup_corpus, truth):
    _, labels = truth
    result = deduplicate(near_dup_corpus, threshold=0.8, verify="estimate")
    scores = pairwise_scores(cluster_labels(result.clusters, near_dup_corpus.column("doc_id")), labels)
    assert scores.f1 >= 0.85, scores


def test_prefix_filter_join_is_exact(near_dup_corpus, truth):
    pairs, labels = truth
    left, right = exact_similar_pairs(near_dup_corpus.column("text"), 0.8)
    assert set(zip(left.tolist(), right.tolist())) == pairs
    assert pairwise_scores(exact_clusters(near_dup_corpus.column("text"), 0.8), labels).f1 == 1.0


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.9])
def test_other_thresholds(near_dup_corpus, threshold):
    texts = near_dup_corpus.column("text")
    result = deduplicate(near_dup_corpus, threshold=threshold)
    scores = pairwise_scores(cluster_labels(result.clusters, near_dup_corpus.column("doc_id")),
                             exact_clusters(texts, threshold))
    assert scores.f1 >= 0.97, (threshold, scores)


def test_band_choice_keeps_misses_rare():
    for threshold in (0.5, 0.7, 0.8, 0.9, 0.95):
        b, r = choose_bands(threshold, 128)
        assert b * r <= 128
        assert (1 - threshold ** r) ** b <= 5e-4


def test_pairwise_scores_on_a_known_case():
    s = pairwise_scores([0, 0, 0, 1], [0, 0, 1, 1])   # predicted pairs 3, true pairs 2, shared 1
    assert (s.precision, s.recall) == (1 / 3, 1 / 2)
