"""A streaming read of the training text (one pass, or two for a sample): the n-gram counts and the prompt table.

Why a stream: the parent generation can hold a million documents; neither its text nor its token lists are ever
held whole. Batches (Arrow tables or record batches with ``doc_id`` and ``text``) are read once when every
document is trained on (``max_docs`` None): each feeds the counter as it comes. With ``max_docs`` set the stream
is read twice: the first pass keeps only a seeded 128-bit hash of each doc_id (16 bytes a document), from which
the bottom-k sample is chosen (the ``max_docs`` distinct doc_ids of smallest hash: a uniform sample, the same
whatever order or batching the input comes in); the second pass counts the chosen documents as they come. So
neither the sampled texts nor a set of every doc_id are held, and the model, the prompt table and the memory
they take follow ``max_docs``, not the parent's size. A parent of no more than ``max_docs`` documents gives
exactly the model, prompts and lengths of training on all of it.

What is kept per training document is small: its doc_id, its word count and its first ``prompt_tokens`` words
(the prompt a synthetic document starts from), sorted by doc_id at the end so prompt picks do not depend on
input order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc

from biomass.lm.counting import NgramCounter
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import TokenBatch, join_tokens
from biomass.schema import sha256_text

BATCH_ROWS = 2_048


class StoredStrings(Sequence[str]):
    """A string column of an Arrow IPC file, read only where asked: a sampling shard needs the prompts of its
    own picks (tens of thousands), not the whole table as Python strings (a 1M-document parent's doc_ids and
    prompts as lists took ~200 MB in every shard). ``take`` reads the file one record batch at a time, not
    memory-mapped, so no more than one batch of it is resident at once."""

    def __init__(self, path: str | Path, column: str, rows: int, batch_rows: int):
        self.path, self.column = Path(path), column
        self.batch_rows = batch_rows  # every record batch of the file holds this many rows, the last one fewer
        self._rows = np.array([*range(0, rows, batch_rows), rows], np.int64)

    def __len__(self) -> int:
        return int(self._rows[-1])

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        return self.take(np.array([i % len(self)]))[0]

    def take(self, rows: np.ndarray) -> list[str]:
        """The values at ``rows`` (any order, repeats allowed), in that order."""
        rows = np.asarray(rows, np.int64)
        out: list[str | None] = [None] * len(rows)
        batch_of = np.searchsorted(self._rows, rows, side="right") - 1
        with pa.OSFile(str(self.path)) as f:
            reader = ipc.open_file(f)
            if len(rows) and reader.num_record_batches != len(self._rows) - 1:
                raise ValueError(f"{self.path}: {reader.num_record_batches} record batches, expected "
                                 f"{len(self._rows) - 1} of {self.batch_rows} rows")
            for b in np.unique(batch_of).tolist():
                where = np.flatnonzero(batch_of == b)
                col = reader.get_batch(b).column(self.column)
                values = col.take(pa.array(rows[where] - self._rows[b])).to_pylist()
                for j, v in zip(where.tolist(), values):
                    out[j] = v
        return out  # type: ignore[return-value]


def take_strings(values: Sequence[str], rows: np.ndarray) -> list[str]:
    """``[values[i] for i in rows]``, read in one pass where ``values`` is stored."""
    if isinstance(values, StoredStrings):
        return values.take(rows)
    return [values[i] for i in np.asarray(rows).tolist()]


@dataclass
class TrainingSet:
    doc_ids: Sequence[str]  # sorted (a list, or ``StoredStrings`` when loaded from a model folder)
    lengths: np.ndarray     # words per document (int64), aligned with doc_ids
    prompts: Sequence[str]  # the first prompt_tokens words of each document, joined
    parent_docs: int        # distinct non-empty documents offered (the sample's population)
    model: NgramModel | None
    duplicates: int = 0     # rows skipped because an earlier row had their doc_id
    stored_sha256: str | None = None  # the saved ``sha256`` of a loaded set (its doc_ids are not read whole)

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def sha256(self) -> str:
        """Names the training set in every manifest: the sorted doc_ids."""
        if self.stored_sha256 is not None:
            return self.stored_sha256
        return hashlib.sha256("\n".join(self.doc_ids).encode()).hexdigest()


def iter_docs(batches: Iterable[pa.Table | pa.RecordBatch]) -> Iterator[tuple[str, str]]:
    """(doc_id, text) of every row with text; a missing doc_id is named by the text's hash (as records are)."""
    for batch in batches:
        tables = batch.to_batches(BATCH_ROWS) if isinstance(batch, pa.Table) else [batch]
        for part in tables:
            if part.num_rows == 0:
                continue
            texts = part.column("text").to_pylist()
            names = part.schema.names
            ids = part.column("doc_id").to_pylist() if "doc_id" in names else [None] * len(texts)
            for doc_id, text in zip(ids, texts):
                if text and text.strip():
                    yield doc_id or sha256_text(text)[:32], text


Batches = Iterable[pa.Table | pa.RecordBatch]


