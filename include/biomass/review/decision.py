"""The review decision: approve, approve excluding doc_ids, or reject; recorded in staging, applied before publish.

``prepare_review`` is the step between the last gate and publish: it draws the sample and renders the body, and
in mode ``auto`` records an automatic approval (labelled as such: no person, no time) and in ``off`` records
that no review ran. In mode ``required`` a person decides (the DAG's human-in-the-loop task, or
``biomass review``) through ``record_decision``. ``require_decision`` is what publish asks: it raises
``ReviewPending`` while a required review has no decision and ``ReviewRejected`` after a reject, so a year
is never published without its review.

Excluded documents leave the staged generation before publish: their shards are rewritten without them (and
measured again, so each shard's statistics match it), their dedup signatures are dropped (a later year must not
match a document no generation holds), and they are quarantined with reason ``reviewer_excluded``, so
``review.counts.json`` balances: rows in = rows out + reviewer_excluded. The collapse metrics stay those the
collapse gate judged (before the exclusions); the record says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from biomass.accounting import quarantine_table
from biomass.exitcodes import CHECK_FAILED, REVIEW_PENDING
from biomass.review.sample import draw_sample, load_sample, review_dir, sample_path
from biomass.schema import QUARANTINE_SCHEMA, canonical_json
from biomass.storage import ParquetStream, ShardWriter, file_sha256, move, parquet_batches, write_bytes_atomic

if TYPE_CHECKING:
    from datetime import datetime

    from biomass.pipeline.plan import RunPlan

log = logging.getLogger(__name__)

DECISION_FILE = "decision.json"
BODY_FILE = "body.md"
EXCLUDED = "reviewer_excluded"
AUTOMATIC_REVIEWER = "biomass (automatic approval: review mode auto, no person read the sample)"


class ReviewPending(RuntimeError):
    """The year's review is required and nobody has decided yet: nothing is published."""

    exit_code = REVIEW_PENDING


class ReviewRejected(RuntimeError):
    """A reviewer rejected the year: nothing is published, the run fails with the reason."""

    exit_code = CHECK_FAILED


class ReviewConflict(ValueError):
    """The year's review was already decided (Airflow answers 409 to a second response)."""


@dataclass
class Decision:
    mode: str                     # the review mode the run had: required | auto | off
    decision: str                 # approve | reject | none (mode off)
    by: str | None = None         # the reviewer (Airflow user name / id, or the automatic approver)
    at: str | None = None         # when they decided (ISO 8601, UTC); None for automatic approvals and off
    comment: str = ""
    excluded: list[str] = field(default_factory=list)
    automatic: bool = False
    sample_ids: list[str] = field(default_factory=list)
    sample_sha256: str | None = None
    metrics_before_exclusions: bool = False

    @property
    def approved(self) -> bool:
        return self.decision in ("approve", "none")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decision_path(plan: "RunPlan") -> Path:
    return review_dir(plan) / DECISION_FILE


def body_path(plan: "RunPlan") -> Path:
    return review_dir(plan) / BODY_FILE


def load_decision(plan: "RunPlan") -> Decision | None:
    path = decision_path(plan)
    return Decision(**json.loads(path.read_text())) if path.exists() else None


def how_to_decide(plan: "RunPlan") -> str:
    root = plan.data_root
    return (f"read the sample with `biomass review {plan.year} --data-root {root}`, then decide with "
            f"`biomass review {plan.year} --data-root {root} --approve --comment TEXT [--exclude DOC_ID ...]` "
            f"(publishes) or `--reject --comment REASON` (in Airflow: Browse > Required Actions)")


