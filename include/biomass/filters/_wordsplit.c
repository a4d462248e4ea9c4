/* The per-text loop of biomass.filters.words (datatrove's spaCy English tokenizer), in C.
 *
 * Why C: a text's tokens are the concatenation of its whitespace-free chunks' tokens, and a chunk's tokens depend
 * only on the chunk, so they are cached per distinct chunk (here: table_get); what remains per text is splitting
 * on whitespace, one cache lookup per chunk and building the token list. In Python that loop (and the matcher
 * pass over the whole text whenever one chunk's tokens could start a special-case pattern that continues into
 * the next) was most of the quality filters' time. Here:
 *
 *   - chunks are runs of non-whitespace (Py_UNICODE_ISSPACE: str.split() and the regex \s);
 *   - a chunk of only ASCII letters or only ASCII digits that is neither a special case nor the first token of a
 *     matcher pattern is its own one token (no prefix, suffix or infix rule can match such a string: every rule
 *     consumes a character outside [A-Za-z0-9], and the digit-then-unit suffix needs both kinds); any other chunk
 *     so is such a core followed by one of a few suffix characters (`tails`: ',', ';', ':', ')', '!', '?', and
 *     '.' after a lowercase letter or a digit), which the suffix rules take alone: its tokens are the core and
 *     that character's own tokens; any other ASCII chunk goes through the affix, infix and special-case rules
 *     ported below (analyse_ascii), and so does a chunk whose only non-ASCII characters are curly quotes, dashes
 *     or ellipses (WIDE); only the rest (another non-ASCII character) is analysed by words.py (`miss(chunk)`);
 *   - a cache entry is (post, pre, rests, kinds): the chunk's tokens after / before the special-case matcher
 *     confined to the chunk, the remainders of the patterns that start inside it and run past its end, and each
 *     post token's sentencizer class (0 other, 1 punctuation, 2 sentence punctuation);
 *   - a pattern can only match across chunks separated by exactly one ' ' (any other gap is a whitespace token,
 *     and no multi-token pattern contains one). Where none does, the matcher over the whole text finds only the
 *     matches inside chunks, so the text's tokens are the concatenation of the chunks' post tokens. The chunks a
 *     cross-chunk match spans (with those of overlapping ones) form a group whose pre tokens, with the spaces
 *     between chunks, go through the matcher (the C one, else words.py's `group(pre, space_after)`); a match
 *     outside the group shares no token with one inside, so it cannot shadow it or be shadowed by it.
 *
 * words(text) -> list[str]: word_tokenize (whitespace tokens dropped).
 * sentences(text) -> int: count_sentences (a whitespace token is a non-punctuation token; one or several in a
 *   row act the same, so a gap only needs to be known to produce one).
 * configure(blocked, miss, group, tails, cache_max[, c_groups]) sets the shared state (a group goes through the C
 *   matcher, with the spaces between its chunks, and to `group` only if a token has a character outside ASCII and
 *   WIDE, or always with c_groups false); configure_rules(specials,
 *   patterns, url_match) the cold path's special cases, matcher patterns and URL regex. analyse(chunk) is the cold
 *   path alone, and entries() a copy of the cache as a dict, for tests.
 * tests/filters/test_wordsplit.py proves equality with the pure-Python reference in words.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *blocked = NULL;        /* set of chunks the plain fast path must leave to miss() */
static PyObject *miss_fn = NULL, *group_fn = NULL;
static PyObject *tails = NULL;         /* dict: one-char suffix -> (post, rests, kinds) of that token alone */
static Py_ssize_t cache_max = 200000;
static int c_groups = 1;               /* groups through the C matcher (0: all through group(), for tests) */
static PyObject *zero_kind = NULL;      /* b"\0" */
static PyObject *one_space = NULL;      /* " " */
static PyObject *empty_tuple = NULL;

typedef struct {
    Py_ssize_t start, end;   /* chunk span in code points */
    PyObject *entry;         /* owned */
    Py_ssize_t group;        /* see load() */
} chunk_t;

/* ---- the cache, keyed on the chunk's code points in the text ----------------------------------------------------
 * A lookup through a dict costs a new substring (allocate, copy, hash, free) per chunk: with ~1.6M chunks in 3.8k
 * documents that was most of the warm loop. This open-addressing table maps a chunk's code points, read in place
 * from the text, to its entry. It is the only cache: a Python dict beside it (as there once was) is one more
 * insert per new chunk, and its ~100k+ entries were walked by every full collection of the cyclic GC, while this
 * C memory is not (the entries can be in no cycle, see untrack_entry). Only speed depends on it. */
typedef struct { Py_hash_t h; PyObject *key, *entry; } slot_t;
static slot_t *slots = NULL;
static Py_ssize_t slot_cap = 0, slot_count = 0;

static void table_clear(void) {
    for (Py_ssize_t i = 0; i < slot_cap; i++)
        if (slots[i].key) { Py_DECREF(slots[i].key); Py_DECREF(slots[i].entry); slots[i].key = NULL; }
    slot_count = 0;
}

static char space1[256];   /* Py_UNICODE_ISSPACE of each 1-byte code point, filled at import */

static Py_hash_t span_hash(int kind, const void *data, Py_ssize_t a, Py_ssize_t b) {
    unsigned long long h = 14695981039346656037ULL;
    if (kind == PyUnicode_1BYTE_KIND) {
        const unsigned char *s = data;
        for (Py_ssize_t i = a; i < b; i++) h = (h ^ s[i]) * 1099511628211ULL;
    } else {
        for (Py_ssize_t i = a; i < b; i++) h = (h ^ PyUnicode_READ(kind, data, i)) * 1099511628211ULL;
    }
    h ^= h >> 29;
    return (Py_hash_t)h;
}

static int span_equal(PyObject *key, int kind, const void *data, Py_ssize_t a, Py_ssize_t b) {
    if (PyUnicode_GET_LENGTH(key) != b - a) return 0;
    int kk = PyUnicode_KIND(key);
    const void *kd = PyUnicode_DATA(key);
    if (kk == kind) return memcmp(kd, (const char *)data + a * kind, (size_t)(b - a) * kind) == 0;
    if (kk == PyUnicode_1BYTE_KIND && kind == PyUnicode_2BYTE_KIND) {   /* an ASCII or Latin-1 chunk, in a text
                                                                           with a curly quote or a dash: common */
        const Py_UCS1 *k1 = kd;
        const Py_UCS2 *t2 = (const Py_UCS2 *)data + a;
        for (Py_ssize_t i = 0; i < b - a; i++)
            if (k1[i] != t2[i]) return 0;
        return 1;
    }
    for (Py_ssize_t i = a; i < b; i++)
        if (PyUnicode_READ(kk, kd, i - a) != PyUnicode_READ(kind, data, i)) return 0;
    return 1;
}

/* Borrowed entry of text[a:b], or NULL if the table does not have it. */
static PyObject *table_get(Py_hash_t h, int kind, const void *data, Py_ssize_t a, Py_ssize_t b) {
    if (!slot_cap) return NULL;
    size_t mask = (size_t)slot_cap - 1, i = (size_t)h & mask;
    while (slots[i].key) {
        if (slots[i].h == h && span_equal(slots[i].key, kind, data, a, b)) return slots[i].entry;
        i = (i + 1) & mask;
    }
    return NULL;
}

static void table_insert(Py_hash_t h, PyObject *key, PyObject *entry) {   /* steals nothing; key not present */
    size_t mask = (size_t)slot_cap - 1, i = (size_t)h & mask;
    while (slots[i].key) i = (i + 1) & mask;
    Py_INCREF(key); Py_INCREF(entry);
    slots[i].h = h; slots[i].key = key; slots[i].entry = entry;
    slot_count++;
}

