"""Shared corpora for the dedup tests.

Real text: tests/fixtures/python_docs_text.jsonl (Python 3.11 docs pages, see its generator for origin).
Near duplicates are made from it deterministically (seeded word edits); they are labelled FAKE in doc_id.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "python_docs_text.jsonl"


def real_pages() -> list[str]:
    return [json.loads(line)["text"] for line in FIXTURE.read_text(encoding="utf-8").splitlines()]


def real_docs(chars: int = 1500) -> list[str]:
    """The fixture pages cut into documents of about ``chars`` characters, at word boundaries."""
    docs = []
    for page in real_pages():
        words, cur, size = page.split(" "), [], 0
        for w in words:
            cur.append(w)
            size += len(w) + 1
            if size >= chars:
                docs.append(" ".join(cur))
                cur, size = [], 0
        if len(cur) > 20:
            docs.append(" ".join(cur))
    return docs


def edit(text: str, rng: random.Random, fraction: float) -> str:
    """Replace, delete or insert about ``fraction`` of the words."""
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * fraction))):
        j = rng.randrange(len(words))
        op = rng.random()
        if op < 0.4:
            words[j] = f"fake{rng.randrange(10**6)}"
        elif op < 0.7 and len(words) > 10:
            del words[j]
        else:
            words.insert(j, f"inserted{rng.randrange(10**6)}")
    return " ".join(words)


def corpus_with_near_duplicates(n_sources: int = 240, n_dups: int = 160, seed: int = 7) -> pa.Table:
    """Real docs plus FAKE near-duplicates edited at fractions spanning the 0.8 threshold."""
    rng = random.Random(seed)
    docs = real_docs()[:n_sources]
    ids = [f"real-{i:05d}" for i in range(len(docs))]
    for k in range(n_dups):
        src = rng.randrange(len(docs))
        base = docs[src] if rng.random() < 0.8 else docs[rng.randrange(len(docs))]
        docs.append(edit(base, rng, rng.choice([0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08])))
        ids.append(f"fake-dup-{k:05d}")
    return pa.table({"doc_id": ids, "text": docs})


@pytest.fixture(scope="session")
def near_dup_corpus() -> pa.Table:
    return corpus_with_near_duplicates()
