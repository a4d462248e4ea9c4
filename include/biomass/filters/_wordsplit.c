/* The per-text loop of biomass.filters.words (datatrove's spaCy English tokenizer), in C.
 *
 * Why C: a text's tokens are the concatenation of its whitespace-free chunks' tokens, and a chunk's tokens depend
 * only on the chunk, so words.py caches them per distinct chunk; what remains per text is splitting on whitespace,
 * one cache lookup per chunk and building the token list. In Python that loop (and the matcher pass over the
 * whole text whenever one chunk's tokens could start a special-case pattern that continues into the next) was most
 * of the quality filters' time. Here:
 *
 *   - chunks are runs of non-whitespace (Py_UNICODE_ISSPACE: str.split() and the regex \s);
 *   - a chunk of only ASCII letters or only ASCII digits that is neither a special case nor the first token of a
 *     matcher pattern is its own one token (no prefix, suffix or infix rule can match such a string: every rule
 *     consumes a character outside [A-Za-z0-9], and the digit-then-unit suffix needs both kinds); any other chunk
 *     so is such a core followed by one of a few suffix characters (`tails`: ',', ';', ':', ')', '!', '?', and
 *     '.' after a lowercase letter or a digit), which the suffix rules take alone: its tokens are the core and
 *     that character's own tokens; any other chunk not in the cache is analysed by words.py (`miss(chunk)`);
 *   - a cache entry is (post, pre, rests, kinds): the chunk's tokens after / before the special-case matcher
 *     confined to the chunk, the remainders of the patterns that start inside it and run past its end, and each
 *     post token's sentencizer class (0 other, 1 punctuation, 2 sentence punctuation);
 *   - a pattern can only match across chunks separated by exactly one ' ' (any other gap is a whitespace token,
 *     and no multi-token pattern contains one). Where none does, the matcher over the whole text finds only the
 *     matches inside chunks, so the text's tokens are the concatenation of the chunks' post tokens. The chunks a
 *     cross-chunk match spans (with those of overlapping ones) form a group whose pre tokens, with the spaces
 *     between chunks, go through words.py's matcher (`group(pre, space_after)` -> (tokens, kinds)); a match
 *     outside the group shares no token with one inside, so it cannot shadow it or be shadowed by it.
 *
 * words(text) -> list[str]: word_tokenize (whitespace tokens dropped).
 * sentences(text) -> int: count_sentences (a whitespace token is a non-punctuation token; one or several in a
 *   row act the same, so a gap only needs to be known to produce one).
 * configure(cache, blocked, miss, group, tails, cache_max) sets the shared state.
 * tests/filters/test_wordsplit.py proves equality with the pure-Python reference in words.py.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *cache = NULL;          /* dict: chunk -> entry */
static PyObject *blocked = NULL;        /* set of chunks the plain fast path must leave to miss() */
static PyObject *miss_fn = NULL, *group_fn = NULL;
static PyObject *tails = NULL;         /* dict: one-char suffix -> (post, rests, kinds) of that token alone */
static Py_ssize_t cache_max = 200000;
static PyObject *zero_kind = NULL;      /* b"\0" */
static PyObject *empty_tuple = NULL;

typedef struct {
    Py_ssize_t start, end;   /* chunk span in code points */
    PyObject *entry;         /* owned */
    Py_ssize_t group;        /* see load() */
} chunk_t;

static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *c, *b, *m, *g, *t;
    Py_ssize_t cm;
    if (!PyArg_ParseTuple(args, "O!OOOO!n", &PyDict_Type, &c, &b, &m, &g, &PyDict_Type, &t, &cm)) return NULL;
    Py_INCREF(c); Py_INCREF(b); Py_INCREF(m); Py_INCREF(g); Py_INCREF(t);
    Py_XSETREF(cache, c); Py_XSETREF(blocked, b); Py_XSETREF(miss_fn, m); Py_XSETREF(group_fn, g);
    Py_XSETREF(tails, t);
    cache_max = cm;
    Py_RETURN_NONE;
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

/* New reference to the entry of text[start:end]. */
static PyObject *get_entry(PyObject *text, int kind, const void *data, Py_ssize_t start, Py_ssize_t end) {
    PyObject *chunk = PyUnicode_Substring(text, start, end);
    if (!chunk) return NULL;
    PyObject *e = PyDict_GetItemWithError(cache, chunk);
    if (e) { Py_INCREF(e); Py_DECREF(chunk); return e; }
    if (PyErr_Occurred()) { Py_DECREF(chunk); return NULL; }
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
    if (!e) {
        if (PyErr_Occurred()) { Py_DECREF(chunk); return NULL; }
        e = PyObject_CallOneArg(miss_fn, chunk);
        if (!e || check_entry(e) < 0) { Py_XDECREF(e); Py_DECREF(chunk); return NULL; }
    }
    if (PyDict_GET_SIZE(cache) >= cache_max) PyDict_Clear(cache);
    if (PyDict_SetItem(cache, chunk, e) < 0) { Py_DECREF(e); Py_DECREF(chunk); return NULL; }
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
        while (i < len && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) i++;
        if (i >= len) break;
        Py_ssize_t s = i;
        while (i < len && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, i))) i++;
        if (n == cap) {
            cap *= 2;
            chunk_t *grown = PyMem_Realloc(ch, cap * sizeof(chunk_t));
            if (!grown) { PyErr_NoMemory(); return -1; }
            ch = grown; *out = ch;
        }
        PyObject *e = get_entry(text, kind, data, s, i);
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

static void unload(chunk_t *ch, Py_ssize_t n) {
    for (Py_ssize_t k = 0; k < n; k++) Py_DECREF(ch[k].entry);
    PyMem_Free(ch);
}

static PyObject *words(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    if (!cache) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit is not configured"); return NULL; }
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
    return list;
}

static PyObject *sentences(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    if (!cache) { PyErr_SetString(PyExc_RuntimeError, "_wordsplit is not configured"); return NULL; }
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
    {"configure", configure, METH_VARARGS, "(cache, blocked, miss, group, tails, cache_max)"},
    {"words", words, METH_O, "text -> word tokens (datatrove's word_tokenize)"},
    {"sentences", sentences, METH_O, "text -> number of sentences (datatrove's split_into_sentences)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wordsplit", NULL, -1, methods};

PyMODINIT_FUNC PyInit__wordsplit(void) {
    zero_kind = PyBytes_FromStringAndSize("\0", 1);
    empty_tuple = PyTuple_New(0);
    if (!zero_kind || !empty_tuple) return NULL;
    return PyModule_Create(&module);
}
