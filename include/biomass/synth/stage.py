"""Stage 3: train a generator on the previous generation and write synthetic records, tagged at birth.

Every output carries its generator id and version, the parent generation, its prompt (the first words of a
training document, named by doc_id), its seed, the watermark settings id, and an Ed25519-signed C2PA-style
manifest. Prompts are drawn uniformly from the training documents and each output is as long as its prompt
document (capped), so output lengths follow the training length distribution.

Memory stays bounded: the training text is read once as a stream (``biomass.synth.training``), and records
are written and fingerprinted in batches, in index order (record i is the i-th prompt pick), as they come.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import numpy as np
import pyarrow as pa

from biomass import __version__
from biomass.accounting import StageCounts
from biomass.config import SynthesizeConfig
from biomass.provenance.config import ProvenanceConfig
from biomass.provenance.keys import key_id, load_watermark_key, require_signing_key
from biomass.provenance.signing import build_manifest, sign_manifest
from biomass.provenance.watermark import Watermarker
from biomass.schema import RECORD_SCHEMA, canonical_json, empty_table, make_doc_id, sha256_text
from biomass.storage import ParquetStream, write_parquet
from biomass.synth.backends import Backend, NgramBackend, OpenAIBackend, Request
from biomass.synth.tokens import join, words
from biomass.synth.training import TrainingSet, collect
from biomass.text import detect_langs

log = logging.getLogger(__name__)
STAGE = "synthesize"
RECORD_BATCH = 2_000     # rows per Parquet write
ARCHIVE_BATCH = 10_000   # documents per language-detection batch and fingerprint-archive shard


def collected_at(year: int | None) -> datetime:
    return datetime(year if year is not None else 1970, 1, 1, tzinfo=timezone.utc)


def make_watermarker(provenance: ProvenanceConfig) -> Watermarker | None:
    if not provenance.watermark.enabled:
        return None
    key = load_watermark_key(provenance)
    if key is None:
        raise ValueError("watermarking is enabled but no watermark key or signing key is configured")
    return Watermarker(key, provenance.watermark.gamma, provenance.watermark.delta)


def _backend(config: SynthesizeConfig, training: TrainingSet, wm: Watermarker | None) -> tuple[Backend, dict]:
    if config.backend == "openai":
        return OpenAIBackend(config), {}
    model = training.model
    assert model is not None
    accept = wm.acceptor(model.vocab) if wm is not None else None
    vector_accept = wm.vector_acceptor(model.vocab) if wm is not None else None
    info = {"order": config.order, "vocab": len(model.vocab) - 1, "train_words": model.n_tokens}
    return NgramBackend(model, accept, vector_accept), info


def synthesize_stage(train: Iterable[pa.Table | pa.RecordBatch], *, n: int, seed: int, year: int | None,
                     parent: int | None, config: SynthesizeConfig, provenance: ProvenanceConfig,
                     out_path: str) -> StageCounts:
    """Write ``n`` synthetic records trained on ``train`` (a stream of batches with doc_id and text) to
    ``out_path``; rows_in is the number requested."""
    counts = StageCounts(stage=STAGE, rows_in=n)
    training = collect(train if n > 0 else [], order=config.order, prompt_tokens=config.prompt_tokens,
                       max_docs=config.max_train_docs, seed=seed, count=config.backend == "ngram")
    if n <= 0 or not len(training):
        write_parquet(empty_table(), out_path)
        if n > 0:
            counts.quarantined["no_training_data"] = n
        counts.notes["skipped"] = "n is 0" if n <= 0 else "no training text"
        return counts.check()

    signing_key = require_signing_key(provenance)
    wm = make_watermarker(provenance)
    backend, model_info = _backend(config, training, wm)
    training_sha = training.sha256
    generation = year if year is not None else 0
    when = collected_at(year)
    created = when.isoformat().replace("+00:00", "Z")
    wm_settings: dict[str, Any] = (
        {"settings_id": wm.settings_id(), **wm.settings()} if wm is not None and backend.watermarked else {})
    ingredients = {"training_set_sha256": training_sha, "training_docs": len(training),
                   "parent_docs": training.parent_docs}
    generator = {"id": backend.generator_id, "version": backend.generator_version, "biomass": __version__,
                 **model_info}

    rng = np.random.default_rng([seed, generation])
    picks = rng.integers(0, len(training), size=n)
    lengths = np.maximum(1, np.minimum(training.lengths[picks], config.max_output_words))
    prompt_len = np.minimum(config.prompt_tokens, np.maximum(lengths - 1, 1))

    def requests() -> Iterator[Request]:
        for i, (pick, length, k) in enumerate(zip(picks.tolist(), lengths.tolist(), prompt_len.tolist())):
            yield Request(words(training.prompts[pick])[:k], length, (seed, generation, i))

    archive = _archive(provenance)
    with ParquetStream(out_path, RECORD_SCHEMA, batch_rows=RECORD_BATCH) as out:
        pending: list[tuple[int, Request, str, str]] = []

        def flush() -> None:
            langs = detect_langs([text for *_, text in pending])
            records = [_record(i, text, request, prompt_id, lang, seed, generation, parent, when, created, backend,
                               generator, wm_settings, ingredients, signing_key)
                       for (i, request, prompt_id, text), lang in zip(pending, langs)]
            for record in records:
                out.add(record)
            if archive is not None and records:
                archive.add([r["doc_id"] for r in records], [r["text"] for r in records], generation)
            pending.clear()

        for i, (pick, request, out_words) in enumerate(zip(picks.tolist(), requests(),
                                                            backend.generate_many(requests()))):
            text = join(out_words)
            if len(text) < config.min_chars:
                counts.quarantined["too_short"] += 1
                continue
            pending.append((i, request, training.doc_ids[pick], text))
            if len(pending) >= ARCHIVE_BATCH:
                flush()
        flush()
        rows_out = out.count + len(out.rows)
    counts.rows_out = rows_out
    counts.notes.update({
        "train_docs": len(training), "parent_docs": training.parent_docs,
        "train_sample": "all" if len(training) == training.parent_docs else "uniform",
        "generator": f"{backend.generator_id}/{backend.generator_version}",
        "watermark_settings_id": wm_settings.get("settings_id"), "watermark_settings": wm_settings or None,
        "signing_key_id": key_id(signing_key.public_key()),
        "parent_generation": parent, **{f"model_{k}": v for k, v in model_info.items()},
    })
    log.info("synthesize: %d docs from %d of %d parent docs (%s)", rows_out, len(training), training.parent_docs,
             counts.notes["generator"])
    return counts.check()


def _record(i: int, text: str, request: Request, prompt_id: str, lang: str, seed: int, generation: int, parent: int | None,
            when: datetime, created: str, backend: Backend, generator: dict, wm_settings: dict,
            ingredients: dict, signing_key) -> dict[str, Any]:
    """One synthetic record, tagged at birth: provenance JSON with the signed manifest."""
    prompt_text = join(request.prompt)
    content = sha256_text(text)
    doc_id = make_doc_id(f"synthetic/{generation}/{seed}/{i}", content)
    parameters = {"seed": [seed, generation, i], "prompt_doc_id": prompt_id,
                  "prompt_sha256": sha256_text(prompt_text),
                  "watermark_settings_id": wm_settings.get("settings_id")}
    manifest = build_manifest(
        doc_id=doc_id, content_sha256=content, generator_id=backend.generator_id,
        generator_version=backend.generator_version, created=created, parent_generation=parent,
        generation=generation, ingredients={**ingredients, "prompt_doc_id": prompt_id}, parameters=parameters)
    prov = {
        "generator": generator,
        "parent_generation": parent,
        "prompt": {"doc_id": prompt_id, "text": prompt_text},
        "seed": {"run": seed, "generation": generation, "index": i},
        "watermark": wm_settings or None,
        "c2pa": sign_manifest(manifest, signing_key),
    }
    return {
        "doc_id": doc_id, "text": text, "source": "synthetic", "origin": "synthetic", "url": None,
        "publisher": None, "license_id": None, "attribution": None,
        "synthetic_score": 1.0, "collected_at": when, "generation": generation, "content_sha256": content,
        "lang": lang, "human_era": False, "provenance": canonical_json(prov),
        "tag_evidence": canonical_json({"manifest": "signed at birth", "generator": backend.generator_id}),
    }


def _archive(provenance: ProvenanceConfig):
    """The fingerprint archive every produced document enters, when one is configured (tagging at birth)."""
    if not provenance.fingerprint_archive:
        return None
    from biomass.provenance.fingerprint import FingerprintArchive

    return FingerprintArchive(provenance.fingerprint_archive, provenance.fingerprint_num_perm,
                              provenance.fingerprint_seed)
