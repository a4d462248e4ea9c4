"""A trained generator on disk: what sampling shards need, written once by the training step.

Why: synthesis runs as mapped shards in other processes; each must start sampling in well under a second, not
re-train on the parent. The n-gram levels are saved as plain NumPy arrays in one uncompressed ``.npz`` (read
straight into arrays, no per-entry Python objects), the vocabulary and the prompt table as Arrow IPC files,
and the scalars as JSON. Loading gives back exactly the ``TrainingSet`` (and ``NgramModel``) that was saved:
same arrays, same vocabulary order, so a shard samples the same words the training process would have.

Layout of a model folder::

    meta.json      order, discounts, document/token counts, training-set figures, format version
    levels.npz     per order k: keys, counts, ctx_keys, ctx_start, ctx_end, ctx_total, ctx_types; doc_lengths
    vocab.arrow    one string column (id -> token; id 0 is BOS)
    prompts.arrow  doc_id, length, prompt of every training document (sorted by doc_id)

A folder without ``levels.npz`` holds a prompt table only (a remote generator needs no model).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.ipc as ipc

from biomass.lm.ngram import NgramModel, _Level
from biomass.lm.training import StoredStrings, TrainingSet
from biomass.storage import replace_dir

FORMAT = 1
PROMPT_BATCH_ROWS = 65_536  # rows per record batch of prompts.arrow (pyarrow's own default, kept explicit)
_LEVEL_ARRAYS = ("keys", "counts", "ctx_keys", "ctx_start", "ctx_end", "ctx_total", "ctx_types")


def save_training(training: TrainingSet, folder: str | os.PathLike[str], extra: dict[str, Any] | None = None) -> Path:
    """Write ``training`` (and its model, if any) to ``folder``, replacing what was there: written into a
    temp folder beside it, then renamed, so a reader never sees half a model."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = training.model
    meta: dict[str, Any] = {"format": FORMAT, "parent_docs": training.parent_docs,
                            "duplicates": training.duplicates, "training_docs": len(training),
                            "training_sha256": training.sha256, **(extra or {})}
    feather.write_feather(pa.table({"doc_id": pa.array(training.doc_ids, pa.string()),
                                    "length": pa.array(training.lengths, pa.int64()),
                                    "prompt": pa.array(training.prompts, pa.string())}),
                          tmp / "prompts.arrow", compression="uncompressed", chunksize=PROMPT_BATCH_ROWS)
    if model is not None:
        meta.update({"order": model.order, "n_docs": model.n_docs, "n_tokens": model.n_tokens,
                     "discounts": [lvl.discount for lvl in model.levels]})
        arrays = {f"{k}{lvl.k}": getattr(lvl, k) for lvl in model.levels for k in _LEVEL_ARRAYS}
        np.savez(tmp / "levels.npz", doc_lengths=model.doc_lengths, **arrays)
        feather.write_feather(pa.table({"token": pa.array(model.vocab, pa.string())}), tmp / "vocab.arrow",
                              compression="uncompressed")
    (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True) + "\n")
    return replace_dir(tmp, folder)


def load_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    meta = json.loads((Path(folder) / "meta.json").read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: model format {meta.get('format')!r}, this biomass reads format {FORMAT}")
    return meta


def load_model(folder: str | os.PathLike[str]) -> NgramModel | None:
    """The saved n-gram model, or None for a folder that holds a prompt table only."""
    folder = Path(folder)
    meta = load_meta(folder)
    if "order" not in meta:
        return None
    vocab = feather.read_table(folder / "vocab.arrow").column("token").to_pylist()
    levels = []
    with np.load(folder / "levels.npz") as arrays:
        for k, discount in enumerate(meta["discounts"], start=1):
            fields = {name: arrays[f"{name}{k}"] for name in _LEVEL_ARRAYS}
            levels.append(_Level(k=k, discount=float(discount), **fields))
        doc_lengths = arrays["doc_lengths"]
    return NgramModel(meta["order"], vocab, levels, meta["n_docs"], meta["n_tokens"], doc_lengths)


def load_training(folder: str | os.PathLike[str]) -> TrainingSet:
    """The saved training set: its lengths in memory, its doc_ids and prompts left in ``prompts.arrow`` and read
    for the rows a shard picks (``StoredStrings``), its sha256 from ``meta.json``."""
    folder = Path(folder)
    meta = load_meta(folder)
    path, rows = folder / "prompts.arrow", meta["training_docs"]
    with pa.memory_map(str(path)) as source:  # the length column only (read_table decoded the whole file)
        reader = ipc.open_file(source)
        parts = [reader.get_batch(i).column("length").to_numpy() for i in range(reader.num_record_batches)]
    lengths = np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
    return TrainingSet(StoredStrings(path, "doc_id", rows, PROMPT_BATCH_ROWS), lengths,
                       StoredStrings(path, "prompt", rows, PROMPT_BATCH_ROWS), meta["parent_docs"], load_model(folder),
                       duplicates=meta["duplicates"], stored_sha256=meta["training_sha256"])
