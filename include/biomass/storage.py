"""Generations on disk: staging while a year is built, then an atomic publish with the manifest written last.

Layout under a data root::

    staging/<year>/                 everything a run writes before its gates pass (kept on failure)
    generations/<year>/manifest.json    the only thing readers trust; written last, by atomic rename
    generations/<year>/part-NNNNN-<sha12>.parquet   shards named by content, listed in the manifest
    generations/<year>/part-NNNNN-<sha12>.stats     a shard's metrics statistics (named, with sha256, in its entry)
    generations/<year>/quarantine-<sha12>.parquet   every row set aside while building the year
    generations/.retired/<year>-<n>/    a withdrawn generation (see ``retire``), with retired.json and its signatures
    index/minhash/gen-<year>.arrow      the year's dedup signatures (written by the publish step)
    index/minhash/.gen-<year>.arrow.pending   the same, written before the manifest that names its sha256
    locks/<year>.lock                   the run that is building the year (``biomass.pipeline.lock``)

A shard that is not listed in ``manifest.json`` does not exist for readers, so a run killed at any point
leaves either the previous manifest or none, never half a generation. The year's dedup signatures are part of
that commit: written (pending) before the manifest, which records their sha256, and moved into the index after
it; ``finish_publishes`` rolls a publish cut short between the two forward.

Readers building on a generation check it against its manifest (``read``, ``iter_batches``, ``shard_paths``
verify by default): the manifest's format and schema version, every file's size and sha256, row counts, and,
wherever text is read, every record's ``content_sha256``. A mismatch raises ``IntegrityError``.

One module owns the commit protocol: every atomic write, durable rename and folder swap of the package goes
through ``write_file_atomic``, ``write_bytes_atomic``/``write_json_atomic``, ``move`` and ``replace_dir``
(tests/unit/test_storage_writes.py keeps it so). An object-store data root (``s3://``, ``gs://`` through
fsspec) replaces those with whole-object PUTs that need no rename: a shard is immutable and named by content,
so it can be PUT at its final name; the manifest is the one object whose PUT commits the year.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import itertools
import json
import os
import re
import shutil
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from biomass.schema import QUARANTINE_SCHEMA, RECORD_SCHEMA, SCHEMA_VERSION, check_version, conform

if TYPE_CHECKING:   # the typed manifest needs pydantic (~0.2 s): imported where a manifest is read or written,
    from biomass.manifest import Manifest, StatsEntry    # so a command that only moves Parquet never pays it

MANIFEST = "manifest.json"
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


def index_generation_path(root: str | os.PathLike[str], year: int) -> Path:
    """Where the dedup index (``biomass.dedup.index``) keeps ``year``'s signatures. Named here, with every other
    path under a data root, so retire/restore/publish move the file without importing the index."""
    return Path(root) / f"gen-{int(year)}.arrow"


def index_pending_path(root: str | os.PathLike[str], year: int) -> Path:
    """Where publish writes ``year``'s signatures before its manifest names them (hidden: the index never lists
    it); moved to ``index_generation_path`` once the manifest is in place."""
    return Path(root) / f".gen-{int(year)}.arrow.pending"


class NotPublished(LookupError):
    """The requested generation has no published manifest."""


class NotRetired(LookupError):
    """There is no retired copy of the requested generation to restore."""


class AlreadyPublished(RuntimeError):
    """A restore would overwrite a generation published (or being published) since the retire."""


class IntegrityError(ValueError):
    """A published generation does not match its manifest: building on it would build on damaged data.

    Carries the year, the file, what the manifest promised and what was found (or the doc_id of a record whose
    text does not hash to its ``content_sha256``). ``biomass verify-generation YEAR`` lists every problem.
    """

    def __init__(self, year: int, problem: str, *, path: str | os.PathLike[str] | None = None,
                 expected: Any = None, actual: Any = None, doc_id: str | None = None):
        self.year, self.problem, self.doc_id = year, problem, doc_id
        self.path = Path(path) if path is not None else None
        self.expected, self.actual = expected, actual
        message = f"generation {year} is damaged: {problem}"
        if self.path is not None:
            message += f" in {self.path}"
        if doc_id is not None:
            message += f" (doc_id {doc_id})"
        if expected is not None or actual is not None:
            message += f": manifest says {expected}, found {actual}"
        super().__init__(message)

    def __reduce__(self):   # rebuilt from its parts, so it survives a trip to or from a worker process
        return functools.partial(type(self), path=self.path, expected=self.expected, actual=self.actual,
                                 doc_id=self.doc_id), (self.year, self.problem)


def file_sha256(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class naming_the_file(contextlib.AbstractContextManager):
    """pyarrow's OSErrors carry the errno (ENOSPC...) but not the file: add it, so the operator learns where.

    The exception itself is amended (not wrapped), so its type and traceback stay as they were.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = path

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            exc.filename = os.fspath(self.path)
            exc.strerror = os.strerror(exc.errno)


