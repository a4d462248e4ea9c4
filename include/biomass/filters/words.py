"""datatrove's English word and sentence splitting (spaCy's blank English tokenizer + sentencizer), without spaCy.

datatrove's quality filters count, measure and n-gram the tokens of ``spacy.blank("en")``; their decisions depend
on the exact token boundaries, so this is a port of the tokenizer's algorithm (``spacy/tokenizer.pyx``: whitespace
split, prefix/suffix stripping with special cases, URL match, infixes, then the special-case matcher) reading the
rules generated from spaCy into ``_spacy_en_rules``. It is fast because a whitespace-free chunk's tokens depend
only on the chunk, so they are computed once per distinct chunk and cached, as spaCy itself does; the per-text
loop (split on whitespace, look the chunks up, join their tokens, count sentences) is the ``_wordsplit`` C
kernel, which also analyses an unseen ASCII chunk itself (the rules' ASCII tables ported to C; also one whose only
non-ASCII characters are curly quotes, dashes or ellipses) and asks this module only about the other unseen
non-ASCII chunks and about the rare groups of chunks a special-case pattern matches across. ``reference_word_tokenize`` / ``reference_count_sentences`` are the same algorithm in pure Python. tests/filters/test_words.py proves equality with spaCy on real documents and fuzzed
strings, tests/filters/test_wordsplit.py equality of the kernel with the pure-Python reference.

spaCy's special-case matcher (emoticons, abbreviations) also matches token sequences across a space: such a match
rewrites nothing (no rule contains the space) but shadows overlapping matches inside the chunk (``%f-format): ')``
keeps ``)`` ``:``).

Known difference: spaCy sometimes raises on a text containing the literal ``IS_ALPHA`` (depending on what it
tokenized before), and datatrove then tokenizes that text with ``IS_ALPHA`` deleted. The port is pure and always
tokenizes the text as given. Where a match could cross a chunk's end, the matcher runs over that stretch of the text with
its spaces, as spaCy does.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from biomass.filters import _spacy_en_rules as R
from biomass.filters import _wordsplit

_prefix_search = re.compile(R.PREFIX_PATTERN, R.PREFIX_FLAGS).search
_suffix_search = re.compile(R.SUFFIX_PATTERN, R.SUFFIX_FLAGS).search
_infix_finditer = re.compile(R.INFIX_PATTERN, R.INFIX_FLAGS).finditer
_url_match = re.compile(R.URL_PATTERN, R.URL_FLAGS).match
_SPECIALS: dict[str, tuple[str, ...]] = R.SPECIALS
_WS_SPLIT = re.compile(r"(\s+)")

# Bounded like spaCy's own cache; entries are a pure function of the chunk, so eviction changes only speed.
_CACHE_MAX = 200_000
_cache: dict[str, tuple[str, ...]] = {}


# -- the affix rules, searched as spaCy searches them but without scanning every position of the chunk ----------
# (tests/filters/test_wordsplit.py checks each against the plain regex search)
def _branches(pattern: str, flags: int) -> list | None:
    import re._parser as sre_parse   # only at import, to read the rules' structure

    tree = sre_parse.parse(pattern, flags)
    if len(tree.data) == 1 and tree.data[0][0] is sre_parse.BRANCH:
        return tree.data[0][1][1]
    return None


def _prefix_matcher():
    """Every prefix alternative starts with ``^``, so a search is a match at 0 (which does not try every position)."""
    import re._parser as sre_parse

    tree = sre_parse.parse(R.PREFIX_PATTERN, R.PREFIX_FLAGS)   # the parser factors the common '^' out
    at_start = (sre_parse.AT, sre_parse.AT_BEGINNING)
    branches = _branches(R.PREFIX_PATTERN, R.PREFIX_FLAGS)
    if (tree.data and tree.data[0] == at_start) or (
            branches and all(b.data and b.data[0] == at_start for b in branches)):
        return re.compile(R.PREFIX_PATTERN, R.PREFIX_FLAGS).match
    return _prefix_search


def _suffix_window() -> int | None:
    """Every suffix alternative ends with ``$``, so the leftmost match is the longest suffix that matches. All but
    ``\\.\\.+$`` match at most this many characters: outside a trailing run of dots the search can start there (a
    lookbehind still sees the characters before it). None: the rules are not of that shape; search everything."""
    import re._parser as sre_parse

    branches = _branches(R.SUFFIX_PATTERN, R.SUFFIX_FLAGS)
    if not branches:
        return None
    dots = [(sre_parse.LITERAL, 46), (sre_parse.MAX_REPEAT, (1, sre_parse.MAXREPEAT, [(sre_parse.LITERAL, 46)])),
            (sre_parse.AT, sre_parse.AT_END)]
    widest = 0
    for b in branches:
        if not b.data or b.data[-1] != (sre_parse.AT, sre_parse.AT_END):
            return None
        hi = b.getwidth()[1]
        if hi >= sre_parse.MAXREPEAT:
            if [(op, av if op is not sre_parse.MAX_REPEAT else (av[0], av[1], list(av[2])))
                    for op, av in b.data] != dots:
                return None
            continue
        widest = max(widest, hi)
    return widest


_prefix_at_start = _prefix_matcher()
_SUFFIX_WINDOW = _suffix_window()


def _find_prefix(s: str) -> int:
    m = _prefix_at_start(s)
    return m.end() - m.start() if m is not None else 0


def _find_suffix(s: str) -> int:
    n = len(s)
    if _SUFFIX_WINDOW is not None and n > _SUFFIX_WINDOW and not s.endswith(".."):
        m = _suffix_search(s, n - _SUFFIX_WINDOW)
    else:
        m = _suffix_search(s)
    return m.end() - m.start() if m is not None else 0


def _split_affixes(s: str, specials: dict | None) -> tuple[list[str], str, list[str]]:
    prefixes: list[str] = []
    suffixes: list[str] = []
    last = 0
    while s and len(s) != last:
        if specials is not None and s in specials:
            break
        last = len(s)
        pre_len = _find_prefix(s)
        if pre_len:
            prefix, minus_pre = s[:pre_len], s[pre_len:]
            if minus_pre and specials is not None and minus_pre in specials:
                s = minus_pre
                prefixes.append(prefix)
                break
        suf_len = _find_suffix(s[pre_len:])
        if suf_len:
            suffix, minus_suf = s[-suf_len:], s[:-suf_len]
            if minus_suf and specials is not None and minus_suf in specials:
                s = minus_suf
                suffixes.append(suffix)
                break
        if pre_len and suf_len and pre_len + suf_len <= len(s):
            s = s[pre_len:-suf_len]
            prefixes.append(prefix)
            suffixes.append(suffix)
        elif pre_len:
            s = minus_pre
            prefixes.append(prefix)
        elif suf_len:
            s = minus_suf
            suffixes.append(suffix)
    return prefixes, s, suffixes


def _attach(prefixes: list[str], core: str, suffixes: list[str], specials: dict | None) -> list[str]:
    out = list(prefixes)
    if core:
        if specials is not None and core in specials:
            out.extend(specials[core])
        else:
            matches = list(_infix_finditer(core))
            if not matches or _url_match(core):   # spaCy tests the URL first; without infixes both give [core]
                matches = ()
            start = 0
            for m in matches:
                i0, i1 = m.start(), m.end()
                if i0 == 0:
                    continue
                if i0 != start:
                    out.append(core[start:i0])
                if i0 != i1:
                    out.append(core[i0:i1])
                start = i1
            if core[start:]:
                out.append(core[start:])
    out.extend(reversed(suffixes))
    return out


def _tokenize_span(span: str, specials: dict | None) -> list[str]:
    """spaCy's ``_try_specials_and_cache`` + ``_tokenize`` for one whitespace-free (or all-whitespace) span."""
    if specials is not None and span in specials:
        return list(specials[span])
    return _attach(*_split_affixes(span, specials), specials)


