"""One reading of a published manifest: the summary that the CLI table, the observatory, the asset event and
the run note all show, so that they cannot disagree.

Duplicates are counted once, as ``duplicates_removed`` (the dedup stage's in - out); ``quarantined`` is every
other stage's quarantined rows (bad input, filters, opt-outs, review exclusions), by stage.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Mapping


def filtered_by(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Rows each filter dropped, by filter name in chain order ({} before the filter stage existed, or with no
    chain): from the filter stage's counts in the manifest."""
    stage = manifest.get("stages", {}).get("filter") or {}
    quarantined = stage.get("quarantined", {})
    names = [key.split("/")[0] for key in stage.get("notes", {}).get("chain", [])]
    return {name: int(quarantined.get(name, 0)) for name in names}


def opted_out_by(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Scraped pages quarantined as ``opted_out``, by the signal that fired (``biomass.stages.optout``; the
    config's domain and URL lists too); {} before the scrape counted them."""
    return dict((manifest.get("stages", {}).get("scrape") or {}).get("notes", {}).get("opted_out", {}))


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


def summarize(manifest: Mapping[str, Any], year: int | None = None) -> ManifestSummary:
    """The summary of one manifest (``year`` when the manifest predates its own ``year`` field)."""
    stages = manifest.get("stages", {})
    dedup = stages.get("dedup") or {"in": 0, "out": 0}
    mix = manifest.get("mix", {})
    return ManifestSummary(
        year=int(manifest.get("year", year) if year is None else year),
        rows=int(manifest["rows"]),
        parent=manifest.get("parent"),
        policy=manifest.get("policy"),
        sources=dict(mix.get("source", {})),
        origins=dict(mix.get("origin", {})),
        duplicates_removed=int(dedup["in"] - dedup["out"]),
        filtered=filtered_by(manifest),
        opted_out=opted_out_by(manifest),
        quarantined={name: sum(counts.get("quarantined", {}).values()) for name, counts in stages.items()
                     if name != "dedup"},
        gates={name: bool(v.get("success")) for name, v in manifest.get("gates", {}).items()},
        metrics=dict(manifest.get("metrics", {})),
        collapse=dict(manifest.get("collapse", {})),
        config_hash=manifest.get("config_hash"),
        review=manifest.get("review"),
    )
