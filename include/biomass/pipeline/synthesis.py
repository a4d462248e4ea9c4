"""Stage 3 in the pipeline: train on the parent generation (minus held-out reference text), write synthetic text.

Three steps, so the sampling spreads over workers (one mapped task per shard):

    train_synthesizer (once)  -> synthesize_shard[i] (any order, any process)  -> finish_synthesize (once)

``train_synthesizer`` reads the parent once, saves the trained generator under ``staging/<year>/synthesize/
model/`` (``biomass.lm.model_store``) and fixes the shard plan (``synthesize/plan.json``): the target count
and ``ceil(target / synthesize.shard_docs)`` shards of equal size. Shard i loads the model and writes records
``lo..hi`` of the run as ``synthesize/part-NNNNN.parquet`` with its counts beside it; record j's prompt pick and
its sampling stream come from the stage seed and j alone, so the shards together hold exactly the records one
process would write, whatever order they ran in. ``finish_synthesize`` sums the counts. The stage output is the
shard set ``staging/<year>/synthesize/`` (read with ``storage.dataset_files``).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa

from biomass.accounting import StageCounts
from biomass.pipeline.plan import RunPlan, load_counts, save_counts, stage_output
from biomass.storage import write_json_atomic

log = logging.getLogger(__name__)

STAGE = "synthesize"
MODEL_DIR = "model"
SHARD_PLAN = "plan.json"


def synthetic_target(plan: RunPlan) -> int:
    """How many synthetic docs make the configured share of this year's mix: n = s * H / (1 - s)."""
    human = load_counts(plan, "scrape").rows_out + load_counts(plan, "license").rows_out
    share = plan.cfg.synthetic_share
    return int(round(share * human / (1.0 - share))) if plan.parent is not None else 0


def shard_count(n: int, shard_docs: int) -> int:
    return math.ceil(n / shard_docs) if n > 0 else 0


def shard_range(n: int, shards: int, index: int) -> tuple[int, int]:
    """Records [lo, hi) of shard ``index``: ``shards`` ranges of equal size (to one record)."""
    if not 0 <= index < shards:
        raise IndexError(f"synthesize has {shards} shards, no shard {index}")
    return n * index // shards, n * (index + 1) // shards


def _folder(plan: RunPlan) -> Path:
    return stage_output(plan, STAGE)


def _part(plan: RunPlan, index: int, suffix: str) -> Path:
    return _folder(plan) / f"part-{index:05d}{suffix}"


def train_synthesizer(plan: RunPlan) -> list[int]:
    """Train on the parent generation once, save the generator for the shards, fix the shard plan; the shard
    indices to map over (none for a chain's first year: there is no parent to learn from)."""
    from biomass.lm.model_store import save_training
    from biomass.synth.stage import stage_notes, train, write_nothing

    cfg = plan.cfg
    seed = plan.stage_seed(STAGE)
    n = synthetic_target(plan)
    folder = _folder(plan)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("part-*"):   # a re-run of this step must not keep an earlier run's shards
        stale.unlink()
    training = train((lambda: training_batches(plan)) if plan.parent is not None else [], n=n, seed=seed,
                     config=cfg.synthesize)
    if n <= 0 or not len(training):
        shards, counts = 0, write_nothing(n, None)
        notes = counts.notes
    else:
        shards, counts = shard_count(n, cfg.synthesize.shard_docs), StageCounts(STAGE)
        notes = stage_notes(training, cfg.synthesize, cfg.provenance, plan.parent)
        save_training(training, folder / MODEL_DIR, {"parent": plan.parent, "config_hash": plan.config_hash})
    if plan.parent is None:
        notes["chain_start"] = "no earlier generation under this data root: nothing to train on"
    shard_plan = {"n": n, "shards": shards, "seed": seed, "quarantined": dict(counts.quarantined), "notes": notes}
    write_json_atomic(folder / SHARD_PLAN, shard_plan)
    log.info("synthesize: %d docs in %d shards, trained on %d of %d parent docs", n, shards, len(training),
             training.parent_docs)
    return list(range(shards))


def _shard_plan(plan: RunPlan) -> dict[str, Any]:
    path = _folder(plan) / SHARD_PLAN
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run train_synthesizer before the synthesize shards")
    return json.loads(path.read_text())


