"""Generations on disk: staging while a year is built, then an atomic publish with the manifest written last.

Layout under a data root::

    staging/<year>/                 everything a run writes before its gates pass (kept on failure)
    generations/<year>/manifest.json    the only thing readers trust; written last, by atomic rename
    generations/<year>/part-NNNNN-<sha12>.parquet   shards named by content, listed in the manifest
    generations/<year>/quarantine-<sha12>.parquet   every row set aside while building the year
    generations/.retired/<year>-<n>/    a withdrawn generation (see ``retire``), with retired.json and its signatures
    index/minhash/gen-<year>.arrow      the year's dedup signatures (written by the publish step)

A shard that is not listed in ``manifest.json`` does not exist for readers, so a run killed at any point
leaves either the previous manifest or none, never half a generation.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, SCHEMA_VERSION, canonical_json, check_version, conform

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
RETIRED = ".retired"            # under generations/: not a year, so readers never list it
RETIRED_RECORD = "retired.json"
_RETIRED_NAME = re.compile(r"^(\d+)-(\d+)$")
SHARD_ROWS = 50_000
# Fixed writer options: same table, same bytes. Free-text columns get neither dictionary encoding (every value
# differs, so the dictionary is built and thrown away) nor min/max statistics (useless for pruning). pyarrow
# takes only lists of the columns to give them, so a column outside the record and quarantine schemas gets
# neither.
_FREE_TEXT = ("text", "provenance", "tag_evidence")
_INDEXED = sorted({f.name for f in (*RECORD_SCHEMA, *QUARANTINE_SCHEMA)} - set(_FREE_TEXT))
_WRITE_OPTS = dict(compression="zstd", compression_level=3, use_dictionary=_INDEXED, write_statistics=_INDEXED,
                   row_group_size=SHARD_ROWS)


class NotPublished(LookupError):
    """The requested generation has no published manifest."""


class NotRetired(LookupError):
    """There is no retired copy of the requested generation to restore."""


class AlreadyPublished(RuntimeError):
    """A restore would overwrite a generation published (or being published) since the retire."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write with the project's fixed options via a temp file, so a reader never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, **_WRITE_OPTS)
    os.replace(tmp, path)


# Reading a column batch by batch: about this many uncompressed bytes per batch, through a small read buffer
# rather than whole column chunks (a row group of text can be hundreds of MB).
BATCH_BYTES = 4 << 20
_READ_BUFFER = 1 << 20