def text_sha256(texts: pa.Array | pa.ChunkedArray) -> list[str]:
    """sha256 hex of each string's UTF-8 bytes (what ``schema.sha256_text`` gives), hashed straight from the
    Arrow buffer: no Python string is built, and the only per-row work is the hash itself. A null hashes as ""."""
    out: list[str] = []
    for chunk in texts.chunks if isinstance(texts, pa.ChunkedArray) else [texts]:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            chunk = chunk.cast(pa.large_string())
        _, offsets_buf, data_buf = chunk.buffers()
        dtype = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buf, dtype=dtype, count=len(chunk) + 1,
                                offset=chunk.offset * np.dtype(dtype).itemsize).tolist() if len(chunk) else [0]
        data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
        sha = hashlib.sha256
        out.extend(sha(data[a:b]).hexdigest() for a, b in zip(offsets[:-1], offsets[1:]))
    return out


def content_mismatches(texts: pa.Array | pa.ChunkedArray, hashes: pa.Array | pa.ChunkedArray) -> list[int]:
    """Rows whose text does not hash to their ``content_sha256``."""
    return [i for i, (a, b) in enumerate(zip(text_sha256(texts), hashes.to_pylist())) if a != b]


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write with the project's fixed options via a temp file, so a reader never sees a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with naming_the_file(tmp):
        pq.write_table(table, tmp, **_WRITE_OPTS)
    os.replace(tmp, path)


def write_parquet_parts(parts: Iterable[pa.Table], path: str | os.PathLike[str], schema: pa.Schema) -> None:
    """``write_parquet`` of the table the ``parts`` make, without ever holding it: every part but the last must
    hold exactly the rows of one row group (``SHARD_ROWS``), so the file gets write_parquet's row groups and
    bytes. Temp file and rename, as write_parquet."""
    it = iter(parts)
    first = next(it, None)
    second = next(it, None) if first is not None else None
    if second is None:
        write_parquet(first if first is not None else schema.empty_table(), path)
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    opts = {k: v for k, v in _WRITE_OPTS.items() if k != "row_group_size"}
    try:
        with naming_the_file(tmp), pq.ParquetWriter(tmp, schema, **opts) as writer:
            previous = None
            for part in itertools.chain([first, second], it):
                if previous is not None and previous.num_rows != SHARD_ROWS:
                    raise ValueError(f"{path}: a part of {previous.num_rows} rows before the last; parts must "
                                     f"hold {SHARD_ROWS} rows each")
                writer.write_table(part, row_group_size=SHARD_ROWS)
                previous = part
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