/* Remember key -> entry (key not in the table). On no memory it just does not remember (only speed is lost). */
static void table_put(Py_hash_t h, PyObject *key, PyObject *entry) {
    if (2 * (slot_count + 1) > slot_cap) {
        Py_ssize_t cap = slot_cap ? 2 * slot_cap : 4096;
        slot_t *grown = PyMem_Calloc((size_t)cap, sizeof(slot_t));
        if (!grown) return;
        slot_t *old = slots;
        Py_ssize_t old_cap = slot_cap;
        slots = grown; slot_cap = cap; slot_count = 0;
        for (Py_ssize_t k = 0; k < old_cap; k++)
            if (old[k].key) {
                table_insert(old[k].h, old[k].key, old[k].entry);
                Py_DECREF(old[k].key); Py_DECREF(old[k].entry);
            }
        PyMem_Free(old);
    }
    table_insert(h, key, entry);
}

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *b, *m, *g, *t;
    Py_ssize_t cm;
    int cg = 1;
    if (!PyArg_ParseTuple(args, "OOOO!n|p", &b, &m, &g, &PyDict_Type, &t, &cm, &cg)) return NULL;
    c_groups = cg;
    if (cm < 1) { PyErr_SetString(PyExc_ValueError, "cache_max must be at least 1"); return NULL; }
    Py_INCREF(b); Py_INCREF(m); Py_INCREF(g); Py_INCREF(t);
    Py_XSETREF(blocked, b); Py_XSETREF(miss_fn, m); Py_XSETREF(group_fn, g); Py_XSETREF(tails, t);
    cache_max = cm;
    table_clear();   /* new rules or callbacks: entries made with the old ones go */
    Py_RETURN_NONE;
}

/* entries() -> a new dict chunk -> entry of everything cached (for tests). */
static PyObject *entries(PyObject *self, PyObject *unused) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (Py_ssize_t i = 0; i < slot_cap; i++)
        if (slots[i].key && PyDict_SetItem(d, slots[i].key, slots[i].entry) < 0) { Py_DECREF(d); return NULL; }
    return d;
}

static int check_entry(PyObject *e) {
    if (!PyTuple_Check(e) || PyTuple_GET_SIZE(e) != 4 || !PyTuple_Check(PyTuple_GET_ITEM(e, 0))
        || !PyTuple_Check(PyTuple_GET_ITEM(e, 1)) || !PyTuple_Check(PyTuple_GET_ITEM(e, 2))
        || !PyBytes_Check(PyTuple_GET_ITEM(e, 3))
        || PyBytes_GET_SIZE(PyTuple_GET_ITEM(e, 3)) != PyTuple_GET_SIZE(PyTuple_GET_ITEM(e, 0))) {
        PyErr_SetString(PyExc_TypeError, "a chunk entry is (post, pre, rests, kinds)");
        return -1;
    }
    return 0;
}

/* ---- the cold path: spaCy's English affix, infix and special-case rules for an ASCII chunk, in C -------------
 *
 * For a chunk of ASCII characters only, the rules in _spacy_en_rules reduce to the small tables below (every
 * other alternative of the patterns needs a non-ASCII character); analyse_ascii() runs words.py's _split_affixes,
 * _attach, _apply_special_cases (within the chunk), _rests and _punct_kind over them and builds the same cache
 * entry as words._kernel_entry. Where infixes were found in a core with a '.', the URL regex (words.py's, called
 * back) decides whether the core stays whole, as in spaCy. It gives up (returns Py_None) only if a token is not
 * ASCII (a special case's tokens always are); words.py then analyses the chunk.
 * tests/filters/test_wordsplit.py proves equality with the Python rules on real text and fuzzed ASCII strings. */
static PyObject *specials = NULL;        /* dict: special case -> tuple of tokens */
static PyObject *patterns = NULL;        /* dict: first token -> list of matcher patterns (tuples) */
static PyObject *pattern_tails = NULL;   /* dict: first token -> for each of its patterns (pat[1:], pat[2:], ...) */
static PyObject *url_match = NULL;       /* compiled URL regex's match */

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_LOWER(c) ((c) >= 'a' && (c) <= 'z')
#define IS_UPPER(c) ((c) >= 'A' && (c) <= 'Z')
#define IS_ALPHA(c) (IS_LOWER(c) || IS_UPPER(c))
#define IS_ALNUM(c) (IS_ALPHA(c) || IS_DIGIT(c))

/* Which of the sets below each byte is in (a bit per set, filled at import): one load per test, not a strchr. */
enum { C_PREFIX1 = 1, C_SUFFIX1 = 2, C_DOT_AFTER = 4, C_DOT_LEFT = 8, C_DOT_RIGHT = 16, C_PUNCT_P = 32, C_ARITH = 64,
       C_INFIX_SYM = 128 };
static unsigned char char_class[256];
#define IN(set, c) (char_class[(unsigned char)(c)] & (set))

/* The non-ASCII characters of most real chunks that are not ASCII (curly quotes, dashes, an ellipsis): a chunk of
 * ASCII and these only is analysed here too, read as bytes with each of these as the byte 0x80 + its index (no
 * other rule of the patterns can see a chunk without a non-ASCII letter, digit or symbol differently: the letter
 * and digit classes then match ASCII ones only). How the rules treat them (words.py's regexes, probed and fuzzed
 * in tests/filters/test_wordsplit.py): each is a one-character prefix and suffix and Unicode punctuation (none a
 * sentencizer character); the quotes are also in the '.'-suffix and '.'-infix lookarounds, the ellipsis in the
 * former; '……' and '’s'/'’S' are suffixes; '…' is an infix anywhere, '–', '—' and '——' between a letter or digit
 * and a letter. */
static const Py_UCS4 WIDE[] = {0x201C, 0x201D, 0x2018, 0x2019, 0x2014, 0x2013, 0x2026};
#define N_WIDE ((int)(sizeof(WIDE) / sizeof(WIDE[0])))
enum { W_LDQ = 0x80, W_RDQ, W_LSQ, W_RSQ, W_EM, W_EN, W_ELL };
static Py_UCS4 real_cp(unsigned char c) { return c < 0x80 ? c : WIDE[c - 0x80]; }
static int wide_code(Py_UCS4 c) {   /* the byte standing for c, or -1 */
    if (c < 0x80) return (int)c;
    for (int k = 0; k < N_WIDE; k++) if (WIDE[k] == c) return 0x80 + k;
    return -1;
}

/* prefix: one of these characters; '+' not before a digit; a run of 2+ dots; US$ C$ A$ */
static const char PREFIX1[] = "!\"#$%&'()*,:;<=>?[]_`{}";
/* suffix: one of these characters */
static const char SUFFIX1[] = "!\"#&'()*,:;<>?[]_`{}";
/* '.' is a suffix after one of these (or after two capitals) */
static const char DOT_AFTER[] = "!\"#%&'()*+,-0123456789:;<>?[]_`abcdefghijklmnopqrstuvwxyz{|}";
/* after a digit: a currency or a unit */
static const char *const AFTER_DIGIT[] = {"+", "$", "US$", "C$", "A$", "km", "m", "dm", "cm", "mm", "ha", "nm", "yd",
    "in", "ft", "kg", "g", "mg", "t", "lb", "oz", "m/s", "km/h", "kmh", "mph", "hPa", "Pa", "mbar", "mb", "MB", "kb",
    "KB", "gb", "GB", "tb", "TB", "T", "G", "M", "K", "%", NULL};
/* infix '.' between one of DOT_LEFT and one of DOT_RIGHT */
static const char DOT_LEFT[] = "\"',`abcdefghijklmnopqrstuvwxyz";
static const char DOT_RIGHT[] = "\"',`ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/* Unicode category P among ASCII (the sentencizer's 'other punctuation'); '!', '.', '?' are its own */
static const char PUNCT_P[] = "!\"#%&'()*,-./:;?@[\\]_{}";
static const char ARITH[] = "+-*^";        /* infix between digits */
static const char INFIX_SYM[] = ":<>=/";   /* infix after a letter or digit, before a letter */
static Py_ssize_t after_digit_len[sizeof(AFTER_DIGIT) / sizeof(AFTER_DIGIT[0])];

