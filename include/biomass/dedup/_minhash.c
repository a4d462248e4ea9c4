/* Bulk MinHash over Arrow string buffers, bit-identical to datasketch 2.0.0's default MinHash.
 *
 * Why C: the hot path is tokenise -> word 5-gram -> sha1 -> 128 affine permutations -> min, about 400 shingles
 * per document. Doing that per shingle in Python costs ~2.5k docs/s; here it runs with the GIL released.
 *
 * datasketch's default ("affine32"): h = sha1(shingle)[:4] read little-endian, h = fmix32(h),
 * sig[k] = min over shingles of (a[k] * h + b[k]) mod 2^32.
 *
 * Text contract: the caller hands in text that is already NFKC-normalised and lower-cased, EXCEPT that plain
 * ASCII text may be passed raw (NFKC is the identity on ASCII and ASCII upper-case is lowered here). Tokens are
 * runs of Python's `\w` (str.isalnum() or '_'), classified with CPython's own Unicode tables, so the tokens are
 * exactly those of re.findall(r"\w+", ...). Shingles are 5 consecutive tokens joined by one space; a document
 * with fewer than 5 tokens is one shingle (its tokens joined by a space; the empty string for no tokens).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#endif

#define NGRAM 5

/* ------------------------------------------------------------------------------------------------ SHA-1 */

static inline uint32_t rol32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_blocks_portable(uint32_t st[5], const uint8_t *p, size_t nblocks) {
    for (size_t blk = 0; blk < nblocks; blk++, p += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = ((uint32_t)p[4 * i] << 24) | ((uint32_t)p[4 * i + 1] << 16) | ((uint32_t)p[4 * i + 2] << 8) |
                   (uint32_t)p[4 * i + 3];
        for (int i = 16; i < 80; i++) w[i] = rol32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = st[0], b = st[1], c = st[2], d = st[3], e = st[4];
        for (int i = 0; i < 80; i++) {
            uint32_t f, k;
            if (i < 20) { f = (b & c) | (~b & d); k = 0x5A827999u; }
            else if (i < 40) { f = b ^ c ^ d; k = 0x6ED9EBA1u; }
            else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDCu; }
            else { f = b ^ c ^ d; k = 0xCA62C1D6u; }
            uint32_t t = rol32(a, 5) + f + e + k + w[i];
            e = d; d = c; c = rol32(b, 30); b = a; a = t;
        }
        st[0] += a; st[1] += b; st[2] += c; st[3] += d; st[4] += e;
    }
}

#ifdef HAVE_X86
/* SHA-NI: 4 rounds per instruction. Message schedule W_g (4 words per group g) is
 * W_g = sha1msg2(sha1msg1(W_{g-4}, W_{g-3}) ^ W_{g-2}, W_{g-1}). */
#define SHA_RND(g, f)                                                                                         \
    do {                                                                                                      \
        if ((g) & 1) { E1 = _mm_sha1nexte_epu32(E1, W[g]); E0 = ABCD; ABCD = _mm_sha1rnds4_epu32(ABCD, E1, f); } \
        else { E0 = _mm_sha1nexte_epu32(E0, W[g]); E1 = ABCD; ABCD = _mm_sha1rnds4_epu32(ABCD, E0, f); }   \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3")))
static void sha1_blocks_shani(uint32_t st[5], const uint8_t *p, size_t nblocks) {
    const __m128i MASK = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i ABCD = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)st), 0x1B);
    __m128i E0 = _mm_set_epi32((int)st[4], 0, 0, 0);
    for (size_t blk = 0; blk < nblocks; blk++, p += 64) {
        __m128i W[20], E1;
        __m128i ABCD_SAVE = ABCD, E0_SAVE = E0;
        for (int i = 0; i < 4; i++) W[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), MASK);
        for (int g = 4; g < 20; g++)
            W[g] = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32(W[g - 4], W[g - 3]), W[g - 2]), W[g - 1]);
        E0 = _mm_add_epi32(E0, W[0]);
        E1 = ABCD;
        ABCD = _mm_sha1rnds4_epu32(ABCD, E0, 0);
        SHA_RND(1, 0); SHA_RND(2, 0); SHA_RND(3, 0); SHA_RND(4, 0);
        SHA_RND(5, 1); SHA_RND(6, 1); SHA_RND(7, 1); SHA_RND(8, 1); SHA_RND(9, 1);
        SHA_RND(10, 2); SHA_RND(11, 2); SHA_RND(12, 2); SHA_RND(13, 2); SHA_RND(14, 2);
        SHA_RND(15, 3); SHA_RND(16, 3); SHA_RND(17, 3); SHA_RND(18, 3); SHA_RND(19, 3);
        E0 = _mm_sha1nexte_epu32(E0, E0_SAVE);
        ABCD = _mm_add_epi32(ABCD, ABCD_SAVE);
    }
    ABCD = _mm_shuffle_epi32(ABCD, 0x1B);
    _mm_storeu_si128((__m128i *)st, ABCD);
    st[4] = (uint32_t)_mm_extract_epi32(E0, 3);
}
#endif