def _tokenize_affixes_nospecial(text: str) -> tuple[str, ...]:
    """``Tokenizer._tokenize_affixes(text, False)``: how spaCy turns a special case into a matcher pattern."""
    out: list[str] = []
    for i, part in enumerate(_WS_SPLIT.split(text)):
        if not part:
            continue
        if i % 2:   # whitespace run: one ' ' after a token is that token's trailing space
            if part[0] == " " and out:
                part = part[1:]
            if not part:
                continue
        out.extend(_tokenize_span(part, None))
    return tuple(out)


@lru_cache(maxsize=1)
def _matcher_patterns() -> dict[str, list[tuple[str, ...]]]:
    """Special cases the matcher looks for (``add_special_case``: those with an affix, an infix or a space),
    as token sequences, indexed by first token."""
    by_first: dict[str, list[tuple[str, ...]]] = {}
    for s in _SPECIALS:
        if not R.FASTER_HEURISTICS or _find_prefix(s) or any(True for _ in _infix_finditer(s)) \
                or _find_suffix(s) or " " in s:
            pat = _tokenize_affixes_nospecial(s)
            if pat:
                by_first.setdefault(pat[0], []).append(pat)
    return by_first


def _matches(tokens: list[str] | tuple[str, ...]) -> list[tuple[int, int]]:
    """Every occurrence of every matcher pattern (spaCy's PhraseMatcher reports overlapping ones too)."""
    patterns = _matcher_patterns()
    found = []
    for i, tok in enumerate(tokens):
        for pat in patterns.get(tok, ()):
            n = len(pat)
            if tuple(tokens[i:i + n]) == pat:
                found.append((i, i + n))
    return found


