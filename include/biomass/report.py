"""Human-readable summaries of published generations (the demo's closing table, `biomass generations`)."""

from __future__ import annotations

from typing import Any

from biomass.storage import GenerationStore

_HEADER = ("year", "rows", "scrape", "license", "synth", "filt", "dups", "quar", "synth%", "tail_cov", "js_ref",
           "collapse", "gates", "parent")


def filtered_by(manifest: dict[str, Any]) -> dict[str, int]:
    """Rows each filter dropped, by filter name in chain order ({} before the filter stage existed, or with no
    chain): from the filter stage's counts in the manifest."""
    stage = manifest.get("stages", {}).get("filter") or {}
    quarantined = stage.get("quarantined", {})
    names = [key.split("/")[0] for key in stage.get("notes", {}).get("chain", [])]
    return {name: int(quarantined.get(name, 0)) for name in names}


def opted_out_by(manifest: dict[str, Any]) -> dict[str, int]:
    """Scraped pages quarantined as ``opted_out``, by the signal that fired (``biomass.stages.optout``; the
    config's domain and URL lists too); {} before the scrape counted them."""
    return dict((manifest.get("stages", {}).get("scrape") or {}).get("notes", {}).get("opted_out", {}))


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def generations_table(store: GenerationStore) -> str:
    """One line per published year: rows per source, duplicates removed, synthetic share, gate results."""
    rows = [_HEADER]
    for year, m in store.iter_published():
        sources = m["mix"]["source"]
        stages = m["stages"]
        total = max(m["rows"], 1)
        quarantined = sum(sum(c["quarantined"].values()) for name, c in stages.items() if name != "dedup")
        gates = "".join("P" if v["success"] else "F" for v in m["gates"].values())
        rows.append((str(year), str(m["rows"]), str(sources.get("scrape", 0)), str(sources.get("license", 0)),
                     str(sources.get("synthetic", 0)), str(sum(filtered_by(m).values())),
                     str(stages["dedup"]["in"] - stages["dedup"]["out"]),
                     str(quarantined), f"{100 * sources.get('synthetic', 0) / total:.1f}",
                     _fmt(m.get("metrics", {}).get("tail_coverage")), _fmt(m.get("metrics", {}).get("js_divergence")),
                     m.get("collapse", {}).get("status", "-"),
                     f"{gates} ({len(m['gates'])})", str(m["parent"] or "-")))
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADER))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(rows) == 1:
        lines.append(f"(no published generations under {store.data_root})")
    else:
        lines.append("")
        lines.append(f"files: {store.generations_dir}/<year>/manifest.json (+ part-*.parquet, quarantine-*.parquet)")
        lines.append("gates: P = passed, in order scrape, license, synthesize, filter, generation, collapse; filt = "
                     "rows the filter chain dropped; dups = near duplicates removed (within the year and against "
                     "earlier years); quar = rows quarantined")
        for year, m in store.iter_published():
            if any(filtered_by(m).values()):
                lines.append(f"filtered in {year}: " + ", ".join(f"{k} {v}" for k, v in filtered_by(m).items()))
            if opted_out_by(m):
                lines.append(f"opted out in {year}: " + ", ".join(f"{k} {v}" for k, v in opted_out_by(m).items()))
    return "\n".join(lines)
