"""The run note for a year, from its plan: a failed gate's verdict or a published manifest (see
``biomass.run_notes`` for the format and how the note reaches the Airflow run)."""

from __future__ import annotations

import logging
from pathlib import Path

from biomass.config import CONFIG_ERRORS, load_config
from biomass.gates.runner import GateResult
from biomass.datadocs import DATA_DOCS
from biomass.manifest import Manifest
from biomass.run_notes import docs_link, gate_failure_note, published_note
from biomass.pipeline.plan import RunPlan

log = logging.getLogger(__name__)


def _served_root() -> str | None:
    """The data root the observatory serves (the same config and environment as this worker)."""
    try:
        return load_config().data_root
    except CONFIG_ERRORS as exc:  # a broken default config must not hide the verdict; links become file URLs
        log.warning("run note: cannot read the default config (%s); Data Docs links stay file URLs", exc)
        return None


def failed_gate_note(plan: RunPlan, result: GateResult) -> str:
    return gate_failure_note(plan.year, result.gate, result.failed,
                             docs=docs_link(result.failing_page, plan.data_root, _served_root()),
                             evidence_dir=result.evidence_dir)


def publish_note(plan: RunPlan, manifest: Manifest) -> str:
    site = Path(plan.data_root) / DATA_DOCS / "index.html"
    docs = docs_link(site.as_uri(), plan.data_root, _served_root()) if site.exists() else None
    return published_note(manifest, manifest_path=str(plan.store.manifest_path(plan.year)), docs=docs)