def synthesize_shard(plan: RunPlan, index: int) -> dict[str, Any]:
    """Sample shard ``index`` from the saved generator into ``synthesize/part-NNNNN.parquet`` (and its counts);
    shares nothing with other shards but the files ``train_synthesizer`` wrote. Returns the shard's counts."""
    from biomass.lm.model_store import load_training
    from biomass.synth.stage import sample_range

    cfg = plan.cfg
    decided = _shard_plan(plan)
    n, seed = decided["n"], decided["seed"]
    lo, hi = shard_range(n, decided["shards"], index)
    training = load_training(_folder(plan) / MODEL_DIR)
    counts = sample_range(training, lo=lo, hi=hi, n=n, seed=seed, year=plan.year, parent=plan.parent,
                          config=cfg.synthesize, provenance=cfg.provenance, out_path=str(_part(plan, index, ".parquet")))
    counts.notes.update({"shard": index, "first": lo, "stop": hi})
    write_json_atomic(_part(plan, index, ".counts.json"), counts.as_dict())
    return counts.as_dict()


def finish_synthesize(plan: RunPlan) -> StageCounts:
    """The reduction after the shards: sum their counts into ``synthesize.counts.json`` (rows in = out +
    quarantined). Fails, naming them, if any shard has not run."""
    decided = _shard_plan(plan)
    missing = [i for i in range(decided["shards"]) if not _part(plan, i, ".counts.json").exists()]
    if missing:
        raise RuntimeError(f"synthesize shards {missing} have not run (of {decided['shards']})")
    counts = StageCounts(STAGE, rows_in=decided["n"])
    counts.quarantined.update(decided["quarantined"])
    sampled = 0
    for i in range(decided["shards"]):
        part = StageCounts.from_dict(json.loads(_part(plan, i, ".counts.json").read_text()))
        sampled += part.rows_in
        counts.rows_out += part.rows_out
        counts.quarantined.update(part.quarantined)
    if sampled + sum(decided["quarantined"].values()) != decided["n"]:
        raise RuntimeError(f"synthesize shards sampled {sampled} of {decided['n']} records")
    counts.notes.update(decided["notes"])
    counts.notes["shards"] = decided["shards"]
    return save_counts(plan, counts)


def run_synthesize(plan: RunPlan) -> StageCounts:
    """The whole stage in this process: train, every shard in turn, finish."""
    for i in train_synthesizer(plan):
        synthesize_shard(plan, i)
    return finish_synthesize(plan)


def saved_parent_model(plan: RunPlan):
    """The n-gram model ``train_synthesizer`` saved for this run: the one ``parent_model`` would train (the same
    order, parent, config, so the same training documents: the whole parent or the same seeded sample of
    ``synthesize.max_train_docs``). None otherwise (no parent, a remote generator, nothing saved)."""
    from biomass.lm.model_store import load_meta, load_model

    folder = _folder(plan) / MODEL_DIR
    if plan.parent is None or not (folder / "meta.json").exists():
        return None
    meta = load_meta(folder)
    same = (meta.get("order") == plan.cfg.synthesize.order and meta.get("parent") == plan.parent
            and meta.get("config_hash") == plan.config_hash)
    return load_model(folder) if same else None


def parent_model(plan: RunPlan):
    """The generator's n-gram model of the parent (what measure scores held-out text with): the saved one, else
    trained here, streamed, on exactly the documents ``train_synthesizer`` trains on (``training_batches``, the
    same sample when ``synthesize.max_train_docs`` bounds it), so its memory follows that bound too."""
    from biomass.lm.training import collect

    saved = saved_parent_model(plan)
    if saved is not None:
        return saved
    cfg = plan.cfg.synthesize
    return collect(lambda: training_batches(plan), order=cfg.order, prompt_tokens=cfg.prompt_tokens,
                   max_docs=cfg.max_train_docs, seed=plan.stage_seed(STAGE)).model


HELD_OUT_SHARE = 0.1


def training_batches(plan: RunPlan) -> Iterator[pa.Table]:
    """The parent generation minus the held-out reference documents (scored later for head/tail perplexity),
    a batch at a time: the synthesize stage streams it, so the parent's text is never held whole."""
    from biomass.metrics import is_held_out

    for batch in plan.store.iter_batches(plan.parent, columns=["doc_id", "text"]):
        keep = [not is_held_out(d, HELD_OUT_SHARE) for d in batch.column("doc_id").to_pylist()]
        yield batch.filter(pa.array(keep, type=pa.bool_()))
