"""Shared fixtures for synth and provenance tests: REAL human text from the committed fixture (Python docs + Debian Reference), throwaway keys."""

import gzip
import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pytest

from biomass.config.provenance import ProvenanceConfig
from biomass.provenance.keys import generate_keypair

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "human_text.jsonl.gz"


@pytest.fixture(scope="session")
def human_docs() -> list[str]:
    """Fixture texts in a fixed, seeded-hash order, so every slice mixes both sources (Python docs, Debian)."""
    with gzip.open(FIXTURE, "rt") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    return sorted(texts, key=lambda t: hashlib.sha256(b"fixture-order\x00" + t.encode()).digest())


@pytest.fixture(scope="session")
def train_table(human_docs) -> pa.Table:
    docs = human_docs[:80]
    return pa.table({"doc_id": [f"fixture-{i:03d}" for i in range(len(docs))], "text": docs})


@pytest.fixture(scope="session")
def keypair() -> tuple[str, str]:
    """A throwaway Ed25519 key made for this test session (never a repo key)."""
    private_pem, public_pem = generate_keypair()
    return private_pem.decode(), public_pem.decode()


@pytest.fixture(scope="session")
def prov(keypair) -> ProvenanceConfig:
    """Random signing key; a fixed, test-only watermark key so the generated text is the same every run."""
    return ProvenanceConfig().with_secrets(signing_key=keypair[0], watermark_key="TEST-ONLY watermark key")
