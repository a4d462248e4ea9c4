/* Per-document counts of datatrove's Gopher filters over a list of word tokens, in one pass each.
 *
 * Why C: GopherRepetitionFilter builds a Python string for every word n-gram (n = 2..10, ~9 strings per word)
 * and GopherQualityFilter tests every character of every word against a set; that is most of their cost.
 * Here n-grams are hashed in place and compared byte-for-byte, so the counts are exact, not probabilistic.
 *
 * ngram_stats(words, top_ns, dup_ns) -> (top, dup), one int per n:
 *   top[k]: datatrove's find_top_duplicate(get_n_grams(words, n)): the n-gram (words joined by one space) with the
 *           highest count, ties to the one seen first (Counter.most_common), as len(ngram) * count; -1 when the
 *           text has fewer than n words (datatrove skips that n). Words never contain spaces, so equal joined
 *           strings are equal word sequences.
 *   dup[k]: datatrove's find_all_duplicate(words, n): n-grams joined with NO separator (so "ab"+"c" equals
 *           "a"+"bc", as in datatrove), scanned left to right; a repeat adds its length and skips n words.
 * word_stats(words) -> (n_non_symbol, chars_of_non_symbol, n_with_alpha): a non-symbol word has a character
 *   outside the punctuation set given to set_punctuation(); alpha is str.isalpha() per character.
 * line_stats(text) -> (n_lines, bullet_lines, ellipsis_lines): GopherQualityFilter's line counts over
 *   text.splitlines() (Py_UNICODE_ISLINEBREAK, "\r\n" one break): lines that after lstrip() start with '•' or '-',
 *   and lines that after rstrip() end with "..." or '…' (strip: Py_UNICODE_ISSPACE, as str.strip).
 * Lengths are in code points, like len() of a str.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;
    Py_ssize_t pos;   /* -1: empty slot */
    Py_ssize_t count;
} slot_t;

typedef struct {
    Py_ssize_t n;
    const char **ptr;    /* UTF-8 of each word (owned by the str objects) */
    Py_ssize_t *blen;    /* UTF-8 length */
    Py_ssize_t *cpre;    /* prefix sums of code-point lengths, n + 1 */
    Py_ssize_t *bpre;    /* prefix sums of UTF-8 lengths, n + 1 */
    uint32_t *ids;       /* interned word ids */
    char *buf;           /* all words concatenated */
    uint64_t *hpre;      /* polynomial prefix hashes of buf */
    uint64_t *pw;        /* powers of the base */
} words_t;

static const uint64_t BASE = 0x100000001b3ULL * 2 + 1;

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdULL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ULL; x ^= x >> 33;
    return x;
}

static uint64_t fnv(const char *p, Py_ssize_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (Py_ssize_t i = 0; i < len; i++) { h ^= (unsigned char)p[i]; h *= 0x100000001b3ULL; }
    return mix64(h);
}

static Py_ssize_t table_cap(Py_ssize_t n) {
    Py_ssize_t cap = 16;
    while (cap < 2 * n + 2) cap <<= 1;
    return cap;
}

static void words_free(words_t *w) {
    PyMem_Free(w->ptr); PyMem_Free(w->blen); PyMem_Free(w->cpre); PyMem_Free(w->bpre);
    PyMem_Free(w->ids); PyMem_Free(w->buf); PyMem_Free(w->hpre); PyMem_Free(w->pw);
    memset(w, 0, sizeof(*w));
}