typedef void (*sha1_fn)(uint32_t st[5], const uint8_t *p, size_t nblocks);
static sha1_fn sha1_blocks = sha1_blocks_portable;

/* Hash msg[0:len] (buf must have room for len + 72 bytes of padding). Returns the first 8 digest bytes as a
 * little-endian uint64, i.e. low 32 bits = datasketch's sha1_hash32, all 64 = sha1_hash64. */
static inline uint64_t sha1_prefix64(uint8_t *buf, size_t len) {
    uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
    size_t total = (len + 9 + 63) & ~(size_t)63;
    buf[len] = 0x80;
    memset(buf + len + 1, 0, total - len - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) buf[total - 1 - i] = (uint8_t)(bits >> (8 * i));
    sha1_blocks(st, buf, total / 64);
    uint32_t h0 = __builtin_bswap32(st[0]), h1 = __builtin_bswap32(st[1]);
    return (uint64_t)h0 | ((uint64_t)h1 << 32);
}

/* ------------------------------------------------------------------------------------------ permutations */

static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
    return h;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
static void permute_min(uint32_t *restrict sig, const uint32_t *restrict a, const uint32_t *restrict b,
                        Py_ssize_t n, uint32_t h) {
    for (Py_ssize_t k = 0; k < n; k++) {
        uint32_t v = a[k] * h + b[k];
        sig[k] = v < sig[k] ? v : sig[k];
    }
}

/* ---------------------------------------------------------------------------------------- tokenisation */

typedef struct {
    uint8_t *low;       /* lowered copy of the document */
    size_t low_cap;
    uint32_t *tok;      /* token start/end byte offsets, pairs */
    size_t tok_cap;
    uint8_t *sh;        /* shingle bytes + sha1 padding */
    size_t sh_cap;
} scratch_t;

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return -1;
    *p = q;
    *cap = n;
    return 0;
}

static void scratch_free(scratch_t *s) { free(s->low); free(s->tok); free(s->sh); }

/* Decode one UTF-8 code point at s[i] (len bytes available); invalid bytes count as one non-word unit. */
static inline uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i) {
    uint8_t c = s[*i];
    if (c < 0x80) { (*i)++; return c; }
    int n = (c >= 0xF0) ? 3 : (c >= 0xE0) ? 2 : (c >= 0xC0) ? 1 : -1;
    if (n < 0 || *i + (size_t)n >= len) { (*i)++; return 0xFFFD; }
    uint32_t cp = c & (0x3F >> n);
    for (int k = 1; k <= n; k++) cp = (cp << 6) | (s[*i + k] & 0x3F);
    *i += n + 1;
    return cp;
}

static inline int is_word(uint32_t cp) {
    if (cp < 0x80) {
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
    }
    return Py_UNICODE_ISALNUM((Py_UCS4)cp) ? 1 : 0;
}

