"""The published manifest: its one typed shape (``Manifest``), how it is read and written, and the one summary
that the CLI table, the observatory, the asset event and the run note all show, so that they cannot disagree.

``GenerationStore.publish_shards`` builds a ``Manifest`` and writes ``Manifest.to_json()``; readers parse the
file with ``Manifest.read`` / ``from_json``. Writing back a parsed manifest gives the same bytes: the JSON is
canonical (sorted keys, no whitespace), numbers keep their JSON type, and a key the file did not have is not
added (fields are dumped ``exclude_unset``), so a default on a field is only what a reader sees.

Duplicates are counted once, as ``duplicates_removed`` (the dedup stage's in - out); ``quarantined`` is every
other stage's quarantined rows (bad input, filters, opt-outs, review exclusions), by stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from biomass.schema import canonical_json
from biomass.strict import StrictModel

MANIFEST_FORMAT = 1   # ``biomass_manifest``: bumped when a reader of this format could not read the new one

# A metric or gate figure: JSON scalars, each kept as the JSON type it was written with (79 stays 79, 79.0 79.0).
Figure = bool | int | float | str | None


class StatsEntry(StrictModel):
    """A file kept with the generation and named by its sha256 (shard statistics, dedup signatures)."""

    path: str
    sha256: str
    bytes: int


class FileEntry(StrictModel):
    """A file the generation lists (record shard or quarantine), by content name, with what it must be."""

    path: str
    rows: int
    sha256: str
    bytes: int
    stats: StatsEntry | None = None   # a shard's saved metrics statistics; absent: published without (older code)


class StageRecord(StrictModel):
    """One stage's row accounting (``biomass.accounting.StageCounts.as_dict``); ``notes`` is the stage's own."""

    stage: str
    rows_in: int = Field(alias="in")
    rows_out: int = Field(alias="out")
    quarantined: dict[str, int]
    notes: dict[str, Any] = {}   # absent when the stage noted nothing

    @property
    def rows_quarantined(self) -> int:
        return sum(self.quarantined.values())


class GateFailure(StrictModel):
    expectation: str
    column: str | None = None
    why: str
    observed: Any = None


class GateRecord(StrictModel):
    """A gate's deterministic verdict, as ``biomass.pipeline.gating`` saved it; publish requires ``success``."""

    success: bool
    evaluated: int
    suite_version: int
    failed: list[GateFailure]
    summary: dict[str, Figure]
    overrides: dict[str, Any] | None = None   # only when the run changed a threshold (an audited exception)


class CollapseCheck(StrictModel):
    metric: str
    direction: Literal["min", "max"]
    warn: float | None
    fail: float | None
    value: float | None
    status: Literal["ok", "warn", "fail", "skipped"]


class CollapseVerdict(StrictModel):
    """``biomass.metrics.collapse_verdict``: the worst status over the bounds, a reason per bound crossed."""

    status: Literal["ok", "warn", "fail"]
    reasons: list[str]
    checks: list[CollapseCheck]


class ReviewRecord(StrictModel):
    """The review decision the year was published under (``biomass.review.decision.Decision``)."""

    mode: str
    decision: str
    by: str | None = None
    at: str | None = None
    comment: str = ""
    excluded: list[str] = []
    automatic: bool = False
    sample_ids: list[str] = []
    sample_sha256: str | None = None
    metrics_before_exclusions: bool = False


class Mix(StrictModel):
    """Rows of the published generation by ``source`` and by ``origin``."""

    source: dict[str, int]
    origin: dict[str, int] = {}


class Inputs(StrictModel):
    scrape: list[str]
    license: list[str]