/* Read the list; with `full`, also intern ids and build the concatenation and its prefix hashes. */
static int words_load(PyObject *list, words_t *w, int full) {
    memset(w, 0, sizeof(*w));
    if (!PyList_Check(list)) { PyErr_SetString(PyExc_TypeError, "words must be a list of str"); return -1; }
    Py_ssize_t n = PyList_GET_SIZE(list);
    w->n = n;
    w->ptr = PyMem_Malloc((n + 1) * sizeof(char *));
    w->blen = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    w->cpre = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    w->bpre = PyMem_Malloc((n + 1) * sizeof(Py_ssize_t));
    if (!w->ptr || !w->blen || !w->cpre || !w->bpre) { PyErr_NoMemory(); return -1; }
    w->cpre[0] = 0; w->bpre[0] = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(list, i);
        if (!PyUnicode_Check(s)) { PyErr_SetString(PyExc_TypeError, "words must be a list of str"); return -1; }
        Py_ssize_t bl;
        const char *p = PyUnicode_AsUTF8AndSize(s, &bl);
        if (!p) return -1;
        w->ptr[i] = p; w->blen[i] = bl;
        w->cpre[i + 1] = w->cpre[i] + PyUnicode_GET_LENGTH(s);
        w->bpre[i + 1] = w->bpre[i] + bl;
    }
    if (!full) return 0;
    Py_ssize_t total = w->bpre[n];
    w->ids = PyMem_Malloc((n + 1) * sizeof(uint32_t));
    w->buf = PyMem_Malloc(total + 1);
    w->hpre = PyMem_Malloc((total + 1) * sizeof(uint64_t));
    w->pw = PyMem_Malloc((total + 1) * sizeof(uint64_t));
    if (!w->ids || !w->buf || !w->hpre || !w->pw) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) memcpy(w->buf + w->bpre[i], w->ptr[i], w->blen[i]);
    w->hpre[0] = 0; w->pw[0] = 1;
    for (Py_ssize_t k = 0; k < total; k++) {
        w->hpre[k + 1] = w->hpre[k] * BASE + (unsigned char)w->buf[k] + 1;
        w->pw[k + 1] = w->pw[k] * BASE;
    }
    /* intern: equal strings get equal ids */
    Py_ssize_t cap = table_cap(n);
    slot_t *t = PyMem_Malloc(cap * sizeof(slot_t));
    if (!t) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t k = 0; k < cap; k++) t[k].pos = -1;
    uint32_t next = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t h = fnv(w->ptr[i], w->blen[i]);
        Py_ssize_t k = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        for (;;) {
            if (t[k].pos < 0) { t[k].hash = h; t[k].pos = i; t[k].count = next; w->ids[i] = next++; break; }
            Py_ssize_t j = t[k].pos;
            if (t[k].hash == h && w->blen[j] == w->blen[i] && memcmp(w->ptr[j], w->ptr[i], w->blen[i]) == 0) {
                w->ids[i] = (uint32_t)t[k].count; break;
            }
            k = (k + 1) & (cap - 1);
        }
    }
    PyMem_Free(t);
    return 0;
}

static uint64_t bytes_hash(const words_t *w, Py_ssize_t a, Py_ssize_t b) {   /* hash of buf[a:b] */
    return mix64(w->hpre[b] - w->hpre[a] * w->pw[b - a]);
}

/* find_top_duplicate over the space-joined n-grams. */
static Py_ssize_t top_ngram(const words_t *w, Py_ssize_t n, slot_t *t, Py_ssize_t cap) {
    Py_ssize_t m = w->n - n + 1;
    if (m <= 0) return -1;
    for (Py_ssize_t k = 0; k < cap; k++) t[k].pos = -1;
    for (Py_ssize_t i = 0; i < m; i++) {
        uint64_t h = 0x9e3779b97f4a7c15ULL;
        for (Py_ssize_t q = 0; q < n; q++) h = mix64(h ^ (w->ids[i + q] + 0x632be59bd9b4e019ULL * (q + 1)));
        Py_ssize_t k = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        for (;;) {
            if (t[k].pos < 0) { t[k].hash = h; t[k].pos = i; t[k].count = 1; break; }
            if (t[k].hash == h && memcmp(w->ids + t[k].pos, w->ids + i, n * sizeof(uint32_t)) == 0) {
                t[k].count++; break;
            }
            k = (k + 1) & (cap - 1);
        }
    }
    Py_ssize_t best_count = 0, best_pos = -1;
    for (Py_ssize_t k = 0; k < cap; k++) {
        if (t[k].pos < 0) continue;
        if (t[k].count > best_count || (t[k].count == best_count && t[k].pos < best_pos)) {
            best_count = t[k].count; best_pos = t[k].pos;
        }
    }
    Py_ssize_t chars = w->cpre[best_pos + n] - w->cpre[best_pos] + (n - 1);
    return chars * best_count;
}

/* find_all_duplicate over the separator-less n-grams. */
static Py_ssize_t all_dup(const words_t *w, Py_ssize_t n, slot_t *t, Py_ssize_t cap) {
    for (Py_ssize_t k = 0; k < cap; k++) t[k].pos = -1;
    Py_ssize_t repeated = 0, idx = 0;
    while (idx < w->n - n + 1) {
        Py_ssize_t a = w->bpre[idx], b = w->bpre[idx + n];
        uint64_t h = bytes_hash(w, a, b);
        Py_ssize_t k = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        int found = 0;
        for (;;) {
            if (t[k].pos < 0) break;
            if (t[k].hash == h) {
                Py_ssize_t a2 = t[k].pos, len2 = t[k].count;
                if (len2 == b - a && memcmp(w->buf + a2, w->buf + a, b - a) == 0) { found = 1; break; }
            }
            k = (k + 1) & (cap - 1);
        }
        if (found) {
            repeated += w->cpre[idx + n] - w->cpre[idx];
            idx += n;
        } else {
            t[k].hash = h; t[k].pos = a; t[k].count = b - a;
            idx += 1;
        }
    }
    return repeated;
}

