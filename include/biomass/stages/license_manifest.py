"""A licence drop's manifest, read defensively: bounded in size, no YAML aliases, schema-checked, real dates.

Anything wrong is a ``ManifestError`` naming the field, and the whole drop is quarantined with its ``reason``
(``malformed_manifest``; ``unsafe_path`` for a manifest that is a symlink or a special file). Checks beyond
the JSON Schema (``license_drop.schema.json``): every date is a real calendar date (2023-02-30 is not), no
validity window ends before it starts, and no two document entries name the same file once their paths are
normalised (``./docs/x.txt`` is ``docs/x.txt``): fail-closed, since which entry's terms would apply is a guess.
Safe paths come back normalised (documents and overrides); unsafe ones stay as written, for the stage to refuse.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from biomass.stages.drop_files import Refused, normalise, read_document

MANIFEST_NAMES = ("manifest.json", "manifest.yaml", "manifest.yml")
DATE_FIELDS = ("valid_from", "valid_to", "delivered", "published")
DEFAULT_MAX_BYTES = 5_000_000


class ManifestError(ValueError):
    """The drop's manifest cannot be trusted; every document of the drop is quarantined with ``reason``."""

    def __init__(self, message: str, reason: str = "malformed_manifest"):
        super().__init__(message)
        self.reason = reason

    def __reduce__(self):   # with its reason, so it survives a trip to or from a worker process
        return type(self), (str(self), self.reason)


class _AliasFreeLoader(yaml.SafeLoader):
    """Safe YAML without aliases: a few hundred bytes of nested aliases expand to gigabytes ("billion laughs")."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a manifest",
                                              self.peek_event().start_mark)
        return super().compose_node(parent, index)


def drop_schema() -> dict[str, Any]:
    return json.loads(resources.files("biomass.stages").joinpath("license_drop.schema.json").read_text())


def _read(folder: Path, max_bytes: int) -> tuple[str, bytes]:
    for name in MANIFEST_NAMES:
        try:
            return name, read_document(folder, name, max_bytes)
        except Refused as exc:
            if exc.reason == "missing_document":
                continue
            if exc.reason == "too_large":
                raise ManifestError(f"{name} is over license.max_manifest_bytes ({max_bytes}); not parsed") from None
            raise ManifestError(f"{name}: {exc.detail}", reason="unsafe_path") from None
    raise ManifestError(f"no manifest ({' or '.join(MANIFEST_NAMES)})")


def _parse(name: str, raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        return json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=_AliasFreeLoader)
    except (ValueError, RecursionError, yaml.YAMLError) as exc:  # RecursionError: [[[[... nested too deep
        raise ManifestError(f"{name} does not parse: {str(exc)[:500]}") from None


def _check_dates(manifest: dict[str, Any], name: str) -> None:
    objects = [("(top)", manifest)]
    objects += [(f"documents/{i}", d) for i, d in enumerate(manifest["documents"])]
    objects += [(f"overrides/{i}", o) for i, o in enumerate(manifest.get("overrides", []))]
    for where, obj in objects:
        days = {}
        for field in DATE_FIELDS:
            if obj.get(field) is not None:
                try:
                    days[field] = date.fromisoformat(obj[field])
                except ValueError:
                    raise ManifestError(f"{name} at {where}: {field} {obj[field]!r} is not a calendar date") from None
        if "valid_from" in days and "valid_to" in days and days["valid_to"] < days["valid_from"]:
            raise ManifestError(f"{name} at {where}: valid_to {days['valid_to']} is before valid_from "
                                f"{days['valid_from']}")


def _normalise_paths(manifest: dict[str, Any], name: str) -> None:
    seen: dict[str, int] = {}
    for i, doc in enumerate(manifest["documents"]):
        try:
            doc["path"] = normalise(doc["path"])
        except Refused:
            pass  # kept as written; the stage quarantines it as unsafe_path
        if doc["path"] in seen:
            raise ManifestError(f"{name} at documents/{i}: path {doc['path']!r} names the same file as "
                                f"documents/{seen[doc['path']]}")
        seen[doc["path"]] = i
    for override in manifest.get("overrides", []):
        try:
            override["path"] = normalise(override["path"])
        except Refused:
            pass  # matches no document


def load_manifest(folder: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, Any]:
    """The drop's manifest, validated; ManifestError (a ValueError) says what is wrong."""
    import jsonschema

    name, raw = _read(Path(folder), max_bytes)
    manifest = _parse(name, raw)
    try:
        jsonschema.validate(manifest, drop_schema())
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(top)"
        raise ManifestError(f"{name} at {where}: {exc.message[:500]}") from None
    _check_dates(manifest, name)
    _normalise_paths(manifest, name)
    return manifest