class _CommitOnExit:
    """A writer used as a context manager: a clean exit commits (``close``), an exception discards (``abort``)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class ParquetStream(_CommitOnExit):
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
        with naming_the_file(self._tmp):
            self._writer = pq.ParquetWriter(self._tmp, schema, **opts)

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.batch_rows:
            self._flush()

    def write_table(self, table: pa.Table) -> None:
        """Append a whole batch (already in ``schema``), after anything added row by row."""
        self._flush()
        if table.num_rows:
            self._writer.write_table(table)
            self.count += table.num_rows

    def _flush(self) -> None:
        if self.rows:
            with naming_the_file(self._tmp):
                self._writer.write_table(pa.Table.from_pylist(self.rows, schema=self.schema))
            self.count += len(self.rows)
            self.rows = []

    def close(self) -> None:
        """Write what is buffered and move the file into place; if that fails, abort instead."""
        if self._finished:
            return
        try:
            self._flush()
            with naming_the_file(self._tmp):
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


def concat_parquet(paths: list[Path], out: str | os.PathLike[str], schema: pa.Schema,
                   tail: pa.Table | None = None) -> Path:
    """Several Parquet files (then ``tail``) streamed into one file of ``schema``, a batch at a time, atomically:
    how a stage's or a year's quarantine files become one."""
    with ParquetStream(out, schema) as stream:
        for path in paths:
            for batch in parquet_batches(path):
                stream.write_table(pa.Table.from_batches([batch]).cast(schema))
        if tail is not None:
            stream.write_table(tail.cast(schema))
    return Path(out)


SHARD_PREFIX = "part-"
STATS_SUFFIX = ".stats"   # a shard's saved metrics statistics (biomass.metrics.stats_file), named after the shard
SHARD_ROW_GROUP = 8_192   # rows per row group in a shard: one group of text is tens of MB, not hundreds


def shard_files(folder: str | os.PathLike[str]) -> list[Path]:
    """A shard set: the ``part-NNNNN*.parquet`` files of a folder, in name order (temp and hidden files are not
    shards). A missing folder is an empty set."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith(SHARD_PREFIX) and p.suffix == ".parquet")


def dataset_files(path: str | os.PathLike[str]) -> list[Path]:
    """A stage output as files: a shard-set folder's shards, or the one file (none if it does not exist)."""
    path = Path(path)
    if path.is_dir():
        return shard_files(path)
    return [path] if path.exists() else []


def dataset_batches(path: str | os.PathLike[str], columns: list[str] | None = None,
                    batch_rows: int | None = None) -> Iterator[pa.RecordBatch]:
    """``parquet_batches`` over a file or a shard-set folder, shard after shard."""
    for file in dataset_files(path):
        yield from parquet_batches(file, columns, batch_rows)


def dataset_rows(path: str | os.PathLike[str]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in dataset_files(path))


