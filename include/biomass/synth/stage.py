"""Stage 3: train a generator on the previous generation and write synthetic records, tagged at birth.

Every output carries its generator id and version, the parent generation, its prompt (the first words of a
training document, named by doc_id), its seed, the watermark settings id, and an Ed25519-signed C2PA-style
manifest. Prompts are drawn uniformly from the training documents and each output is as long as its prompt
document (capped), so output lengths follow the training length distribution.

Memory stays bounded: the training text is read once as a stream (``biomass.lm.training``), and records
are written and fingerprinted in batches, in index order (record i is the i-th prompt pick), as they come.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import numpy as np

from biomass import __version__
from biomass.accounting import StageCounts
from biomass.config import SynthesizeConfig
from biomass.config.provenance import ProvenanceConfig
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.lm.training import Batches, TrainingSet, collect, take_strings
from biomass.provenance.keys import key_id, load_watermark_key, require_signing_key
from biomass.provenance.signing import build_manifest, sign_manifest
from biomass.provenance.watermark import Watermarker
from biomass.schema import RECORD_SCHEMA, canonical_json, empty_table, make_doc_id, sha256_text
from biomass.storage import ParquetStream, write_parquet
from biomass.synth.backends import NGRAM_ID, NGRAM_VERSION, Backend, NgramBackend, OpenAIBackend, Request
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


def _backend(config: SynthesizeConfig, training: TrainingSet, wm: Watermarker | None) -> Backend:
    if config.backend == "openai":
        return OpenAIBackend(config)
    model = training.model
    assert model is not None
    accept = wm.acceptor(model.vocab) if wm is not None else None
    vector_accept = wm.vector_acceptor(model.vocab) if wm is not None else None
    return NgramBackend(model, accept, vector_accept)


def model_info(config: SynthesizeConfig, training: TrainingSet) -> dict:
    """What the manifest says about the embedded model (nothing for a remote one)."""
    if config.backend == "openai" or training.model is None:
        return {}
    return {"order": config.order, "vocab": len(training.model.vocab) - 1, "train_words": training.model.n_tokens}


def train(train: Batches | Callable[[], Batches], *, n: int, seed: int, config: SynthesizeConfig) -> TrainingSet:
    """Read the training stream (not at all for ``n`` <= 0; twice for a sample, see ``collect``): the prompt
    table and, for the embedded generator, the n-gram model."""
    return collect(train if n > 0 else [], order=config.order, prompt_tokens=config.prompt_tokens,
                   max_docs=config.max_train_docs, seed=seed, count=config.backend == "ngram")


def stage_notes(training: TrainingSet, config: SynthesizeConfig, provenance: ProvenanceConfig,
                parent: int | None) -> dict[str, Any]:
    """The stage's notes (and what every record's manifest names), the same for every shard of one run."""
    wm = make_watermarker(provenance) if config.backend == "ngram" else None
    settings = {"settings_id": wm.settings_id(), **wm.settings()} if wm is not None else {}
    remote = OpenAIBackend(config) if config.backend == "openai" else None
    generator = f"{remote.generator_id}/{remote.generator_version}" if remote else f"{NGRAM_ID}/{NGRAM_VERSION}"
    return {
        "train_docs": len(training), "parent_docs": training.parent_docs,
        "train_sample": "all" if len(training) == training.parent_docs else "uniform",
        "train_sample_bound": config.max_train_docs,
        "generator": generator,
        "watermark_settings_id": settings.get("settings_id"), "watermark_settings": settings or None,
        "signing_key_id": key_id(require_signing_key(provenance).public_key()),
        "parent_generation": parent, **{f"model_{k}": v for k, v in model_info(config, training).items()},
    }


def synthesize_stage(train_batches: Batches | Callable[[], Batches], *, n: int, seed: int, year: int | None,
                     parent: int | None, config: SynthesizeConfig, provenance: ProvenanceConfig,
                     out_path: str) -> StageCounts:
    """Write ``n`` synthetic records trained on ``train_batches`` (a stream of batches with doc_id and text) to
    ``out_path`` in one process; rows_in is the number requested. (The pipeline runs the same two halves as
    a training step and mapped shards: ``biomass.pipeline.synthesis``.)"""
    training = train(train_batches, n=n, seed=seed, config=config)
    if n <= 0 or not len(training):
        return write_nothing(n, out_path)
    counts = sample_range(training, lo=0, hi=n, n=n, seed=seed, year=year, parent=parent, config=config,
                          provenance=provenance, out_path=out_path)
    counts.notes.update(stage_notes(training, config, provenance, parent))
    log.info("synthesize: %d docs from %d of %d parent docs (%s)", counts.rows_out, len(training),
             training.parent_docs, counts.notes["generator"])
    return counts.check()


def write_nothing(n: int, out_path: str | None) -> StageCounts:
    """Nothing to sample (``n`` is 0, or no training text: the ``n`` requested are quarantined)."""
    counts = StageCounts(stage=STAGE, rows_in=max(n, 0))
    if out_path is not None:
        write_parquet(empty_table(), out_path)
    if n > 0:
        counts.quarantined["no_training_data"] = n
    counts.notes["skipped"] = "n is 0" if n <= 0 else "no training text"
    return counts.check()


def sample_range(training: TrainingSet, *, lo: int, hi: int, n: int, seed: int, year: int | None,
                 parent: int | None, config: SynthesizeConfig, provenance: ProvenanceConfig,
                 out_path: str) -> StageCounts:
    """Records ``lo`` to ``hi`` (of the ``n`` of a run) into ``out_path``: record i is the i-th prompt pick of the
    run's one pick stream and samples from its own stream ``(seed, generation, i)``, so any split of 0..n into
    ranges, run in any order or process, gives the same records as one range 0..n."""
    if not 0 <= lo <= hi <= n:
        raise ValueError(f"range {lo}..{hi} is not within 0..{n}")
    counts = StageCounts(stage=STAGE, rows_in=hi - lo)
    signing_key = require_signing_key(provenance)
    wm = make_watermarker(provenance)
    backend = _backend(config, training, wm)
    generation = year if year is not None else 0
    when = collected_at(year)
    created = when.isoformat().replace("+00:00", "Z")
    wm_settings: dict[str, Any] = (
        {"settings_id": wm.settings_id(), **wm.settings()} if wm is not None and backend.watermarked else {})
    ingredients = {"training_set_sha256": training.sha256, "training_docs": len(training),
                   "parent_docs": training.parent_docs}
    generator = {"id": backend.generator_id, "version": backend.generator_version, "biomass": __version__,
                 **model_info(config, training)}

    rng = np.random.default_rng([seed, generation])
    picks = rng.integers(0, len(training), size=n)[lo:hi]
    lengths = np.maximum(1, np.minimum(training.lengths[picks], config.max_output_words))
    prompt_len = np.minimum(config.prompt_tokens, np.maximum(lengths - 1, 1))

    prompt_texts = take_strings(training.prompts, picks)  # this range's prompts only, not the whole table
    prompt_ids = take_strings(training.doc_ids, picks)

    def requests() -> Iterator[Request]:
        for i, (text, length, k) in enumerate(zip(prompt_texts, lengths.tolist(), prompt_len.tolist()), lo):
            yield Request(whitespace_tokens(text)[:k], length, (seed, generation, i))

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

        for i, (prompt_id, request, out_words) in enumerate(zip(prompt_ids, requests(),
                                                                 backend.generate_many(requests())), lo):
            text = join_tokens(out_words)
            if len(text) < config.min_chars:
                counts.quarantined["too_short"] += 1
                continue
            pending.append((i, request, prompt_id, text))
            if len(pending) >= ARCHIVE_BATCH:
                flush()
        flush()
        counts.rows_out = out.count + len(out.rows)
    return counts.check()


def _record(i: int, text: str, request: Request, prompt_id: str, lang: str, seed: int, generation: int, parent: int | None,
            when: datetime, created: str, backend: Backend, generator: dict, wm_settings: dict,
            ingredients: dict, signing_key) -> dict[str, Any]:
    """One synthetic record, tagged at birth: provenance JSON with the signed manifest."""
    prompt_text = join_tokens(request.prompt)
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
