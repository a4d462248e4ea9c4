"""The ``_wordsplit`` kernel (the per-text loop of word/sentence splitting, in C) equals the pure-Python reference
in ``biomass.filters.words`` on real documents and fuzzed strings, and the faster affix searches equal the plain
regex searches. (test_words.py checks the kernel-backed functions against spaCy itself.)"""

from __future__ import annotations

import random
import string

from hypothesis import given, settings, strategies as st

from benchmarks.realtext import pieces
from biomass.filters import _wordsplit, words as W
from tests.filters.crafted import CRAFTED
from tests.text_fixtures import human_docs  # noqa: F401 (fixture)


def _regex_prefix(s: str) -> int:
    m = W._prefix_search(s)
    return m.end() - m.start() if m is not None else 0


def _regex_suffix(s: str) -> int:
    m = W._suffix_search(s)
    return m.end() - m.start() if m is not None else 0


def test_kernel_words_and_sentences_equal_the_reference_on_real_documents(human_docs):
    texts = human_docs + pieces(human_docs)
    bad = [i for i, t in enumerate(texts) if _wordsplit.words(t) != W.reference_word_tokenize(t)]
    assert not bad, f"{len(bad)} of {len(texts)} texts split differently, e.g. #{bad[:5]}"
    lines = [ln.strip() for t in human_docs for ln in t.splitlines() if ln.strip()]
    bad = [ln for ln in lines if _wordsplit.sentences(ln) != W.reference_count_sentences(ln)]
    assert not bad, f"{len(bad)} of {len(lines)} lines: {bad[:3]!r}"
    # whole texts too (leading/trailing and repeated whitespace, line breaks)
    bad = [i for i, t in enumerate(texts[:300]) if _wordsplit.sentences(t) != W.reference_count_sentences(t)]
    assert not bad, bad[:5]


def test_real_documents_exercise_matches_across_chunks(human_docs):
    """The comparison above covers the grouped path: some real texts have a special-case pattern matching across
    a space (e.g. ``it ’s``, ``= (``), which the kernel hands to the matcher as a group."""
    calls = []
    orig = W._kernel_group

    def spy(pre, space):
        calls.append((list(pre), list(space)))
        return orig(pre, space)

    W._wordsplit.configure(frozenset(W._SPECIALS) | frozenset(W._matcher_patterns()), W._kernel_entry, spy,
                           W._kernel_tails(), W._CACHE_MAX, False)   # every group through words.py
    try:
        for t in human_docs:
            assert _wordsplit.words(t) == W.reference_word_tokenize(t)
            assert _wordsplit.sentences(t) == W.reference_count_sentences(t)
    finally:
        W._configure_kernel()
    assert calls
    # ... and the C matcher the kernel takes for a group gives words.py's tokens and kinds for (nearly) all of them
    in_c = [(pre, space) for pre, space in calls if _wordsplit.group(pre, space) is not None]
    assert len(in_c) > 0.9 * len(calls)
    for pre, space in in_c:
        assert _wordsplit.group(pre, space) == orig(pre, space), pre


def test_kernel_chunk_index_is_keyed_on_code_points_and_cleared_with_the_cache(human_docs):
    """The kernel finds a chunk's entry by its code points read in place from the text: the same chunk in a 1-, 2-
    and 4-byte text gets the same tokens, and a cache cleared every few chunks (its index with it) changes
    nothing."""
    base = "Mr. Smith's km/h don't (see e.g. x.com) it ’s 10km, ok."
    for text in (base, base + " ’", base + " \U0001f600", "\U0001f600 " + base, "é " + base):
        assert _wordsplit.words(text) == W.reference_word_tokenize(text), text
        assert _wordsplit.sentences(text) == W.reference_count_sentences(text), text
    W._wordsplit.configure(frozenset(W._SPECIALS) | frozenset(W._matcher_patterns()), W._kernel_entry,
                           W._kernel_group, W._kernel_tails(), 7)
    try:
        for t in human_docs[:40] + [base, base + " \U0001f600"]:
            assert _wordsplit.words(t) == W.reference_word_tokenize(t)
            assert _wordsplit.sentences(t) == W.reference_count_sentences(t)
    finally:
        W._configure_kernel()


def test_kernel_splits_a_text_the_same_in_every_storage_width(human_docs):
    """The kernel scans and hashes 1- and 2-byte texts in their own loops and compares a chunk of a wider text to
    its narrower cached key directly: every real document gives the same tokens stored 1, 2 or 4 bytes a character
    (a dash or an emoji ahead of it), and the reference's tokens, with and without a cache filled by the others."""
    for t in human_docs[:150]:
        for lead in ("", "— ", "\U0001f600 "):
            wide = lead + t
            assert _wordsplit.words(wide) == W.reference_word_tokenize(wide)
            assert _wordsplit.sentences(wide) == W.reference_count_sentences(wide)
    W._configure_kernel()   # a cold cache: the 2-byte text's chunks are analysed first, then looked up by the others
    for t in human_docs[:150]:
        for lead in ("— ", "", "\U0001f600 "):
            assert _wordsplit.words(lead + t) == W.reference_word_tokenize(lead + t)