class ShardWriter(_CommitOnExit):
    """Rows in, a shard set out: ``folder/part-00000.parquet``, ``part-00001.parquet``, ... of ``shard_rows`` rows
    each (the last one fewer), so the same rows always give the same shards. Each shard is a ``ParquetStream``
    (temp file, renamed when full). ``add_shard`` takes a finished shard file as it is (hard-linked when it can,
    else copied), for rows carried over unchanged from a published generation: no re-encoding.

    A context manager: an exception removes every shard this writer made, so a failed stage leaves no output.
    """

    def __init__(self, folder: str | os.PathLike[str], schema: pa.Schema, shard_rows: int = SHARD_ROWS):
        self.folder = Path(folder)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.schema = schema
        self.shard_rows = shard_rows
        self.files: list[Path] = []
        self.rows = 0
        self._open: ParquetStream | None = None
        self._in_open = 0
        self._pending: list[pa.Table] = []
        self._pending_rows = 0

    def _next_path(self) -> Path:
        return self.folder / f"{SHARD_PREFIX}{len(self.files):05d}.parquet"

    def write_table(self, table: pa.Table) -> None:
        """Buffer rows and write them in row groups of exactly ``SHARD_ROW_GROUP`` rows (the last of a shard
        fewer), so the bytes of a shard depend on its rows only, never on how the producer batched them."""
        if table.num_rows:
            self._pending.append(table)
            self._pending_rows += table.num_rows
        while self._pending_rows >= min(SHARD_ROW_GROUP, self.shard_rows - self._in_open):
            self._write_group(min(SHARD_ROW_GROUP, self.shard_rows - self._in_open))

    def _write_group(self, n: int) -> None:
        """Write the next ``n`` buffered rows as one row group; a full shard is closed."""
        buffered = pa.concat_tables(self._pending)
        group, rest = buffered.slice(0, n), buffered.slice(n)
        self._pending, self._pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        if self._open is None:
            self._open = ParquetStream(self._next_path(), self.schema)
            self._in_open = 0
        self._open.write_table(group.combine_chunks())
        self._in_open += n
        self.rows += n
        if self._in_open == self.shard_rows:
            self._close_open()

    def _close_open(self) -> None:
        if self._open is not None:
            self._open.close()
            self.files.append(self._open.path)
            self._open, self._in_open = None, 0

    def _end_shard(self) -> None:
        """Write what is buffered and close the current shard, however full."""
        while self._pending_rows:
            self._write_group(min(SHARD_ROW_GROUP, self.shard_rows - self._in_open, self._pending_rows))
        self._close_open()

    def add_shard(self, source: str | os.PathLike[str]) -> None:
        """Append a finished shard file unchanged (after any rows written so far, which end their shard)."""
        self._end_shard()
        target = self._next_path()
        try:
            os.link(source, target)
        except OSError:
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
        self.files.append(target)
        self.rows += pq.ParquetFile(target).metadata.num_rows

    def close(self) -> list[Path]:
        self._end_shard()
        return self.files

    def abort(self) -> None:
        self._pending, self._pending_rows = [], 0
        if self._open is not None:
            self._open.abort()
            self._open = None
        shutil.rmtree(self.folder, ignore_errors=True)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the names in a folder durable (a rename or a new file in it survives a power cut)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomic(path: str | os.PathLike[str], write: Callable[[Path], None], *,
                      unique_tmp: bool = False) -> Path:
    """Write a file through ``write(tmp)`` into a hidden temp name next to it, fsync, rename into place, fsync
    the folder: readers see the old file or the new one, never part of one. ``unique_tmp``: several processes
    may write the same path at once (a lock's heartbeat), so each needs its own temp file.

    Every atomic write of the package goes through here (or the helpers below), so this and ``replace_dir``
    and ``move`` are the commit protocol an object-store data root would replace (a conditional PUT of the
    whole object, no rename), without a change to the stages."""
    path = Path(path)
    suffix = f".{os.getpid()}-{threading.get_ident()}.tmp" if unique_tmp else ".tmp"
    tmp = path.with_name(f".{path.name}{suffix}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
    return path


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes, *, unique_tmp: bool = True) -> Path:
    """A small file (a shard's statistics, a state file) written atomically, so a step killed mid-write leaves
    the old file or none; by default safe when another process writes the same path at the same time."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_file_atomic(path, lambda tmp: tmp.write_bytes(data), unique_tmp=unique_tmp)


def replace_dir(built: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """Swap a folder built next to its target (``built``, on the same file system) into place: an older
    ``folder`` is removed first, so a reader sees the old folder, none, or the whole new one."""
    built, folder = Path(built), Path(folder)
    for entry in built.iterdir():
        if entry.is_file():
            with open(entry, "rb") as fh:
                os.fsync(fh.fileno())
    fsync_dir(built)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(built, folder)
    fsync_dir(folder.parent)
    return folder


def move(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Rename a finished file (or folder) to its final name, durably (both folders fsynced)."""
    source, target = Path(source), Path(target)
    os.replace(source, target)
    fsync_dir(target.parent)
    if source.parent != target.parent:
        fsync_dir(source.parent)
    return target


def write_json_atomic(path: str | os.PathLike[str], value: Any) -> Path:
    """A step's state file (plan, counts, gate verdict, shard plan) as canonical JSON, written atomically: a
    process killed mid-write must leave the old file or none, never half a JSON that a retry then trusts."""
    from biomass.schema import canonical_json

    return write_bytes_atomic(path, (canonical_json(value) + "\n").encode("utf-8"))


def _plain_name(name: Any) -> bool:
    """A manifest may only name files inside its own folder."""
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")