static void fill_classes(void) {
    const struct { const char *set; unsigned char bit; } sets[] = {
        {PREFIX1, C_PREFIX1}, {SUFFIX1, C_SUFFIX1}, {DOT_AFTER, C_DOT_AFTER}, {DOT_LEFT, C_DOT_LEFT},
        {DOT_RIGHT, C_DOT_RIGHT}, {PUNCT_P, C_PUNCT_P}, {ARITH, C_ARITH}, {INFIX_SYM, C_INFIX_SYM}};
    memset(char_class, 0, sizeof(char_class));
    for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++)
        for (const char *c = sets[k].set; *c; c++) char_class[(unsigned char)*c] |= sets[k].bit;
    for (size_t k = 0; AFTER_DIGIT[k]; k++) after_digit_len[k] = (Py_ssize_t)strlen(AFTER_DIGIT[k]);
    for (int c = W_LDQ; c <= W_ELL; c++) char_class[c] |= C_PREFIX1 | C_SUFFIX1 | C_PUNCT_P;
    for (int c = W_LDQ; c <= W_RSQ; c++) char_class[c] |= C_DOT_AFTER | C_DOT_LEFT | C_DOT_RIGHT;
    char_class[W_ELL] |= C_DOT_AFTER;
}

static Py_ssize_t prefix_len(const unsigned char *s, Py_ssize_t a, Py_ssize_t b) {
    if (a >= b) return 0;
    unsigned char c = s[a];
    if (IN(C_PREFIX1, c)) return 1;
    if (c == '+') return (a + 1 < b && IS_DIGIT(s[a + 1])) ? 0 : 1;
    if (c == '.') {
        Py_ssize_t j = a;
        while (j < b && s[j] == '.') j++;
        return j - a >= 2 ? j - a : 0;
    }
    if (b - a >= 3 && c == 'U' && s[a + 1] == 'S' && s[a + 2] == '$') return 3;
    if (b - a >= 2 && (c == 'C' || c == 'A') && s[a + 1] == '$') return 2;
    return 0;
}

/* Does some suffix alternative match s[p:b] exactly (its lookbehind seeing no further back than a)? */
static int suffix_at(const unsigned char *s, Py_ssize_t a, Py_ssize_t p, Py_ssize_t b) {
    Py_ssize_t len = b - p;
    if (len == 1) {
        unsigned char c = s[p];
        if (IN(C_SUFFIX1, c)) return 1;
        if (c == '.' && p > a && (IN(C_DOT_AFTER, s[p - 1]) || (p - 1 > a && IS_UPPER(s[p - 1]) && IS_UPPER(s[p - 2]))))
            return 1;
    }
    if (len == 2 && (s[p] == '\'' || s[p] == W_RSQ) && (s[p + 1] == 's' || s[p + 1] == 'S')) return 1;
    if (len == 2 && s[p] == W_ELL && s[p + 1] == W_ELL) return 1;
    if (p > a && IS_DIGIT(s[p - 1])) {
        for (size_t k = 0; AFTER_DIGIT[k]; k++)
            if (after_digit_len[k] == len && memcmp(AFTER_DIGIT[k], s + p, len) == 0) return 1;
    }
    return 0;
}

/* The leftmost (so longest) suffix of s[a:b]: a run of 2+ dots, else an alternative of at most 4 characters. */
static Py_ssize_t suffix_len(const unsigned char *s, Py_ssize_t a, Py_ssize_t b) {
    Py_ssize_t j = b;
    while (j > a && s[j - 1] == '.') j--;
    if (b - j >= 2) return b - j;
    for (Py_ssize_t p = b - 4 > a ? b - 4 : a; p < b; p++)
        if (suffix_at(s, a, p, b)) return b - p;
    return 0;
}

/* The infix regex's finditer over s[a:b] (lookarounds confined to it): spans into m, their count returned. */
static Py_ssize_t infixes(const unsigned char *s, Py_ssize_t a, Py_ssize_t b, Py_ssize_t *m) {
    Py_ssize_t k = 0, i = a;
    while (i < b) {
        unsigned char c = s[i], prev = i > a ? s[i - 1] : 0, next = i + 1 < b ? s[i + 1] : 0;
        Py_ssize_t len = 0;
        if (c == '.' && next == '.') {
            Py_ssize_t j = i;
            while (j < b && s[j] == '.') j++;
            len = j - i;
        } else if (c == W_ELL) {
            len = 1;
        } else if (c == W_EN && IS_ALNUM(prev) && IS_ALPHA(next)) {
            len = 1;
        } else if (c == W_EM && IS_ALNUM(prev)) {
            if (IS_ALPHA(next)) len = 1;
            else if (next == W_EM && i + 2 < b && IS_ALPHA(s[i + 2])) len = 2;
        } else if (IS_DIGIT(prev) && IN(C_ARITH, c) && (IS_DIGIT(next) || next == '-')) {
            len = 1;
        } else if (c == '.' && IN(C_DOT_LEFT, prev) && IN(C_DOT_RIGHT, next)) {
            len = 1;
        } else if (c == ',' && IS_ALPHA(prev) && IS_ALPHA(next)) {
            len = 1;
        } else if (c == '-' && IS_ALNUM(prev)) {
            for (Py_ssize_t d = 1; d <= 3 && !len; d++) {
                Py_ssize_t q;
                for (q = 1; q < d && i + q < b && s[i + q] == '-'; q++) {}
                if (q == d && i + d < b && IS_ALPHA(s[i + d])) len = d;
            }
        } else if (c == '~' && IS_ALNUM(prev) && IS_ALPHA(next)) {
            len = 1;
        } else if (IN(C_INFIX_SYM, c) && IS_ALNUM(prev) && IS_ALPHA(next)) {
            len = 1;
        }
        if (len) { m[2 * k] = i; m[2 * k + 1] = i + len; k++; i += len; }
        else i++;
    }
    return k;
}

/* A filter over a dict's str keys by (length, first, last code point): a string whose bit is clear is no key, so
 * most lookups of special cases and matcher patterns need no substring (allocated, hashed, freed) at all. */
#define SIEVE_BITS 8192
typedef unsigned char sieve_t[SIEVE_BITS / 8];
static sieve_t special_sieve, pattern_sieve;

static size_t sieve_index(Py_ssize_t len, Py_UCS4 first, Py_UCS4 last) {
    return ((size_t)len * 2654435761u ^ (size_t)first * 40503u ^ (size_t)last * 97u) % SIEVE_BITS;
}

static int sieve_fill(sieve_t sv, PyObject *dict) {
    memset(sv, 0, sizeof(sieve_t));
    PyObject *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (!PyUnicode_Check(k)) { PyErr_SetString(PyExc_TypeError, "rule keys must be str"); return -1; }
        Py_ssize_t n = PyUnicode_GET_LENGTH(k);
        if (!n) { memset(sv, 0xff, sizeof(sieve_t)); return 0; }   /* never the case; then filter nothing */
        size_t i = sieve_index(n, PyUnicode_READ_CHAR(k, 0), PyUnicode_READ_CHAR(k, n - 1));
        sv[i / 8] |= (unsigned char)(1u << (i % 8));
    }
    return 0;
}

/* Could the ASCII string s[a:b] (b > a) be a key of the sieve's dict? */
static int sieve_may(const sieve_t sv, const unsigned char *s, Py_ssize_t a, Py_ssize_t b) {
    size_t i = sieve_index(b - a, real_cp(s[a]), real_cp(s[b - 1]));
    return (sv[i / 8] >> (i % 8)) & 1;
}

