"""Hand-made manifests for summary tests: the store's own fields filled in, so a test writes only what it is about."""

from __future__ import annotations

from typing import Any

from biomass.manifest import MANIFEST_FORMAT, Manifest
from biomass.schema import SCHEMA_VERSION


def gate(success: bool = True) -> dict[str, Any]:
    """A gate verdict as the gate step saves it, with nothing evaluated."""
    return {"success": success, "evaluated": 0, "suite_version": 2, "failed": [], "summary": {}}


def make_manifest(**fields: Any) -> Manifest:
    """A manifest of ``fields`` (``year`` and ``rows`` required) listing one shard of all the rows."""
    core = {"biomass_manifest": MANIFEST_FORMAT, "schema_version": SCHEMA_VERSION,
            "files": [{"path": "part-00000-000000000000.parquet", "rows": fields["rows"], "sha256": "0" * 64,
                       "bytes": 1}]}
    return Manifest.model_validate({**core, **fields})