def check_manifest(year: int, manifest: Any, path: Path | None = None) -> None:
    """The manifest's own shape: format, year, schema version, and a sound entry per file whose rows add up."""
    def fail(problem: str, expected: Any = None, actual: Any = None) -> None:
        raise IntegrityError(year, problem, path=path, expected=expected, actual=actual)

    from biomass.manifest import MANIFEST_FORMAT

    if not isinstance(manifest, dict):
        fail("manifest is not a JSON object")
    if manifest.get("biomass_manifest") != MANIFEST_FORMAT:
        fail("unknown manifest format", MANIFEST_FORMAT, manifest.get("biomass_manifest"))
    if manifest.get("year") != year:
        fail("manifest is for another year", year, manifest.get("year"))
    if manifest.get("schema_version") != SCHEMA_VERSION:
        fail("record schema version this biomass does not read", SCHEMA_VERSION, manifest.get("schema_version"))
    for key in ("files", "quarantine_files"):
        entries = manifest.get(key, [])
        if not isinstance(entries, list):
            fail(f"{key!r} is not a list")
        for entry in entries:
            if not (isinstance(entry, dict) and _plain_name(entry.get("path"))
                    and isinstance(entry.get("sha256"), str) and len(entry["sha256"]) == 64
                    and isinstance(entry.get("rows"), int) and isinstance(entry.get("bytes"), int)):
                fail(f"malformed {key!r} entry {entry!r}")
    listed = sum(f["rows"] for f in manifest.get("files", []))
    if listed != manifest.get("rows"):
        fail("rows do not add up over the listed files", manifest.get("rows"), listed)


def check_file(year: int, path: Path, entry: dict[str, Any]) -> None:
    """A listed file exists with the size and sha256 its manifest entry records (size first: it costs nothing)."""
    if not path.is_file():
        raise IntegrityError(year, "listed file is missing", path=path)
    size = path.stat().st_size
    if size != entry["bytes"]:   # damaged for sure; the hashes still go in the message
        raise IntegrityError(year, f"file size {size} bytes (manifest: {entry['bytes']}) and file sha256", path=path,
                             expected=entry["sha256"], actual=file_sha256(path))
    sha = file_sha256(path)
    if sha != entry["sha256"]:
        raise IntegrityError(year, "file sha256", path=path, expected=entry["sha256"], actual=sha)


def _check_content(year: int, path: Path, table: pa.Table, first_row: int) -> None:
    """Every record of ``table`` (rows ``first_row``.. of ``path``) hashes to its content_sha256."""
    bad = content_mismatches(table.column("text"), table.column("content_sha256"))
    if bad:
        row = first_row + bad[0]
        doc_id = (table.column("doc_id")[bad[0]].as_py() if "doc_id" in table.column_names
                  else pq.read_table(path, columns=["doc_id"]).column(0)[row].as_py())
        raise IntegrityError(year, f"record content_sha256 ({len(bad)} record(s) in this batch; first at row {row})",
                             path=path, doc_id=doc_id, expected=table.column("content_sha256")[bad[0]].as_py(),
                             actual=text_sha256(table.column("text").slice(bad[0], 1))[0])


