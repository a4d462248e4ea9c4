"""Nothing is lost silently: every stage reports rows in = rows out + rows quarantined, by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import pyarrow as pa
import pyarrow.compute as pc

from biomass.schema import QUARANTINE_SCHEMA
from biomass.storage import write_parquet


class AccountingError(RuntimeError):
    """A stage's counts do not add up: some rows vanished or appeared from nowhere."""


@dataclass
class StageCounts:
    stage: str
    rows_in: int = 0
    rows_out: int = 0
    quarantined: Counter = field(default_factory=Counter)
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())

    def check(self) -> "StageCounts":
        if self.rows_in != self.rows_out + self.rows_quarantined:
            raise AccountingError(
                f"{self.stage}: {self.rows_in} rows in but {self.rows_out} out + "
                f"{self.rows_quarantined} quarantined {dict(self.quarantined)}"
            )
        return self

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "in": self.rows_in,
            "out": self.rows_out,
            "quarantined": dict(sorted(self.quarantined.items())),
            **({"notes": self.notes} if self.notes else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageCounts":
        return cls(
            stage=data["stage"],
            rows_in=data["in"],
            rows_out=data["out"],
            quarantined=Counter(data.get("quarantined", {})),
            notes=dict(data.get("notes", {})),
        )


QUARANTINE_TEXT_CHARS = 2_000   # a quarantined row keeps this much of its text: enough to judge it, not a copy


def quarantine_table(stage: str, rows: pa.Table, reason, detail, *, with_url: bool = True) -> pa.Table:
    """Quarantine records of whole ``rows`` set aside in bulk: ``reason`` and ``detail`` are one string for all
    or one value per row; text cut to ``QUARANTINE_TEXT_CHARS``; ``with_url=False`` leaves the url empty."""
    m = rows.num_rows

    def column(value) -> pa.Array:
        if value is None or isinstance(value, str):
            return pa.array([value] * m, pa.string())
        return value if isinstance(value, (pa.Array, pa.ChunkedArray)) else pa.array(value, pa.string())

    text = pc.utf8_slice_codeunits(pc.fill_null(rows.column("text"), ""), 0, QUARANTINE_TEXT_CHARS)
    columns = {"stage": column(stage), "reason": column(reason), "detail": column(detail),
               "doc_id": rows.column("doc_id"), "locator": pa.nulls(m, pa.string()),
               "url": rows.column("url") if with_url else pa.nulls(m, pa.string()), "text": text}
    return pa.table({f.name: columns[f.name] for f in QUARANTINE_SCHEMA}).cast(QUARANTINE_SCHEMA)


class Quarantine:
    """Collects set-aside rows with a reason code, counts them, and writes them as Parquet."""

    def __init__(self, stage: str, counts: StageCounts | None = None):
        self.stage = stage
        self.counts = counts
        self._rows: list[dict[str, Any]] = []

    def add(self, reason: str, *, detail: str | None = None, doc_id: str | None = None,
            locator: str | None = None, url: str | None = None, text: str | None = None) -> None:
        self._rows.append({"stage": self.stage, "reason": reason, "detail": detail, "doc_id": doc_id,
                           "locator": locator, "url": url, "text": text})
        if self.counts is not None:
            self.counts.quarantined[reason] += 1

    def __len__(self) -> int:
        return len(self._rows)

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self._rows, schema=QUARANTINE_SCHEMA)

    def write(self, path: str) -> None:
        """Via a temp file and a rename: a process killed while writing leaves no half-written quarantine file."""
        write_parquet(self.table(), path)


def mix_of(batches: Iterable[pa.RecordBatch | pa.Table]) -> dict[str, dict[str, int]]:
    """Rows by ``source`` and by ``origin``, counted a batch at a time."""
    counts = {"source": Counter(), "origin": Counter()}
    for batch in batches:
        for col, counter in counts.items():
            counter.update(batch.column(col).to_pylist())
    return {col: dict(sorted(counter.items())) for col, counter in counts.items()}
