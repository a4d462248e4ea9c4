"""What the reviewer reads: the year at a glance and the sample, as Markdown (the human-in-the-loop body, the
``biomass review`` printout and the observatory's review page say the same thing).

Links point at the observatory (``/biomass/review/<year>/sample/<kind>/<rank>``), which shows a sampled
document in full (up to ``review.text_chars``) next to what it matched.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from biomass.review.sample import KINDS, sample_path

if TYPE_CHECKING:
    from biomass.pipeline.plan import RunPlan

URL_PREFIX = "/biomass"   # where the observatory is mounted in the Airflow api-server (biomass.observatory.app)
SHOWN_METRICS = ("tail_coverage", "tail_coverage_ngram", "distinct_2", "unigram_entropy", "js_divergence",
                 "js_divergence_prev", "perplexity_tail", "duplicate_rate", "share_synthetic")
EARLIER_YEARS = 3
SNIPPET_CHARS = 160
HEADINGS = {
    "rare_words": "Richest in the reference's rare words (the tails collapse erases first)",
    "synthetic": "Synthetic documents",
    "unknown_origin": "Documents the tagger could not place (`unknown`)",
    "near_duplicate": "Removed as near duplicates, next to what they matched",
    "quarantined": "Quarantined rows, by stage and reason",
}


def sample_link(year: int, kind: str, rank: int) -> str:
    return f"{URL_PREFIX}/review/{year}/sample/{kind}/{rank}"


def _snippet(text: str | None) -> str:
    text = " ".join((text or "").split())
    text = text if len(text) <= SNIPPET_CHARS else text[:SNIPPET_CHARS] + "…"
    return text.replace("|", "\\|").replace("<", "&lt;").replace("[", "\\[").replace("]", "\\]")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _level(value: Any, bound: Any) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    if bound.direction == "min":
        return "**fail**" if value < bound.fail else "warn" if value < bound.warn else "ok"
    return "**fail**" if value > bound.fail else "warn" if value > bound.warn else "ok"


def render_body(plan: "RunPlan", sample: pa.Table) -> str:
    """The review body for ``plan``'s staged year and its drawn ``sample``."""
    lines: list[str] = []
    lines += _size_and_mix(plan)
    lines += _metrics(plan)
    lines += _gates(plan)
    lines += _sample(plan, sample)
    lines += ["", "#### Deciding",
              "**Approve** publishes the year; to leave documents out, list their doc_ids under `exclude` "
              "(they are quarantined as `reviewer_excluded`). **Reject** publishes nothing and fails the run; "
              "say why in `comment`. Who decided, when, the comment and the sample's ids go into the manifest "
              "and the run note."]
    return "\n".join(lines) + "\n"


def _size_and_mix(plan: "RunPlan") -> list[str]:
    from biomass.pipeline.plan import load_counts, stage_output
    from biomass.accounting import mix_of
    from biomass.storage import dataset_batches

    assemble = load_counts(plan, "assemble")
    dedup = load_counts(plan, "dedup")
    mix = mix_of(dataset_batches(stage_output(plan, "assemble"), ["source", "origin"]))
    total = max(assemble.rows_out, 1)
    carried = assemble.notes.get("carried_from_parent", 0)
    lines = [f"### Generation {plan.year}: {assemble.rows_out} rows", "",
             f"{assemble.notes.get('new', assemble.rows_out - carried)} new, {carried} carried from "
             f"{plan.parent or 'no parent'}; policy `{plan.cfg.policy}`; {dedup.rows_in - dedup.rows_out} near "
             f"duplicates removed; staged in `{plan.staging}`", "",
             "| source | rows | share | | origin | rows | share |", "|---|---:|---:|---|---|---:|---:|"]
    sources, origins = sorted(mix["source"].items()), sorted(mix["origin"].items())
    for i in range(max(len(sources), len(origins))):
        s = sources[i] if i < len(sources) else ("", None)
        o = origins[i] if i < len(origins) else ("", None)
        cells = [f"{name} | {n} | {100 * n / total:.1f}%" if n is not None else " | | " for name, n in (s, o)]
        lines.append(f"| {cells[0]} | | {cells[1]} |")
    return lines


def _metrics(plan: "RunPlan") -> list[str]:
    staged = json.loads((plan.staging / "metrics.json").read_text())
    metrics, verdict = staged.get("metrics", {}), staged.get("collapse", {})
    earlier = [(y, m.metrics) for y, m in plan.store.iter_published() if y < plan.year][-EARLIER_YEARS:]
    bounds = {b.metric: b for b in plan.cfg.metrics.bounds}
    names = list(dict.fromkeys([*bounds, *SHOWN_METRICS]))
    head = " | ".join(str(y) for y, _ in earlier)
    lines = ["", f"#### Collapse metrics: status `{verdict.get('status', '-')}`", "",
             f"| metric | {head + ' | ' if head else ''}**{plan.year}** | warn | fail | level |",
             "|---|" + "---:|" * (len(earlier) + 3) + "---|"]
    for name in names:
        bound = bounds.get(name)
        past = " | ".join(_fmt(m.get(name)) for _, m in earlier)
        warn_fail = f"{bound.direction} {bound.warn} | {bound.fail}" if bound else "- | -"
        lines.append(f"| `{name}` | {past + ' | ' if past else ''}**{_fmt(metrics.get(name))}** | {warn_fail} | "
                     f"{_level(metrics.get(name), bound) if bound else '-'} |")
    lines += [f"- {reason}" for reason in verdict.get("reasons", [])]
    return lines


def _gates(plan: "RunPlan") -> list[str]:
    from biomass.pipeline.gating import GATE_INPUT

    cells = []
    for gate in GATE_INPUT:
        path = plan.staging / "gates" / f"{gate}.json"
        verdict = json.loads(path.read_text()) if path.exists() else None
        if verdict is None:
            cells.append(f"`{gate}` no verdict")
        else:
            state = "passed" if verdict.get("success") else "**failed**"
            cells.append(f"`{gate}` {state} ({verdict.get('evaluated', '?')} expectations)")
    return ["", "#### Gates", "", "; ".join(cells)]


def _sample(plan: "RunPlan", sample: pa.Table) -> list[str]:
    rows = sample.to_pylist()
    lines = ["", f"#### Review sample: {len(rows)} rows (`{sample_path(plan)}`)"]
    for kind in KINDS:
        picked = [r for r in rows if r["kind"] == kind]
        if not picked:
            continue
        lines += ["", f"**{HEADINGS[kind]}**", ""]
        for r in picked:
            link = f"[{r['doc_id'] or r['locator'] or kind}]({sample_link(plan.year, kind, r['rank'])})"
            lines.append(f"{r['rank'] + 1}. {link} {_describe(r)}: {_snippet(r['text'])}")
    return lines


def _describe(r: dict[str, Any]) -> str:
    kind = r["kind"]
    if kind == "rare_words":
        words = ", ".join(r["rare_words"] or [])
        return f"({r['source']}/{r['origin']}, {int(r['score'] or 0)} rare words: {words})"
    if kind == "near_duplicate":
        where = f"generation {r['matched_generation']}" if r["matched_generation"] else "this year"
        return f"(`{r['reason']}`, matched `{r['matched_doc_id']}` of {where})"
    if kind == "quarantined":
        return f"(`{r['stage']}`/`{r['reason']}`: {_snippet(r['detail'])})"
    return f"({r['source']}/{r['origin']}{', ' + r['url'] if r['url'] else ''})"