/* Lower ASCII, find tokens. Returns number of tokens, or -1 on allocation failure. */
static Py_ssize_t tokenize(scratch_t *s, const uint8_t *text, size_t len) {
    if (grow((void **)&s->low, &s->low_cap, len + 1, 1) < 0) return -1;
    Py_ssize_t ntok = 0;
    size_t i = 0;
    int in_tok = 0;
    uint32_t start = 0;
    while (i < len) {
        size_t at = i;
        uint8_t c = text[i];
        uint32_t cp;
        if (c < 0x80) {
            s->low[i] = (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
            cp = c;
            i++;
        } else {
            cp = utf8_next(text, len, &i);
            memcpy(s->low + at, text + at, i - at);
        }
        int w = is_word(cp);
        if (w && !in_tok) { start = (uint32_t)at; in_tok = 1; }
        else if (!w && in_tok) {
            if (grow((void **)&s->tok, &s->tok_cap, 2 * (size_t)(ntok + 1), sizeof(uint32_t)) < 0) return -1;
            s->tok[2 * ntok] = start; s->tok[2 * ntok + 1] = (uint32_t)at; ntok++;
            in_tok = 0;
        }
    }
    if (in_tok) {
        if (grow((void **)&s->tok, &s->tok_cap, 2 * (size_t)(ntok + 1), sizeof(uint32_t)) < 0) return -1;
        s->tok[2 * ntok] = start; s->tok[2 * ntok + 1] = (uint32_t)len; ntok++;
    }
    return ntok;
}

/* Build the shingle of tokens [first, first+count) into s->sh; returns its length or -1. */
static Py_ssize_t build_shingle(scratch_t *s, Py_ssize_t first, Py_ssize_t count) {
    size_t need = 0;
    for (Py_ssize_t t = first; t < first + count; t++) need += s->tok[2 * t + 1] - s->tok[2 * t] + 1;
    if (grow((void **)&s->sh, &s->sh_cap, need + 80, 1) < 0) return -1;
    size_t pos = 0;
    for (Py_ssize_t t = first; t < first + count; t++) {
        if (t > first) s->sh[pos++] = ' ';
        uint32_t a = s->tok[2 * t], b = s->tok[2 * t + 1];
        memcpy(s->sh + pos, s->low + a, b - a);
        pos += b - a;
    }
    return (Py_ssize_t)pos;
}

/* Calls fn(ctx, hash64) for every shingle of a document. Returns 0, or -1 on allocation failure. */
typedef void (*shingle_cb)(void *ctx, uint64_t h);

static int for_each_shingle(scratch_t *s, const uint8_t *text, size_t len, shingle_cb fn, void *ctx) {
    Py_ssize_t ntok = tokenize(s, text, len);
    if (ntok < 0) return -1;
    if (ntok < NGRAM) {
        Py_ssize_t n = build_shingle(s, 0, ntok);
        if (n < 0) return -1;
        fn(ctx, sha1_prefix64(s->sh, (size_t)n));
        return 0;
    }
    for (Py_ssize_t t = 0; t + NGRAM <= ntok; t++) {
        Py_ssize_t n = build_shingle(s, t, NGRAM);
        if (n < 0) return -1;
        fn(ctx, sha1_prefix64(s->sh, (size_t)n));
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------ arrow access */

typedef struct {
    const uint8_t *offsets;
    int width;              /* 4 (string) or 8 (large_string) */
    const uint8_t *data;
    Py_ssize_t base;        /* array.offset */
} strarr_t;

static inline void str_at(const strarr_t *arr, Py_ssize_t row, const uint8_t **p, size_t *len) {
    Py_ssize_t i = arr->base + row;
    int64_t lo, hi;
    if (arr->width == 4) {
        lo = ((const int32_t *)arr->offsets)[i];
        hi = ((const int32_t *)arr->offsets)[i + 1];
    } else {
        lo = ((const int64_t *)arr->offsets)[i];
        hi = ((const int64_t *)arr->offsets)[i + 1];
    }
    *p = arr->data + lo;
    *len = (size_t)(hi - lo);
}

/* ------------------------------------------------------------------------------------------- entry points */

typedef struct {
    uint32_t *sig;
    const uint32_t *a, *b;
    Py_ssize_t num_perm;
} minhash_ctx;

static void minhash_cb(void *vctx, uint64_t h64) {
    minhash_ctx *c = (minhash_ctx *)vctx;
    permute_min(c->sig, c->a, c->b, c->num_perm, fmix32((uint32_t)h64));
}

static int parse_strarr(strarr_t *arr, Py_buffer *off, Py_buffer *data, int width, Py_ssize_t base) {
    if (width != 4 && width != 8) {
        PyErr_SetString(PyExc_ValueError, "offset width must be 4 or 8");
        return -1;
    }
    arr->offsets = (const uint8_t *)off->buf;
    arr->width = width;
    arr->data = (const uint8_t *)data->buf;
    arr->base = base;
    return 0;
}

/* minhash_rows(offsets, data, width, base, rows u32, out_rows u32, a u32, b u32, out u32[.., P]) */
static PyObject *py_minhash_rows(PyObject *self, PyObject *args) {
    Py_buffer off, data, rows, out_rows, a, b, out;
    int width;
    Py_ssize_t base;
    if (!PyArg_ParseTuple(args, "y*y*iny*y*y*y*w*", &off, &data, &width, &base, &rows, &out_rows, &a, &b, &out))
        return NULL;
    PyObject *ret = NULL;
    strarr_t arr;
    Py_ssize_t n = rows.len / 4, P = a.len / 4;
    if (parse_strarr(&arr, &off, &data, width, base) < 0) goto done;
    if (out_rows.len != rows.len || b.len != a.len || P == 0) {
        PyErr_SetString(PyExc_ValueError, "rows/out_rows or a/b length mismatch");
        goto done;
    }
    const uint32_t *ri = (const uint32_t *)rows.buf, *ro = (const uint32_t *)out_rows.buf;
    for (Py_ssize_t k = 0; k < n; k++) {
        if ((Py_ssize_t)(ro[k] + 1) * P * 4 > out.len) {
            PyErr_SetString(PyExc_IndexError, "out_rows beyond output buffer");
            goto done;
        }
    }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    scratch_t s = {0};
    minhash_ctx ctx = {NULL, (const uint32_t *)a.buf, (const uint32_t *)b.buf, P};
    for (Py_ssize_t k = 0; k < n && !failed; k++) {
        const uint8_t *p;
        size_t len;
        str_at(&arr, ri[k], &p, &len);
        ctx.sig = (uint32_t *)out.buf + (size_t)ro[k] * P;
        for (Py_ssize_t j = 0; j < P; j++) ctx.sig[j] = 0xFFFFFFFFu;
        if (for_each_shingle(&s, p, len, minhash_cb, &ctx) < 0) failed = 1;
    }
    scratch_free(&s);
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&off); PyBuffer_Release(&data); PyBuffer_Release(&rows); PyBuffer_Release(&out_rows);
    PyBuffer_Release(&a); PyBuffer_Release(&b); PyBuffer_Release(&out);
    return ret;
}

typedef struct {
    uint64_t *h;
    size_t n, cap;
    int failed;
} hashvec;

static void hashvec_cb(void *vctx, uint64_t h64) {
    hashvec *v = (hashvec *)vctx;
    if (grow((void **)&v->h, &v->cap, v->n + 1, sizeof(uint64_t)) < 0) { v->failed = 1; return; }
    v->h[v->n++] = h64;
}

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* shingle_sets(offsets, data, width, base, rows u32) -> (bytes offsets int64[n+1], bytes hashes u64):
 * the sorted distinct 64-bit shingle hashes of each listed row, for exact Jaccard. */
static PyObject *py_shingle_sets(PyObject *self, PyObject *args) {
    Py_buffer off, data, rows;
    int width;
    Py_ssize_t base;
    if (!PyArg_ParseTuple(args, "y*y*iny*", &off, &data, &width, &base, &rows)) return NULL;
    PyObject *ret = NULL;
    strarr_t arr;
    Py_ssize_t n = rows.len / 4;
    int64_t *offs = NULL;
    hashvec all = {0};
    if (parse_strarr(&arr, &off, &data, width, base) < 0) goto done;
    offs = (int64_t *)malloc(sizeof(int64_t) * (n + 1));
    if (!offs) { PyErr_NoMemory(); goto done; }
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    scratch_t s = {0};
    const uint32_t *ri = (const uint32_t *)rows.buf;
    offs[0] = 0;
    for (Py_ssize_t k = 0; k < n && !failed; k++) {
        const uint8_t *p;
        size_t len;
        str_at(&arr, ri[k], &p, &len);
        size_t start = all.n;
        if (for_each_shingle(&s, p, len, hashvec_cb, &all) < 0 || all.failed) { failed = 1; break; }
        qsort(all.h + start, all.n - start, sizeof(uint64_t), cmp_u64);
        size_t w = start;
        for (size_t j = start; j < all.n; j++)
            if (j == start || all.h[j] != all.h[w - 1]) all.h[w++] = all.h[j];
        all.n = w;
        offs[k + 1] = (int64_t)all.n;
    }
    scratch_free(&s);
    Py_END_ALLOW_THREADS
    if (failed) { PyErr_NoMemory(); goto done; }
    PyObject *o = PyBytes_FromStringAndSize((const char *)offs, sizeof(int64_t) * (n + 1));
    PyObject *h = PyBytes_FromStringAndSize((const char *)all.h, sizeof(uint64_t) * all.n);
    if (o && h) ret = PyTuple_Pack(2, o, h);
    Py_XDECREF(o); Py_XDECREF(h);
done:
    free(offs); free(all.h);
    PyBuffer_Release(&off); PyBuffer_Release(&data); PyBuffer_Release(&rows);
    return ret;
}

/* jaccard_pairs(offsets i64, hashes u64, left u32, right u32, out f64): exact Jaccard of sorted sets. */
static PyObject *py_jaccard_pairs(PyObject *self, PyObject *args) {
    Py_buffer off, hs, left, right, out;
    if (!PyArg_ParseTuple(args, "y*y*y*y*w*", &off, &hs, &left, &right, &out)) return NULL;
    Py_ssize_t m = left.len / 4, nsets = off.len / 8 - 1;
    PyObject *ret = NULL;
    if (right.len != left.len || out.len != m * 8) {
        PyErr_SetString(PyExc_ValueError, "pair arrays and output must have the same length");
        goto done;
    }
    const int64_t *o = (const int64_t *)off.buf;
    const uint64_t *h = (const uint64_t *)hs.buf;
    const uint32_t *L = (const uint32_t *)left.buf, *R = (const uint32_t *)right.buf;
    double *res = (double *)out.buf;
    for (Py_ssize_t k = 0; k < m; k++)
        if ((Py_ssize_t)L[k] >= nsets || (Py_ssize_t)R[k] >= nsets) {
            PyErr_SetString(PyExc_IndexError, "pair index beyond the shingle sets");
            goto done;
        }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < m; k++) {
        const uint64_t *x = h + o[L[k]], *xe = h + o[L[k] + 1];
        const uint64_t *y = h + o[R[k]], *ye = h + o[R[k] + 1];
        size_t nx = (size_t)(xe - x), ny = (size_t)(ye - y), inter = 0;
        while (x < xe && y < ye) {
            if (*x < *y) x++;
            else if (*y < *x) y++;
            else { inter++; x++; y++; }
        }
        size_t uni = nx + ny - inter;
        res[k] = uni ? (double)inter / (double)uni : 1.0;
    }
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&off); PyBuffer_Release(&hs); PyBuffer_Release(&left); PyBuffer_Release(&right);
    PyBuffer_Release(&out);
    return ret;
}

