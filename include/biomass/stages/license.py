"""Stage 2, license: publisher drops in, licensed records out, fail-closed.

A drop is a folder holding ``manifest.json`` (or ``manifest.yaml``) and the documents it lists; the format is
``license_drop.schema.json`` next to this file (documented in the README's "License" section). A document is
published only if everything checks out, judged against the **generation year**, never today's date; otherwise
it goes to quarantine with one of: ``malformed_manifest``, ``unsafe_path``, ``unknown_publisher``, ``no_license``,
``license_expired``, ``license_not_yet_valid``, ``training_not_allowed``, ``missing_document``,
``unlisted_document``, ``too_large``, ``invalid_utf8``, ``too_short``. Nothing outside a drop is ever read
(``biomass.stages.drop_files``); the manifest is read defensively (``biomass.stages.license_manifest``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from datetime import date, datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from biomass.accounting import Quarantine, StageCounts
from biomass.config import LicenseConfig
from biomass.schema import RECORD_SCHEMA, canonical_json, make_doc_id, sha256_text
from biomass.stages.drop_files import Refused, list_drop, normalise, read_document, unsafe_entry
from biomass.stages.license_manifest import MANIFEST_NAMES, ManifestError, drop_schema, load_manifest
from biomass.storage import ParquetStream, write_json_atomic
from biomass.text import detect_lang, normalize

__all__ = ["MANIFEST_NAMES", "drop_schema", "license_stage", "load_manifest", "licence_problem", "document_terms"]

log = logging.getLogger(__name__)
STAGE = "license"
TERMS = ("license_id", "valid_from", "valid_to", "allowed_uses", "attribution")


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))  # dates were checked when the manifest was loaded


def document_terms(manifest: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """The drop's terms, then the manifest's per-document overrides, then the document entry's own fields."""
    terms = {k: manifest.get(k) for k in TERMS}
    for override in manifest.get("overrides", []):
        if override["path"] == doc["path"]:
            terms.update({k: v for k, v in override.items() if k in TERMS})
    terms.update({k: v for k, v in doc.items() if k in TERMS})
    return terms


def licence_problem(terms: dict[str, Any], year: int) -> tuple[str, str] | None:
    """Why these terms do not license training for generation ``year`` (None: they do)."""
    if not terms.get("license_id"):
        return "no_license", "no licence id"
    start, end = _day(terms.get("valid_from")), _day(terms.get("valid_to"))
    if start is not None and end is not None and end < start:  # the drop's and an override's dates combined
        return "malformed_manifest", f"valid to {end} is before valid from {start}"
    if end is not None and end < date(year, 1, 1):
        return "license_expired", f"valid to {end}, generation {year}"
    if start is not None and start > date(year, 12, 31):
        return "license_not_yet_valid", f"valid from {start}, generation {year}"
    if "training" not in (terms.get("allowed_uses") or []):
        return "training_not_allowed", f"allowed uses: {terms.get('allowed_uses')}"
    return None


def license_stage(drops: list[str], *, year: int, config: LicenseConfig, out_path: str,
                  quarantine_path: str | None = None, report_path: str | None = None) -> StageCounts:
    counts = StageCounts(STAGE)
    quarantine = Quarantine(STAGE, counts)
    report: dict[str, dict[str, Any]] = defaultdict(lambda: {"documents": 0, "published": 0,
                                                             "quarantined": Counter(), "licenses": {}})
    known = set(config.known_publishers)
    with ParquetStream(out_path, RECORD_SCHEMA) as out:  # a drop that raises midway publishes no partial output
        for drop in drops:
            _one_drop(Path(drop), year, config, known, counts, quarantine, out, report)
    if quarantine_path:
        quarantine.write(quarantine_path)
    if report_path:
        write_json_atomic(report_path, _finish_report(report, year))
    counts.notes["publishers"] = sorted(report)
    return counts.check()


