"""Text normalisation and language identification shared by every stage."""

from __future__ import annotations

import re
import unicodedata

_SPACE = " \t\f\v\u00a0\u2000-\u200b\u3000"
# A run of spaces becomes one " ": written to match only the runs that change (two or more, or one that is not
# " "), since a sub that also rewrote every single " " by itself spent 0.17 ms a crawl document doing it.
_SPACES = re.compile(f"[{_SPACE}]{{2,}}|[{_SPACE[1:]}]")
_BLANK_LINES = re.compile(r"\n{3,}")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def normalize(text: str) -> str:
    """NFC, no control characters, single spaces, at most one blank line between paragraphs."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    # no space class character is a newline, so one sub over the text equals one per line
    text = "\n".join(line.strip() for line in _SPACES.sub(" ", text).split("\n"))
    return (_BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()


def detect_lang(text: str, sample_chars: int = 2000) -> str:
    """ISO 639-1 code from py3langid's bundled model (deterministic), or 'und' for text with no letters."""
    sample = text[:sample_chars]
    if not any(ch.isalpha() for ch in sample):
        return "und"
    import py3langid

    return py3langid.classify(sample)[0]


def detect_langs(texts: list[str], sample_chars: int = 2000, batch: int = 512) -> list[str]:
    """``[detect_lang(t) for t in texts]``, with py3langid's byte automaton stepped for a batch of texts at once.

    Why: the automaton walk is a Python loop per byte (about 2 ms a text), the cost of a stage that writes
    thousands of documents a second. Here a C kernel (``biomass._langwalk``) walks every text of the batch and
    counts its features in the order py3langid's Counter holds them; they are scored as py3langid's
    ``_sparse_score`` scores them (same features, same order, same float32 products: its float16 table widened
    once, exactly), so every answer is the one ``detect_lang`` gives (a parity test holds this).
    """
    out: list[str] = ["und"] * len(texts)
    for i, ident, scores, _ in _raw_scores(texts, sample_chars, batch):
        out[i] = _langid_label(ident, scores)
    return out


def lang_confidences(texts: list[str], langs: list[str], sample_chars: int = 2000,
                     batch: int = 512) -> list[float]:
    """For each text, the probability py3langid's normalised model (``norm_probs=True``) gives language
    ``langs[i]`` on the sample ``detect_lang`` reads: the softmax of the raw scores at temperature sqrt(bytes),
    aliases summed, as py3langid 0.4 computes it (a parity test holds this). Why: records carry the detected
    ``lang`` but not how sure the detector was; the language filter's threshold needs that, for the label the
    record already has. A text with no letters (``und``) or a label the model does not know gets 0.0."""
    import numpy as np

    out = [0.0] * len(texts)
    for i, ident, scores, nbytes in _raw_scores(texts, sample_chars, batch):
        labels = ident.nb_classes
        scaled = scores * np.float32(1.0 / np.sqrt(nbytes or 1))
        probs = np.exp(scaled - scaled.max())
        probs /= probs.sum()
        out[i] = float(sum(probs[j] for j, label in enumerate(labels) if label == langs[i]))
    return out


def _raw_scores(texts: list[str], sample_chars: int, batch: int):
    """``(i, identifier, raw scores, encoded sample bytes)`` for each text with a letter in its sample, the raw
    scores py3langid's ``_raw_score`` gives that sample, computed a batch of texts at a time."""
    import numpy as np

    todo = []
    for i, text in enumerate(texts):
        sample = text[:sample_chars]
        if any(ch.isalpha() for ch in sample):
            todo.append((i, sample))
    if not todo:
        return
    from biomass import _langwalk

    ident, nextmove, rowbase, output, table = _langid_tables()
    for lo in range(0, len(todo), batch):
        part = todo[lo:lo + batch]
        encoded = [ident._encode(s) for _, s in part]
        walked = _langwalk.visits(encoded, nextmove, rowbase, output, len(table))
        bounds, feat, counts = (np.frombuffer(b, np.int64) for b in walked)
        weights = np.log1p(counts.astype(np.float32))
        for r, (i, _) in enumerate(part):
            a, b = bounds[r], bounds[r + 1]
            if a == b:
                scores = ident._raw_score(b"")  # py3langid's answer for a text without features
            else:  # py3langid's _sparse_score: the same float32 products (its float16 table, widened exactly)
                scores = weights[a:b] @ table[feat[a:b]] + ident.nb_pc
            yield i, ident, scores, len(encoded[r])


_LANGID = None


def _langid_tables():
    global _LANGID
    if _LANGID is None:
        import numpy as np
        import py3langid.langid as langid

        ident = langid._get_identifier()
        # int32 is enough for every index (the biggest, nextmove's, is under 10M) and halves the tables' memory
        _LANGID = (ident, np.ascontiguousarray(ident.tk_nextmove, np.int32),
                   np.ascontiguousarray(ident._rowbase, np.int32), np.ascontiguousarray(ident.tk_output, np.int32),
                   np.asarray(ident.nb_ptc, np.float32))
    return _LANGID


def _langid_label(ident, scores) -> str:
    """py3langid's decision from raw scores (``_decide`` and ``classify`` without the byte walk)."""
    import py3langid.langid as langid

    scores = scores.copy()
    if ident._norm_probs or ident.min_confidence is not None:
        raise RuntimeError("detect_langs assumes py3langid's default identifier (raw scores)")
    for i, j in ident._alias_pairs:
        scores[i] = max(scores[i], scores[j])
        scores[j] = langid.RAW_FLOOR
    return ident.nb_classes[int(scores.argmax())]