static int read_ns(PyObject *seq, Py_ssize_t **out, Py_ssize_t *len) {
    PyObject *fast = PySequence_Fast(seq, "n values must be a sequence of int");
    if (!fast) return -1;
    *len = PySequence_Fast_GET_SIZE(fast);
    *out = PyMem_Malloc((*len + 1) * sizeof(Py_ssize_t));
    if (!*out) { Py_DECREF(fast); PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < *len; i++) {
        Py_ssize_t v = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(fast, i));
        if (v == -1 && PyErr_Occurred()) { Py_DECREF(fast); return -1; }
        if (v < 1) { Py_DECREF(fast); PyErr_SetString(PyExc_ValueError, "n must be >= 1"); return -1; }
        (*out)[i] = v;
    }
    Py_DECREF(fast);
    return 0;
}

static PyObject *ngram_stats(PyObject *self, PyObject *args) {
    PyObject *list, *top_seq, *dup_seq;
    if (!PyArg_ParseTuple(args, "OOO", &list, &top_seq, &dup_seq)) return NULL;
    Py_ssize_t *top_ns = NULL, *dup_ns = NULL, ntop = 0, ndup = 0;
    PyObject *res = NULL, *top = NULL, *dup = NULL;
    slot_t *t = NULL;
    words_t w;
    memset(&w, 0, sizeof(w));
    if (read_ns(top_seq, &top_ns, &ntop) < 0 || read_ns(dup_seq, &dup_ns, &ndup) < 0) goto done;
    if (words_load(list, &w, 1) < 0) goto done;
    Py_ssize_t cap = table_cap(w.n);
    t = PyMem_Malloc(cap * sizeof(slot_t));
    if (!t) { PyErr_NoMemory(); goto done; }
    top = PyList_New(ntop);
    dup = PyList_New(ndup);
    if (!top || !dup) goto done;
    for (Py_ssize_t i = 0; i < ntop; i++) {
        PyObject *v = PyLong_FromSsize_t(top_ngram(&w, top_ns[i], t, cap));
        if (!v) goto done;
        PyList_SET_ITEM(top, i, v);
    }
    for (Py_ssize_t i = 0; i < ndup; i++) {
        PyObject *v = PyLong_FromSsize_t(all_dup(&w, dup_ns[i], t, cap));
        if (!v) goto done;
        PyList_SET_ITEM(dup, i, v);
    }
    res = PyTuple_Pack(2, top, dup);
done:
    Py_XDECREF(top); Py_XDECREF(dup);
    PyMem_Free(t); PyMem_Free(top_ns); PyMem_Free(dup_ns);
    words_free(&w);
    return res;
}

/* punctuation bitmap over all code points */
static uint8_t punct_bits[0x110000 / 8];

static PyObject *set_punctuation(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) { PyErr_SetString(PyExc_TypeError, "punctuation must be a str"); return NULL; }
    memset(punct_bits, 0, sizeof(punct_bits));
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(arg); i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        punct_bits[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    Py_RETURN_NONE;
}

static PyObject *word_stats(PyObject *self, PyObject *list) {
    if (!PyList_Check(list)) { PyErr_SetString(PyExc_TypeError, "words must be a list of str"); return NULL; }
    Py_ssize_t non_symbol = 0, non_symbol_chars = 0, alpha = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *s = PyList_GET_ITEM(list, i);
        if (!PyUnicode_Check(s)) { PyErr_SetString(PyExc_TypeError, "words must be a list of str"); return NULL; }
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        int has_non_punct = 0, has_alpha = 0;
        for (Py_ssize_t j = 0; j < len && !(has_non_punct && has_alpha); j++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            if (!(punct_bits[c >> 3] & (1u << (c & 7)))) has_non_punct = 1;
            if (!has_alpha && Py_UNICODE_ISALPHA(c)) has_alpha = 1;
        }
        if (has_non_punct) { non_symbol++; non_symbol_chars += len; }
        alpha += has_alpha;
    }
    return Py_BuildValue("nnn", non_symbol, non_symbol_chars, alpha);
}