def _apply_special_cases(tokens: list[str] | tuple[str, ...], space_after: list[bool] | None = None) -> list[str]:
    """``Tokenizer._apply_special_cases``: of all pattern matches keep the longest (then leftmost) ones whose first
    and last tokens no longer or earlier match has touched, and replace each kept one whose text (with the spaces
    between its tokens) is a special case by that case's tokens."""
    found = _matches(tokens)
    if not found:
        return list(tokens)
    found.sort(key=lambda se: (se[1] - se[0], -se[0]))
    seen: set[int] = set()
    kept = []
    for start, end in reversed(found):
        if start not in seen and end - 1 not in seen:
            kept.append((start, end))
        seen.update(range(start, end))
    kept.sort()
    out: list[str] = []
    pos = 0
    for start, end in kept:
        out.extend(tokens[pos:start])
        if space_after is None:
            text = "".join(tokens[start:end])
        else:
            text = "".join(t + " " if space_after[i] else t for i, t in zip(range(start, end - 1), tokens[start:end - 1]))
            text += tokens[end - 1]
        rule = _SPECIALS.get(text)
        out.extend(rule if rule is not None else tokens[start:end])
        pos = end
    out.extend(tokens[pos:])
    return out


def _right_open(pre: tuple[str, ...]) -> bool:
    """Could a matcher pattern start inside this chunk and continue past its end (into the next chunk)?"""
    patterns = _matcher_patterns()
    n = len(pre)
    for i, tok in enumerate(pre):
        rest = pre[i:]
        for pat in patterns.get(tok, ()):
            if len(pat) > n - i and pat[:n - i] == rest:
                return True
    return False


class _Chunk:
    """One whitespace-free chunk: its tokens before the special-case matcher (``pre``), after a matcher confined
    to the chunk (``post``), and whether a match could cross its end (then the whole text takes the slow path)."""

    __slots__ = ("pre", "post", "open")

    def __init__(self, chunk: str) -> None:
        self.pre = tuple(_tokenize_span(chunk, _SPECIALS))
        self.post = tuple(_apply_special_cases(self.pre))
        self.open = _right_open(self.pre)


def _chunk(chunk: str) -> _Chunk:
    entry = _cache.get(chunk)
    if entry is None:
        entry = _Chunk(chunk)
        if len(_cache) >= _CACHE_MAX:
            _cache.clear()
        _cache[chunk] = entry
    return entry


@lru_cache(maxsize=1)
def _reach() -> int:
    """How many tokens past a chunk's end a match starting in it can reach (longest pattern - 1)."""
    return max(len(p) for pats in _matcher_patterns().values() for p in pats) - 1


def _tokens(text: str, keep_ws: bool) -> list[str]:
    """spaCy's tokens of ``text`` (whitespace tokens only with ``keep_ws``). Chunks are taken from the cache;
    where a match could cross a chunk's end, that chunk and the next ones (up to the longest pattern's reach)
    form one segment that the matcher runs over with the spaces between its tokens, as spaCy runs it."""
    parts = _WS_SPLIT.split(text)
    n = len(parts)
    reach = _reach()
    out: list[str] = []
    k = 0
    while k < n:
        part = parts[k]
        if k % 2:   # a whitespace run: one ' ' after a token is that token's trailing space
            if keep_ws:
                if part[0] == " " and k > 1:
                    part = part[1:]
                if part:
                    out += _tokenize_span(part, _SPECIALS)
            k += 1
            continue
        if not part:
            k += 1
            continue
        entry = _chunk(part)
        if not entry.open or k == n - 1:
            out += entry.post
            k += 1
            continue
        seg = list(entry.pre)
        space = [False] * len(seg)
        budget = reach
        m = k + 1
        while m < n - 1 and budget > 0:
            gap, nxt = parts[m], parts[m + 1]
            if gap[0] == " ":
                space[-1] = True
                gap = gap[1:]
            if gap:
                ws = _tokenize_span(gap, _SPECIALS)
                seg += ws
                space += [False] * len(ws)
                budget -= len(ws)
            if nxt:
                e2 = _chunk(nxt)
                seg += e2.pre
                space += [False] * len(e2.pre)
                budget = reach if e2.open else budget - len(e2.pre)
            m += 2
        toks = _apply_special_cases(seg, space)
        out += toks if keep_ws else [t for t in toks if not t.isspace()]
        k = m
    return out


_MEMO_MAX = 4096
_memo: dict[str, list[str]] = {}