def _one_drop(folder: Path, year: int, config: LicenseConfig, known: set[str], counts: StageCounts,
              quarantine: Quarantine, out: ParquetStream, report) -> None:
    def refuse(entry, reason: str, detail: str, locator: str) -> None:
        counts.rows_in += 1
        entry["documents"] += 1
        entry["quarantined"][reason] += 1
        quarantine.add(reason, detail=detail, locator=locator)

    if folder.is_symlink():  # never followed: it could be another drop, or any folder on the host
        refuse(report[f"(unsafe drop) {folder.name}"], "unsafe_path",
               f"the drop folder is a symlink (to {os.readlink(folder)}); give its real path", str(folder))
        return
    if not folder.is_dir():
        raise FileNotFoundError(f"licence drop {folder} is not a folder")
    root = folder.resolve()
    files, refused = list_drop(root, skip=MANIFEST_NAMES)
    try:
        manifest = load_manifest(root, config.max_manifest_bytes)
    except ManifestError as exc:
        entry = report[f"(malformed drop) {folder.name}"]
        for path in files:
            refuse(entry, exc.reason, str(exc), f"{folder}/{path}")
        for path, why in refused.items():
            refuse(entry, "unsafe_path", why, f"{folder}/{path}")
        return
    publisher = manifest["publisher"]
    entry = report[publisher]
    entry["licenses"][manifest["license_id"]] = {"valid_from": str(manifest["valid_from"]),
                                                 "valid_to": str(manifest["valid_to"])}
    listed = {d["path"] for d in manifest["documents"]}
    for path in files:
        if path not in listed:
            refuse(entry, "unlisted_document", "file not in the manifest: no licence", f"{folder}/{path}")
    for path, why in refused.items():
        if path not in listed:
            refuse(entry, "unsafe_path", why, f"{folder}/{path}")
    for doc in sorted(manifest["documents"], key=lambda d: d["path"]):
        locator = f"{folder}/{doc['path']}"
        reason = _admit(root, folder.name, doc, manifest, year, config, known, out)
        if reason is None:
            counts.rows_in += 1
            counts.rows_out += 1
            entry["documents"] += 1
            entry["published"] += 1
        else:
            refuse(entry, reason[0], reason[1], locator)


def _admit(root: Path, drop_name: str, doc: dict[str, Any], manifest: dict[str, Any], year: int,
           config: LicenseConfig, known: set[str], out: ParquetStream) -> tuple[str, str] | None:
    try:
        rel = normalise(doc["path"])
    except Refused as exc:
        return exc.reason, exc.detail
    if PurePosixPath(rel).name in MANIFEST_NAMES:  # the listing skips manifests: a manifest never licenses itself
        return "unsafe_path", f"{rel} is a manifest file, not a document"
    unsafe = unsafe_entry(root, rel)
    if unsafe:
        return "unsafe_path", unsafe
    publisher = manifest["publisher"]
    if publisher not in known:
        return "unknown_publisher", f"{publisher!r} is not in license.known_publishers"
    terms = document_terms(manifest, doc)
    problem = licence_problem(terms, year)
    if problem:
        return problem
    try:
        text = normalize(read_document(root, rel, config.max_document_bytes).decode("utf-8"))
    except Refused as exc:
        return exc.reason, exc.detail
    except UnicodeDecodeError as exc:
        return "invalid_utf8", str(exc)
    if len(text) < config.min_chars:
        return "too_short", f"{len(text)} chars < {config.min_chars}"
    sha = sha256_text(text)
    published = _day(doc.get("published")) or _day(manifest.get("delivered")) or _day(terms["valid_from"])
    collected = datetime(published.year, published.month, published.day, tzinfo=timezone.utc)
    human_era = collected.date() < config.human_era_cutoff
    out.add({
        "doc_id": make_doc_id(f"{publisher}/{rel}", sha), "text": text, "source": "license",
        "origin": "licensed", "synthetic_score": 0.0, "url": doc.get("url"), "publisher": publisher,
        "license_id": terms["license_id"], "attribution": terms["attribution"], "collected_at": collected,
        "generation": year, "content_sha256": sha, "lang": detect_lang(text), "human_era": human_era,
        "provenance": canonical_json({"drop": drop_name, "path": rel, "title": doc.get("title"),
                                      "license": {k: str(v) if v is not None else None for k, v in terms.items()}}),
        "tag_evidence": "{}",
    })
    return None


def _finish_report(report, year: int) -> dict[str, Any]:
    """Per publisher: counts, quarantine reasons, and licences that expire within two years of this generation."""
    out = {}
    for publisher, entry in sorted(report.items()):
        expiring = {lid: t for lid, t in entry["licenses"].items()
                    if date(year, 1, 1) <= date.fromisoformat(t["valid_to"]) <= date(year + 1, 12, 31)}
        out[publisher] = {"documents": entry["documents"], "published": entry["published"],
                          "quarantined": dict(sorted(entry["quarantined"].items())),
                          "licenses": entry["licenses"], "expiring_soon": expiring}
    return {"generation": year, "publishers": out}
