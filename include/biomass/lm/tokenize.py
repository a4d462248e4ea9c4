"""The tokenisers the language model, the watermark and detectors, and the collapse metrics share.

Two tokenisations, named for what they do, never both called ``words``:

- ``whitespace_tokens``: runs of non-space characters of the normalised text (punctuation stays attached). The
  generator trains and samples on these and the watermark and detectors score them; both sides must split text
  identically, or the detector counts the wrong (previous word, word) pairs. Generated text joins tokens with one
  space, so ``whitespace_tokens(join_tokens(ws)) == ws`` for every token list ``ws`` the generator emits.
  ``TokenBatch.encode`` gives the same tokens for many texts at once, as integer ids into the batch's distinct
  tokens, split by Arrow in C++ so no Python string is made per token: the tagger's watermark and detector share
  one batch instead of re-normalising and re-splitting each text four times.
- ``nfkc_word_tokens``: maximal runs of ``\\w`` of the NFKC-normalised, lowercased text (punctuation dropped). The
  collapse metrics count these (``biomass.metrics.word_ids`` turns them into ids); reference profiles record
  the name ``nfkc-lower-w+`` for it.

Not here, on purpose: the dedup shingle normaliser (``biomass.dedup.minhash``) is the pre-pass of a compiled
kernel and a per-code-point table that must stay bit-identical to datasketch and to the signatures already in
the dedup index; the filters' spaCy port (``biomass.filters.words.word_tokenize``) and the decontamination
filter's ``simplified_spacy_tokens`` must match spaCy's and datatrove's token boundaries.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from biomass.text import normalize

# What ``biomass.text.normalize`` changes that ``str.split`` can see: it deletes control characters (after NFC)
# and turns U+200B (not whitespace to ``str.split``) into a space. Line handling, space runs and stripping only
# move whitespace around, which ``split`` ignores. So ``whitespace_tokens`` equals ``normalize(text).split()``
# (a property test holds it to that) at one regex pass instead of one per line: training tokenises the whole parent.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")

# A text that is NFC and holds none of these splits into ``whitespace_tokens`` as it is: normalisation would
# delete the control characters (joining their neighbours) and turn U+200B into a space; every other change it
# makes only touches whitespace. Arrow's whitespace is Python's str.split whitespace (checked for every code
# point in tests/lm/test_lm_tokenize.py).
_KEY_LIMIT = 2**62  # (text, previous, word) packed in one int64 key below this
_CHANGED_BY_NORMALIZE = r"[\x00-\x08\x0b\x0e-\x1f\x7f\x{200b}]"

_WORD = re.compile(r"\w+")  # one token of nfkc_word_tokens


def whitespace_tokens(text: str) -> list[str]:
    """Whitespace tokens of the normalised text (punctuation stays attached, as written)."""
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).replace("\u200b", " ").split()


def join_tokens(tokens: list[str]) -> str:
    """The text of whitespace tokens: one space between them (``whitespace_tokens`` gives them back)."""
    return " ".join(tokens)


def nfkc_word_tokens(text: str) -> list[str]:
    """The tokens of one text: NFKC, lowercase, runs of ``\\w``."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