/* 1 if chunk[a:b] is a special case (its tokens, borrowed, in *toks), 0 if not, -1 on error. */
static int special(PyObject *chunk, const unsigned char *s, Py_ssize_t a, Py_ssize_t b, PyObject **toks) {
    if (b > a && !sieve_may(special_sieve, s, a, b)) return 0;
    PyObject *sub = PyUnicode_Substring(chunk, a, b);
    if (!sub) return -1;
    PyObject *t = PyDict_GetItemWithError(specials, sub);
    Py_DECREF(sub);
    if (!t) return PyErr_Occurred() ? -1 : 0;
    if (toks) *toks = t;
    return 1;
}

static int append_span(PyObject *list, PyObject *chunk, Py_ssize_t a, Py_ssize_t b) {
    PyObject *t = PyUnicode_Substring(chunk, a, b);
    if (!t) return -1;
    int r = PyList_Append(list, t);
    Py_DECREF(t);
    return r;
}

static int extend(PyObject *list, PyObject *seq) {
    for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(seq); q++)
        if (PyList_Append(list, PyTuple_GET_ITEM(seq, q)) < 0) return -1;
    return 0;
}

/* words._tokenize_span(chunk, SPECIALS) for an ASCII chunk: new list, or Py_None (new ref) to give up. */
static PyObject *tokenize_ascii(PyObject *chunk, const unsigned char *s) {
    Py_ssize_t n = PyUnicode_GET_LENGTH(chunk), lo = 0, hi = n, last = -1;
    /* spans of prefixes, suffixes and infixes: on the stack for the usual short chunk */
    Py_ssize_t small[3 * (2 * 32 + 2)], *heap = NULL, *pre = small;
    if (n > 32) {
        heap = PyMem_Malloc(sizeof(Py_ssize_t) * 3 * (2 * n + 2));
        if (!heap) { PyErr_NoMemory(); return NULL; }
        pre = heap;
    }
    Py_ssize_t *suf = pre + (2 * n + 2), *inf = suf + (2 * n + 2);
    Py_ssize_t npre = 0, nsuf = 0;
    PyObject *out = NULL, *toks = NULL;
    while (hi > lo && hi - lo != last) {
        int sp = special(chunk, s, lo, hi, NULL);
        if (sp < 0) goto done;
        if (sp) break;
        last = hi - lo;
        Py_ssize_t pl = prefix_len(s, lo, hi);
        if (pl && lo + pl < hi) {
            sp = special(chunk, s, lo + pl, hi, NULL);
            if (sp < 0) goto done;
            if (sp) { pre[2 * npre] = lo; pre[2 * npre + 1] = lo + pl; npre++; lo += pl; break; }
        }
        Py_ssize_t sl = suffix_len(s, lo + pl, hi);
        if (sl && lo < hi - sl) {
            sp = special(chunk, s, lo, hi - sl, NULL);
            if (sp < 0) goto done;
            if (sp) { suf[2 * nsuf] = hi - sl; suf[2 * nsuf + 1] = hi; nsuf++; hi -= sl; break; }
        }
        if (pl) { pre[2 * npre] = lo; pre[2 * npre + 1] = lo + pl; npre++; lo += pl; }
        if (sl) { suf[2 * nsuf] = hi - sl; suf[2 * nsuf + 1] = hi; nsuf++; hi -= sl; }
    }
    out = PyList_New(0);
    if (!out) goto done;
    for (Py_ssize_t k = 0; k < npre; k++)
        if (append_span(out, chunk, pre[2 * k], pre[2 * k + 1]) < 0) goto fail;
    if (hi > lo) {
        int sp = special(chunk, s, lo, hi, &toks);
        if (sp < 0) goto fail;
        if (sp) {
            if (!PyTuple_Check(toks)) { PyErr_SetString(PyExc_TypeError, "a special case is a tuple"); goto fail; }
            if (extend(out, toks) < 0) goto fail;
        } else {
            Py_ssize_t k = infixes(s, lo, hi, inf);
            /* spaCy tests the URL first (on ASCII it needs a '.'; with a WIDE character it is always asked) */
            if (k && (!PyUnicode_IS_ASCII(chunk) || memchr(s + lo, '.', hi - lo))) {
                PyObject *core = PyUnicode_Substring(chunk, lo, hi);
                PyObject *url = core ? PyObject_CallOneArg(url_match, core) : NULL;
                Py_XDECREF(core);
                if (!url) goto fail;
                if (url != Py_None) k = 0;
                Py_DECREF(url);
            }
            Py_ssize_t start = lo;
            for (Py_ssize_t q = 0; q < k; q++) {
                Py_ssize_t i0 = inf[2 * q], i1 = inf[2 * q + 1];
                if (i0 == lo) continue;
                if (i0 != start && append_span(out, chunk, start, i0) < 0) goto fail;
                if (append_span(out, chunk, i0, i1) < 0) goto fail;
                start = i1;
            }
            if (hi > start && append_span(out, chunk, start, hi) < 0) goto fail;
        }
    }
    for (Py_ssize_t k = nsuf - 1; k >= 0; k--)
        if (append_span(out, chunk, suf[2 * k], suf[2 * k + 1]) < 0) goto fail;
    goto done;
fail:
    Py_CLEAR(out);
done:
    PyMem_Free(heap);
    return out;
}

typedef struct { Py_ssize_t start, end; } match_t;

static int match_order(const void *x, const void *y) {   /* longest first, then leftmost */
    const match_t *a = x, *b = y;
    Py_ssize_t la = a->end - a->start, lb = b->end - b->start;
    if (la != lb) return la > lb ? -1 : 1;
    return (a->start > b->start) - (a->start < b->start);
}

static int start_order(const void *x, const void *y) {
    const match_t *a = x, *b = y;
    return (a->start > b->start) - (a->start < b->start);
}

/* Is pre[i:i+len(pat)] == pat (1), or, with `partial`, does pat start with all of pre[i:] and run past it (2)? */
static int pattern_at(PyObject *pre, Py_ssize_t i, PyObject *pat) {
    Py_ssize_t n = PyTuple_GET_SIZE(pre), m = PyTuple_GET_SIZE(pat), q;
    Py_ssize_t upto = m < n - i ? m : n - i;
    for (q = 0; q < upto; q++) {
        int eq = PyUnicode_Compare(PyTuple_GET_ITEM(pre, i + q), PyTuple_GET_ITEM(pat, q));
        if (eq == -1 && PyErr_Occurred()) return -1;
        if (eq != 0) return 0;
    }
    return m <= n - i ? 1 : 2;
}

/* words._apply_special_cases(pre, space_after) and words._rests(pre) (pre a tuple; space NULL for a chunk, else a
 * flag per token: a ' ' follows it, as in a group of chunks): new refs in *post, *rests. Most chunks start no
 * pattern: then nothing is allocated (post is pre, rests the empty tuple). */