def collect(batches: Batches | Callable[[], Batches], *, order: int, prompt_tokens: int, max_docs: int | None,
            seed: int, count: bool = True) -> TrainingSet:
    """Read the training stream (``count=False`` keeps only the prompt table: a remote generator).

    ``batches``: the batches, or a function that returns them afresh; a sample (``max_docs`` set) reads them twice,
    so give a function for a stream that cannot be iterated twice (a one-shot iterator is held in a list)."""
    if max_docs is None:
        return _collect(batches() if callable(batches) else batches, order, prompt_tokens, count, None)
    if callable(batches):
        source = batches
    else:
        held = batches if isinstance(batches, (list, tuple)) else list(batches)
        source = lambda: held  # noqa: E731
    chosen, parent_docs, duplicates = sample_rows(source(), max_docs, seed)
    training = _collect(source(), order, prompt_tokens, count, chosen)
    training.parent_docs, training.duplicates = parent_docs, duplicates
    return training


def sample_key(seed: int, doc_id: str) -> bytes:
    """The 128-bit seeded hash a document competes with for a place in the sample (its first 64 bits are the
    key of the earlier in-memory bottom-k sample, so the same documents are chosen)."""
    return hashlib.sha256(f"{seed}\x00{doc_id}".encode()).digest()[:16]


def sample_rows(batches: Batches, max_docs: int, seed: int) -> tuple[np.ndarray, int, int]:
    """First pass of a sample: (chosen, distinct doc_ids, duplicate rows). ``chosen[i]`` says whether the i-th row
    with text (as ``iter_docs`` yields them) is trained on: the first row of each of the ``max_docs`` distinct
    doc_ids of smallest ``sample_key`` (all of them if there are no more). Two doc_ids count as one document only
    if their 128-bit keys are equal (about n^2 / 2^129: never, in practice)."""
    parts = []
    pending: list[bytes] = []
    for doc_id, _ in iter_docs(batches):
        pending.append(sample_key(seed, doc_id))
        if len(pending) >= BATCH_ROWS:
            parts.append(np.frombuffer(b"".join(pending), ">u8").reshape(-1, 2).astype(np.uint64))
            pending.clear()
    if pending:
        parts.append(np.frombuffer(b"".join(pending), ">u8").reshape(-1, 2).astype(np.uint64))
    keys = np.concatenate(parts) if parts else np.zeros((0, 2), np.uint64)
    rows = len(keys)
    by_key = np.lexsort((np.arange(rows), keys[:, 1], keys[:, 0]))   # by key, then row: first copy first
    ordered = keys[by_key]
    first = np.ones(rows, bool)
    first[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    distinct = by_key[first]        # the first row of each distinct doc_id, smallest key first
    chosen = np.zeros(rows, bool)
    chosen[distinct[:max_docs]] = True
    return chosen, len(distinct), rows - len(distinct)


def _collect(batches: Batches, order: int, prompt_tokens: int, count: bool,
             chosen: np.ndarray | None) -> TrainingSet:
    """One pass: every document (the first copy of each doc_id), or the rows ``chosen`` marks."""
    counter = NgramCounter(order) if count else None
    seen: set[str] = set()
    ids: list[str] = []
    lengths: list[np.ndarray] = []  # one int64 array a batch
    prompts: list[str] = []
    pending_ids: list[str] = []
    pending_texts: list[str] = []
    parent_docs = 0
    duplicates = 0

    def flush() -> None:
        """Tokenise the pending documents as one ``TokenBatch`` (Arrow splits them), keep their prompt and
        length, count their n-grams."""
        if not pending_texts:
            return
        batch = TokenBatch.encode(pending_texts)
        vocab, tok, off = batch.vocab, batch.ids, batch.offsets
        ids.extend(pending_ids)
        lengths.append(batch.lengths.astype(np.int64))
        heads = np.minimum(off[:-1] + prompt_tokens, off[1:])
        prompts.extend(join_tokens([vocab[j] for j in tok[a:b].tolist()])
                       for a, b in zip(off[:-1].tolist(), heads.tolist()))
        if counter is not None:
            counter.add_batch(batch)
        pending_ids.clear()
        pending_texts.clear()

    for row, (doc_id, text) in enumerate(iter_docs(batches)):
        if chosen is not None:
            if row >= len(chosen):
                raise ValueError("the training stream changed between its two passes (more rows the second time)")
            if not chosen[row]:
                continue
        elif doc_id in seen:
            duplicates += 1
            continue  # the first copy of a doc_id is the one used, as a dict of the input would keep it
        else:
            seen.add(doc_id)
        parent_docs += 1
        pending_ids.append(doc_id)
        pending_texts.append(text)
        if len(pending_texts) >= BATCH_ROWS:
            flush()
    del seen
    flush()
    if chosen is not None and parent_docs != int(chosen.sum()):
        raise ValueError("the training stream changed between its two passes (chosen rows went missing)")
    order_ = sorted(range(len(ids)), key=ids.__getitem__)
    model = NgramModel.from_counts(counter.finish()) if counter is not None and ids else None
    return TrainingSet([ids[i] for i in order_], np.concatenate(lengths)[order_] if ids else np.zeros(0, np.int64),
                       [prompts[i] for i in order_], parent_docs, model, duplicates)