def test_kernel_equals_the_reference_on_crafted_edges():
    for text in CRAFTED + ["", " ", "  a", "a  ", "x = (1)", "it ’s", "a. b", "Hi.  There", ":) :)", "\ta\n\nb "]:
        assert _wordsplit.words(text) == W.reference_word_tokenize(text), text
        assert _wordsplit.sentences(text) == W.reference_count_sentences(text), text


_ALPHABET = list("aAbz09.,;:!?'\"()[]{}<>-_/\\%$&*#@=+^~`|") + [" ", " ", " ", "  ", "\n", "\t", "…", "’", "“", "é",
                                                              "ツ", "¯", "\xa0", "\u2028"]
_PIECES = ["Mr.", "a.m.", "e.g.", "don't", "can't", ":)", ":')", "):", "<3", "http://x.org", "www.a.com", "10km",
           "U.S.", "'s", "n't", "--", "...", "^_^", "it", "’s", "=", "(", "a", "and", "x", "Let", "0", "1", "._.",
           "(:", "o.O", "km", "ABC", "abc", "123"]


@settings(max_examples=600)
@given(st.lists(st.one_of(st.sampled_from(_ALPHABET), st.sampled_from(_PIECES)), max_size=50))
def test_kernel_equals_the_reference_on_fuzzed_strings(parts):
    text = "".join(parts)
    assert _wordsplit.words(text) == W.reference_word_tokenize(text)
    assert _wordsplit.sentences(text) == W.reference_count_sentences(text)


def test_fast_path_chunks_are_one_token_by_the_rules():
    """The kernel takes a chunk of only ASCII letters or only ASCII digits that is no special case and starts no
    matcher pattern as one token without asking the rules: the rules agree."""
    rng = random.Random(7)
    blocked = set(W._SPECIALS) | set(W._matcher_patterns())
    for alphabet in (string.ascii_letters, string.ascii_lowercase, string.ascii_uppercase, string.digits):
        for _ in range(3000):
            s = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
            if s not in blocked:
                assert W._tokenize_span(s, W._SPECIALS) == [s], s
                assert W._rests((s,)) == () and W._apply_special_cases((s,)) == [s]
                for c in W._KERNEL_TAILS:   # ... and so is such a core with one tail character
                    if c == "." and not (s[-1].islower() or s[-1].isdigit()):
                        continue
                    if s + c not in blocked:
                        assert W._tokenize_span(s + c, W._SPECIALS) == [s, c], s + c


def test_entries_the_kernel_builds_itself_equal_the_reference_entries(human_docs):
    """Every cache entry (post, pre, rests, kinds), including those of the fast paths, is what words.py computes."""
    for t in human_docs:
        _wordsplit.words(t)
    rng = random.Random(11)
    for _ in range(3000):
        core = "".join(rng.choice(rng.choice([string.ascii_lowercase, string.ascii_letters, string.digits]))
                       for _ in range(rng.randint(1, 8)))
        _wordsplit.words(core + rng.choice(W._KERNEL_TAILS + "'\"(%$"))
    cached = _wordsplit.entries()
    assert len(cached) > 1000
    bad = [c for c, e in cached.items() if e != W._kernel_entry(c)]
    assert not bad, bad[:5]


def test_affix_searches_equal_the_regex_searches(human_docs):
    chunks = {c for t in human_docs for c in t.split()}
    rng = random.Random(3)
    pool = "".join(_ALPHABET).replace(" ", "") + "..." + "…" * 3 + "°F" + "km" + "US$"
    chunks |= {"".join(rng.choice(pool) for _ in range(rng.randint(1, 12))) for _ in range(20000)}
    chunks |= {"a" + "." * k for k in range(1, 9)} | {"." * k for k in range(1, 9)} | {"10km", "5°F.", "3km/h"}
    assert W._SUFFIX_WINDOW is not None   # the windowed search is in use with these rules
    bad = [c for c in chunks if W._find_prefix(c) != _regex_prefix(c) or W._find_suffix(c) != _regex_suffix(c)]
    assert not bad, bad[:5]


# The non-ASCII characters the C cold path reads itself (WIDE in _wordsplit.c): curly quotes, dashes, the ellipsis.
_WIDE = "“”‘’—–…"


def _narrow(s: str) -> bool:
    return all(ch.isascii() or ch in _WIDE for ch in s)


def _ascii_cold_entries_equal_the_rules(chunks) -> int:
    """The C cold path's entry (``_wordsplit.analyse``) equals words.py's ``_kernel_entry`` for every chunk it
    analyses; it may leave a chunk to words.py only when the chunk or one of its tokens has a character outside
    ASCII and _WIDE. Returns how many it analysed."""
    done = 0
    for c in chunks:
        entry = _wordsplit.analyse(c)
        if entry is None:
            assert not _narrow(c) or not all(_narrow(t) for t in W._kernel_entry(c)[0]), c
            continue
        assert entry == W._kernel_entry(c), c
        done += 1
    return done


