"""Human-readable summaries of published generations (the demo's closing table, `biomass generations`)."""

from __future__ import annotations

from biomass.manifest import filtered_by, opted_out_by, summarize
from biomass.storage import GenerationStore

__all__ = ["filtered_by", "generations_table", "opted_out_by"]

_HEADER = ("year", "rows", "scrape", "license", "synth", "filt", "dups", "quar", "synth%", "tail_cov", "js_ref",
           "collapse", "gates", "parent")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def generations_table(store: GenerationStore) -> str:
    """One line per published year: rows per source, duplicates removed, synthetic share, gate results."""
    rows = [_HEADER]
    for _, m in store.iter_published():
        g = summarize(m)
        rows.append((str(g.year), str(g.rows), str(g.sources.get("scrape", 0)), str(g.sources.get("license", 0)),
                     str(g.sources.get("synthetic", 0)), str(sum(g.filtered.values())), str(g.duplicates_removed),
                     str(sum(g.quarantined.values())), f"{100 * g.synthetic_share:.1f}",
                     _fmt(g.metrics.get("tail_coverage")), _fmt(g.metrics.get("js_divergence")),
                     g.collapse_status or "-",
                     f"{''.join('P' if ok else 'F' for ok in g.gates.values())} ({len(g.gates)})",
                     str(g.parent or "-")))
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
        for _, m in store.iter_published():
            g = summarize(m)
            if any(g.filtered.values()):
                lines.append(f"filtered in {g.year}: " + ", ".join(f"{k} {v}" for k, v in g.filtered.items()))
            if g.opted_out:
                lines.append(f"opted out in {g.year}: " + ", ".join(f"{k} {v}" for k, v in g.opted_out.items()))
    return "\n".join(lines)