static int matcher(PyObject *pre, const char *space, PyObject **post, PyObject **rests) {
    Py_ssize_t n = PyTuple_GET_SIZE(pre), nf = 0, cap = 8;
    match_t small[8], *found = small;
    char small_seen[64], *seen = NULL;
    PyObject *rl = NULL, *out = NULL;
    *post = *rests = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *tok = PyTuple_GET_ITEM(pre, i);
        Py_ssize_t tl = PyUnicode_GET_LENGTH(tok);
        if (tl && PyUnicode_IS_ASCII(tok) && !sieve_may(pattern_sieve, PyUnicode_1BYTE_DATA(tok), 0, tl)) continue;
        PyObject *pats = PyDict_GetItemWithError(patterns, tok);
        if (!pats) { if (PyErr_Occurred()) goto fail; continue; }
        PyObject *tails_of = PyDict_GetItemWithError(pattern_tails, tok);
        if (!tails_of) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_KeyError, "pattern tails"); goto fail; }
        for (Py_ssize_t k = 0; k < PyList_GET_SIZE(pats); k++) {
            PyObject *pat = PyList_GET_ITEM(pats, k);
            int r = pattern_at(pre, i, pat);
            if (r < 0) goto fail;
            if (r == 1) {
                if (nf == cap) {
                    match_t *g = PyMem_Malloc(2 * cap * sizeof(match_t));
                    if (!g) { PyErr_NoMemory(); goto fail; }
                    memcpy(g, found, nf * sizeof(match_t));
                    if (found != small) PyMem_Free(found);
                    found = g; cap *= 2;
                }
                found[nf].start = i; found[nf].end = i + PyTuple_GET_SIZE(pat); nf++;
            } else if (r == 2) {   /* pat[n - i:], precomputed */
                PyObject *rest = PyTuple_GET_ITEM(PyTuple_GET_ITEM(tails_of, k), n - i - 1);
                if (!rl && !(rl = PyList_New(0))) goto fail;
                if (PyList_Append(rl, rest) < 0) goto fail;
            }
        }
    }
    if (rl) { *rests = PyList_AsTuple(rl); if (!*rests) goto fail; }
    else { Py_INCREF(empty_tuple); *rests = empty_tuple; }
    if (!nf) { Py_INCREF(pre); *post = pre; goto ok; }
    seen = n + 1 <= (Py_ssize_t)sizeof(small_seen) ? small_seen : PyMem_Malloc(n + 1);
    if (!seen) { PyErr_NoMemory(); goto fail; }
    memset(seen, 0, n + 1);
    /* Python's stable sort by (len, -start), then reversed: longest first, then leftmost; equal keys (one
       span found twice) come out in reverse order of finding, which does not matter for equal spans */
    qsort(found, nf, sizeof(match_t), match_order);
    Py_ssize_t nk = 0;
    for (Py_ssize_t k = 0; k < nf; k++) {
        if (!seen[found[k].start] && !seen[found[k].end - 1]) found[nk++] = found[k];
        for (Py_ssize_t q = found[k].start; q < found[k].end; q++) seen[q] = 1;
    }
    qsort(found, nk, sizeof(match_t), start_order);
    out = PyList_New(0);
    if (!out) goto fail;
    Py_ssize_t pos = 0;
    for (Py_ssize_t k = 0; k < nk; k++) {
        for (; pos < found[k].start; pos++)
            if (PyList_Append(out, PyTuple_GET_ITEM(pre, pos)) < 0) goto fail;
        PyObject *slice = PyTuple_GetSlice(pre, found[k].start, found[k].end);
        PyObject *empty = slice ? PyUnicode_FromStringAndSize("", 0) : NULL, *text = NULL;
        if (empty && !space) text = PyUnicode_Join(empty, slice);
        else if (empty) {   /* the tokens with a ' ' after each one that has one, but the last */
            PyObject *parts = PyList_New(0);
            int ok = parts != NULL;
            for (Py_ssize_t q = found[k].start; ok && q < found[k].end; q++) {
                ok = PyList_Append(parts, PyTuple_GET_ITEM(pre, q)) == 0;
                if (ok && space[q] && q + 1 < found[k].end) ok = PyList_Append(parts, one_space) == 0;
            }
            if (ok) text = PyUnicode_Join(empty, parts);
            Py_XDECREF(parts);
        }
        Py_XDECREF(empty);
        PyObject *rule = text ? PyDict_GetItemWithError(specials, text) : NULL;
        Py_XDECREF(text);
        if (!slice || (!rule && PyErr_Occurred())) { Py_XDECREF(slice); goto fail; }
        int r = extend(out, rule ? rule : slice);
        Py_DECREF(slice);
        if (r < 0) goto fail;
        pos = found[k].end;
    }
    for (; pos < n; pos++)
        if (PyList_Append(out, PyTuple_GET_ITEM(pre, pos)) < 0) goto fail;
    *post = PyList_AsTuple(out);
    if (!*post) goto fail;
ok:
    Py_XDECREF(out); Py_XDECREF(rl);
    if (found != small) PyMem_Free(found);
    if (seen != small_seen) PyMem_Free(seen);
    return 0;
fail:
    Py_XDECREF(out); Py_XDECREF(rl); Py_CLEAR(*rests); Py_CLEAR(*post);
    if (found != small) PyMem_Free(found);
    if (seen != small_seen) PyMem_Free(seen);
    return -1;
}

/* words._punct_kind(token) for a token of ASCII and WIDE characters (2 sentencizer punctuation, 1 other Unicode
 * punctuation, 0 anything else), -1 for any other token. */
static int token_kind(PyObject *t) {
    if (!PyUnicode_Check(t)) return -1;
    int tk = PyUnicode_KIND(t);
    const void *td = PyUnicode_DATA(t);
    Py_ssize_t tl = PyUnicode_GET_LENGTH(t);
    int punct = tl > 0;
    for (Py_ssize_t c = 0; c < tl; c++) {
        int w = wide_code(PyUnicode_READ(tk, td, c));
        if (w < 0) return -1;
        if (!IN(C_PUNCT_P, w)) punct = 0;
    }
    Py_UCS4 c0 = tl ? PyUnicode_READ(tk, td, 0) : 0;
    if (tl == 1 && (c0 == '!' || c0 == '.' || c0 == '?')) return 2;
    return punct;
}

/* words._kernel_entry(chunk) for a chunk of ASCII and WIDE characters, s its bytes (as WIDE says): a new entry,
 * or Py_None (new ref) to leave it to words.py. */
static PyObject *analyse_ascii(PyObject *chunk, const unsigned char *s) {
    PyObject *list = tokenize_ascii(chunk, s);
    if (!list || list == Py_None) return list;
    PyObject *pre = PyList_AsTuple(list), *post = NULL, *rests = NULL, *kinds = NULL, *e = NULL;
    Py_DECREF(list);
    if (!pre) return NULL;
    if (matcher(pre, NULL, &post, &rests) < 0) { Py_DECREF(pre); return NULL; }
    Py_ssize_t m = PyTuple_GET_SIZE(post);
    kinds = PyBytes_FromStringAndSize(NULL, m);
    if (!kinds) goto done;
    char *kp = PyBytes_AS_STRING(kinds);
    for (Py_ssize_t q = 0; q < m; q++) {
        int kd = token_kind(PyTuple_GET_ITEM(post, q));
        if (kd < 0) { e = Py_None; Py_INCREF(e); goto done; }   /* a special case's token: words.py decides */
        kp[q] = (char)kd;
    }
    e = PyTuple_Pack(4, post, pre, rests, kinds);
done:
    Py_XDECREF(pre); Py_XDECREF(post); Py_XDECREF(rests); Py_XDECREF(kinds);
    return e;
}

static void untrack(PyObject *t);