def prepare_review(plan: "RunPlan") -> dict[str, Any]:
    """The review step: sample and body (modes required and auto), and the automatic record (auto, off).
    Returns ``{"mode", "subject", "body"}`` for the human-in-the-loop task."""
    from biomass.review.body import render_body

    mode = plan.cfg.review.mode
    review_dir(plan).mkdir(parents=True, exist_ok=True)
    decision_path(plan).unlink(missing_ok=True)
    subject = f"biomass {plan.year}: review the generation before it is published"
    if mode == "off":
        _write_decision(plan, Decision(mode="off", decision="none"))
        return {"mode": mode, "subject": subject, "body": ""}
    sample = draw_sample(plan)
    body = render_body(plan, sample)
    write_bytes_atomic(body_path(plan), body.encode())
    if mode == "auto":
        record_decision(plan, approve=True, by=AUTOMATIC_REVIEWER, comment="automatic approval (review mode "
                        "auto): no person read the sample", automatic=True)
    return {"mode": mode, "subject": subject, "body": body}


def lock_deadline(plan: "RunPlan"):
    """Until when a run waiting for its review keeps the run lock without heartbeats: the review's response
    timeout, plus the lock's own timeout for the wait between two tasks (the review task starts after
    ``prepare_review`` and its deadline counts from then; after it the scheduler fails the review and the run's
    teardown releases the lock)."""
    from datetime import datetime, timedelta, timezone

    return datetime.now(timezone.utc) + timedelta(hours=plan.cfg.review.response_timeout_hours,
                                                  seconds=plan.cfg.run_lock.timeout_seconds)


def review_year(plan: "RunPlan") -> Decision:
    """The review step of ``run_year``: prepare it, then stop (``ReviewPending``) unless it is decided."""
    prepare_review(plan)
    return require_decision(plan)


def record_decision(plan: "RunPlan", *, approve: bool, by: str, comment: str = "", exclude: Iterable[str] = (),
                    at: "str | datetime | None" = None, automatic: bool = False) -> Decision:
    """Record (and apply) the decision on the sample drawn for this run. A reject needs a comment; exclusions
    come with an approval and must be this year's new documents. A second decision is refused."""
    existing = load_decision(plan)
    if existing is not None:
        raise ReviewConflict(f"the review of {plan.year} was already decided: {existing.decision} by "
                             f"{existing.by} at {existing.at or '-'}")
    comment = (comment or "").strip()
    excluded = sorted(set(exclude or ()))
    if not approve and not comment:
        raise ValueError("a reject needs a comment saying why (it becomes the run's failure reason)")
    if not approve and excluded:
        raise ValueError("exclusions come with an approval; a reject publishes nothing")
    sample = load_sample(plan)
    decision = Decision(mode=plan.cfg.review.mode, decision="approve" if approve else "reject", by=by,
                        at=None if automatic else _iso(at) if at else _now(), comment=comment, excluded=excluded,
                        automatic=automatic,
                        sample_ids=sorted({d for d in sample.column("doc_id").to_pylist() if d}),
                        sample_sha256=file_sha256(sample_path(plan)),
                        metrics_before_exclusions=bool(excluded))
    if approve:
        exclude_documents(plan, excluded, f"excluded by reviewer {by}" + (f": {comment}" if comment else ""))
    _write_decision(plan, decision)
    log.info("review of %s: %s by %s%s", plan.year, decision.decision, by,
             f", excluding {len(excluded)} documents" if excluded else "")
    return decision


def _iso(at: "str | datetime") -> str:
    """When a person answered, as ISO 8601 UTC (``2026-12-02T07:48:37+00:00``), whether Airflow hands over a
    datetime or its ``str()``; a naive time is taken to be UTC."""
    from datetime import datetime, timezone

    when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at).strip())
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)
    return when.isoformat(timespec="seconds")


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _write_decision(plan: "RunPlan", decision: Decision) -> None:
    write_bytes_atomic(decision_path(plan), (canonical_json(decision.as_dict()) + "\n").encode())


def require_decision(plan: "RunPlan") -> Decision:
    """What publish asks before it makes the year visible."""
    decision = load_decision(plan)
    if decision is None:
        if plan.cfg.review.mode == "off":
            return Decision(mode="off", decision="none")
        raise ReviewPending(f"generation {plan.year} waits for review (mode {plan.cfg.review.mode}); nothing was "
                            f"published: {how_to_decide(plan)}")
    if decision.decision == "reject":
        raise ReviewRejected(f"generation {plan.year} was rejected by {decision.by}: {decision.comment}; "
                             f"nothing was published")
    if decision.sample_sha256 and (not sample_path(plan).exists()
                                   or file_sha256(sample_path(plan)) != decision.sample_sha256):
        raise ReviewPending(f"the review sample of {plan.year} changed after the decision; decide again: "
                            f"{how_to_decide(plan)}")
    return decision


