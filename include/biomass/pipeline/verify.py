"""`biomass verify-generation YEAR`: check a published generation against its manifest, every byte and record.

What readers check when a year builds on its parent, for the whole generation at once and listing every problem
rather than stopping at the first: the manifest's format, year, schema version and shape (``biomass.manifest``);
each listed file (record shards and quarantine) for presence, size, sha256, row count and schema version; each
shard's saved metrics statistics for presence, size and sha256; every record's content_sha256
(streamed batch by batch: never the whole generation in memory); the rows in total; and the dedup signatures the
manifest names. Exit codes: 0 sound, 5 damaged (``EXIT_DAMAGED``), 2 not published or bad usage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from biomass import exitcodes
from biomass.manifest import StatsEntry
from biomass.schema import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from biomass.storage import (GenerationStore, IntegrityError, check_file, check_manifest,
                             content_mismatches, file_sha256, parquet_batches, text_sha256)

EXIT_DAMAGED = exitcodes.INTEGRITY
# Past this many damaged records in one file, the rest are counted, not listed one by one.
MAX_LISTED_RECORDS = 20


def audit(store: GenerationStore, year: int) -> Iterator[IntegrityError]:
    """Every way ``year`` differs from its manifest (nothing: it is sound). NotPublished if it has none."""
    try:
        stored = store.manifest(year)   # the document as stored: a damaged one is judged, not parsed
        check_manifest(year, stored, store.manifest_path(year))
        manifest = store.read_manifest(year)   # the shape every reader (report, observatory) parses
    except IntegrityError as exc:
        yield exc
        return   # without a sound manifest there is nothing to check the files against
    folder = store.generation_dir(year)
    rows = 0
    for entry in stored["files"]:   # the stored entries: the store's file checks take them as they are
        found = yield from _audit_file(year, folder / entry["path"], entry, records=True)
        rows += found or 0
        if "stats" in entry:   # the shard's saved metrics statistics
            try:
                store.saved_stats(year, entry)
            except IntegrityError as exc:
                yield exc
    for entry in stored.get("quarantine_files", []):
        yield from _audit_file(year, folder / entry["path"], entry, records=False)
    if rows != manifest.rows:
        yield IntegrityError(year, "rows in the record files", path=folder, expected=manifest.rows, actual=rows)
    if manifest.signatures is not None:
        yield from _audit_signatures(store, year, manifest.signatures)


def _audit_file(year: int, path: Path, entry: dict[str, Any], *, records: bool) -> Iterator[IntegrityError]:
    """Problems of one listed file; returns the rows read (None if it could not be read)."""
    try:
        check_file(year, path, entry)
    except IntegrityError as exc:
        yield exc
        if not path.is_file():
            return None
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        yield IntegrityError(year, f"not a readable Parquet file ({exc})", path=path)
        return None
    version = (pf.schema_arrow.metadata or {}).get(SCHEMA_VERSION_KEY)
    if version is not None and int(version) != SCHEMA_VERSION:
        yield IntegrityError(year, "record schema version of the file", path=path, expected=SCHEMA_VERSION,
                             actual=int(version))
    if pf.metadata.num_rows != entry["rows"]:
        yield IntegrityError(year, "rows in the file's footer", path=path, expected=entry["rows"],
                             actual=pf.metadata.num_rows)
    if not records:
        return pf.metadata.num_rows
    rows, damaged = 0, 0
    try:
        for batch in parquet_batches(path, ["doc_id", "text", "content_sha256"]):
            for i in content_mismatches(batch.column("text"), batch.column("content_sha256")):
                damaged += 1
                if damaged <= MAX_LISTED_RECORDS:
                    yield IntegrityError(year, f"record content_sha256 at row {rows + i}", path=path,
                                         doc_id=batch.column("doc_id")[i].as_py(),
                                         expected=batch.column("content_sha256")[i].as_py(),
                                         actual=text_sha256(batch.column("text").slice(i, 1))[0])
            rows += batch.num_rows
    except (OSError, pa.ArrowException) as exc:
        yield IntegrityError(year, f"records cannot be decoded after row {rows} ({exc})", path=path)
        return None
    if damaged > MAX_LISTED_RECORDS:
        yield IntegrityError(year, f"{damaged - MAX_LISTED_RECORDS} more records whose content_sha256 does not "
                                   f"match ({damaged} in all)", path=path)
    if rows != entry["rows"]:
        yield IntegrityError(year, "rows read", path=path, expected=entry["rows"], actual=rows)
    return rows


def _audit_signatures(store: GenerationStore, year: int, entry: StatsEntry) -> Iterator[IntegrityError]:
    """The dedup index file the manifest names, in place (or pending, for the next run to move in)."""
    final, pending = store.signature_path(year), store.pending_signature_path(year)
    if final.is_file() and file_sha256(final) == entry.sha256:
        return
    if pending.is_file() and file_sha256(pending) == entry.sha256:
        return   # a publish cut short after its commit: the next run's assemble moves it in
    yield IntegrityError(year, "dedup signatures", path=final, expected=entry.sha256,
                         actual=file_sha256(final) if final.is_file() else "no file")
