"""Stage 3: train a generator on the previous generation and write synthetic records, tagged at birth.

Every output carries its generator id and version, the parent generation, its prompt (the first words of a
training document, named by doc_id), its seed, the watermark settings id, and an Ed25519-signed C2PA-style
manifest. Prompts are drawn uniformly from the training documents and each output is as long as its prompt
document (capped), so output lengths follow the training length distribution.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa

from biomass import __version__
from biomass.accounting import StageCounts
from biomass.config import SynthesizeConfig
from biomass.provenance.config import ProvenanceConfig
from biomass.provenance.keys import key_id, load_watermark_key, require_signing_key
from biomass.provenance.signing import build_manifest, sign_manifest
from biomass.provenance.watermark import Watermarker
from biomass.schema import canonical_json, make_doc_id, records_to_table, sha256_text, empty_table
from biomass.storage import write_parquet
from biomass.synth.backends import Backend, NgramBackend, OpenAIBackend
from biomass.synth.ngram import NgramModel
from biomass.synth.tokens import join, words
from biomass.text import detect_lang

log = logging.getLogger(__name__)
STAGE = "synthesize"


def training_docs(train: list[pa.Table], max_docs: int, seed: int) -> list[tuple[str, str]]:
    """(doc_id, text) pairs sorted by doc_id; above ``max_docs`` a seeded hash picks which, so input order and
    table splits never change the choice."""
    pairs: dict[str, str] = {}
    for table in train:
        if table.num_rows == 0:
            continue
        texts = table.column("text").to_pylist()
        if "doc_id" in table.column_names:
            ids = table.column("doc_id").to_pylist()
        else:
            ids = [None] * len(texts)
        for doc_id, text in zip(ids, texts):
            if not text or not text.strip():
                continue
            doc_id = doc_id or sha256_text(text)[:32]
            pairs.setdefault(doc_id, text)
    docs = sorted(pairs.items())
    if len(docs) > max_docs:
        chosen = sorted(docs, key=lambda d: hashlib.sha256(f"{seed}\x00{d[0]}".encode()).digest())[:max_docs]
        docs = sorted(chosen)
    return docs


def collected_at(year: int | None) -> datetime:
    return datetime(year if year is not None else 1970, 1, 1, tzinfo=timezone.utc)


def make_watermarker(provenance: ProvenanceConfig) -> Watermarker | None:
    if not provenance.watermark.enabled:
        return None
    key = load_watermark_key(provenance)
    if key is None:
        raise ValueError("watermarking is enabled but no watermark key or signing key is configured")
    return Watermarker(key, provenance.watermark.gamma, provenance.watermark.delta)


def _backend(config: SynthesizeConfig, texts: list[str], wm: Watermarker | None) -> tuple[Backend, dict]:
    if config.backend == "openai":
        return OpenAIBackend(config), {}
    model = NgramModel.train(texts, order=config.order)
    accept = wm.acceptor(model.vocab) if wm is not None else None
    info = {"order": config.order, "vocab": len(model.vocab) - 1, "train_words": model.n_tokens}
    return NgramBackend(model, accept), info


def synthesize_stage(train: list[pa.Table], *, n: int, seed: int, year: int | None, parent: int | None,
                     config: SynthesizeConfig, provenance: ProvenanceConfig, out_path: str) -> StageCounts:
    """Write ``n`` synthetic records trained on ``train`` to ``out_path``; rows_in is the number requested."""
    counts = StageCounts(stage=STAGE, rows_in=n)
    docs = training_docs(train, config.max_train_docs, seed)
    if n <= 0 or not docs:
        write_parquet(empty_table(), out_path)
        if n > 0:
            counts.quarantined["no_training_data"] = n
        counts.notes["skipped"] = "n is 0" if n <= 0 else "no training text"
        return counts.check()

    signing_key = require_signing_key(provenance)
    wm = make_watermarker(provenance)
    texts = [t for _, t in docs]
    backend, model_info = _backend(config, texts, wm)
    training_sha = hashlib.sha256("\n".join(d for d, _ in docs).encode()).hexdigest()
    generation = year if year is not None else 0
    when = collected_at(year)
    created = when.isoformat().replace("+00:00", "Z")
    wm_settings: dict[str, Any] = (
        {"settings_id": wm.settings_id(), **wm.settings()} if wm is not None and backend.watermarked else {})

    rng = np.random.default_rng([seed, generation])
    picks = rng.integers(0, len(docs), size=n)
    doc_words = {}
    records = []
    for i, pick in enumerate(picks.tolist()):
        prompt_id, prompt_text = docs[pick]
        ws = doc_words.get(pick) or doc_words.setdefault(pick, words(prompt_text))
        length = max(1, min(len(ws), config.max_output_words))
        prompt = ws[:min(config.prompt_tokens, max(length - 1, 1))]
        out_words = backend.generate(prompt, length, (seed, generation, i))
        text = join(out_words)
        if len(text) < config.min_chars:
            counts.quarantined["too_short"] += 1
            continue
        content = sha256_text(text)
        doc_id = make_doc_id(f"synthetic/{generation}/{seed}/{i}", content)
        parameters = {"seed": [seed, generation, i], "prompt_doc_id": prompt_id,
                      "prompt_sha256": sha256_text(join(prompt)),
                      "watermark_settings_id": wm_settings.get("settings_id")}
        manifest = build_manifest(
            doc_id=doc_id, content_sha256=content, generator_id=backend.generator_id,
            generator_version=backend.generator_version, created=created, parent_generation=parent,
            generation=generation,
            ingredients={"training_set_sha256": training_sha, "training_docs": len(docs),
                         "prompt_doc_id": prompt_id},
            parameters=parameters)
        prov = {
            "generator": {"id": backend.generator_id, "version": backend.generator_version,
                          "biomass": __version__, **model_info},
            "parent_generation": parent,
            "prompt": {"doc_id": prompt_id, "text": join(prompt)},
            "seed": {"run": seed, "generation": generation, "index": i},
            "watermark": wm_settings or None,
            "c2pa": sign_manifest(manifest, signing_key),
        }
        records.append({
            "doc_id": doc_id, "text": text, "source": "synthetic", "origin": "synthetic",
            "synthetic_score": 1.0, "collected_at": when, "generation": generation, "content_sha256": content,
            "lang": detect_lang(text), "human_era": False, "provenance": canonical_json(prov),
            "tag_evidence": canonical_json({"manifest": "signed at birth", "generator": backend.generator_id}),
        })
    records.sort(key=lambda r: r["doc_id"])
    write_parquet(records_to_table(records), out_path)
    counts.rows_out = len(records)
    counts.notes.update({
        "train_docs": len(docs), "generator": f"{backend.generator_id}/{backend.generator_version}",
        "watermark_settings_id": wm_settings.get("settings_id"), "watermark_settings": wm_settings or None,
        "signing_key_id": key_id(signing_key.public_key()),
        "parent_generation": parent, **{f"model_{k}": v for k, v in model_info.items()},
    })
    log.info("synthesize: %d docs from %d training docs (%s)", len(records), len(docs), counts.notes["generator"])
    _archive(records, generation, provenance)
    return counts.check()


def _archive(records: list[dict[str, Any]], generation: int, provenance: ProvenanceConfig) -> None:
    """Fingerprint every produced document, when an archive is configured (tagging at birth)."""
    if not provenance.fingerprint_archive:
        return
    from biomass.provenance.fingerprint import FingerprintArchive

    archive = FingerprintArchive(provenance.fingerprint_archive, provenance.fingerprint_num_perm,
                                 provenance.fingerprint_seed)
    archive.add([r["doc_id"] for r in records], [r["text"] for r in records], generation)