@dataclass
class TokenBatch:
    """``whitespace_tokens`` of each text of a batch: tokens ``ids[offsets[i]:offsets[i+1]]`` of text i index
    ``vocab``."""

    vocab: list[str]  # distinct tokens of the batch (may hold an unused "")
    ids: np.ndarray  # int64, every text's tokens one after another
    offsets: np.ndarray  # int64, len(texts) + 1
    split_counts: np.ndarray  # int64, len(text.split()) of each text as given (before normalising)
    _pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def token_docs(self) -> np.ndarray:
        """The text index of every token."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)

    def tokens(self, i: int) -> list[str]:
        return [self.vocab[j] for j in self.ids[self.offsets[i]:self.offsets[i + 1]].tolist()]

    def distinct_pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(text index, previous id, word id) of each text's distinct adjacent pairs, sorted; computed once."""
        if self._pairs is None:
            doc = self.token_docs()
            same = doc[1:] == doc[:-1]
            d, prev, word = doc[1:][same], self.ids[:-1][same], self.ids[1:][same]
            v = max(len(self.vocab), 1)
            if len(self) * v * v < _KEY_LIMIT:
                key = sorted_unique((d * v + prev) * v + word)
                d, prev, word = key // (v * v), (key // v) % v, key % v
            else:  # too many distinct tokens for one int64 key
                order = np.lexsort((word, prev, d))
                d, prev, word = d[order], prev[order], word[order]
                first = np.ones(len(d), bool)
                first[1:] = (d[1:] != d[:-1]) | (prev[1:] != prev[:-1]) | (word[1:] != word[:-1])
                d, prev, word = d[first], prev[first], word[first]
            self._pairs = (d, prev, word)
        return self._pairs

    @classmethod
    def encode(cls, texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> "TokenBatch":
        """Tokens of every text (None counts as ""), equal to ``whitespace_tokens(text)`` for each."""
        arr = _string_array(texts)
        n = len(arr)
        split_counts = None
        dirty = pc.match_substring_regex(arr, _CHANGED_BY_NORMALIZE).to_numpy(zero_copy_only=False)
        non_ascii = np.flatnonzero(~pc.string_is_ascii(arr).to_numpy(zero_copy_only=False))
        if len(non_ascii):
            values = arr.take(pa.array(non_ascii, pa.int64())).to_pylist()
            for row, text in zip(non_ascii.tolist(), values):
                if not unicodedata.is_normalized("NFC", text):
                    dirty[row] = True
        if dirty.any():  # rare: normalise these in Python, with the definition itself
            rows = np.flatnonzero(dirty)
            values = arr.to_pylist()
            split_counts = {int(r): len(values[r].split()) for r in rows}
            for r in rows.tolist():
                values[r] = normalize(values[r])
            arr = pa.array(values, pa.large_string())
        if len(non_ascii):
            # Arrow's utf8_split_whitespace returned stray tokens (' ') for some sequences of non-ASCII text (a
            # property test found it; the same input gave different tokens on different calls). Python's split
            # is the definition: non-ASCII batches use it, ASCII ones keep Arrow's (identical there).
            values = arr.to_pylist()
            split = pa.array([(v or "").split() for v in values], pa.list_(pa.large_string()))
        else:
            split = pc.utf8_split_whitespace(arr)
        lengths = pc.list_value_length(split).to_numpy(zero_copy_only=False).astype(np.int64)
        encoded = pc.dictionary_encode(split.flatten())
        vocab = encoded.dictionary.to_pylist()
        ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        if "" in vocab:  # Arrow keeps empty strings for leading/trailing whitespace; str.split does not
            keep = ids != vocab.index("")
            ids = ids[keep]
            kept = np.concatenate([[0], np.cumsum(keep)])
            offsets = kept[np.concatenate([[0], np.cumsum(lengths)])].astype(np.int64)
        else:
            offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        counts = np.diff(offsets)
        if split_counts:
            counts = counts.copy()
            for r, c in split_counts.items():
                counts[r] = c
        assert len(offsets) == n + 1
        return cls(vocab, ids, offsets, counts)


def sorted_unique(keys: np.ndarray) -> np.ndarray:
    """``np.unique`` of an int64 array by one sort (numpy 2.4's hash-based unique is far slower on these keys)."""
    keys = np.sort(keys)
    if len(keys) < 2:
        return keys
    first = np.empty(len(keys), bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    return keys[first]


def _string_array(texts: Sequence[str | None] | pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.chunk(0) if texts.num_chunks == 1 else texts.cast(pa.large_string()).combine_chunks()
    arr = texts if isinstance(texts, pa.Array) else pa.array(list(texts), pa.large_string())
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        arr = arr.cast(pa.large_string())
    return pc.fill_null(arr, "") if arr.null_count else arr
