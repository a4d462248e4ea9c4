"""The note on each Airflow DAG run: what the year did, in a few lines of Markdown, with a link to its Data Docs.

A failed gate's note names the gate, the failed expectations and the evidence folder; a published year's note
gives its size, mix and collapse status. Links go through the observatory's ``/biomass/datadocs/`` route when
the run wrote under the data root the observatory serves (the UI can open them), else they are file URLs.

Tasks push the note as an XCom (``NOTE_KEY``); the ``biomass_run_notes`` listener plugin copies it onto the run
when the run ends. Airflow stores at most ``NOTE_LIMIT`` characters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from biomass.datadocs import URL_PREFIX, data_docs_root
from biomass.manifest import Manifest, summarize
from biomass.gates.suites import expected_bounds

NOTE_KEY = "biomass_run_note"
NOTE_LIMIT = 1000  # dag_run_note.content is VARCHAR(1000)
MARK = "**biomass "  # every note of ours starts so: a re-run replaces ours and keeps a person's note
MAX_LISTED = 4


def docs_link(url: str | None, data_root: str | None, served_root: str | None) -> str | None:
    """The observatory path for a Data Docs page when it lies under the served data root, else the URL as is."""
    if not url:
        return None
    if url.startswith("file://") and data_root and served_root and "://" not in served_root:
        site = data_docs_root(data_root)  # None: the observatory would refuse it, so keep the file URL
        page = Path(unquote(urlsplit(url).path)).resolve()
        if site and Path(data_root).resolve() == Path(served_root).resolve() and site in page.parents:
            return f"{URL_PREFIX}/datadocs/{page.relative_to(site).as_posix()}"
    return url


def _fit(lines: list[str]) -> str:
    text = "\n".join(lines)
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


def gate_failure_note(year: int, gate: str, failed: list[dict[str, Any]], *, docs: str | None,
                      evidence_dir: str | None) -> str:
    """Why the year stopped: the gate, where the evidence is, then its failed expectations (observed vs. bounds).

    Links come before the list, so a long list is what gets cut to fit, never the way to the evidence."""
    lines = [f"**biomass {year}: gate `{gate}` failed. Nothing was published.**", ""]
    if docs:
        lines.append(f"[Data Docs: the failed validation]({docs})")
    if evidence_dir:
        lines.append(f"Failing rows and full result: `{evidence_dir}`")
    lines.append("")
    for f in failed[:MAX_LISTED]:
        bounds = expected_bounds(f)
        lines.append(f"- `{f['expectation']}({f.get('column') or ''})`: {f['why']}; observed `{f['observed']}`"
                     + (f", expected `{bounds}`" if bounds else ""))
    if len(failed) > MAX_LISTED:
        lines.append(f"- … and {len(failed) - MAX_LISTED} more (see Data Docs)")
    return _fit(lines)


def published_note(manifest: Manifest, *, manifest_path: str, docs: str | None) -> str:
    """What the year became: rows, mix, duplicates removed, collapse status, every gate passed."""
    g = summarize(manifest)
    total = max(g.rows, 1)
    shares = ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in sorted(g.sources.items()))
    filtered = ["- filtered: " + ", ".join(f"{name} {n}" for name, n in g.filtered.items())] if g.filtered else []
    lines = [f"**biomass {g.year}: published {g.rows} rows** (parent: {g.parent or 'none'})", "",
             f"- sources: {shares}", *filtered,
             f"- near-duplicates removed: {g.duplicates_removed}",
             f"- collapse status: `{g.collapse_status or '-'}`", f"- gates passed: {', '.join(g.gates)}",
             *_review_line(g.review), "",
             f"Manifest: `{manifest_path}`"]
    if docs:
        lines.append(f"[Data Docs]({docs})")
    return _fit(lines)


def review_rejected_note(year: int, reason: str) -> str:
    """A year its review stopped: rejected (with the reviewer's reason) or not decidable."""
    return _fit([f"**biomass {year}: stopped in review. Nothing was published.**", "", reason])


def _review_line(review: dict[str, Any] | None) -> list[str]:
    if not review or review.get("mode") == "off":
        return ["- review: off"] if review else []
    if review.get("automatic"):
        return ["- review: automatic approval (mode auto; no person read the sample)"]
    excluded = len(review.get("excluded") or [])
    return [f"- review: approved by {review.get('by')} at {review.get('at')}"
            + (f", {excluded} documents excluded" if excluded else "")
            + (f": {review['comment'][:120]}" if review.get("comment") else "")]


def task_failure_note(task_ids: list[str]) -> str:
    """For a run that failed outside a gate (a crash, not a verdict): where to look."""
    where = ", ".join(f"`{t}`" for t in task_ids) or "an unknown task"
    return _fit([f"**biomass run failed at {where}. Nothing was published.**", "",
                 "This was not a gate verdict: read that task's log."])


def combine(existing: str | None, ours: str) -> str:
    """Our note replaces our earlier note; a person's note stays on top of it."""
    if not existing or existing.startswith(MARK):
        return ours
    theirs = existing.split(f"\n\n{MARK}", 1)[0].rstrip()
    room = NOTE_LIMIT - len(theirs) - 2
    return theirs if room < 80 else f"{theirs}\n\n{ours[:room]}"
