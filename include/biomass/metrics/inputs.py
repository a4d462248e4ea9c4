"""Texts (and origins) out of record tables and Parquet files: only ``doc_id`` and ``text`` are required."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


def texts_from_table(table: pa.Table | pa.RecordBatch, source: str = "table") -> tuple[list[str], list[str | None] | None]:
    """(texts, origins or None). A null text is an error: a published record always has one."""
    missing = [c for c in ("doc_id", "text") if c not in table.column_names]
    if missing:
        raise ValueError(f"{source} lacks column(s) {missing}; metrics need doc_id and text")
    texts = table.column("text").to_pylist()
    nulls = sum(t is None for t in texts)
    if nulls:
        raise ValueError(f"{source}: {nulls} row(s) have a null text")
    origins = table.column("origin").to_pylist() if "origin" in table.column_names else None
    return texts, origins


def read_texts(path: str | os.PathLike[str]) -> tuple[list[str], list[str | None] | None]:
    """``texts_from_table`` of a Parquet file, reading only the columns it needs."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    names = pq.read_schema(path).names
    columns = [c for c in ("doc_id", "text", "origin") if c in names]
    return texts_from_table(pq.read_table(path, columns=columns), str(path))


def iter_texts(path: str | os.PathLike[str]) -> Iterator[tuple[list[str], list[str | None] | None]]:
    """``read_texts`` a record batch at a time (``biomass.storage.parquet_batches``): for files too large to hold."""
    from biomass.storage import parquet_batches

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    names = pq.read_schema(path).names
    columns = [c for c in ("doc_id", "text", "origin") if c in names]
    if "text" not in columns or "doc_id" not in columns:
        texts_from_table(pq.read_schema(path).empty_table(), str(path))  # raises: which column is missing
    for batch in parquet_batches(path, columns):
        yield texts_from_table(batch, str(path))