def manifest_fields(plan: "RunPlan") -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``(the manifest's review record, the review stage's counts or None)`` for publish."""
    from biomass.pipeline.plan import load_counts

    decision = require_decision(plan)
    counts = load_counts(plan, "review").as_dict() if (plan.staging / "review.counts.json").exists() else None
    return decision.as_dict(), counts


# -- exclusions ----------------------------------------------------------------------------------------------
#
# Exclusions change several staged files (shards, their statistics, the signatures publish adds to the index, the
# review quarantine). They are built aside in ``review.pending/`` first; a journal written last commits them, and
# applying the journal only renames files into place, so a process killed at any point leaves either nothing
# applied (the pending folder is discarded on retry) or a committed journal that the retry rolls forward.

PENDING_DIR = "review.pending"
JOURNAL = "journal.json"
APPLIED = "review.exclusions.json"     # the applied journal: a retry of the same decision finds its work done


def exclude_documents(plan: "RunPlan", doc_ids: list[str], detail: str) -> None:
    """Take ``doc_ids`` out of the staged generation (this year's new rows only), quarantined as
    ``reviewer_excluded``; writes ``review.counts.json`` (also with no exclusions, so the stage shows)."""
    from biomass.accounting import StageCounts
    from biomass.pipeline.plan import save_counts, stage_output
    from biomass.review.sample import _new_shards
    from biomass.storage import dataset_files, write_json_atomic

    pending = plan.staging / PENDING_DIR
    journal = _load_journal(pending / JOURNAL)
    if journal is not None:       # an earlier attempt committed its exclusions and was cut short applying them
        _apply_journal(plan, journal)
    _discard(pending)             # else an attempt that died before its journal: nothing of it was applied
    applied = _load_journal(plan.staging / APPLIED)
    if applied is not None:       # an earlier attempt applied exclusions but died before recording its decision
        if applied["doc_ids"] != sorted(set(doc_ids)):
            raise ReviewConflict(f"an earlier attempt at this review of {plan.year} already excluded "
                                 f"{applied['doc_ids']}; repeat that decision to record it")
        return

    shards = dataset_files(stage_output(plan, "assemble"))
    total = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
    wanted = pa.array(doc_ids, pa.string())
    hits: dict[Path, int] = {}
    found: set[str] = set()
    for shard in _new_shards(plan) if doc_ids else []:
        ids = pq.read_table(shard, columns=["doc_id"]).column("doc_id")
        mask = pc.is_in(ids, value_set=wanted)
        if (n := pc.sum(mask).as_py() or 0):
            hits[shard] = n
            found.update(pc.filter(ids, mask).to_pylist())
    if missing := sorted(set(doc_ids) - found):
        raise ValueError(f"cannot exclude {missing[:5]}{' ...' if len(missing) > 5 else ''}: not among the new "
                         f"documents of {plan.year} (rows carried from the parent are retired with `biomass "
                         f"retire`, not excluded)")
    if not doc_ids:
        save_counts(plan, StageCounts("review", rows_in=total, rows_out=total))
        return

    pending.mkdir(parents=True)
    renames: list[tuple[str, str]] = []
    excluded = 0
    quarantine_tmp = pending / "review.quarantine.parquet"
    with ParquetStream(quarantine_tmp, QUARANTINE_SCHEMA) as quarantine:
        for shard in hits:
            rewritten = pending / f"shard-{shards.index(shard):05d}.parquet"
            excluded += _rewrite_without(shard, rewritten, wanted, quarantine, detail)
            renames.append((rewritten.name, str(shard.relative_to(plan.staging))))
    renames.append((quarantine_tmp.name, "review.quarantine.parquet"))
    renames += _drop_signatures(plan, wanted, pending)
    counts = StageCounts("review", rows_in=total, rows_out=total - excluded)
    counts.quarantined[EXCLUDED] = excluded
    counts.check()
    journal = {"doc_ids": sorted(set(doc_ids)), "renames": renames, "measure": sorted(shards.index(s) for s in hits),
               "counts": counts.as_dict()}
    write_json_atomic(pending / JOURNAL, journal)     # the commit point
    _apply_journal(plan, journal)


def _load_journal(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _apply_journal(plan: "RunPlan", journal: dict[str, Any]) -> None:
    """Roll a committed exclusion forward: every rename is done once (a retry skips the done ones), the changed
    shards are measured again (idempotent), the counts written, and the pending folder removed last."""
    from biomass.accounting import StageCounts
    from biomass.pipeline.measure import measure_shard
    from biomass.pipeline.plan import save_counts
    from biomass.storage import move, write_json_atomic

    pending = plan.staging / PENDING_DIR
    for source, target in journal["renames"]:
        if (pending / source).exists():
            move(pending / source, plan.staging / target)
    for index in journal["measure"]:
        measure_shard(plan, index)
    save_counts(plan, StageCounts.from_dict(journal["counts"]))
    write_json_atomic(plan.staging / APPLIED, journal)
    _discard(pending)


def _discard(pending: Path) -> None:
    import shutil

    shutil.rmtree(pending, ignore_errors=True)


def _rewrite_without(shard: Path, out_path: Path, wanted: pa.Array, quarantine: ParquetStream, detail: str) -> int:
    """Write ``shard`` without the wanted rows to ``out_path``, in the shard layout (``ShardWriter``)."""
    from biomass.schema import RECORD_SCHEMA

    tmp = out_path.with_name(f".{out_path.stem}.parts")
    removed = 0
    with ShardWriter(tmp, RECORD_SCHEMA, shard_rows=1 << 40) as out:
        for batch in parquet_batches(shard):
            table = pa.Table.from_batches([batch]).cast(RECORD_SCHEMA)
            drop = pc.is_in(table.column("doc_id"), value_set=wanted)
            gone = table.filter(drop)
            removed += gone.num_rows
            if gone.num_rows:
                quarantine.write_table(quarantine_table("review", gone, EXCLUDED, detail))
            out.write_table(table.filter(pc.invert(drop)))
    files = out.files
    if files:
        move(files[0], out_path)
    else:                         # every row excluded: the shard stays, empty, so shard indices do not move
        from biomass.storage import write_parquet

        write_parquet(RECORD_SCHEMA.empty_table(), out_path)
    _discard(tmp)
    return removed


def _drop_signatures(plan: "RunPlan", wanted: pa.Array, pending: Path) -> list[tuple[str, str]]:
    """The excluded rows' signatures leave what publish adds to the dedup index (chunked: the file is mapped).
    Written into ``pending``; returns the renames that put them in place."""
    ids_path = plan.staging / "dedup.signature_ids.parquet"
    sig_path = plan.staging / "dedup.signatures.npy"
    if not ids_path.exists():
        return []
    ids = pq.read_table(ids_path).column("doc_id")
    keep = np.asarray(pc.invert(pc.is_in(ids, value_set=wanted)), dtype=bool)
    if keep.all():
        return []
    signatures = np.load(sig_path, mmap_mode="r")
    out = np.lib.format.open_memmap(pending / sig_path.name, mode="w+", dtype=signatures.dtype,
                                    shape=(int(keep.sum()),) + signatures.shape[1:])
    at, chunk = 0, 65_536
    for start in range(0, len(keep), chunk):
        rows = signatures[start:start + chunk][keep[start:start + chunk]]
        out[at:at + len(rows)] = rows
        at += len(rows)
    out.flush()
    del out
    from biomass.storage import write_parquet

    write_parquet(pa.table({"doc_id": ids.filter(pa.array(keep))}), pending / ids_path.name)
    return [(sig_path.name, sig_path.name), (ids_path.name, ids_path.name)]
