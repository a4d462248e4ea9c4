"""``biomass verify``: check the signed manifest of every synthetic row of a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from biomass.provenance.config import ProvenanceConfig
from biomass.provenance.keys import trusted_keys
from biomass.provenance.signing import Verdict, verify_provenance

_NO_MANIFEST = Verdict(False, "no_manifest")  # what verify_provenance says for an empty provenance


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


def row_verdicts(table: pa.Table, config: ProvenanceConfig, trusted: dict[bytes, str] | None = None) -> list[Verdict]:
    """One verdict per row (rows without a manifest get ``no_manifest``; their text is never read)."""
    n = table.num_rows
    if "provenance" not in table.column_names:
        return [_NO_MANIFEST] * n
    trusted = trusted_keys(config) if trusted is None else trusted
    provs = table.column("provenance").to_pylist()
    rows = [i for i, p in enumerate(provs) if p]
    out = [_NO_MANIFEST] * n
    if rows:
        take = pa.array(rows, pa.int64())
        texts = table.column("text").take(take).to_pylist()
        ids = table.column("doc_id").take(take).to_pylist() if "doc_id" in table.column_names else [None] * len(rows)
        for i, t, d in zip(rows, texts, ids):
            out[i] = verify_provenance(provs[i], t or "", trusted, d)
    return out


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