def word_tokenize(text: str) -> list[str]:
    """datatrove's ``load_word_tokenizer("eng").word_tokenize(text)``: spaCy's tokens with whitespace-only
    tokens dropped (``strip_strings``); other tokens never contain whitespace. The last few thousand texts' tokens
    are remembered, so the filters of one chain tokenize a document once. Do not mutate the returned list."""
    words = _memo.get(text)
    if words is None:
        words = _wordsplit.words(text)
        if len(_memo) >= _MEMO_MAX:
            _memo.clear()
        _memo[text] = words
    return words


def reference_word_tokenize(text: str) -> list[str]:
    """The pure-Python ``word_tokenize`` (no memo): what the ``_wordsplit`` kernel is tested against."""
    out: list[str] = []
    get = _cache.get
    chunks = text.split()
    last = len(chunks) - 1
    for i, chunk in enumerate(chunks):
        entry = get(chunk)
        if entry is None:
            entry = _chunk(chunk)
        if entry.open and i != last:
            return _tokens(text, keep_ws=False)
        out += entry.post
    return out


_punct_cache: dict[str, int] = {}
_SENT_PUNCT = R.PUNCT_CHARS


def _punct_kind(tok: str) -> int:
    """2 = a sentencizer punctuation character, 1 = other punctuation (every char in Unicode category P),
    0 = anything else (words, whitespace tokens)."""
    kind = _punct_cache.get(tok)
    if kind is None:
        if tok in _SENT_PUNCT:
            kind = 2
        elif all(unicodedata.category(c).startswith("P") for c in tok):
            kind = 1
        else:
            kind = 0
        _punct_cache[tok] = kind
    return kind


def count_sentences(text: str) -> int:
    """``len(datatrove.utils.text.split_into_sentences(text))``: spaCy's sentencizer, which starts a sentence at
    the first non-punctuation token after one of its punctuation characters. Empty text counts 1 (datatrove's
    span arithmetic does)."""
    return _wordsplit.sentences(text)


def reference_count_sentences(text: str) -> int:
    """The pure-Python ``count_sentences``: what the ``_wordsplit`` kernel is tested against."""
    n = 1
    seen_period = False
    for tok in _tokens(text, keep_ws=True):
        kind = _punct_kind(tok)
        if seen_period and kind == 0:
            n += 1
            seen_period = False
        elif kind == 2:
            seen_period = True
    return n


def _rests(pre: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The remainders of the matcher patterns that start inside a chunk (pre tokens) and run past its end."""
    patterns = _matcher_patterns()
    n = len(pre)
    out = []
    for i, tok in enumerate(pre):
        rest = pre[i:]
        for pat in patterns.get(tok, ()):
            if len(pat) > n - i and pat[:n - i] == rest:
                out.append(pat[n - i:])
    return tuple(out)


def _kernel_entry(chunk: str) -> tuple:
    """The ``_wordsplit`` cache entry of a chunk its fast path does not decide: (post, pre, rests, kinds)."""
    pre = tuple(_tokenize_span(chunk, _SPECIALS))
    if _matcher_patterns().keys().isdisjoint(pre):   # no pattern starts at any of its tokens
        post, rests = pre, ()
    else:
        post, rests = tuple(_apply_special_cases(pre)), _rests(pre)
    kind = _punct_cache.get
    kinds = [kind(t) for t in post]
    if None in kinds:
        kinds = [_punct_kind(t) for t in post]
    return post, pre, rests, bytes(kinds)


def _kernel_group(pre: list[str], space_after: list[bool]) -> tuple[tuple[str, ...], bytes]:
    """The tokens (and their sentencizer kinds) of chunks a special-case pattern matches across, for
    ``_wordsplit``: their pre tokens through the matcher, with the spaces between the chunks."""
    toks = tuple(_apply_special_cases(pre, space_after))
    return toks, bytes(_punct_kind(t) for t in toks)


# Suffix characters the kernel splits off a letters-only or digits-only core itself (see _wordsplit.c).
_KERNEL_TAILS = ",;:)!?."


def _kernel_tails() -> dict[str, tuple]:
    """(post, rests, kinds) of each kernel tail character as a token on its own."""
    out = {}
    for c in _KERNEL_TAILS:
        post = tuple(_apply_special_cases((c,)))
        out[c] = (post, _rests((c,)), bytes(_punct_kind(t) for t in post))
    return out


def _configure_kernel() -> None:
    """(Re)start the kernel with these rules; its chunk cache (chunk -> (post, pre, rests, kinds), bounded by
    ``_CACHE_MAX``) lives in C, ``_wordsplit.entries()`` copies it."""
    blocked = frozenset(_SPECIALS) | frozenset(_matcher_patterns())
    _wordsplit.configure(blocked, _kernel_entry, _kernel_group, _kernel_tails(), _CACHE_MAX)
    # the cold path for ASCII chunks (the rules' ASCII tables in C; tests/filters/test_wordsplit.py)
    _wordsplit.configure_rules(_SPECIALS, _matcher_patterns(), _url_match)


_configure_kernel()
