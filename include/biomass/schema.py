"""The one versioned record schema every stage reads and writes.

Bump SCHEMA_VERSION whenever a field is added, removed or changes meaning; the version is stored in each
Parquet file's metadata and in every generation manifest, so a reader can refuse data it does not understand.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import pyarrow as pa

SCHEMA_VERSION = 1
SCHEMA_VERSION_KEY = b"biomass.schema_version"

SOURCES = ("scrape", "license", "synthetic")
ORIGINS = ("human", "licensed", "synthetic", "unknown")

# Field order is part of the contract: writers emit columns in exactly this order.
_FIELDS = [
    pa.field("doc_id", pa.string(), nullable=False, metadata={"doc": "sha256(place + content hash), 32 hex"}),
    pa.field("text", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False, metadata={"doc": "scrape | license | synthetic"}),
    pa.field("origin", pa.string(), nullable=False, metadata={"doc": "human | licensed | synthetic | unknown"}),
    pa.field("synthetic_score", pa.float64(), nullable=False, metadata={"doc": "0 = surely human, 1 = surely synthetic"}),
    pa.field("url", pa.string(), metadata={"doc": "where a scraped record was crawled"}),
    pa.field("publisher", pa.string(), metadata={"doc": "who licensed a record"}),
    pa.field("license_id", pa.string()),
    pa.field("attribution", pa.string()),
    pa.field("collected_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("generation", pa.int32(), nullable=False, metadata={"doc": "year of the generation that first published it"}),
    pa.field("content_sha256", pa.string(), nullable=False),
    pa.field("lang", pa.string(), nullable=False),
    pa.field("human_era", pa.bool_(), nullable=False, metadata={"doc": "collected before the human-era cutoff"}),
    pa.field("provenance", pa.string(), nullable=False, metadata={"doc": "canonical JSON: where it came from"}),
    pa.field("tag_evidence", pa.string(), nullable=False, metadata={"doc": "canonical JSON: which tagging signals fired"}),
]

RECORD_SCHEMA = pa.schema(_FIELDS, metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()})
COLUMNS = tuple(f.name for f in _FIELDS)

# Quarantined rows keep whatever was known about them plus why they were set aside.
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("doc_id", pa.string()),
        pa.field("locator", pa.string(), metadata={"doc": "file#offset, file:line or drop/path"}),
        pa.field("url", pa.string()),
        pa.field("text", pa.string()),
    ],
    metadata={SCHEMA_VERSION_KEY: str(SCHEMA_VERSION).encode()},
)


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace, so the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_doc_id(place: str, content_sha256: str) -> str:
    """Stable id: the same content from the same place always gets the same id."""
    return hashlib.sha256(f"{place}\x00{content_sha256}".encode("utf-8")).hexdigest()[:32]


def utc(ts: datetime) -> datetime:
    """Naive datetimes are taken to be UTC; aware ones are converted."""
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def records_to_table(records: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Build a RECORD_SCHEMA table from dicts, failing loudly on a missing required field."""
    rows = list(records)
    columns = {}
    for field in RECORD_SCHEMA:
        values = [r.get(field.name) for r in rows]
        if not field.nullable and any(v is None for v in values):
            missing = next(i for i, v in enumerate(values) if v is None)
            raise ValueError(f"record {missing} has no value for required field {field.name!r}")
        columns[field.name] = pa.array(values, type=field.type)
    return pa.table(columns, schema=RECORD_SCHEMA)


def empty_table() -> pa.Table:
    return RECORD_SCHEMA.empty_table()


def conform(table: pa.Table) -> pa.Table:
    """Cast a table with all record columns to RECORD_SCHEMA (column order and types), or explain why not."""
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"table lacks record columns {missing}; schema v{SCHEMA_VERSION} needs {list(COLUMNS)}")
    return table.select(list(COLUMNS)).cast(RECORD_SCHEMA)


def check_version(schema: pa.Schema) -> None:
    meta = schema.metadata or {}
    found = meta.get(SCHEMA_VERSION_KEY)
    if found is not None and int(found) != SCHEMA_VERSION:
        raise ValueError(f"data has record schema v{int(found)}, this biomass reads v{SCHEMA_VERSION}")
