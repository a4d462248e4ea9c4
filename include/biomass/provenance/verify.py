"""``biomass verify``: check the signed manifest of every synthetic row of a table."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa

from biomass.cpus import usable_cpus
from biomass.config.provenance import ProvenanceConfig
from biomass.provenance.keys import trusted_keys
from biomass.provenance.signing import Verdict, verify_provenance

_NO_MANIFEST = Verdict(False, "no_manifest")  # what verify_provenance says for an empty provenance
# Below this many manifests a batch is checked in-process: handing rows to other processes costs more than it saves.
PARALLEL_MIN_ROWS = 256


@dataclass
class VerifyReport:
    checked: int = 0
    verified: int = 0
    rejected: Counter = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, reason)

    @property
    def ok(self) -> bool:
        return self.checked == self.verified

    def as_dict(self) -> dict:
        return {"checked": self.checked, "verified": self.verified, "rejected": dict(sorted(self.rejected.items()))}


def row_verdicts(table: pa.Table, config: ProvenanceConfig, trusted: dict[bytes, str] | None = None,
                 workers: int = 1) -> list[Verdict]:
    """One verdict per row (rows without a manifest get ``no_manifest``; their text is never read).

    ``workers`` > 1 spreads the Ed25519 checks (~0.3 ms each, most of the cost) over that many processes, in
    contiguous slices whose verdicts are put back in row order: the same verdicts as one process."""
    n = table.num_rows
    if "provenance" not in table.column_names:
        return [_NO_MANIFEST] * n
    trusted = trusted_keys(config) if trusted is None else trusted
    provs = table.column("provenance").to_pylist()
    rows = [i for i, p in enumerate(provs) if p]
    out = [_NO_MANIFEST] * n
    if rows:
        take = pa.array(rows, pa.int64())
        texts = [t or "" for t in table.column("text").take(take).to_pylist()]
        ids = table.column("doc_id").take(take).to_pylist() if "doc_id" in table.column_names else [None] * len(rows)
        manifests = [provs[i] for i in rows]
        if workers > 1 and len(rows) >= PARALLEL_MIN_ROWS:
            step = -(-len(rows) // workers)
            slices = [(manifests[k:k + step], texts[k:k + step], ids[k:k + step], trusted)
                      for k in range(0, len(rows), step)]
            with _pool(workers) as pool:
                verdicts = [v for part in pool.map(_verify_many, slices) for v in part]
        else:
            verdicts = _verify_many((manifests, texts, ids, trusted))
        for i, verdict in zip(rows, verdicts):
            out[i] = verdict
    return out


def _verify_many(job: tuple[list[str], list[str], list[str | None], dict[bytes, str]]) -> list[Verdict]:
    manifests, texts, ids, trusted = job
    return [verify_provenance(p, t, trusted, d) for p, t, d in zip(manifests, texts, ids)]


def _pool(workers: int) -> ProcessPoolExecutor:
    """A pool for one batch's checks, shut down after it: a pool kept for the process's life left live child
    processes behind, and a step run in a worker process (``run-year --workers``) then hung at exit, joining them.
    Started from a fork server (kept by multiprocessing between batches, so a new pool costs a fork per worker),
    not by forking this process: a gate may run inside a threaded process (an Airflow task), and a fork copies
    locks held by other threads."""
    import multiprocessing

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":
        ctx.set_forkserver_preload(["biomass.provenance.verify"])
    return ProcessPoolExecutor(workers, mp_context=ctx)


def verify_workers() -> int:
    """Processes a gate uses for signature checks: ``$BIOMASS_VERIFY_WORKERS``, else every CPU this process may
    run on (a container's or taskset's limit, not the host's count)."""
    value = os.environ.get("BIOMASS_VERIFY_WORKERS")
    return max(int(value), 1) if value else usable_cpus()


def verify_table(table: pa.Table, config: ProvenanceConfig) -> VerifyReport:
    """Every row whose source is ``synthetic`` (or that carries a manifest) must verify; others are skipped."""
    sources = table.column("source").to_pylist() if "source" in table.column_names else [None] * table.num_rows
    ids = table.column("doc_id").to_pylist() if "doc_id" in table.column_names else [None] * table.num_rows
    report = VerifyReport()
    for doc_id, source, verdict in zip(ids, sources, row_verdicts(table, config)):
        if source != "synthetic" and verdict.reason == "no_manifest":
            continue
        report.checked += 1
        if verdict.ok:
            report.verified += 1
        else:
            report.rejected[verdict.reason] += 1
            report.failures.append((str(doc_id), verdict.reason))
    return report