/* For each first token, each pattern's tails pat[1:], pat[2:], ...: the rests a chunk's entry holds, made once. */
static PyObject *make_pattern_tails(PyObject *pt) {
    PyObject *d = PyDict_New(), *k, *v;
    Py_ssize_t pos = 0;
    if (!d) return NULL;
    while (PyDict_Next(pt, &pos, &k, &v)) {
        if (!PyList_Check(v)) { PyErr_SetString(PyExc_TypeError, "patterns: a list per first token"); goto fail; }
        PyObject *per = PyTuple_New(PyList_GET_SIZE(v));
        if (!per) goto fail;
        for (Py_ssize_t q = 0; q < PyList_GET_SIZE(v); q++) {
            PyObject *pat = PyList_GET_ITEM(v, q);
            if (!PyTuple_Check(pat)) {
                Py_DECREF(per);
                PyErr_SetString(PyExc_TypeError, "a pattern is a tuple");
                goto fail;
            }
            Py_ssize_t m = PyTuple_GET_SIZE(pat);
            PyObject *tl = PyTuple_New(m > 1 ? m - 1 : 0);
            if (!tl) { Py_DECREF(per); goto fail; }
            PyTuple_SET_ITEM(per, q, tl);
            for (Py_ssize_t j = 1; j < m; j++) {
                PyObject *t = PyTuple_GetSlice(pat, j, m);
                if (!t) { Py_DECREF(per); goto fail; }
                untrack(t);
                PyTuple_SET_ITEM(tl, j - 1, t);
            }
        }
        if (PyDict_SetItem(d, k, per) < 0) { Py_DECREF(per); goto fail; }
        Py_DECREF(per);
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static PyObject *configure_rules(PyObject *self, PyObject *args) {
    PyObject *sp, *pt, *um;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyDict_Type, &sp, &PyDict_Type, &pt, &um)) return NULL;
    if (sieve_fill(special_sieve, sp) < 0 || sieve_fill(pattern_sieve, pt) < 0) return NULL;
    PyObject *tl = make_pattern_tails(pt);
    if (!tl) return NULL;
    Py_INCREF(sp); Py_INCREF(pt); Py_INCREF(um);
    Py_XSETREF(specials, sp); Py_XSETREF(patterns, pt); Py_XSETREF(url_match, um); Py_XSETREF(pattern_tails, tl);
    table_clear();   /* entries made under the old rules go */
    Py_RETURN_NONE;
}

/* analyse_ascii for a chunk of ASCII and WIDE characters (Py_None, new ref, for any other). */
static PyObject *analyse_narrow(PyObject *chunk) {
    if (PyUnicode_IS_ASCII(chunk)) return analyse_ascii(chunk, PyUnicode_1BYTE_DATA(chunk));
    Py_ssize_t n = PyUnicode_GET_LENGTH(chunk);
    if (!n) Py_RETURN_NONE;
    int kind = PyUnicode_KIND(chunk);
    const void *data = PyUnicode_DATA(chunk);
    unsigned char small[256] = {0}, *s = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    if (!s) return PyErr_NoMemory();
    for (Py_ssize_t i = 0; i < n; i++) {
        int w = wide_code(PyUnicode_READ(kind, data, i));
        if (w < 0) { if (s != small) PyMem_Free(s); Py_RETURN_NONE; }
        s[i] = (unsigned char)w;
    }
    PyObject *e = analyse_ascii(chunk, s);
    if (s != small) PyMem_Free(s);
    return e;
}

/* analyse(chunk) -> the entry analyse_ascii builds, or None where it leaves the chunk to words.py (for tests). */
static PyObject *analyse(PyObject *self, PyObject *chunk) {
    if (!PyUnicode_Check(chunk)) { PyErr_SetString(PyExc_TypeError, "chunk must be a str"); return NULL; }
    if (!specials) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit rules are not configured"); return NULL; }
    if (PyUnicode_GET_LENGTH(chunk) == 0) Py_RETURN_NONE;
    return analyse_narrow(chunk);
}

/* The cyclic GC need not watch cache entries: they hold only str and tuples of str, so they can be in no cycle
 * (CPython itself untracks such tuples, but only once a collection has visited them, while the cache of ~100k
 * entries made collections a fifth of the chain's time). */
static void untrack(PyObject *t) {
    if (PyTuple_CheckExact(t) && PyObject_GC_IsTracked(t)) PyObject_GC_UnTrack(t);
}

static void untrack_entry(PyObject *e) {
    PyObject *rests = PyTuple_GET_ITEM(e, 2);
    for (Py_ssize_t r = 0; r < PyTuple_GET_SIZE(rests); r++) untrack(PyTuple_GET_ITEM(rests, r));
    untrack(PyTuple_GET_ITEM(e, 0)); untrack(PyTuple_GET_ITEM(e, 1)); untrack(rests); untrack(e);
}

/* New reference to the entry of text[start:end]. */
static PyObject *get_entry(PyObject *text, int kind, const void *data, Py_ssize_t start, Py_ssize_t end,
                           Py_hash_t h) {
    PyObject *e = table_get(h, kind, data, start, end);
    if (e) { Py_INCREF(e); return e; }
    PyObject *chunk = PyUnicode_Substring(text, start, end);
    if (!chunk) return NULL;
    int letters = 1, digits = 1;
    for (Py_ssize_t i = start; i < end && (letters || digits); i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        int is_letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int is_digit = c >= '0' && c <= '9';
        letters &= is_letter; digits &= is_digit;
    }
    if (letters || digits) {
        int b = PySet_Contains(blocked, chunk);
        if (b < 0) { Py_DECREF(chunk); return NULL; }
        if (!b) {
            PyObject *toks = PyTuple_Pack(1, chunk);
            if (!toks) { Py_DECREF(chunk); return NULL; }
            e = PyTuple_Pack(4, toks, toks, empty_tuple, zero_kind);
            Py_DECREF(toks);
        }
    }
    if (!e && !letters && !digits && end - start >= 2) {
        /* a letters-only or digits-only core and one suffix character from `tails` (for '.', after a lowercase
           letter or a digit): the suffix rule takes exactly that character and nothing else applies */
        Py_UCS4 last = PyUnicode_READ(kind, data, end - 1), before = PyUnicode_READ(kind, data, end - 2);
        int cl = 1, cd = 1;
        for (Py_ssize_t i = start; i < end - 1 && (cl || cd); i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            cl &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
            cd &= c >= '0' && c <= '9';
        }
        int dot_ok = last != '.' || (before >= 'a' && before <= 'z') || (before >= '0' && before <= '9');
        if ((cl || cd) && dot_ok && last < 128) {
            PyObject *key = PyUnicode_Substring(text, end - 1, end);
            PyObject *tail = key ? PyDict_GetItemWithError(tails, key) : NULL;
            Py_XDECREF(key);
            if (!tail && PyErr_Occurred()) { Py_DECREF(chunk); return NULL; }
            if (tail) {
                PyObject *core = PyUnicode_Substring(text, start, end - 1);
                if (!core) { Py_DECREF(chunk); return NULL; }
                int b1 = PySet_Contains(blocked, chunk), b2 = b1 ? b1 : PySet_Contains(blocked, core);
                if (b1 < 0 || b2 < 0) { Py_DECREF(core); Py_DECREF(chunk); return NULL; }
                if (!b2) {
                    PyObject *tpost = PyTuple_GET_ITEM(tail, 0), *trests = PyTuple_GET_ITEM(tail, 1);
                    PyObject *tkinds = PyTuple_GET_ITEM(tail, 2);
                    Py_ssize_t nt = PyTuple_GET_SIZE(tpost);
                    PyObject *post = PyTuple_New(nt + 1), *pre = PyTuple_New(2);
                    PyObject *kinds = PyBytes_FromStringAndSize(NULL, nt + 1);
                    PyObject *ctok = PyUnicode_Substring(text, end - 1, end);
                    if (post && pre && kinds && ctok) {
                        Py_INCREF(core); PyTuple_SET_ITEM(post, 0, core);
                        for (Py_ssize_t q = 0; q < nt; q++) {
                            Py_INCREF(PyTuple_GET_ITEM(tpost, q));
                            PyTuple_SET_ITEM(post, q + 1, PyTuple_GET_ITEM(tpost, q));
                        }
                        Py_INCREF(core); PyTuple_SET_ITEM(pre, 0, core);
                        PyTuple_SET_ITEM(pre, 1, ctok); ctok = NULL;
                        char *kp = PyBytes_AS_STRING(kinds);
                        kp[0] = 0;
                        memcpy(kp + 1, PyBytes_AS_STRING(tkinds), nt);
                        e = PyTuple_Pack(4, post, pre, trests, kinds);
                    }
                    Py_XDECREF(post); Py_XDECREF(pre); Py_XDECREF(kinds); Py_XDECREF(ctok);
                    if (!e) { Py_DECREF(core); Py_DECREF(chunk); return NULL; }
                }
                Py_DECREF(core);
            }
        }
    }
    if (!e && specials) {
        if (PyErr_Occurred()) { Py_DECREF(chunk); return NULL; }
        e = analyse_narrow(chunk);
        if (!e) { Py_DECREF(chunk); return NULL; }
        if (e == Py_None) Py_CLEAR(e);
    }
    if (!e) {
        if (PyErr_Occurred()) { Py_DECREF(chunk); return NULL; }
        e = PyObject_CallOneArg(miss_fn, chunk);
        if (!e || check_entry(e) < 0) { Py_XDECREF(e); Py_DECREF(chunk); return NULL; }
    }
    untrack_entry(e);
    if (slot_count >= cache_max) table_clear();   /* bounded like spaCy's cache: only speed depends on it */
    table_put(h, chunk, e);
    Py_DECREF(chunk);
    return e;
}