class Manifest(StrictModel):
    """A published generation, format ``MANIFEST_FORMAT``: the only thing readers trust.

    The store writes the first block for every generation; a pipeline run adds the rest. Those run fields are
    optional because the store also publishes generations that no run built (tools, tests: the shards and
    whatever fields the caller passes); a field a manifest lacks is left out when it is written back.
    """

    biomass_manifest: int
    year: int
    schema_version: int
    rows: int
    files: list[FileEntry]
    quarantine_files: list[FileEntry] = []
    signatures: StatsEntry | None = None   # the year's dedup index file; absent when publish added none

    config_hash: str | None = None
    seed: int | None = None
    policy: str | None = None
    synthetic_share_target: float | None = None
    parent: int | None = None
    inputs: Inputs | None = None
    stages: dict[str, StageRecord] = {}
    gates: dict[str, GateRecord] = {}
    review: ReviewRecord | None = None
    mix: Mix | None = None
    metrics: dict[str, Figure] = {}
    collapse: CollapseVerdict | None = None

    @classmethod
    def from_json(cls, text: str | bytes) -> "Manifest":
        return cls.model_validate_json(text)

    @classmethod
    def read(cls, path: str | Path) -> "Manifest":
        return cls.from_json(Path(path).read_bytes())

    def as_dict(self) -> dict[str, Any]:
        """The manifest as the JSON object it is stored as (only the keys it has)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self) -> str:
        """The stored bytes' text (canonical JSON; the file adds a newline)."""
        return canonical_json(self.as_dict())


def filtered_by(manifest: Manifest) -> dict[str, int]:
    """Rows each filter dropped, by filter name in chain order ({} before the filter stage existed, or with no
    chain): from the filter stage's counts in the manifest."""
    stage = manifest.stages.get("filter")
    if stage is None:
        return {}
    names = [key.split("/")[0] for key in stage.notes.get("chain", [])]
    return {name: int(stage.quarantined.get(name, 0)) for name in names}


def opted_out_by(manifest: Manifest) -> dict[str, int]:
    """Scraped pages quarantined as ``opted_out``, by the signal that fired (``biomass.stages.optout``; the
    config's domain and URL lists too); {} before the scrape counted them."""
    stage = manifest.stages.get("scrape")
    return dict(stage.notes.get("opted_out", {})) if stage is not None else {}


@dataclass(frozen=True)
class ManifestSummary:
    """What a published year was, at a glance. ``metrics`` holds every metric; ``numeric_metrics`` the ones an
    asset event may carry."""

    year: int
    rows: int
    parent: int | None
    policy: str | None
    sources: dict[str, int]
    origins: dict[str, int]
    duplicates_removed: int
    filtered: dict[str, int]
    opted_out: dict[str, int]
    quarantined: dict[str, int]
    gates: dict[str, bool]
    metrics: dict[str, Any]
    collapse: dict[str, Any]
    config_hash: str | None
    review: dict[str, Any] | None = field(default=None)

    @property
    def numeric_metrics(self) -> dict[str, int | float]:
        return {k: v for k, v in self.metrics.items() if isinstance(v, (int, float))}

    @property
    def collapse_status(self) -> str | None:
        return self.collapse.get("status")

    @property
    def synthetic_share(self) -> float:
        return self.sources.get("synthetic", 0) / max(self.rows, 1)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(manifest: Manifest) -> ManifestSummary:
    """The summary of one manifest."""
    dedup = manifest.stages.get("dedup")
    mix = manifest.mix
    return ManifestSummary(
        year=manifest.year,
        rows=manifest.rows,
        parent=manifest.parent,
        policy=manifest.policy,
        sources=dict(mix.source) if mix else {},
        origins=dict(mix.origin) if mix else {},
        duplicates_removed=dedup.rows_in - dedup.rows_out if dedup else 0,
        filtered=filtered_by(manifest),
        opted_out=opted_out_by(manifest),
        quarantined={name: s.rows_quarantined for name, s in manifest.stages.items() if name != "dedup"},
        gates={name: gate.success for name, gate in manifest.gates.items()},
        metrics=dict(manifest.metrics),
        collapse=manifest.collapse.model_dump(mode="json", exclude_unset=True) if manifest.collapse else {},
        config_hash=manifest.config_hash,
        review=manifest.review.model_dump(mode="json", exclude_unset=True) if manifest.review else None,
    )