def batch_rows_for(pf: pq.ParquetFile, columns: list[str] | None, target_bytes: int = BATCH_BYTES) -> int:
    """Rows per batch so a batch of ``columns`` holds about ``target_bytes`` (from the file's column sizes)."""
    meta = pf.metadata
    if meta.num_rows == 0:
        return 1024
    names = set(columns) if columns is not None else None
    size = sum(rg.column(i).total_uncompressed_size for rg in map(meta.row_group, range(meta.num_row_groups))
               for i in range(rg.num_columns) if names is None or rg.column(i).path_in_schema in names)
    return int(min(max(target_bytes * meta.num_rows // max(size, 1), 64), 65_536))


def parquet_batches(path: str | os.PathLike[str], columns: list[str] | None = None, batch_rows: int | None = None,
                    row_groups: list[int] | None = None) -> Iterator[pa.RecordBatch]:
    """A Parquet file's rows in batches of about BATCH_BYTES (or ``batch_rows`` rows), never a whole column."""
    pf = pq.ParquetFile(path, pre_buffer=False, buffer_size=_READ_BUFFER)
    rows = batch_rows or batch_rows_for(pf, columns)
    yield from pf.iter_batches(batch_size=rows, columns=columns, row_groups=row_groups, use_threads=False)


class ParquetStream:
    """Write a large output in batches with the project's fixed options, via a temp file renamed on close.

    Use it as a context manager: a clean exit closes (publishes) the file, an exception aborts it, so a failed
    producer never leaves a partial file at ``path``. Whichever of close() and abort() comes first decides;
    later calls do nothing.
    """

    def __init__(self, path: str | os.PathLike[str], schema: pa.Schema, batch_rows: int = 2_000):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.batch_rows = batch_rows
        self.rows: list[dict] = []
        self.count = 0
        self._tmp = self.path.with_name(f".{self.path.name}.tmp")
        self._finished = False
        opts = {k: v for k, v in _WRITE_OPTS.items() if k != "row_group_size"}
        self._writer = pq.ParquetWriter(self._tmp, schema, **opts)

    def __enter__(self) -> "ParquetStream":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> None:
        """Write what is buffered and move the file into place; if that fails, abort instead."""
        if self._finished:
            return
        try:
            self._flush()
            self._writer.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def abort(self) -> None:
        """Discard everything: close the writer and delete the temp file; ``path`` is never created."""
        if self._finished:
            return
        self._finished = True
        self.rows = []
        try:
            # The file is being thrown away: failing to finalise it must not mask the error that led here.
            with contextlib.suppress(Exception):
                self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


@dataclass(frozen=True)
class GenerationStore:
    data_root: Path

    def __init__(self, data_root: str | os.PathLike[str]):
        object.__setattr__(self, "data_root", Path(data_root))

    # -- layout ---------------------------------------------------------------------------------------
    @property
    def generations_dir(self) -> Path:
        return self.data_root / "generations"

    def generation_dir(self, year: int) -> Path:
        return self.generations_dir / str(year)

    def staging_dir(self, year: int) -> Path:
        return self.data_root / "staging" / str(year)

    def manifest_path(self, year: int) -> Path:
        return self.generation_dir(year) / MANIFEST

    @property
    def retired_dir(self) -> Path:
        return self.generations_dir / RETIRED

    @property
    def minhash_dir(self) -> Path:
        """The cross-generation dedup index (``SignatureIndex``) the publish step feeds."""
        return self.data_root / "index" / "minhash"

    def signature_path(self, year: int) -> Path:
        from biomass.dedup.index import generation_path   # lazy: reading generations needs no dedup code

        return generation_path(self.minhash_dir, year)

    # -- reading (published only) ---------------------------------------------------------------------
    def published_years(self) -> list[int]:
        if not self.generations_dir.is_dir():
            return []
        years = []
        for child in self.generations_dir.iterdir():
            if child.name.isdigit() and (child / MANIFEST).is_file():
                years.append(int(child.name))
        return sorted(years)

    def manifest(self, year: int) -> dict[str, Any]:
        path = self.manifest_path(year)
        if not path.is_file():
            raise NotPublished(f"generation {year} is not published under {self.data_root}")
        return json.loads(path.read_text())

    def parent_of(self, year: int) -> int | None:
        """The newest published generation before ``year``: what this year builds on."""
        earlier = [y for y in self.published_years() if y < year]
        return earlier[-1] if earlier else None

    def shard_paths(self, year: int) -> list[Path]:
        manifest = self.manifest(year)
        return [self.generation_dir(year) / f["path"] for f in manifest["files"]]

    def read(self, year: int, columns: list[str] | None = None, verify: bool = False) -> pa.Table:
        """The published rows of a generation, in manifest order."""
        manifest = self.manifest(year)
        tables = []
        for entry in manifest["files"]:
            path = self.generation_dir(year) / entry["path"]
            if verify and file_sha256(path) != entry["sha256"]:
                raise ValueError(f"{path} does not match the sha256 in its manifest")
            table = pq.read_table(path, columns=columns)
            check_version(pq.read_schema(path))
            tables.append(table)
        if not tables:
            schema = RECORD_SCHEMA if columns is None else pa.schema([RECORD_SCHEMA.field(c) for c in columns])
            return schema.empty_table()
        return pa.concat_tables(tables)

    def iter_batches(self, year: int, columns: list[str], batch_rows: int | None = None) -> Iterator[pa.Table]:
        """The published rows of a generation in manifest order, a batch at a time: for figures over a column
        (such as text lengths) that must not hold the whole column at once."""
        for path in self.shard_paths(year):
            check_version(pq.read_schema(path))
            for batch in parquet_batches(path, columns, batch_rows):
                yield pa.Table.from_batches([batch])

    def iter_published(self) -> Iterator[tuple[int, dict[str, Any]]]:
        for year in self.published_years():
            yield year, self.manifest(year)

    def children_of(self, year: int) -> list[int]:
        """Published years whose manifest names ``year`` as ``parent``: they were built from it."""
        return [y for y, m in self.iter_published() if m.get("parent") == year]

    def retired_copies(self, year: int) -> list[Path]:
        """Retired copies of ``year``, oldest first (the last one is what ``restore`` brings back)."""
        if not self.retired_dir.is_dir():
            return []
        found = [(int(m.group(2)), p) for p in self.retired_dir.iterdir()
                 if (m := _RETIRED_NAME.match(p.name)) and int(m.group(1)) == year and p.is_dir()]
        return [p for _, p in sorted(found)]

    def retired_years(self) -> list[int]:
        if not self.retired_dir.is_dir():
            return []
        return sorted({int(m.group(1)) for p in self.retired_dir.iterdir()
                       if (m := _RETIRED_NAME.match(p.name)) and p.is_dir()})

    # -- withdrawing ----------------------------------------------------------------------------------
    def retire(self, year: int, reason: str) -> Path:
        """Withdraw a published year: readers stop seeing it, and later years stop being deduplicated against it.

        ``generations/<year>`` is renamed to ``generations/.retired/<year>-<n>`` (n counts up, so a year
        re-published and retired again never collides); that rename is the commit point. ``retired.json`` (the
        reason, the manifest's sha256, the direct children) is written into the folder before it, so it moves
        with it; readers ignore it while the year is still published. After the commit the year's dedup
        signatures are moved into the retired folder, not deleted, so ``restore`` can bring them back. A crash
        between the two leaves the year retired with its signatures still indexed: ``finish_retirements`` (run
        by retire, restore and the assemble stage before it reads the index) parks them.

        Fingerprints of the year's synthetic text in ``index/fingerprints/`` stay: that text was produced and
        may be re-posted, and re-posts must still be recognised as synthetic.
        """
        if not reason.strip():
            raise ValueError("a retire needs a reason (it is recorded in retired.json)")
        self.finish_retirements()
        manifest = self.manifest(year)   # raises NotPublished
        source = self.generation_dir(year)
        copies = self.retired_copies(year)
        n = 1 + max((int(_RETIRED_NAME.match(p.name).group(2)) for p in copies), default=0)
        target = self.retired_dir / f"{year}-{n}"
        signatures = self.signature_path(year)
        record = {"year": year, "reason": reason, "manifest_sha256": file_sha256(self.manifest_path(year)),
                  "rows": manifest.get("rows"), "parent": manifest.get("parent"),
                  "children": self.children_of(year),
                  "signatures": signatures.name if signatures.is_file() else None,
                  "retired_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        _atomic_write_bytes(source / RETIRED_RECORD, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        self.retired_dir.mkdir(exist_ok=True)
        _fsync_dir(self.generations_dir)
        os.rename(source, target)   # the commit point
        _fsync_dir(self.retired_dir)
        _fsync_dir(self.generations_dir)
        self._park_signatures(year, target)
        return target

    def restore(self, year: int) -> Path:
        """Bring back the newest retired copy of ``year``, signatures included; refuse if the year was published
        again meanwhile (retire that one first), so a restore never replaces a generation."""
        self.finish_retirements()
        copies = self.retired_copies(year)
        if not copies:
            raise NotRetired(f"generation {year} has no retired copy under {self.retired_dir}")
        if self.manifest_path(year).is_file():
            raise AlreadyPublished(f"generation {year} was published again after it was retired; retire it "
                                   f"first if {copies[-1]} should replace it")
        target = self.generation_dir(year)
        if target.exists():
            if any(target.iterdir()):
                raise AlreadyPublished(f"{target} exists without a manifest (an unfinished publish?); move it "
                                       f"away before restoring {year}")
            target.rmdir()
        source = copies[-1]
        parked = source / self.signature_path(year).name
        if parked.is_file():   # before the commit: if we stop here, finish_retirements parks it again
            self.minhash_dir.mkdir(parents=True, exist_ok=True)
            os.replace(parked, self.signature_path(year))
            _fsync_dir(self.minhash_dir)
            _fsync_dir(source)
        os.rename(source, target)   # the commit point
        _fsync_dir(self.generations_dir)
        _fsync_dir(self.retired_dir)
        (target / RETIRED_RECORD).unlink(missing_ok=True)
        return target

    def finish_retirements(self) -> list[int]:
        """Roll forward retires interrupted after their commit point: park signatures still in the index.

        A year with a retired copy and no manifest must not be deduplicated against. Returns the years fixed.
        """
        fixed = []
        for year in self.retired_years():
            if not self.manifest_path(year).is_file() and self._park_signatures(year, self.retired_copies(year)[-1]):
                fixed.append(year)
        return fixed

    def _park_signatures(self, year: int, folder: Path) -> bool:
        """Move the year's index file into its retired folder (same filesystem: one atomic rename)."""
        source = self.signature_path(year)
        target = folder / source.name
        if not source.is_file() or target.exists():
            return False
        os.replace(source, target)
        _fsync_dir(source.parent)
        _fsync_dir(folder)
        return True

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, year: int, table: pa.Table, manifest_fields: dict[str, Any],
                quarantine: pa.Table | None = None) -> dict[str, Any]:
        """Copy shards in, then atomically swap ``manifest.json``; finally remove shards no manifest names."""
        table = conform(table)
        staging = self.staging_dir(year) / "publish"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        target = self.generation_dir(year)
        target.mkdir(parents=True, exist_ok=True)

        files = []
        n_shards = max(1, -(-table.num_rows // SHARD_ROWS))
        for i in range(n_shards):
            part = table.slice(i * SHARD_ROWS, SHARD_ROWS)
            files.append(self._place(part, staging / f"part-{i:05d}.parquet", target, f"part-{i:05d}"))
        quarantine_files = []
        if quarantine is not None:
            quarantine_files.append(self._place(quarantine, staging / "quarantine.parquet", target, "quarantine"))

        manifest = {
            "biomass_manifest": MANIFEST_FORMAT,
            "year": year,
            "schema_version": SCHEMA_VERSION,
            "rows": table.num_rows,
            "files": files,
            "quarantine_files": quarantine_files,
            **manifest_fields,
        }
        _atomic_write_bytes(target / MANIFEST, (canonical_json(manifest) + "\n").encode())
        keep = {f["path"] for f in files + quarantine_files} | {MANIFEST}
        for child in target.iterdir():
            if child.name not in keep and not child.name.startswith("."):
                child.unlink()
        shutil.rmtree(staging)
        return manifest

    @staticmethod
    def _place(table: pa.Table, staged: Path, target: Path, stem: str) -> dict[str, Any]:
        write_parquet(table, staged)
        sha = file_sha256(staged)
        name = f"{stem}-{sha[:12]}.parquet"
        final = target / name
        if not final.exists() or file_sha256(final) != sha:
            tmp = target / f".{name}.tmp"
            shutil.copyfile(staged, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        return {"path": name, "rows": table.num_rows, "sha256": sha, "bytes": final.stat().st_size}
