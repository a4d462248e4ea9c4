"""``decontaminate/1``: quarantine documents that share an n-gram (13 words by default) with a benchmark's
evaluation texts, so a model trained on the year is not trained on its own test sets.

Decisions are datatrove's ``NGramsDecontFilter``'s: both texts are normalised by datatrove's ``simplify_text``
(default ``TextNormConfig``: lower case, numbers to ``0``, punctuation to spaces, whitespace collapsed, diacritics
dropped; ``normalize``), split into words by datatrove's English word tokenizer (spaCy's blank English tokenizer,
ported in ``biomass.filters.words``), and a document is contaminated when one of its n consecutive words, joined
by a space, is one of an eval text's. Words never contain spaces, so comparing word sequences is comparing those
strings. Where datatrove names the set a shared n-gram was loaded last from, this names the first set listed.

Hashing (``batch_word_hashes``, ``window_hashes``): each word is hashed (blake2b, 8 bytes) once per distinct
chunk of text between spaces (a bounded cache), and an n-gram is a polynomial of its words' hashes mod 2**64,
computed for a whole batch at once with numpy. Two different n-grams share a hash with probability 2**-64 (over
a 1M-document year against 5M eval n-grams, about 1e-4 that any document is dropped wrongly).

Index (``EvalIndex``): per eval set a sorted array of distinct n-gram hashes and, parallel to it, the example
(line or row) each first came from: 12 bytes an n-gram, plus 2 for a bitmap of the hashes' top bits that
rejects most document n-grams before the ``searchsorted`` lookup. Building it sorts, so its peak is about 32
bytes an n-gram. It is built once per process per set of files (keyed by path, size and mtime, and the
parameters), on first use, so a mapped task judging many batches or files builds it once.

Eval sets are JSONL (one JSON object a line, the text under ``field``; blank lines skipped) or Parquet (the text
in column ``field``); a set is named by its file name. Missing, empty, malformed files, a missing or non-string
field, or a set with no text of ``n`` words are errors naming the file (and line or row).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Iterator, Sequence

import numpy as np
import pyarrow as pa
from pydantic import Field, field_validator

from biomass.filters import _spacy_en_rules as R
from biomass.filters.base import DocumentFilter, FilterError, FilterParams
from biomass.filters.textual import texts
from biomass.filters.words import _chunk as _words_chunk
from biomass.filters.words import _matcher_patterns, word_tokenize

# --- datatrove's simplify_text with its default TextNormConfig (datatrove/utils/text.py) -----------------------
# ``re``'s \d on str is Unicode category Nd, as datatrove's ``regex`` \p{Nd}.
_NUMBERS = re.compile(r"\d+([.,،٫⎖⎗⎘]{1}\d+)?")
_WHITESPACE = re.compile(r"\s+")
# each punctuation character becomes a space, like datatrove's str.translate table (a regex class is 2x faster)
_PUNCTUATION = re.compile("[" + "".join(re.escape(c) for c in R.DATATROVE_PUNCTUATION) + "]")


_ABOVE_MARKS = re.compile("[^\x00-\u02ff]")   # every nonspacing mark (category Mn) is at U+0300 or above


@lru_cache(maxsize=1)
def _nonspacing_marks() -> dict[int, None]:
    """``str.translate`` table deleting every code point of category Mn (built once, when first needed)."""
    return {cp: None for cp in range(0x300, sys.maxunicode + 1) if unicodedata.category(chr(cp)) == "Mn"}


def normalize(text: str) -> str:
    """datatrove's ``simplify_text(text)`` (default config), step for step and in its order. Marks are looked for
    only in a text with a character at U+0300 or above (most have none once punctuation is gone)."""
    text = _NUMBERS.sub("0", text.lower())
    text = _WHITESPACE.sub(" ", _PUNCTUATION.sub(" ", text).strip())
    if not text.isascii():
        text = unicodedata.normalize("NFD", text)
        if _ABOVE_MARKS.search(text):
            text = text.translate(_nonspacing_marks())
    return text.strip()


_NEEDS_MAX = 200_000
_needs: dict[str, frozenset[str]] = {}


def _needs_next(chunk: str) -> frozenset[str]:
    """The tokens that, first in the next chunk, would let a special-case pattern started in this chunk cross
    into it (``biomass.filters.words``: spaCy's matcher runs across spaces)."""
    needs = _needs.get(chunk)
    if needs is None:
        pre = _words_chunk(chunk).pre
        patterns = _matcher_patterns()
        n = len(pre)
        needs = frozenset(pat[n - i] for i, tok in enumerate(pre) for pat in patterns.get(tok, ())
                          if len(pat) > n - i and pat[:n - i] == pre[i:])
        if len(_needs) >= _NEEDS_MAX:
            _needs.clear()
        _needs[chunk] = needs
    return needs


@lru_cache(maxsize=1)
def _continuation_tokens() -> frozenset[str]:
    """Every token a special-case pattern has after its first: what a crossing match needs a chunk to start with."""
    return frozenset(tok for pats in _matcher_patterns().values() for pat in pats for tok in pat[1:])


def simplified_spacy_tokens(text: str) -> list[str]:
    """The words datatrove's decontamination n-grams: ``word_tokenize(simplify_text(text))``.

    A simplified text is single-space separated, so spaCy's tokens are each chunk's own unless a special-case
    match crosses a space; that needs a pattern left open at a chunk's end to go on with exactly the next chunk's
    first token (punctuation, which such patterns mostly continue with, is gone). Only then is the whole text
    tokenized the slow, exact way; otherwise the chunks' cached tokens are joined (same tokens, tested)."""
    simple = normalize(text)
    chunks = simple.split(" ") if simple else []
    out: list[str] = []
    last = len(chunks) - 1
    for i, chunk in enumerate(chunks):
        entry = _words_chunk(chunk)
        if entry.open and i != last:
            first = _words_chunk(chunks[i + 1]).pre[:1]
            if first and first[0] in _needs_next(chunk):
                return word_tokenize(simple)
        out += entry.post
    return out


# --- hashing ----------------------------------------------------------------------------------------------------
_MULT = np.uint64(0x9E3779B97F4A7C15)   # odd: the n-gram polynomial's base
def _word_hash(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def word_hashes(tokens: Sequence[str]) -> np.ndarray:
    """Each word's stable 64-bit hash: blake2b-8 of its UTF-8, little-endian (remembered per chunk, ``_info``)."""
    return np.fromiter(map(_word_hash, tokens), dtype=np.uint64, count=len(tokens))


# bounded like the tokenizer's chunk cache (``biomass.filters.words``); eviction changes only speed
_INFO_MAX = 200_000
_chunk_info: dict[str, tuple[tuple[int, ...], frozenset[str], str | None]] = {}


def _info(chunk: str) -> tuple[tuple[int, ...], frozenset[str], str | None]:
    """A simplified text's chunk (between spaces): its words' hashes, the first tokens of a next chunk that a
    special-case match could cross into (``_needs_next``), its own first token before the matcher."""
    info = _chunk_info.get(chunk)
    if info is None:
        entry = _words_chunk(chunk)
        hashes = tuple(word_hashes(entry.post).tolist())
        info = (hashes, _needs_next(chunk) if entry.open else frozenset(), entry.pre[0] if entry.pre else None)
        if len(_chunk_info) >= _INFO_MAX:
            _chunk_info.clear()
        _chunk_info[chunk] = info
    return info


def batch_word_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(hashes, lens)``: the hashes of ``simplified_spacy_tokens(t)`` of every text, concatenated, and each
    text's word count.

    The simplified texts are split at spaces and their distinct chunks dictionary-encoded by Arrow; Python sees
    each distinct chunk once (a Zipf vocabulary: few per batch), numpy gathers the words' hashes per position.
    A text where a special-case match could cross a space (``simplified_spacy_tokens``) is tokenized the exact,
    slow way."""
    import pyarrow.compute as pc

    simples = [normalize(t) for t in texts]
    lists = pc.split_pattern(pa.array(simples, pa.large_string()), " ")
    per_doc = np.diff(lists.offsets.to_numpy()).astype(np.int64)
    encoded = pc.dictionary_encode(lists.flatten())
    idx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    info = [_info(u) for u in encoded.dictionary.to_pylist()]
    counts = np.fromiter((len(h) for h, _, _ in info), dtype=np.int64, count=len(info))
    vocab = np.fromiter((x for h, _, _ in info for x in h), dtype=np.uint64, count=int(counts.sum()))
    per_pos = counts[idx]
    total = int(per_pos.sum())
    gather = np.repeat((np.cumsum(counts) - counts)[idx] - (np.cumsum(per_pos) - per_pos), per_pos)
    hashes = vocab[gather + np.arange(total, dtype=np.int64)]
    doc_of = np.repeat(np.arange(len(texts), dtype=np.int64), per_doc)
    lens = np.bincount(doc_of, weights=per_pos, minlength=len(texts)).astype(np.int64)
    # a match can cross only from an open chunk into a next one (same text) starting with a token some pattern needs
    conts = _continuation_tokens()
    opens = np.fromiter((bool(nd) for _, nd, _ in info), dtype=bool, count=len(info))
    needed = np.fromiter((f is not None and f in conts for _, _, f in info), dtype=bool, count=len(info))
    suspects = np.flatnonzero(opens[idx[:-1]] & needed[idx[1:]] & (doc_of[:-1] == doc_of[1:]))
    redo = sorted({int(doc_of[p]) for p in suspects.tolist() if info[idx[p + 1]][2] in info[idx[p]][1]})
    if redo:
        parts = np.split(hashes, np.cumsum(lens)[:-1])
        for d in redo:
            parts[d] = word_hashes(word_tokenize(simples[d]))
            lens[d] = len(parts[d])
        hashes = np.concatenate(parts) if parts else hashes
    return hashes, lens


def window_hashes(flat: np.ndarray, lens: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(hashes, doc, start)`` of every n-gram of every document, given the documents' word hashes concatenated
    (``flat``) and their word counts, in document then word order.

    Each window's polynomial ``sum h[start + j] * M**(n-1-j)`` (mod 2**64) is computed for the whole batch with
    n vector operations; windows that cross from one document into the next are dropped."""
    windows = len(flat) - n + 1
    if windows <= 0:
        empty = np.zeros(0, np.int64)
        return np.zeros(0, np.uint64), empty, empty
    acc = flat[:windows].copy()
    for j in range(1, n):
        acc *= _MULT
        acc += flat[j:j + windows]
    ends = np.cumsum(lens)
    doc_of = np.repeat(np.arange(len(lens), dtype=np.int64), lens)[:windows]
    starts = np.arange(windows, dtype=np.int64)
    valid = starts + n <= ends[doc_of]
    return acc[valid], doc_of[valid], (starts - (ends - lens)[doc_of])[valid]


def ngram_hashes(docs: Sequence[Sequence[str]], n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``window_hashes`` of documents given as their words."""
    lens = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
    return window_hashes(word_hashes([t for d in docs for t in d]), lens, n)


# --- eval sets --------------------------------------------------------------------------------------------------
SUFFIXES = (".jsonl", ".parquet")


class EvalSetError(FilterError):
    """An eval set file is missing, empty or malformed; the message names the file (and line or row)."""


def read_eval_texts(path: str | Path, field: str) -> Iterator[tuple[int, str]]:
    """``(line or row number, text)`` of an eval set file: JSONL lines are numbered from 1, Parquet rows from 0."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"eval set {path} does not exist")
    if path.suffix == ".jsonl":
        yield from _jsonl_texts(path, field)
    elif path.suffix == ".parquet":
        yield from _parquet_texts(path, field)
    else:
        raise EvalSetError(f"eval set {path}: a JSONL (.jsonl) or Parquet (.parquet) file, not {path.suffix!r}")


def _jsonl_texts(path: Path, field: str) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"eval set {path}:{number}: not JSON: {exc}") from None
            if not isinstance(obj, dict) or field not in obj:
                raise EvalSetError(f"eval set {path}:{number}: no field {field!r} (a JSON object per line)")
            if not isinstance(obj[field], str):
                raise EvalSetError(f"eval set {path}:{number}: {field!r} is a {type(obj[field]).__name__}, "
                                   f"not a string")
            yield number, obj[field]


def _parquet_texts(path: Path, field: str) -> Iterator[tuple[int, str]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise EvalSetError(f"eval set {path}: not a Parquet file: {exc}") from None
    if field not in pf.schema_arrow.names:
        raise EvalSetError(f"eval set {path}: no column {field!r} (columns: {', '.join(pf.schema_arrow.names)})")
    if not pa.types.is_string(pf.schema_arrow.field(field).type) and \
            not pa.types.is_large_string(pf.schema_arrow.field(field).type):
        raise EvalSetError(f"eval set {path}: column {field!r} is {pf.schema_arrow.field(field).type}, not string")
    row = 0
    for batch in pf.iter_batches(columns=[field], batch_size=4096):
        for text in batch.column(0).to_pylist():
            if text is None:
                raise EvalSetError(f"eval set {path}: row {row}: {field!r} is null")
            yield row, text
            row += 1


@dataclass(frozen=True)
class EvalSet:
    """One set's distinct n-gram hashes, sorted, and for each the example (line or row) it first came from."""

    name: str
    hashes: np.ndarray     # uint64, sorted, distinct
    examples: np.ndarray   # uint32, parallel to hashes

    def find(self, queries: np.ndarray) -> np.ndarray:
        """For each query hash, its position in ``hashes`` or -1."""
        if not len(self.hashes):
            return np.full(len(queries), -1, np.int64)
        pos = np.searchsorted(self.hashes, queries)
        pos[pos == len(self.hashes)] = 0
        return np.where(self.hashes[pos] == queries, pos, -1)


def build_eval_set(path: str | Path, field: str, n: int, chunk: int = 2048) -> EvalSet:
    """Hash every n-gram of every text of one file, a chunk of texts at a time; keep each distinct hash once, with
    the first example it occurred in (``np.unique``'s index is the first occurrence, chunks stay in file order and
    the final sort is stable). Peak memory: about 32 bytes per n-gram distinct within its chunk of texts (the
    arrays, their sorted copies and the sort's order)."""
    path = Path(path)
    parts: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    examples = 0

    def flush(batch: list[tuple[int, str]]) -> None:
        hashes, doc, _ = window_hashes(*batch_word_hashes([t for _, t in batch]), n)
        numbers = np.fromiter((k for k, _ in batch), dtype=np.uint32, count=len(batch))
        hashes, first = np.unique(hashes, return_index=True)   # a chunk's repeats go before they pile up
        parts.append(hashes)
        owners.append(numbers[doc[first]])

    pending: list[tuple[int, str]] = []
    for number, text in read_eval_texts(path, field):
        examples += 1
        pending.append((number, text))
        if len(pending) >= chunk:
            flush(pending)
            pending = []
    if pending:
        flush(pending)
    if not examples:
        raise EvalSetError(f"eval set {path} has no examples")
    hashes = np.concatenate(parts)
    example_of = np.concatenate(owners)
    del parts, owners
    if not len(hashes):
        raise EvalSetError(f"eval set {path}: none of its {examples} texts has {n} words; nothing to match")
    order = np.argsort(hashes, kind="stable")   # stable: equal hashes stay in file order, the first one is kept
    hashes, example_of = hashes[order], example_of[order]
    del order
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = hashes[1:] != hashes[:-1]
    return EvalSet(path.name, hashes[first], example_of[first])


class EvalIndex:
    """Every eval set's n-grams, for looking up a batch of documents' n-grams at once. In front of the sorted
    arrays, one bit per value of the hashes' top bits (16 bits per indexed n-gram, rounded up to a power of two):
    a document n-gram whose bit is clear is in no set, which is most of them, and costs no binary search."""

    def __init__(self, sets: Sequence[EvalSet], n: int) -> None:
        self.sets = list(sets)
        self.n = n
        total = sum(len(s.hashes) for s in self.sets)
        self._bits = min(max(int(total * 16 - 1).bit_length(), 16), 34)
        self._shift = np.uint64(64 - self._bits)
        self._bitmap = np.zeros(1 << (self._bits - 3), dtype=np.uint8)
        for s in self.sets:
            top = s.hashes >> self._shift
            np.bitwise_or.at(self._bitmap, top >> np.uint64(3), np.left_shift(1, top & np.uint64(7)).astype(np.uint8))

    def _maybe(self, hashes: np.ndarray) -> np.ndarray:
        top = hashes >> self._shift
        return (self._bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & 1 == 1

    @property
    def nbytes(self) -> int:
        return self._bitmap.nbytes + sum(s.hashes.nbytes + s.examples.nbytes for s in self.sets)

    def first_hits(self, flat: np.ndarray, lens: np.ndarray) -> list[tuple[int, int, int] | None]:
        """For each document (its word hashes concatenated in ``flat``, its word count in ``lens``):
        ``(set index, example, start word)`` of its first n-gram found in a set (document order; the first set
        listed when several hold it), or None."""
        hashes, doc, start = window_hashes(flat, lens, self.n)
        maybe = np.flatnonzero(self._maybe(hashes))
        out: list[tuple[int, int, int] | None] = [None] * len(lens)
        if not len(maybe):
            return out
        hashes, doc, start = hashes[maybe], doc[maybe], start[maybe]
        found_set = np.full(len(hashes), -1, np.int64)
        found_at = np.full(len(hashes), -1, np.int64)
        for k in range(len(self.sets) - 1, -1, -1):   # backwards: the first set listed wins
            pos = self.sets[k].find(hashes)
            hit = pos >= 0
            found_set[hit], found_at[hit] = k, pos[hit]
        hit = np.flatnonzero(found_set >= 0)
        # hits are in document then word order: a document's first is where its doc number first appears
        docs_hit, first = np.unique(doc[hit], return_index=True)
        for d, i in zip(docs_hit.tolist(), hit[first].tolist()):
            k = int(found_set[i])
            out[d] = (k, int(self.sets[k].examples[found_at[i]]), int(start[i]))
        return out


# one index per distinct (files as they are on disk, field, n) in this process; a mapped task builds it once
_INDEXES: dict[tuple, EvalIndex] = {}
_LOCK = threading.Lock()
_INDEXES_MAX = 4


def _file_key(path: str) -> tuple:
    st = Path(path).stat()
    return (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


def load_index(paths: Sequence[str], field: str, n: int) -> EvalIndex:
    """The index of these eval set files, built on first use and then reused while the files are unchanged."""
    for p in paths:
        if not Path(p).is_file():
            raise EvalSetError(f"eval set {p} does not exist")
    key = (tuple(_file_key(p) for p in paths), field, n)
    with _LOCK:
        index = _INDEXES.get(key)
        if index is None:
            index = EvalIndex([build_eval_set(p, field, n) for p in paths], n)
            if len(_INDEXES) >= _INDEXES_MAX:
                _INDEXES.clear()
            _INDEXES[key] = index
    return index


# --- the filter -------------------------------------------------------------------------------------------------
class DecontaminateParams(FilterParams):
    paths: ClassVar[tuple[str, ...]] = ("sets",)

    sets: list[str] = Field(min_length=1, description="eval set files (.jsonl or .parquet), each named by its file "
                            "name in the detail; relative paths are relative to the config file")
    field: str = Field("text", min_length=1, description="the JSONL key or Parquet column holding each text")
    n: int = Field(13, ge=1, le=64, description="words in an n-gram (datatrove's NGramsDecontConfig.n_grams)")

    @field_validator("sets")
    @classmethod
    def _sets(cls, value: list[str]) -> list[str]:
        for p in value:
            if not p.endswith(SUFFIXES):
                raise ValueError(f"eval set {p}: a JSONL (.jsonl) or Parquet (.parquet) file")
        names = [Path(p).name for p in value]
        twice = sorted({x for x in names if names.count(x) > 1})
        if twice:
            raise ValueError(f"eval sets are named by file name and {', '.join(twice)} is listed twice")
        return value


class DecontaminateFilter(DocumentFilter):
    name = "decontaminate"
    version = 1
    reason = "contaminated"
    Params = DecontaminateParams

    def __init__(self, params: DecontaminateParams | dict | None = None) -> None:
        super().__init__(params)
        self._index: EvalIndex | None = None

    @property
    def index(self) -> EvalIndex:
        """Built on first use (config validation and chain building read no eval set)."""
        if self._index is None:
            self._index = load_index(self.params.sets, self.params.field, self.params.n)
        return self._index

    def decide(self, batch: pa.RecordBatch | pa.Table) -> Sequence[str | None]:
        index = self.index
        batch_texts = texts(batch)
        out: list[str | None] = []
        for text, hit in zip(batch_texts, index.first_hits(*batch_word_hashes(batch_texts))):
            if hit is None:
                out.append(None)
            else:
                k, example, start = hit
                s = index.sets[k]
                where = f"line {example}" if s.name.endswith(".jsonl") else f"row {example}"
                gram = " ".join(simplified_spacy_tokens(text)[start:start + index.n])
                out.append(f"eval set {s.name} ({where}): {gram}")
        return out