/* Is text[a:b] exactly one ' '? */
static int single_space(int kind, const void *data, Py_ssize_t a, Py_ssize_t b) {
    return b - a == 1 && PyUnicode_READ(kind, data, a) == ' ';
}

/* The last chunk that a pattern starting inside chunk i reaches across single-space gaps (i if none). */
static Py_ssize_t reach(int kind, const void *data, chunk_t *ch, Py_ssize_t n, Py_ssize_t i) {
    PyObject *rests = PyTuple_GET_ITEM(ch[i].entry, 2);
    Py_ssize_t last = i;
    for (Py_ssize_t r = 0; r < PyTuple_GET_SIZE(rests); r++) {
        PyObject *rest = PyTuple_GET_ITEM(rests, r);
        Py_ssize_t need = PyTuple_GET_SIZE(rest), j = 0, b = i + 1;
        while (b < n && single_space(kind, data, ch[b - 1].end, ch[b].start)) {
            PyObject *pre = PyTuple_GET_ITEM(ch[b].entry, 1);
            Py_ssize_t t = PyTuple_GET_SIZE(pre), m = need - j < t ? need - j : t, q;
            for (q = 0; q < m; q++) {
                int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(rest, j + q), PyTuple_GET_ITEM(pre, q), Py_EQ);
                if (eq < 0) return -1;
                if (!eq) break;
            }
            if (q < m) break;            /* mismatch: this pattern does not cross */
            j += m;
            if (j == need) {             /* the whole pattern matched, ending in chunk b */
                if (b > last) last = b;
                break;
            }
            b++;
        }
    }
    return last;
}

/* Split text into chunks with their entries, and mark the groups of chunks that patterns match across: ch[k].group
 * is the last chunk of the group starting at k (k itself when chunk k is on its own). 0, or -1 on error. */
static int load(PyObject *text, chunk_t **out, Py_ssize_t *count) {
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), cap = 64, n = 0, i = 0;
    chunk_t *ch = PyMem_Malloc(cap * sizeof(chunk_t));
    if (!ch) { PyErr_NoMemory(); return -1; }
    *out = ch; *count = 0;
    while (i < len) {
        Py_ssize_t s;
        Py_hash_t h;
        if (kind == PyUnicode_1BYTE_KIND) {   /* most texts: scan and hash in one pass (span_hash's function) */
            const unsigned char *b = data;
            while (i < len && space1[b[i]]) i++;
            if (i >= len) break;
            s = i;
            unsigned long long hh = 14695981039346656037ULL;
            while (i < len && !space1[b[i]]) { hh = (hh ^ b[i]) * 1099511628211ULL; i++; }
            hh ^= hh >> 29;
            h = (Py_hash_t)hh;
        } else if (kind == PyUnicode_2BYTE_KIND) {   /* most other texts (a curly quote or a dash): the same */
            const Py_UCS2 *b = data;
#define SPACE2(c) ((c) < 256 ? space1[(c)] : Py_UNICODE_ISSPACE(c))
            while (i < len && SPACE2(b[i])) i++;
            if (i >= len) break;
            s = i;
            unsigned long long hh = 14695981039346656037ULL;
            while (i < len && !SPACE2(b[i])) { hh = (hh ^ b[i]) * 1099511628211ULL; i++; }
#undef SPACE2
            hh ^= hh >> 29;
            h = (Py_hash_t)hh;
        } else {
            while (i < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) i++;
            if (i >= len) break;
            s = i;
            while (i < len && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) i++;
            h = span_hash(kind, data, s, i);
        }
        if (n == cap) {
            cap *= 2;
            chunk_t *grown = PyMem_Realloc(ch, cap * sizeof(chunk_t));
            if (!grown) { PyErr_NoMemory(); return -1; }
            ch = grown; *out = ch;
        }
        PyObject *e = get_entry(text, kind, data, s, i, h);
        if (!e) return -1;
        ch[n].start = s; ch[n].end = i; ch[n].entry = e; ch[n].group = n;
        *count = ++n;
    }
    /* a pattern matched across chunks k..e shadows or is shadowed only by matches sharing its tokens, all inside
       chunks k..e or inside another cross-chunk match overlapping them: such chunks form one group */
    Py_ssize_t head = -1, tail = -1;
    for (Py_ssize_t k = 0; k + 1 < n; k++) {
        if (PyTuple_GET_SIZE(PyTuple_GET_ITEM(ch[k].entry, 2)) == 0) continue;
        Py_ssize_t e = reach(kind, data, ch, n, k);
        if (e < 0) return -1;
        if (e == k) continue;
        if (head >= 0 && k <= tail) {
            if (e > tail) tail = e;
        } else {
            if (head >= 0) ch[head].group = tail;
            head = k; tail = e;
        }
        ch[head].group = tail;
    }
    return 0;
}

/* words._kernel_group(pre, space_after) in C: 1 with new refs in *tokens, *kinds; 0 if a token is not of ASCII and
 * WIDE characters (then words.py's); -1 on error. */
static int group_in_c(PyObject *pre_list, PyObject *space_list, PyObject **tokens, PyObject **kinds) {
    Py_ssize_t n = PyList_GET_SIZE(pre_list);
    char small[64], *space = n <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)n);
    PyObject *pre = NULL, *post = NULL, *rests = NULL, *kb = NULL;
    int r = -1;
    if (!space) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t q = 0; q < n; q++) space[q] = PyList_GET_ITEM(space_list, q) == Py_True;
    pre = PyList_AsTuple(pre_list);
    if (!pre || matcher(pre, space, &post, &rests) < 0) goto done;
    Py_ssize_t m = PyTuple_GET_SIZE(post);
    kb = PyBytes_FromStringAndSize(NULL, m);
    if (!kb) goto done;
    for (Py_ssize_t q = 0; q < m; q++) {
        int kd = token_kind(PyTuple_GET_ITEM(post, q));
        if (kd < 0) { r = 0; goto done; }
        PyBytes_AS_STRING(kb)[q] = (char)kd;
    }
    *tokens = post; post = NULL;
    *kinds = kb; kb = NULL;
    r = 1;
done:
    Py_XDECREF(pre); Py_XDECREF(post); Py_XDECREF(rests); Py_XDECREF(kb);
    if (space != small) PyMem_Free(space);
    return r;
}