static PyObject *line_stats(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), i = 0, lines = 0, bullets = 0, ellipses = 0;
    while (i < len) {
        Py_ssize_t start = i;
        while (i < len && !Py_UNICODE_ISLINEBREAK(PyUnicode_READ(kind, data, i))) i++;
        Py_ssize_t end = i;   /* line is text[start:end] */
        if (i < len) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            i++;
            if (c == '\r' && i < len && PyUnicode_READ(kind, data, i) == '\n') i++;
        }
        lines++;
        Py_ssize_t a = start, b = end;
        while (a < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) a++;
        while (b > a && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b - 1))) b--;
        if (a < b) {
            Py_UCS4 first = PyUnicode_READ(kind, data, a), last = PyUnicode_READ(kind, data, b - 1);
            if (first == 0x2022 || first == '-') bullets++;
            if (last == 0x2026 || (b - a >= 3 && last == '.' && PyUnicode_READ(kind, data, b - 2) == '.'
                                   && PyUnicode_READ(kind, data, b - 3) == '.')) ellipses++;
        }
    }
    return Py_BuildValue("nnn", lines, bullets, ellipses);
}

/* c4_lines(text, max_word_length, remove_citations, filter_no_terminal_punct, min_words_per_line) -> list[str]:
 * the lines of C4QualityFilter's loop that survive its rules decided without lower-casing: for each line of
 * text.splitlines(), stripped: no word (str.split()) longer than max_word_length (-1: off), at least
 * min_words_per_line words (counted before citations go, as datatrove counts them), citation marks removed
 * (re.sub of \[\d*]|\[edit]|\[citation needed], \d being any decimal digit), then, with
 * filter_no_terminal_punct, ending in . ? ! " ' but not "...". c4.py runs the rest (lorem ipsum, javascript,
 * curly brackets, policy phrases, sentences) over what is returned. */
static int at(int kind, const void *data, Py_ssize_t i, Py_ssize_t end, const char *lit) {
    for (Py_ssize_t q = 0; lit[q]; q++)
        if (i + q >= end || PyUnicode_READ(kind, data, i + q) != (Py_UCS4)(unsigned char)lit[q]) return 0;
    return 1;
}

static PyObject *c4_lines(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t max_word, min_words;
    int cite, punct;
    if (!PyArg_ParseTuple(args, "Unppn", &text, &max_word, &cite, &punct, &min_words)) return NULL;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), i = 0;
    PyObject *out = PyList_New(0);
    Py_UCS4 *buf = PyMem_Malloc((len + 1) * sizeof(Py_UCS4));
    if (!out || !buf) { Py_XDECREF(out); PyMem_Free(buf); return PyErr_NoMemory(); }
    while (i < len) {
        Py_ssize_t start = i;
        while (i < len && !Py_UNICODE_ISLINEBREAK(PyUnicode_READ(kind, data, i))) i++;
        Py_ssize_t a = start, b = i;
        if (i < len) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            i++;
            if (c == '\r' && i < len && PyUnicode_READ(kind, data, i) == '\n') i++;
        }
        while (a < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) a++;
        while (b > a && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b - 1))) b--;
        Py_ssize_t words = 0, longest = 0, j = a;
        while (j < b) {
            while (j < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j))) j++;
            if (j >= b) break;
            Py_ssize_t w0 = j;
            while (j < b && !Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, j))) j++;
            words++;
            if (j - w0 > longest) longest = j - w0;
        }
        if ((max_word != -1 && longest > max_word) || words < min_words) continue;
        Py_ssize_t n = 0;
        for (j = a; j < b;) {
            Py_UCS4 c = PyUnicode_READ(kind, data, j);
            if (cite && c == '[') {
                Py_ssize_t q = j + 1;
                while (q < b && Py_UNICODE_ISDECIMAL(PyUnicode_READ(kind, data, q))) q++;
                if (q < b && PyUnicode_READ(kind, data, q) == ']') { j = q + 1; continue; }
                if (at(kind, data, j, b, "[edit]")) { j += 6; continue; }
                if (at(kind, data, j, b, "[citation needed]")) { j += 17; continue; }
            }
            buf[n++] = c;
            j++;
        }
        if (punct) {
            Py_UCS4 last = n ? buf[n - 1] : 0;
            if (!(last == '.' || last == '?' || last == '!' || last == '"' || last == '\'')) continue;
            if (n >= 3 && buf[n - 1] == '.' && buf[n - 2] == '.' && buf[n - 3] == '.') continue;
        }
        PyObject *line = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, buf, n);
        if (!line || PyList_Append(out, line) < 0) { Py_XDECREF(line); Py_DECREF(out); PyMem_Free(buf); return NULL; }
        Py_DECREF(line);
    }
    PyMem_Free(buf);
    return out;
}