static inline uint64_t fmix64(uint64_t k) {
    k ^= k >> 33; k *= 0xFF51AFD7ED558CCDULL; k ^= k >> 33; k *= 0xC4CEB9FE1A85EC53ULL; k ^= k >> 33;
    return k;
}

/* band_keys(sigs u32[n, P], P, bands, rows, out u64[bands, n]): one 64-bit key per (band, doc). */
static PyObject *py_band_keys(PyObject *self, PyObject *args) {
    Py_buffer sig, out;
    Py_ssize_t P, nb, nr;
    if (!PyArg_ParseTuple(args, "y*nnnw*", &sig, &P, &nb, &nr, &out)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = P > 0 ? sig.len / 4 / P : 0;
    if (P <= 0 || nb * nr > P || out.len != n * nb * 8 || sig.len != n * P * 4) {
        PyErr_SetString(PyExc_ValueError, "band_keys: shapes do not match");
        goto done;
    }
    const uint32_t *s = (const uint32_t *)sig.buf;
    uint64_t *o = (uint64_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint32_t *row = s + (size_t)i * P;
        for (Py_ssize_t band = 0; band < nb; band++) {
            uint64_t h = 0x9E3779B97F4A7C15ULL * (uint64_t)(band + 1);
            for (Py_ssize_t r = 0; r < nr; r++) h = fmix64(h ^ (uint64_t)row[band * nr + r]) + 0x9E3779B97F4A7C15ULL;
            o[(size_t)band * n + i] = fmix64(h);
        }
    }
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sig); PyBuffer_Release(&out);
    return ret;
}

