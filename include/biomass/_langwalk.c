/* py3langid's byte automaton walk and feature count, for a batch of texts, in C (biomass.text.detect_langs).
 *
 * Why C: py3langid walks its DFA one byte at a time in Python (about 2 ms a text); the numpy version that stepped a
 * batch of texts at once then sorted the batch's features into per-text counts: 1.5 CPU-s per 5,000 crawl texts
 * (0.46 s walking, 1.05 s sorting), against 0.46 s here. The walk itself is bound by loads from a 39 MB table and
 * costs the same either way. Here each text is walked once and its features counted in a dense scratch
 * array, emitted in order of first appearance: exactly the Counter py3langid's ``visit_counts`` builds (same
 * features, same counts, same insertion order), so the scores computed from it in Python are py3langid's to the
 * bit (tests/synth/test_synth_scale.py and tests/unit/test_langwalk.py hold it to py3langid's).
 *
 * visits(texts, nextmove, rowbase, output, n_features) -> (bounds, features, counts)
 *   texts: a list of bytes (py3langid's ``_encode`` of each sample); nextmove, rowbase, output: the model's
 *   tables as C-contiguous int32 buffers (rowbase pre-shifted by 8, as py3langid keeps it); n_features: one more
 *   than the largest feature id. Returns three bytes objects of int64: ``bounds`` (len(texts) + 1 offsets) and,
 *   for text i, ``features[bounds[i]:bounds[i+1]]`` with their ``counts``. The GIL is released while walking.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16

typedef struct {
    int64_t *data;
    Py_ssize_t len, cap;
} vec_t;

static int vec_reserve(vec_t *v, Py_ssize_t extra) {
    if (v->len + extra <= v->cap) return 0;
    Py_ssize_t cap = v->cap ? v->cap : 4096;
    while (cap < v->len + extra) cap *= 2;
    int64_t *p = realloc(v->data, (size_t)cap * sizeof(int64_t));
    if (!p) return -1;
    v->data = p;
    v->cap = cap;
    return 0;
}

static int int32_view(PyObject *obj, Py_buffer *view, const char *name) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    const char *fmt = view->format ? view->format : "";
    if (view->itemsize != 4 || (strcmp(fmt, "i") != 0 && strcmp(fmt, "<i") != 0 && strcmp(fmt, "=i") != 0)) {
        PyErr_Format(PyExc_TypeError, "%s must be a contiguous int32 buffer", name);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *visits(PyObject *self, PyObject *args) {
    PyObject *texts, *nm_obj, *rb_obj, *out_obj;
    Py_ssize_t n_features;
    if (!PyArg_ParseTuple(args, "O!OOOn", &PyList_Type, &texts, &nm_obj, &rb_obj, &out_obj, &n_features))
        return NULL;
    if (n_features <= 0) {
        PyErr_SetString(PyExc_ValueError, "n_features must be positive");
        return NULL;
    }
    Py_buffer nm, rb, out;
    PyObject *result = NULL;
    const unsigned char **bufs = NULL;
    Py_ssize_t *lens = NULL;
    int64_t *bounds = NULL, *seen = NULL;
    vec_t feats = {0}, counts = {0}, order = {0};
    if (int32_view(nm_obj, &nm, "nextmove") < 0) return NULL;
    if (int32_view(rb_obj, &rb, "rowbase") < 0) { PyBuffer_Release(&nm); return NULL; }
    if (int32_view(out_obj, &out, "output") < 0) { PyBuffer_Release(&nm); PyBuffer_Release(&rb); return NULL; }
    const int32_t *nextmove = nm.buf, *rowbase = rb.buf, *output = out.buf;
    const Py_ssize_t n_next = nm.len / 4, n_states = rb.len / 4;
    if (out.len / 4 != n_states) {
        PyErr_SetString(PyExc_ValueError, "rowbase and output must have one entry per state");
        goto done;
    }

    Py_ssize_t n = PyList_GET_SIZE(texts);
    bufs = malloc((size_t)(n ? n : 1) * sizeof(*bufs));
    lens = malloc((size_t)(n ? n : 1) * sizeof(*lens));
    bounds = malloc((size_t)(n + 1) * sizeof(int64_t));
    seen = calloc((size_t)n_features, sizeof(int64_t));
    if (!bufs || !lens || !bounds || !seen || vec_reserve(&order, n_features) < 0) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(texts, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "texts[%zd] is %.50s, not bytes", i, Py_TYPE(item)->tp_name);
            goto done;
        }
        bufs[i] = (const unsigned char *)PyBytes_AS_STRING(item);   /* the list keeps them alive */
        lens[i] = PyBytes_GET_SIZE(item);
    }

    /* One text's walk is a chain of dependent loads from a 39 MB table (a cache miss a byte); LANES texts are
     * walked side by side so their misses overlap. Each lane's features are listed as found, then counted. */
    int bad = 0, oom = 0;
    vec_t lane[LANES] = {{0}};
    Py_BEGIN_ALLOW_THREADS
    bounds[0] = 0;
    for (Py_ssize_t g = 0; g < n && !bad && !oom; g += LANES) {
        int m = (int)(n - g < LANES ? n - g : LANES);
        int64_t state[LANES] = {0};
        Py_ssize_t longest = 0;
        for (int j = 0; j < m; j++) {
            lane[j].len = 0;
            if (lens[g + j] > longest) longest = lens[g + j];
            if (vec_reserve(&lane[j], lens[g + j]) < 0) oom = 1;
        }
        if (oom) break;
        for (Py_ssize_t t = 0; t < longest && !bad; t++) {
            for (int j = 0; j < m; j++) {
                if (t >= lens[g + j]) continue;
                int64_t at = (int64_t)rowbase[state[j]] + bufs[g + j][t];
                if (at < 0 || at >= n_next) { bad = 1; break; }
                int64_t s = nextmove[at];
                if (s < 0 || s >= n_states) { bad = 1; break; }
                state[j] = s;
                int64_t f = output[s];
                if (f >= n_features) { bad = 1; break; }
                if (f >= 0) lane[j].data[lane[j].len++] = f;
            }
        }
        if (bad) break;
        for (int j = 0; j < m; j++) {
            order.len = 0;
            for (Py_ssize_t k = 0; k < lane[j].len; k++) {
                int64_t f = lane[j].data[k];
                if (seen[f]++ == 0) order.data[order.len++] = f;   /* order holds n_features: reserved above */
            }
            if (vec_reserve(&feats, order.len) < 0 || vec_reserve(&counts, order.len) < 0) { oom = 1; break; }
            for (Py_ssize_t k = 0; k < order.len; k++) {
                int64_t f = order.data[k];
                feats.data[feats.len++] = f;
                counts.data[counts.len++] = seen[f];
                seen[f] = 0;
            }
            bounds[g + j + 1] = feats.len;
        }
    }
    Py_END_ALLOW_THREADS
    for (int j = 0; j < LANES; j++) free(lane[j].data);
    if (oom) { PyErr_NoMemory(); goto done; }
    if (bad) { PyErr_SetString(PyExc_ValueError, "the automaton tables do not fit together (index out of range)"); goto done; }

    result = Py_BuildValue("(y#y#y#)", (const char *)bounds, (Py_ssize_t)((n + 1) * sizeof(int64_t)),
                           (const char *)(feats.data ? feats.data : bounds), (Py_ssize_t)(feats.len * sizeof(int64_t)),
                           (const char *)(counts.data ? counts.data : bounds), (Py_ssize_t)(counts.len * sizeof(int64_t)));
done:
    free(bufs); free(lens); free(bounds); free(seen);
    free(feats.data); free(counts.data); free(order.data);
    PyBuffer_Release(&nm); PyBuffer_Release(&rb); PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"visits", visits, METH_VARARGS, "py3langid's feature counts of each text, in order of first appearance."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_langwalk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__langwalk(void) { return PyModule_Create(&module); }