/* New references to the tokens and sentencizer kinds of chunks k..ch[k].group. */
static int piece(chunk_t *ch, Py_ssize_t k, PyObject **tokens, PyObject **kinds) {
    Py_ssize_t e = ch[k].group;
    if (e == k) {
        *tokens = PyTuple_GET_ITEM(ch[k].entry, 0); Py_INCREF(*tokens);
        *kinds = PyTuple_GET_ITEM(ch[k].entry, 3); Py_INCREF(*kinds);
        return 0;
    }
    PyObject *pre = PyList_New(0), *space = PyList_New(0), *res = NULL;
    if (!pre || !space) goto fail;
    for (Py_ssize_t b = k; b <= e; b++) {
        PyObject *toks = PyTuple_GET_ITEM(ch[b].entry, 1);
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(toks); q++) {
            if (PyList_Append(pre, PyTuple_GET_ITEM(toks, q)) < 0) goto fail;
            PyObject *flag = (q + 1 == PyTuple_GET_SIZE(toks) && b < e) ? Py_True : Py_False;
            if (PyList_Append(space, flag) < 0) goto fail;
        }
    }
    /* the C matcher (as for a chunk, with the spaces); words.py only for a token it cannot class */
    if (specials && c_groups) {
        int r = group_in_c(pre, space, tokens, kinds);
        if (r < 0) goto fail;
        if (r) { Py_DECREF(pre); Py_DECREF(space); return 0; }
    }
    res = PyObject_CallFunctionObjArgs(group_fn, pre, space, NULL);
    if (!res) goto fail;
    if (!PyTuple_Check(res) || PyTuple_GET_SIZE(res) != 2 || !PyTuple_Check(PyTuple_GET_ITEM(res, 0))
        || !PyBytes_Check(PyTuple_GET_ITEM(res, 1))
        || PyTuple_GET_SIZE(PyTuple_GET_ITEM(res, 0)) != PyBytes_GET_SIZE(PyTuple_GET_ITEM(res, 1))) {
        PyErr_SetString(PyExc_TypeError, "group() must return (tokens tuple, kinds bytes)");
        goto fail;
    }
    *tokens = PyTuple_GET_ITEM(res, 0); Py_INCREF(*tokens);
    *kinds = PyTuple_GET_ITEM(res, 1); Py_INCREF(*kinds);
    Py_DECREF(res); Py_DECREF(pre); Py_DECREF(space);
    return 0;
fail:
    Py_XDECREF(res); Py_XDECREF(pre); Py_XDECREF(space);
    return -1;
}

/* group(pre, space_after) -> group_in_c's (tokens, kinds), or None where it leaves the group to words.py (tests). */
static PyObject *group(PyObject *self, PyObject *args) {
    PyObject *pre, *space, *tokens, *kinds;
    if (!PyArg_ParseTuple(args, "O!O!", &PyList_Type, &pre, &PyList_Type, &space)) return NULL;
    if (!specials) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit rules are not configured"); return NULL; }
    if (PyList_GET_SIZE(pre) != PyList_GET_SIZE(space)) {
        PyErr_SetString(PyExc_ValueError, "one flag a token");
        return NULL;
    }
    for (Py_ssize_t q = 0; q < PyList_GET_SIZE(pre); q++)
        if (!PyUnicode_Check(PyList_GET_ITEM(pre, q))) {
            PyErr_SetString(PyExc_TypeError, "tokens are str");
            return NULL;
        }
    int r = group_in_c(pre, space, &tokens, &kinds);
    if (r < 0) return NULL;
    if (!r) Py_RETURN_NONE;
    PyObject *res = PyTuple_Pack(2, tokens, kinds);
    Py_DECREF(tokens); Py_DECREF(kinds);
    return res;
}

static void unload(chunk_t *ch, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++) Py_DECREF(ch[k].entry);
    PyMem_Free(ch);
}

static PyObject *words(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    if (!miss_fn) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit is not configured"); return NULL; }
    chunk_t *ch = NULL;
    Py_ssize_t n = 0, total = 0, grouped = 0;
    if (load(text, &ch, &n) < 0) { unload(ch, n); return NULL; }
    for (Py_ssize_t k = 0; k < n; k++) {
        total += PyTuple_GET_SIZE(PyTuple_GET_ITEM(ch[k].entry, 0));
        grouped |= ch[k].group != k;
    }
    PyObject *list = grouped ? PyList_New(0) : PyList_New(total);
    if (!list) { unload(ch, n); return NULL; }
    Py_ssize_t pos = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (!grouped) {
            PyObject *post = PyTuple_GET_ITEM(ch[k].entry, 0);
            for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(post); q++) {
                PyObject *tok = PyTuple_GET_ITEM(post, q);
                Py_INCREF(tok);
                PyList_SET_ITEM(list, pos++, tok);
            }
            continue;
        }
        PyObject *toks, *kinds;
        if (piece(ch, k, &toks, &kinds) < 0) { Py_DECREF(list); unload(ch, n); return NULL; }
        Py_DECREF(kinds);
        for (Py_ssize_t q = 0; q < PyTuple_GET_SIZE(toks); q++) {
            if (PyList_Append(list, PyTuple_GET_ITEM(toks, q)) < 0) {
                Py_DECREF(toks); Py_DECREF(list); unload(ch, n); return NULL;
            }
        }
        Py_DECREF(toks);
        k = ch[k].group;
    }
    unload(ch, n);
    /* A list of str can be in no reference cycle (words.py keeps it, unmutated, in a memo of the last few
       thousand texts): the cyclic GC need not walk its ~500 items in every collection it survives, which was
       most of the collections' time in a chain. */
    PyObject_GC_UnTrack(list);
    return list;
}

static PyObject *sentences(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    if (!miss_fn) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit is not configured"); return NULL; }
    chunk_t *ch = NULL;
    Py_ssize_t n = 0;
    if (load(text, &ch, &n) < 0) { unload(ch, n); return NULL; }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), count = 1;
    int seen = 0;
    for (Py_ssize_t k = 0; k <= n; k++) {
        /* the whitespace before chunk k (after the last chunk when k == n): one ' ' after a chunk is its trailing
           space, anything more (or any leading whitespace) is at least one whitespace token */
        Py_ssize_t a = k ? ch[k - 1].end : 0, b = k < n ? ch[k].start : len;
        if (b > a && !(k && PyUnicode_READ(kind, data, a) == ' ' && b - a == 1)) {
            if (seen) { count++; seen = 0; }
        }
        if (k == n) break;
        PyObject *toks, *kinds;
        if (piece(ch, k, &toks, &kinds) < 0) { unload(ch, n); return NULL; }
        const unsigned char *kp = (const unsigned char *)PyBytes_AS_STRING(kinds);
        for (Py_ssize_t q = 0; q < PyBytes_GET_SIZE(kinds); q++) {
            if (seen && kp[q] == 0) { count++; seen = 0; }
            else if (kp[q] == 2) seen = 1;
        }
        Py_DECREF(toks); Py_DECREF(kinds);
        k = ch[k].group;
    }
    unload(ch, n);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "(blocked, miss, group, tails, cache_max); empties the cache"},
    {"entries", entries, METH_NOARGS, "a new dict of the cached chunks and their entries (for tests)"},
    {"configure_rules", configure_rules, METH_VARARGS, "(specials, patterns, url_match): the cold path's rules"},
    {"group", group, METH_VARARGS, "(pre, space_after) -> (tokens, kinds) by the C matcher, or None (for tests)"},
    {"analyse", analyse, METH_O, "chunk -> its cache entry from the C rules, or None where they leave it to Python"},
    {"words", words, METH_O, "text -> word tokens (datatrove's word_tokenize)"},
    {"sentences", sentences, METH_O, "text -> number of sentences (datatrove's split_into_sentences)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wordsplit", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wordsplit(void) {
    fill_classes();
    for (int c = 0; c < 256; c++) space1[c] = Py_UNICODE_ISSPACE(c) ? 1 : 0;
    zero_kind = PyBytes_FromStringAndSize("\0", 1);
    empty_tuple = PyTuple_New(0);
    one_space = PyUnicode_FromStringAndSize(" ", 1);
    if (!zero_kind || !empty_tuple || !one_space) return NULL;
    return PyModule_Create(&module);
}