def test_c_cold_path_equals_the_rules_on_real_chunks(human_docs):
    """Every distinct whitespace-free chunk of the real documents: the C rules give words.py's tokens, matcher
    result, rests and sentencizer kinds (test_words.py checks the same texts against spaCy itself)."""
    chunks = list(dict.fromkeys(c for t in human_docs for c in t.split()))
    assert _ascii_cold_entries_equal_the_rules(chunks) > 0.9 * len(chunks)


_ASCII_ATOMS = (list(string.ascii_letters + string.digits + string.punctuation)
                + ["..", "...", "'s", "'S", "n't", "--", "---", "km", "km/h", "m/s", "mbar", "hPa", "US$", "C$", "A$",
                   "e.g.", "U.S.", ":)", "(:", "a.m.", "http://", "https://", "www.", "x.com", ".org", "192.168.",
                   "1.2.3.4", ":8080", "@", "°"]
                 # a chunk is a run of non-whitespace: the '\t' and '\n' special cases never occur inside one
                 + [k for k in W._SPECIALS if k.isascii() and not any(c.isspace() for c in k)])


@settings(max_examples=3000)
@given(st.lists(st.one_of(st.sampled_from(_ASCII_ATOMS), st.sampled_from(list("aAz0.-,:()'\"+*^~/=<>"))),
                min_size=1, max_size=10))
def test_c_cold_path_equals_the_rules_on_fuzzed_chunks(parts):
    chunk = "".join(parts)
    _ascii_cold_entries_equal_the_rules([chunk])


_WIDE_ATOMS = (list(_WIDE) * 3 + ["’s", "’S", "n’t", "——", "———", "……", "…..", ".…", "“.", ".”", "‘.", "’."]
               + [k for k in W._SPECIALS if not k.isascii() and _narrow(k) and not any(c.isspace() for c in k)])


@settings(max_examples=4000)
@given(st.lists(st.one_of(st.sampled_from(_WIDE_ATOMS), st.sampled_from(_ASCII_ATOMS),
                          st.sampled_from(list("aAzZ0.-,:()'\"+/~"))), min_size=1, max_size=10))
def test_c_cold_path_equals_the_rules_on_fuzzed_chunks_with_quotes_dashes_and_ellipses(parts):
    _ascii_cold_entries_equal_the_rules(["".join(parts)])


def test_c_cold_path_reads_each_wide_character_as_the_rules_do():
    """Each _WIDE character where its rules differ: alone, doubled, around a '.', between letters and digits, before
    's' (every chunk of these, with ASCII letters, digits and punctuation around, in every order)."""
    around = ["", "a", "A", "Ab", "1", ".", "..", "'", ",", "-", "a.", "B.", "(", ")"]
    chunks = {f"{x}{w}{y}{z}" for w in [*_WIDE, "——", "……", "’s", "’S", "“.", ".”"] for x in around
              for y in around for z in ("", "B", "s", "…", "—", "’")}
    chunks.discard("")
    assert _ascii_cold_entries_equal_the_rules(sorted(chunks)) > 0.95 * len(chunks)


def test_real_chunks_with_quotes_and_dashes_take_the_c_cold_path(human_docs):
    chunks = [c for c in dict.fromkeys(c for t in human_docs for c in t.split()) if not c.isascii() and _narrow(c)]
    assert len(chunks) > 50
    assert _ascii_cold_entries_equal_the_rules(chunks) > 0.95 * len(chunks)


def test_c_cold_path_takes_every_unit_and_currency_after_a_digit():
    units = ["km", "km²", "m", "dm", "cm", "mm", "ha", "nm", "yd", "in", "ft", "kg", "g", "mg", "t", "lb", "oz", "m/s",
             "km/h", "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "T", "G", "M",
             "K", "%", "+", "$", "US$", "C$", "A$", "x", "Km", "kph"]
    chunks = [f"{d}{u}{tail}" for d in ("1", "10", "a", "") for u in units for tail in ("", ".", ",", ")", "..")]
    assert _ascii_cold_entries_equal_the_rules(chunks) > 0.9 * len(chunks)


# tokens of the matcher patterns (which cross spaces: emoticons, abbreviations) and others around them
_GROUP_TOKENS = sorted({t for pats in W._matcher_patterns().values() for p in pats for t in p}
                       | set(_PIECES) | set(".,:;()'-=<3") | {"’s", "’", "—", "…", "“", "é", "ツ"})


@settings(max_examples=1500)
@given(st.lists(st.tuples(st.sampled_from(_GROUP_TOKENS), st.booleans()), min_size=1, max_size=12))
def test_c_group_matcher_equals_words_py_on_fuzzed_groups(toks):
    pre, space = [t for t, _ in toks], [s for _, s in toks]
    got = _wordsplit.group(pre, space)
    if got is not None:
        assert got == W._kernel_group(pre, space)