/* dup_stats(text) -> (paragraphs, dup_paragraphs, dup_paragraph_chars, lines, dup_lines, dup_line_chars):
 * GopherRepetitionFilter's find_duplicates over re.split(r"\n{2,}", text.strip()) and over re.split("\n+", text):
 * how many pieces, how many repeat an earlier piece and the characters (code points) of those repeats. */
typedef struct { Py_ssize_t a, b; } span_t;

static Py_ssize_t split_newlines(int kind, const void *data, Py_ssize_t a, Py_ssize_t b, Py_ssize_t k,
                                 span_t *out) {
    Py_ssize_t n = 0, start = a, i = a;
    while (i < b) {
        if (PyUnicode_READ(kind, data, i) != '\n') { i++; continue; }
        Py_ssize_t j = i;
        while (j < b && PyUnicode_READ(kind, data, j) == '\n') j++;
        if (j - i >= k) { out[n].a = start; out[n].b = i; n++; start = j; }
        i = j;
    }
    out[n].a = start; out[n].b = b; n++;
    return n;
}

static int duplicates(int kind, const void *data, const span_t *sp, Py_ssize_t n, Py_ssize_t *dups,
                      Py_ssize_t *chars) {
    Py_ssize_t cap = table_cap(n);
    slot_t *t = PyMem_Malloc(cap * sizeof(slot_t));
    if (!t) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t k = 0; k < cap; k++) t[k].pos = -1;
    *dups = *chars = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_ssize_t len = sp[i].b - sp[i].a;
        const char *p = (const char *)data + sp[i].a * kind;
        uint64_t h = fnv(p, len * kind);
        Py_ssize_t k = (Py_ssize_t)(h & (uint64_t)(cap - 1));
        for (;;) {
            if (t[k].pos < 0) { t[k].hash = h; t[k].pos = i; break; }
            const span_t *o = &sp[t[k].pos];
            if (t[k].hash == h && o->b - o->a == len
                && memcmp((const char *)data + o->a * kind, p, len * kind) == 0) {
                (*dups)++; *chars += len; break;
            }
            k = (k + 1) & (cap - 1);
        }
    }
    PyMem_Free(t);
    return 0;
}

static PyObject *dup_stats(PyObject *self, PyObject *text) {
    if (!PyUnicode_Check(text)) { PyErr_SetString(PyExc_TypeError, "text must be a str"); return NULL; }
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text), a = 0, b = len;
    span_t *sp = PyMem_Malloc((len + 2) * sizeof(span_t));
    if (!sp) return PyErr_NoMemory();
    while (a < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) a++;
    while (b > a && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b - 1))) b--;
    Py_ssize_t np = split_newlines(kind, data, a, b, 2, sp), pd, pc, nl, ld, lc;
    if (duplicates(kind, data, sp, np, &pd, &pc) < 0) { PyMem_Free(sp); return NULL; }
    nl = split_newlines(kind, data, 0, len, 1, sp);
    if (duplicates(kind, data, sp, nl, &ld, &lc) < 0) { PyMem_Free(sp); return NULL; }
    PyMem_Free(sp);
    return Py_BuildValue("nnnnnn", np, pd, pc, nl, ld, lc);
}

static PyMethodDef methods[] = {
    {"dup_stats", dup_stats, METH_O, "text -> GopherRepetitionFilter's paragraph and line duplicate counts"},
    {"c4_lines", c4_lines, METH_VARARGS, "C4QualityFilter's lines that survive its rules decided without lower()"},
    {"line_stats", line_stats, METH_O, "text -> (n_lines, bullet_lines, ellipsis_lines) of GopherQualityFilter"},
    {"ngram_stats", ngram_stats, METH_VARARGS, "(words, top_ns, dup_ns) -> (top chars per n, dup chars per n)"},
    {"word_stats", word_stats, METH_O, "words -> (n_non_symbol, chars_of_non_symbol, n_with_alpha)"},
    {"set_punctuation", set_punctuation, METH_O, "the characters word_stats counts as punctuation"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_textstats", NULL, -1, methods};

PyMODINIT_FUNC PyInit__textstats(void) { return PyModule_Create(&module); }
