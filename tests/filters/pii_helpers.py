"""Signed synthetic records with PII in them, for the PII tests of the filters and of the filter stage."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.schema import canonical_json, sha256_text

PII_WRITTEN = ("alice.smith@gmail.com", "+44 20 7946 0958", "2606:4700:4700::1111")


def signed_synthetic_with_pii(folder: Path, train_table: pa.Table, prov, n: int = 6) -> pa.Table:
    """The project's own signed synthetic records (the embedded generator, trained on the real fixture), with one
    of ``PII_WRITTEN`` written into each of the first three as a generator that had seen it would: each is signed
    at birth over its text, so its manifest verifies before the PII step."""
    from biomass.config import SynthesizeConfig
    from biomass.provenance.keys import require_signing_key
    from biomass.provenance.signing import sign_manifest
    from biomass.synth import synthesize_stage

    path = folder / "syn.parquet"
    synthesize_stage([train_table], n=n, seed=5, year=2025, parent=2024, config=SynthesizeConfig(),
                     provenance=prov, out_path=str(path))
    table = pq.read_table(path)
    key = require_signing_key(prov)
    rows = table.to_pylist()
    for row, pii in zip(rows, PII_WRITTEN):
        words = row["text"].split(" ")
        words.insert(len(words) // 2, pii)
        row["text"] = " ".join(words)
        row["content_sha256"] = sha256_text(row["text"])
        data = json.loads(row["provenance"])
        manifest = data["c2pa"]["manifest"]
        for assertion in manifest["assertions"]:
            if assertion["label"] == "c2pa.hash.data":
                assertion["data"]["hash"] = row["content_sha256"]
        data["c2pa"] = sign_manifest(manifest, key)
        row["provenance"] = canonical_json(data)
    return pa.Table.from_pylist(rows, schema=table.schema)