def _with_hashes(columns: list[str] | None) -> tuple[list[str] | None, list[str]]:
    """Columns to read so text can be checked: ``content_sha256`` joins ``text``; returns (read, added)."""
    if columns is None or "text" not in columns or "content_sha256" in columns:
        return columns, []
    return [*columns, "content_sha256"], ["content_sha256"]


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
        return index_generation_path(self.minhash_dir, year)

    def pending_signature_path(self, year: int) -> Path:
        """Where publish writes the year's signatures before its manifest: a name the index never reads."""
        return index_pending_path(self.minhash_dir, year)

    def stats_path(self, year: int, entry: dict[str, Any]) -> Path | None:
        """Where the saved statistics of the shard a manifest ``entry`` lists are (None: published without)."""
        stats = entry.get("stats")
        return self.generation_dir(year) / stats["path"] if isinstance(stats, dict) else None

    def saved_stats(self, year: int, entry: dict[str, Any]) -> bytes | None:
        """The saved statistics of one listed shard, checked against the size and sha256 its entry records
        (``IntegrityError`` if they differ); None if the shard was published without (by older code)."""
        path = self.stats_path(year, entry)
        if path is None:
            return None
        if not _plain_name(entry["stats"].get("path")):
            raise IntegrityError(year, f"malformed stats entry {entry['stats']!r}", path=self.manifest_path(year))
        check_file(year, path, entry["stats"])
        return path.read_bytes()

    def lock_path(self, year: int) -> Path:
        """The lock of the run building ``year`` under this data root (see ``biomass.pipeline.lock``)."""
        return self.data_root / "locks" / f"{year}.lock"

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
        """The stored manifest document as it is, unparsed: what ``check_manifest`` judges and a damaged file
        still yields (``read_manifest`` for the typed ``Manifest``)."""
        path = self.manifest_path(year)
        if not path.is_file():
            raise NotPublished(f"generation {year} is not published under {self.data_root}")
        try:
            return json.loads(path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntegrityError(year, f"manifest is not valid JSON ({exc})", path=path) from exc

    def read_manifest(self, year: int) -> Manifest:
        """The year's manifest, typed; ``IntegrityError`` if the file is not a manifest of this format."""
        from pydantic import ValidationError

        from biomass.manifest import Manifest

        raw = self.manifest(year)
        try:
            return Manifest.model_validate(raw)
        except ValidationError as exc:
            raise IntegrityError(year, f"manifest does not have the manifest's shape ({exc})",
                                 path=self.manifest_path(year)) from exc

    def _files(self, year: int, verify: bool) -> list[tuple[Path, dict[str, Any]]]:
        """The record shards of a generation with their manifest entries; ``verify``: check the manifest and each
        file's size and sha256 first."""
        manifest = self.manifest(year)
        if verify:
            check_manifest(year, manifest, self.manifest_path(year))
        files = [(self.generation_dir(year) / f["path"], f) for f in manifest["files"]]
        if verify:
            for path, entry in files:
                check_file(year, path, entry)
        return files

    def parent_of(self, year: int) -> int | None:
        """The newest published generation before ``year``: what this year builds on."""
        earlier = [y for y in self.published_years() if y < year]
        return earlier[-1] if earlier else None

    def shard_paths(self, year: int, verify: bool = True) -> list[Path]:
        """The record shards of a generation, in manifest order (checked against the manifest: see ``read``)."""
        return [path for path, _ in self._files(year, verify)]

    def read(self, year: int, columns: list[str] | None = None, verify: bool = True) -> pa.Table:
        """The published rows of a generation, in manifest order.

        ``verify`` (the default: this is how a year reads what it builds on): the manifest, every file's size and
        sha256, rows per file and, when ``text`` is read, every record's content_sha256; ``IntegrityError`` if any
        does not match. ``verify=False`` only for display, never for building.
        """
        tables = []
        read_columns, added = _with_hashes(columns) if verify else (columns, [])
        for path, entry in self._files(year, verify):
            check_version(pq.read_schema(path))
            table = pq.read_table(path, columns=read_columns)
            if verify:
                if table.num_rows != entry["rows"]:
                    raise IntegrityError(year, "rows", path=path, expected=entry["rows"], actual=table.num_rows)
                if "text" in table.column_names:
                    _check_content(year, path, table, 0)
            tables.append(table.drop_columns(added) if added else table)
        if not tables:
            schema = RECORD_SCHEMA if columns is None else pa.schema([RECORD_SCHEMA.field(c) for c in columns])
            return schema.empty_table()
        return pa.concat_tables(tables)

    def iter_batches(self, year: int, columns: list[str], batch_rows: int | None = None,
                     verify: bool = True) -> Iterator[pa.Table]:
        """The published rows of a generation in manifest order, a batch at a time: for figures over a column
        (such as text lengths) that must not hold the whole column at once. Verified as ``read`` is, batch by
        batch (a damaged record raises when its batch is reached)."""
        read_columns, added = _with_hashes(columns) if verify else (columns, [])
        for path, entry in self._files(year, verify):
            check_version(pq.read_schema(path))
            seen = 0
            for batch in parquet_batches(path, read_columns, batch_rows):
                table = pa.Table.from_batches([batch])
                if verify and "text" in table.column_names:
                    _check_content(year, path, table, seen)
                seen += table.num_rows
                yield table.drop_columns(added) if added else table
            if verify and seen != entry["rows"]:
                raise IntegrityError(year, "rows", path=path, expected=entry["rows"], actual=seen)

    def iter_published(self) -> Iterator[tuple[int, Manifest]]:
        for year in self.published_years():
            yield year, self.read_manifest(year)

    def children_of(self, year: int) -> list[int]:
        """Published years whose manifest names ``year`` as ``parent``: they were built from it."""
        return [y for y, m in self.iter_published() if m.parent == year]

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
        write_bytes_atomic(source / RETIRED_RECORD, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
        self.retired_dir.mkdir(exist_ok=True)
        fsync_dir(self.generations_dir)
        os.rename(source, target)   # the commit point
        fsync_dir(self.retired_dir)
        fsync_dir(self.generations_dir)
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
            fsync_dir(self.minhash_dir)
            fsync_dir(source)
        os.rename(source, target)   # the commit point
        fsync_dir(self.generations_dir)
        fsync_dir(self.retired_dir)
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

    def finish_publishes(self) -> list[int]:
        """Roll forward publishes cut short after their commit point: move pending signatures into the index.

        A published year whose manifest names signatures (sha256 and size) must be in the index, or later years
        are not deduplicated against it (and, accumulating, carry its rows twice). Pending files whose sha256 is
        not the manifest's belong to a publish that never committed: left for that year's next publish to
        overwrite. A named index file that is neither in place nor pending raises ``IntegrityError``.
        Returns the years fixed.
        """
        fixed = []
        for year, manifest in self.iter_published():
            if manifest.signatures and self._install_signatures(year, manifest.signatures):
                fixed.append(year)
        return fixed

    def _install_signatures(self, year: int, entry: StatsEntry) -> bool:
        """Make the index file of ``year`` the one its manifest names; True if it had to be moved in."""
        final, pending = self.signature_path(year), self.pending_signature_path(year)
        if pending.is_file() and file_sha256(pending) == entry.sha256:
            if final.is_file() and final.stat().st_size == entry.bytes and file_sha256(final) == entry.sha256:
                pending.unlink()
                return False
            os.replace(pending, final)
            fsync_dir(final.parent)
            return True
        if not final.is_file() or final.stat().st_size != entry.bytes:
            found = final.stat().st_size if final.is_file() else "no file"
            raise IntegrityError(year, "dedup signatures named by the manifest are neither in the index nor "
                                       "pending; re-run the year to rebuild them", path=final,
                                 expected=f"{entry.bytes} bytes sha256 {entry.sha256}", actual=found)
        return False

    def _park_signatures(self, year: int, folder: Path) -> bool:
        """Move the year's index file into its retired folder (same filesystem: one atomic rename)."""
        source = self.signature_path(year)
        target = folder / source.name
        if not source.is_file() or target.exists():
            return False
        os.replace(source, target)
        fsync_dir(source.parent)
        fsync_dir(folder)
        return True

    # -- publishing ---------------------------------------------------------------------------------
    def publish(self, year: int, table: pa.Table, manifest_fields: dict[str, Any],
                quarantine: pa.Table | None = None, signatures: Path | None = None) -> Manifest:
        """``publish_shards`` for a table in memory (tests, small tables): it is written as a shard set first."""
        staging = self.staging_dir(year) / "publish"
        if staging.exists():
            shutil.rmtree(staging)
        with ShardWriter(staging / "records", RECORD_SCHEMA) as out:
            out.write_table(conform(table))
        quarantine_file = None
        if quarantine is not None:
            quarantine_file = staging / "quarantine.parquet"
            write_parquet(quarantine, quarantine_file)
        manifest = self.publish_shards(year, staging / "records", manifest_fields, quarantine_file, signatures)
        shutil.rmtree(staging)
        return manifest

    def publish_shards(self, year: int, shards: str | os.PathLike[str], manifest_fields: dict[str, Any],
                       quarantine: str | os.PathLike[str] | None = None,
                       signatures: Path | None = None,
                       shard_stats: list[Path] | None = None) -> Manifest:
        """Make a staged shard set the generation: link its shards in under content names, then atomically swap
        ``manifest.json``; finally remove files no manifest names. Nothing is re-encoded.

        Shards are hard-linked (copied if the filesystem cannot link), never moved, so a publish that fails
        before its commit can simply run again; the staged set stays (links cost no space) until the next plan
        clears staging. ``signatures``: the year's dedup index file, already written at
        ``pending_signature_path(year)``. The manifest records its sha256 and size, so it is part of the commit;
        it is moved into the index right after the manifest, and ``finish_publishes`` does that move if the
        process dies in between.
        """
        from biomass.manifest import MANIFEST_FORMAT, Manifest

        if signatures is not None:
            signatures = Path(signatures)
            if signatures != self.pending_signature_path(year):
                raise ValueError(f"signatures must be written to {self.pending_signature_path(year)}")
            manifest_fields = {**manifest_fields, "signatures": {
                "path": self.signature_path(year).name, "sha256": file_sha256(signatures),
                "bytes": signatures.stat().st_size}}
        shards = Path(shards)
        staged = shard_files(shards)
        if shard_stats is not None and len(shard_stats) != len(staged):
            raise ValueError(f"{len(shard_stats)} statistics files for {len(staged)} shards")
        if not staged:   # an empty generation still has one (empty) shard with the schema
            shards.mkdir(parents=True, exist_ok=True)
            staged = [shards / f"{SHARD_PREFIX}00000.parquet"]
            pq.write_table(RECORD_SCHEMA.empty_table(), staged[0], **_WRITE_OPTS)
            shard_stats = None
        for path in staged:
            check_version(pq.read_schema(path))
        target = self.generation_dir(year)
        target.mkdir(parents=True, exist_ok=True)
        files = [self._link_in(path, target, path.stem) for path in staged]
        for entry, stats in zip(files, shard_stats or ()):
            name = entry["path"].removesuffix(".parquet") + STATS_SUFFIX
            sha = _link_file(Path(stats), target / name)
            entry["stats"] = {"path": name, "sha256": sha, "bytes": (target / name).stat().st_size}
        quarantine_files = [self._link_in(Path(quarantine), target, "quarantine")] if quarantine is not None else []

        manifest = Manifest.model_validate({   # a field of the wrong shape fails here, before the commit
            "biomass_manifest": MANIFEST_FORMAT,
            "year": year,
            "schema_version": SCHEMA_VERSION,
            "rows": sum(f["rows"] for f in files),
            "files": files,
            "quarantine_files": quarantine_files,
            **manifest_fields,
        })
        fsync_dir(target)   # the shards' names are durable before the manifest that lists them
        write_bytes_atomic(target / MANIFEST, (manifest.to_json() + "\n").encode())   # the commit point
        if signatures is not None:
            self._install_signatures(year, manifest.signatures)
        keep = {f["path"] for f in files + quarantine_files} | {f["stats"]["path"] for f in files if "stats" in f}
        keep |= {MANIFEST}
        for child in target.iterdir():
            if child.name not in keep and not child.name.startswith("."):
                child.unlink()
        return manifest

    @staticmethod
    def _link_in(staged: Path, target: Path, stem: str) -> dict[str, Any]:
        """Put a finished file into the generation under its content name (``<stem>-<sha12>.parquet``)."""
        sha = file_sha256(staged)
        rows = pq.ParquetFile(staged).metadata.num_rows
        name = f"{stem}-{sha[:12]}.parquet"
        final = target / name
        _link_file(staged, final, sha)
        return {"path": name, "rows": rows, "sha256": sha, "bytes": final.stat().st_size}


def _link_file(staged: Path, final: Path, sha: str | None = None) -> str:
    """Put a finished file in place under ``final`` (hard link, else copy; fsynced, atomic); its sha256."""
    sha = sha or file_sha256(staged)
    if not final.exists() or file_sha256(final) != sha:
        tmp = final.with_name(f".{final.name}.tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(staged, tmp)
        except OSError:
            shutil.copyfile(staged, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    return sha