static PyObject *py_sha1_backend(PyObject *self, PyObject *noargs) {
    return PyUnicode_FromString(sha1_blocks == sha1_blocks_portable ? "portable" : "sha-ni");
}

static PyObject *py_set_sha1_backend(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    if (strcmp(name, "portable") == 0) { sha1_blocks = sha1_blocks_portable; Py_RETURN_NONE; }
#ifdef HAVE_X86
    if (strcmp(name, "sha-ni") == 0 && __builtin_cpu_supports("sha")) { sha1_blocks = sha1_blocks_shani; Py_RETURN_NONE; }
#endif
    PyErr_Format(PyExc_ValueError, "sha1 backend %s is not available here", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"minhash_rows", py_minhash_rows, METH_VARARGS, "MinHash signatures of selected rows of an Arrow string array."},
    {"shingle_sets", py_shingle_sets, METH_VARARGS, "Sorted distinct 64-bit shingle hashes of selected rows."},
    {"jaccard_pairs", py_jaccard_pairs, METH_VARARGS, "Exact Jaccard of pairs of sorted hash sets."},
    {"band_keys", py_band_keys, METH_VARARGS, "64-bit LSH band keys from signatures."},
    {"sha1_backend", py_sha1_backend, METH_NOARGS, "Which SHA-1 implementation is in use."},
    {"set_sha1_backend", py_set_sha1_backend, METH_O, "Force 'portable' or 'sha-ni' (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_minhash", "Bulk MinHash kernels.", -1, methods};

PyMODINIT_FUNC PyInit__minhash(void) {
#ifdef HAVE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1")) sha1_blocks = sha1_blocks_shani;
#endif
    return PyModule_Create(&module);
}
