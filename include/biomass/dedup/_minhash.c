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

#ifdef HAVE_X86
/* Four independent one-block messages at once: SHA-1 rounds are a long dependency chain, so interleaving
 * four chains keeps the SHA unit busy (about 2.5x the single-message throughput). */
#define SHA_RND4(g, f)                                                                                         \
    do {                                                                                                       \
        for (int s = 0; s < 4; s++) {                                                                          \
            if ((g) & 1) { E1[s] = _mm_sha1nexte_epu32(E1[s], W[s][g]); E0[s] = ABCD[s];                       \
                           ABCD[s] = _mm_sha1rnds4_epu32(ABCD[s], E1[s], f); }                                 \
            else { E0[s] = _mm_sha1nexte_epu32(E0[s], W[s][g]); E1[s] = ABCD[s];                               \
                   ABCD[s] = _mm_sha1rnds4_epu32(ABCD[s], E0[s], f); }                                         \
        }                                                                                                      \
    } while (0)

/* The 80 rounds of four one-block messages whose schedules W[s][0..3] are loaded (big-endian words). */
__attribute__((target("sha,sse4.1,ssse3"), always_inline))
static inline void sha1_x4_rounds(__m128i W[4][20], uint64_t out[4]) {
    const __m128i IV = _mm_set_epi32((int)0x67452301u, (int)0xEFCDAB89u, (int)0x98BADCFEu, (int)0x10325476u);
    __m128i ABCD[4], E0[4], E1[4];
    for (int g = 4; g < 20; g++)
        for (int s = 0; s < 4; s++)
            W[s][g] = _mm_sha1msg2_epu32(_mm_xor_si128(_mm_sha1msg1_epu32(W[s][g - 4], W[s][g - 3]), W[s][g - 2]),
                                         W[s][g - 1]);
    for (int s = 0; s < 4; s++) {
        E0[s] = _mm_add_epi32(_mm_set_epi32((int)0xC3D2E1F0u, 0, 0, 0), W[s][0]);
        E1[s] = IV;
        ABCD[s] = _mm_sha1rnds4_epu32(IV, E0[s], 0);
    }
    SHA_RND4(1, 0); SHA_RND4(2, 0); SHA_RND4(3, 0); SHA_RND4(4, 0);
    SHA_RND4(5, 1); SHA_RND4(6, 1); SHA_RND4(7, 1); SHA_RND4(8, 1); SHA_RND4(9, 1);
    SHA_RND4(10, 2); SHA_RND4(11, 2); SHA_RND4(12, 2); SHA_RND4(13, 2); SHA_RND4(14, 2);
    SHA_RND4(15, 3); SHA_RND4(16, 3); SHA_RND4(17, 3); SHA_RND4(18, 3); SHA_RND4(19, 3);
    for (int s = 0; s < 4; s++) {
        __m128i abcd = _mm_add_epi32(ABCD[s], IV);   /* lanes: D C B A (A in lane 3) */
        uint32_t a = (uint32_t)_mm_extract_epi32(abcd, 3), b = (uint32_t)_mm_extract_epi32(abcd, 2);
        out[s] = (uint64_t)__builtin_bswap32(a) | ((uint64_t)__builtin_bswap32(b) << 32);
    }
}

__attribute__((target("sha,sse4.1,ssse3")))
static void sha1_x4_shani(const uint8_t *const blocks[4], uint64_t out[4]) {
    const __m128i MASK = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i W[4][20];
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 4; i++)
            W[s][i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks[s] + 16 * i)), MASK);
    sha1_x4_rounds(W, out);
}

/* Four messages of at most 55 bytes, padded in registers: no block is written to memory and read back (byte
 * stores followed by 16-byte loads of the same bytes stall on store forwarding). 64 bytes must be readable at
 * each msg[s]; the bytes past len[s] may hold anything. */
__attribute__((target("sha,sse4.1,ssse3")))
static void sha1_x4_short_shani(const uint8_t *const msg[4], const uint32_t len[4], uint64_t out[4]) {
    const __m128i MASK = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    const __m128i IDX = _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m128i B80 = _mm_set1_epi8((char)0x80);
    __m128i W[4][20];
    for (int s = 0; s < 4; s++) {
        const __m128i n = _mm_set1_epi8((char)len[s]);
        for (int i = 0; i < 4; i++) {
            __m128i pos = _mm_add_epi8(IDX, _mm_set1_epi8((char)(16 * i)));
            __m128i v = _mm_loadu_si128((const __m128i *)(msg[s] + 16 * i));
            v = _mm_or_si128(_mm_and_si128(v, _mm_cmpgt_epi8(n, pos)), _mm_and_si128(_mm_cmpeq_epi8(n, pos), B80));
            W[s][i] = _mm_shuffle_epi8(v, MASK);
        }
        W[s][3] = _mm_or_si128(W[s][3], _mm_cvtsi32_si128((int)(len[s] * 8)));   /* lane 0 = word 15 */
    }
    sha1_x4_rounds(W, out);
}
#endif

#ifdef HAVE_X86
/* 16 one-block SHA-1 messages at once in AVX-512 lanes (blocks at a 128-byte stride). */
__attribute__((target("avx512f,avx512bw")))
static void sha1_x16_avx512(const uint8_t *blocks, uint64_t out[16]) {
    const __m512i idx = _mm512_setr_epi32(0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 480);
    const __m512i bswap = _mm512_set4_epi32(0x0c0d0e0f, 0x08090a0b, 0x04050607, 0x00010203);
    __m512i W[16];
    for (int t = 0; t < 16; t++)
        W[t] = _mm512_shuffle_epi8(_mm512_i32gather_epi32(idx, (const void *)(blocks + 4 * t), 4), bswap);
    __m512i a = _mm512_set1_epi32((int)0x67452301u), b = _mm512_set1_epi32((int)0xEFCDAB89u);
    __m512i c = _mm512_set1_epi32((int)0x98BADCFEu), d = _mm512_set1_epi32((int)0x10325476u);
    __m512i e = _mm512_set1_epi32((int)0xC3D2E1F0u);
#define X16_W(t) ((t) < 16 ? W[(t)] : (W[(t) & 15] = _mm512_rol_epi32(_mm512_ternarylogic_epi32(                \
        _mm512_xor_si512(W[((t) - 3) & 15], W[((t) - 8) & 15]), W[((t) - 14) & 15], W[(t) & 15], 0x96), 1)))
#define X16_ROUND(t, imm, k)                                                                                    \
    do {                                                                                                        \
        __m512i wt = X16_W(t);                                                                                  \
        __m512i f = _mm512_ternarylogic_epi32(b, c, d, imm);                                                    \
        __m512i tmp = _mm512_add_epi32(_mm512_add_epi32(_mm512_rol_epi32(a, 5), f),                            \
                                       _mm512_add_epi32(_mm512_add_epi32(e, _mm512_set1_epi32((int)(k))), wt)); \
        e = d; d = c; c = _mm512_rol_epi32(b, 30); b = a; a = tmp;                                              \
    } while (0)
#pragma GCC unroll 80
    for (int t = 0; t < 20; t++) X16_ROUND(t, 0xCA, 0x5A827999u);
#pragma GCC unroll 80
    for (int t = 20; t < 40; t++) X16_ROUND(t, 0x96, 0x6ED9EBA1u);
#pragma GCC unroll 80
    for (int t = 40; t < 60; t++) X16_ROUND(t, 0xE8, 0x8F1BBCDCu);
#pragma GCC unroll 80
    for (int t = 60; t < 80; t++) X16_ROUND(t, 0x96, 0xCA62C1D6u);
    uint32_t h0[16], h1[16];
    _mm512_storeu_si512((void *)h0, _mm512_add_epi32(a, _mm512_set1_epi32((int)0x67452301u)));
    _mm512_storeu_si512((void *)h1, _mm512_add_epi32(b, _mm512_set1_epi32((int)0xEFCDAB89u)));
    for (int s = 0; s < 16; s++) out[s] = (uint64_t)__builtin_bswap32(h0[s]) | ((uint64_t)__builtin_bswap32(h1[s]) << 32);
#undef X16_W
#undef X16_ROUND
}
#endif

static void sha1_x4_portable(const uint8_t *const blocks[4], uint64_t out[4]) {
    for (int s = 0; s < 4; s++) {
        uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
        sha1_blocks_portable(st, blocks[s], 1);
        out[s] = (uint64_t)__builtin_bswap32(st[0]) | ((uint64_t)__builtin_bswap32(st[1]) << 32);
    }
}

typedef void (*sha1_x4_fn)(const uint8_t *const blocks[4], uint64_t out[4]);
static sha1_x4_fn sha1_x4 = sha1_x4_portable;
static int use_x16 = 0;   /* AVX-512: 16 messages per call, ~1.7x the SHA-NI x4 throughput on Zen 4 */

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

/* sig[k] = min(sig[k], a[k] * fmix32(h) + b[k]) over all of a document's shingle hashes. 64 permutations at a
 * time stay in vector registers across the hashes (the compiler unrolls the fixed-size inner loop). */
#ifdef HAVE_X86
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void permute_doc(uint32_t *restrict sig, const uint32_t *restrict a, const uint32_t *restrict b,
                        Py_ssize_t P, const uint32_t *restrict hx, Py_ssize_t nh) {
    Py_ssize_t base = 0;
    for (; base + 64 <= P; base += 64) {
        uint32_t A[64], B[64], S[64];
        memcpy(A, a + base, sizeof(A));
        memcpy(B, b + base, sizeof(B));
        memcpy(S, sig + base, sizeof(S));
        for (Py_ssize_t h = 0; h < nh; h++) {
            uint32_t x = hx[h];
            for (int k = 0; k < 64; k++) {
                uint32_t v = A[k] * x + B[k];
                S[k] = v < S[k] ? v : S[k];
            }
        }
        memcpy(sig + base, S, sizeof(S));
    }
    for (Py_ssize_t h = 0; h < nh; h++)
        for (Py_ssize_t k = base; k < P; k++) {
            uint32_t v = a[k] * hx[h] + b[k];
            sig[k] = v < sig[k] ? v : sig[k];
        }
}

static inline uint64_t fmix64(uint64_t k) {
    k ^= k >> 33; k *= 0xFF51AFD7ED558CCDULL; k ^= k >> 33; k *= 0xC4CEB9FE1A85EC53ULL; k ^= k >> 33;
    return k;
}

/* ---------------------------------------------------------------------------------------- tokenisation */

/* Non-ASCII code points the caller classified (sorted). A "safe" code point c starts a normalisation segment
 * of its own (its NFKD starts with a starter that composes with nothing before it), so NFKC + str.lower() of a
 * text of safe code points is the concatenation of lower(NFKC(c)); meta[k] = start << 8 | count into seq,
 * where seq[i] = lowered code point << 1 | is-\w. meta 0 = unsafe: the document is reported back and the
 * caller normalises it in Python. An empty table means "input already normalised". */
typedef struct {
    const uint32_t *cps;
    const uint32_t *meta;
    const uint32_t *seq;
    Py_ssize_t n;
} cptable_t;


static uint8_t ASCII_WORD[128];
static uint8_t ASCII_LOWER[128];
static uint8_t ASCII_OUT[128];   /* lowered byte for word characters, ' ' otherwise: no branch per byte */

typedef struct {
    uint8_t *low;       /* lowered copy of the document (UTF-8) */
    size_t low_cap;
    uint32_t *tok;      /* token start/end byte offsets into low, pairs */
    size_t tok_cap;
    uint8_t *sh;        /* long shingle bytes + sha1 padding */
    size_t sh_cap;
    uint64_t *hv;       /* the document's shingle hashes */
    size_t hv_cap;
    uint64_t *tmp;      /* radix sort buffer */
    size_t tmp_cap;
    uint64_t *th;       /* per-token hashes (exact-set path) */
    size_t th_cap;
    uint8_t blk[16][128]; /* pending one-block shingles (64 bytes + slack for 16-byte copies) */
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

static void scratch_free(scratch_t *s) {
    free(s->low); free(s->tok); free(s->sh); free(s->hv); free(s->tmp); free(s->th);
}

/* Decode one UTF-8 code point at s[*i]; an invalid or truncated sequence counts as one U+FFFD byte. */
static inline uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i) {
    uint8_t c = s[*i];
    int n = (c >= 0xF0) ? 3 : (c >= 0xE0) ? 2 : (c >= 0xC0) ? 1 : -1;
    if (n < 0 || *i + (size_t)n >= len) { (*i)++; return 0xFFFD; }
    uint32_t cp = c & (0x3F >> n);
    for (int k = 1; k <= n; k++) cp = (cp << 6) | (s[*i + k] & 0x3F);
    *i += n + 1;
    return cp;
}

static inline size_t utf8_put(uint8_t *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { o[0] = (uint8_t)(0xC0 | (cp >> 6)); o[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | (cp >> 12)); o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F)); return 3;
    }
    o[0] = (uint8_t)(0xF0 | (cp >> 18)); o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (uint8_t)(0x80 | (cp & 0x3F)); return 4;
}

static inline Py_ssize_t cp_find(const cptable_t *t, uint32_t cp) {
    Py_ssize_t lo = 0, hi = t->n;
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi) >> 1;
        if (t->cps[mid] < cp) lo = mid + 1; else hi = mid;
    }
    return (lo < t->n && t->cps[lo] == cp) ? lo : -1;
}

/* Lower the text into s->low as its tokens joined by single spaces (so any run of tokens is one contiguous
 * shingle) and record the token boundaries. Boundaries are written without branching on word/non-word
 * changes (those are unpredictable): every step writes, the count only advances on a flip. A non-word
 * character writes a space that is kept only right after a token. Returns the number of tokens, -1 on
 * allocation failure, -2 if a code point is not in the table (the caller must normalise the document). */
static Py_ssize_t tokenize(scratch_t *s, const uint8_t *text, size_t len, const cptable_t *t) {
    if (grow((void **)&s->low, &s->low_cap, len + 128, 1) < 0) return -1;
    if (grow((void **)&s->tok, &s->tok_cap, len + 4, sizeof(uint32_t)) < 0) return -1;
    uint8_t *low = s->low;
    uint32_t *bnd = s->tok;
    size_t i = 0, o = 0, nb = 0;
    unsigned prev = 0;
    while (i < len) {
        uint8_t c = text[i];
        if (c < 0x80) {
            unsigned w = ASCII_WORD[c];
            bnd[nb] = (uint32_t)o;
            nb += w ^ prev;
            low[o] = ASCII_OUT[c];
            o += w | prev;
            prev = w;
            i++;
            continue;
        }
        size_t from = i;
        uint32_t cp = utf8_next(text, len, &i);
        if (t->n == 0) {                     /* already normalised: keep bytes, classify like Python */
            unsigned w = Py_UNICODE_ISALNUM((Py_UCS4)cp) ? 1 : 0;
            bnd[nb] = (uint32_t)o;
            nb += w ^ prev;
            if (w) { memcpy(low + o, text + from, i - from); o += i - from; }
            else if (prev) low[o++] = ' ';
            prev = w;
            continue;
        }
        Py_ssize_t k = cp_find(t, cp);
        if (k < 0 || t->meta[k] == 0) return -2;
        uint32_t first = t->meta[k] >> 8, cnt = t->meta[k] & 0xFF;
        /* a replacement may be longer than the input: keep room for it and for the rest of the text */
        if (grow((void **)&s->low, &s->low_cap, o + 4 * (size_t)cnt + (len - i) + 128, 1) < 0 ||
            grow((void **)&s->tok, &s->tok_cap, nb + cnt + (len - i) + 4, sizeof(uint32_t)) < 0)
            return -1;
        low = s->low;
        bnd = s->tok;
        for (uint32_t j = 0; j < cnt; j++) {
            uint32_t item = t->seq[first + j];
            unsigned w = item & 1;
            bnd[nb] = (uint32_t)o;
            nb += w ^ prev;
            if (w) o += utf8_put(low + o, item >> 1);
            else if (prev) low[o++] = ' ';
            prev = w;
        }
    }
    if (prev) bnd[nb++] = (uint32_t)o;
    memset(low + o, 0, 72);                  /* defined bytes for the 64-byte block copies */
    return (Py_ssize_t)(nb / 2);
}

static inline void pad_block(uint8_t *blk, size_t len) {
    blk[len] = 0x80;
    memset(blk + len + 1, 0, 55 - len);
    uint64_t bits = (uint64_t)len * 8;
    for (int i = 0; i < 8; i++) blk[63 - i] = (uint8_t)(bits >> (8 * i));
}

/* All shingle hashes of one document into s->hv (duplicates kept). Returns the count, -1 or -2 as tokenize. */
static Py_ssize_t doc_hashes(scratch_t *s, const uint8_t *text, size_t len, const cptable_t *t) {
    Py_ssize_t ntok = tokenize(s, text, len, t);
    if (ntok < 0) return ntok;
    Py_ssize_t nsh = ntok < NGRAM ? 1 : ntok - NGRAM + 1;
    Py_ssize_t width = ntok < NGRAM ? ntok : NGRAM;
    if (grow((void **)&s->hv, &s->hv_cap, (size_t)nsh + 4, sizeof(uint64_t)) < 0) return -1;
    int pending = 0;
    const int batch = use_x16 ? 16 : 4;
    Py_ssize_t pend_idx[16];
#ifdef HAVE_X86
    const int short4 = !use_x16 && sha1_x4 == sha1_x4_shani;
    const uint8_t *pend_msg[4];
    uint32_t pend_len[4];
#else
    const int short4 = 0;
#endif
    for (Py_ssize_t k = 0; k < nsh; k++) {
        /* tokens k .. k+width-1 are contiguous in the stream, separated by single spaces */
        size_t a = width ? s->tok[2 * k] : 0;
        size_t n = width ? s->tok[2 * (k + width - 1) + 1] - a : 0;
        if (n <= 55) {
#ifdef HAVE_X86
            if (short4) {            /* tokenize leaves 72 defined bytes past the text: 64 readable here */
                pend_msg[pending] = s->low + a;
                pend_len[pending] = (uint32_t)n;
                pend_idx[pending++] = k;
                if (pending == 4) {
                    uint64_t out[4];
                    sha1_x4_short_shani(pend_msg, pend_len, out);
                    for (int j = 0; j < 4; j++) s->hv[pend_idx[j]] = out[j];
                    pending = 0;
                }
                continue;
            }
#endif
            memcpy(s->blk[pending], s->low + a, 64);
            pad_block(s->blk[pending], n);
            pend_idx[pending++] = k;
            if (pending == batch) {
                uint64_t out[16];
#ifdef HAVE_X86
                if (batch == 16) sha1_x16_avx512(&s->blk[0][0], out);
                else
#endif
                {
                    const uint8_t *const b[4] = {s->blk[0], s->blk[1], s->blk[2], s->blk[3]};
                    sha1_x4(b, out);
                }
                for (int j = 0; j < batch; j++) s->hv[pend_idx[j]] = out[j];
                pending = 0;
            }
        } else {
            if (grow((void **)&s->sh, &s->sh_cap, n + 96, 1) < 0) return -1;
            memcpy(s->sh, s->low + a, n);
            s->hv[k] = sha1_prefix64(s->sh, n);
        }
    }
#ifdef HAVE_X86
    for (int j = 0; short4 && j < pending; j++) {     /* the last few: into blocks for the loops below */
        memcpy(s->blk[j], pend_msg[j], 64);
        pad_block(s->blk[j], pend_len[j]);
    }
#endif
    (void)short4;
    int j = 0;
    for (; j + 4 <= pending; j += 4) {
        const uint8_t *const b[4] = {s->blk[j], s->blk[j + 1], s->blk[j + 2], s->blk[j + 3]};
        uint64_t out[4];
        sha1_x4(b, out);
        for (int q = 0; q < 4; q++) s->hv[pend_idx[j + q]] = out[q];
    }
    for (; j < pending; j++) {
        uint32_t st[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
        sha1_blocks(st, s->blk[j], 1);
        s->hv[pend_idx[j]] = (uint64_t)__builtin_bswap32(st[0]) | ((uint64_t)__builtin_bswap32(st[1]) << 32);
    }
    return nsh;
}

/* The exact-Jaccard path needs set identity only, not datasketch's hash: a 64-bit hash per token, then one
 * per shingle from its 5 token hashes. Tokens hold no spaces, so equal token tuples <=> equal shingles. */
static inline uint64_t token_hash(const uint8_t *p, size_t n) {
    uint64_t h = 0x27D4EB2F165667C5ULL ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h = (h << 31) | (h >> 33);
    }
    if (i < n) {
        uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* the same value as copying the n - i tail bytes into a zeroed word, from one 8-byte load (tokenize leaves
         * 72 defined bytes past the text, so it stays in the buffer): a variable-length memcpy here was a libc
         * call and a stalled store-to-load forward per token, ~25% of shingle_sets (perf) */
        memcpy(&w, p + i, 8);
        w &= ~0ULL >> (64 - 8 * (n - i));
#else
        memcpy(&w, p + i, n - i);
#endif
        h = (h ^ w ^ 0xA0761D6478BD642FULL) * 0x9E3779B97F4A7C15ULL;
    }
    return fmix64(h);
}

static Py_ssize_t doc_set_hashes(scratch_t *s, const uint8_t *text, size_t len, const cptable_t *t) {
    Py_ssize_t ntok = tokenize(s, text, len, t);
    if (ntok < 0) return ntok;
    Py_ssize_t nsh = ntok < NGRAM ? 1 : ntok - NGRAM + 1;
    Py_ssize_t width = ntok < NGRAM ? ntok : NGRAM;
    if (grow((void **)&s->hv, &s->hv_cap, (size_t)nsh + 4, sizeof(uint64_t)) < 0 ||
        grow((void **)&s->th, &s->th_cap, (size_t)ntok + 1, sizeof(uint64_t)) < 0)
        return -1;
    for (Py_ssize_t q = 0; q < ntok; q++)
        s->th[q] = token_hash(s->low + s->tok[2 * q], s->tok[2 * q + 1] - s->tok[2 * q]);
    for (Py_ssize_t k = 0; k < nsh; k++) {
        uint64_t h = 0x9E3779B97F4A7C15ULL * (uint64_t)(width + 1);
        for (Py_ssize_t q = k; q < k + width; q++) {
            h = (h ^ s->th[q]) * 0xD6E8FEB86659FD93ULL;
            h = (h << 29) | (h >> 35);
        }
        s->hv[k] = fmix64(h);
    }
    return nsh;
}

/* Sort s->hv[0:n] and drop repeats; returns the distinct count. The values are uniform hashes, so an LSD radix
 * sort on the top bytes only (enough of them to make ties rare) plus an insertion-sort pass is a full sort at
 * a fraction of the cost of 8 radix passes. */
static Py_ssize_t sort_unique(scratch_t *s, Py_ssize_t n) {
    if (n > 1) {
        if (grow((void **)&s->tmp, &s->tmp_cap, (size_t)n, sizeof(uint64_t)) < 0) return -1;
        int passes = 2;
        while (passes < 8 && ((Py_ssize_t)1 << (8 * passes - 4)) < n) passes++;
        if (passes & 1) passes++;                         /* even: the data ends up back in s->hv */
        uint64_t *src = s->hv, *dst = s->tmp;
        for (int pass = 8 - passes; pass < 8; pass++) {
            size_t count[257] = {0};
            int shift = 8 * pass;
            for (Py_ssize_t i = 0; i < n; i++) count[((src[i] >> shift) & 0xFF) + 1]++;
            for (int b = 0; b < 256; b++) count[b + 1] += count[b];
            for (Py_ssize_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
            uint64_t *x = src; src = dst; dst = x;
        }
        uint64_t *v = s->hv;
        for (Py_ssize_t i = 1; i < n; i++) {
            uint64_t x = v[i];
            Py_ssize_t j = i;
            while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
            v[j] = x;
        }
    }
    Py_ssize_t w = 0;
    for (Py_ssize_t j = 0; j < n; j++)
        if (j == 0 || s->hv[j] != s->hv[w - 1]) s->hv[w++] = s->hv[j];
    return w;
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

static int parse_strarr(strarr_t *arr, Py_buffer *off, Py_buffer *data, int width, Py_ssize_t base,
                        Py_buffer *rows) {
    if (width != 4 && width != 8) {
        PyErr_SetString(PyExc_ValueError, "offset width must be 4 or 8");
        return -1;
    }
    arr->offsets = (const uint8_t *)off->buf;
    arr->width = width;
    arr->data = (const uint8_t *)data->buf;
    arr->base = base;
    Py_ssize_t noff = off->len / width;
    const uint32_t *r = (const uint32_t *)rows->buf;
    for (Py_ssize_t k = 0; k < rows->len / 4; k++)
        if (base + (Py_ssize_t)r[k] + 1 >= noff) {
            PyErr_SetString(PyExc_IndexError, "row beyond the string array");
            return -1;
        }
    return 0;
}

static int parse_table(cptable_t *t, Py_buffer *cps, Py_buffer *meta, Py_buffer *seq) {
    t->n = cps->len / 4;
    if (meta->len != cps->len) {
        PyErr_SetString(PyExc_ValueError, "code point table arrays differ in length");
        return -1;
    }
    t->cps = (const uint32_t *)cps->buf;
    t->meta = (const uint32_t *)meta->buf;
    t->seq = (const uint32_t *)seq->buf;
    Py_ssize_t nseq = seq->len / 4;
    for (Py_ssize_t k = 0; k < t->n; k++)
        if ((Py_ssize_t)((t->meta[k] >> 8) + (t->meta[k] & 0xFF)) > nseq) {
            PyErr_SetString(PyExc_ValueError, "code point table points beyond its sequences");
            return -1;
        }
    return 0;
}

/* ------------------------------------------------------------------------------------------- entry points */

static PyObject *u32_bytes(const uint32_t *v, size_t n) {
    return PyBytes_FromStringAndSize((const char *)v, (Py_ssize_t)(n * sizeof(uint32_t)));
}

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* distinct_codepoints(offsets, data, width, base, rows u32) -> bytes: sorted distinct non-ASCII code points */
static PyObject *py_distinct_codepoints(PyObject *self, PyObject *args) {
    Py_buffer off, data, rows;
    int width;
    Py_ssize_t base;
    if (!PyArg_ParseTuple(args, "y*y*iny*", &off, &data, &width, &base, &rows)) return NULL;
    PyObject *ret = NULL;
    strarr_t arr;
    uint8_t *seen = NULL;
    uint32_t *list = NULL;
    if (parse_strarr(&arr, &off, &data, width, base, &rows) < 0) goto done;
    seen = (uint8_t *)calloc(0x110000 / 8, 1);
    size_t cap = 256, count = 0;
    list = (uint32_t *)malloc(sizeof(uint32_t) * cap);
    if (!seen || !list) { PyErr_NoMemory(); goto done; }
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint32_t *r = (const uint32_t *)rows.buf;
    for (Py_ssize_t k = 0; k < rows.len / 4 && !oom; k++) {
        const uint8_t *p;
        size_t len, i = 0;
        str_at(&arr, r[k], &p, &len);
        while (i < len) {
            if (p[i] < 0x80) {
                i++;
                while (i + 8 <= len) {           /* skip ASCII a word at a time */
                    uint64_t w;
                    memcpy(&w, p + i, 8);
                    if (w & 0x8080808080808080ULL) break;
                    i += 8;
                }
                continue;
            }
            uint32_t cp = utf8_next(p, len, &i);
            if (cp >= 0x110000 || (seen[cp >> 3] & (1u << (cp & 7)))) continue;
            seen[cp >> 3] |= (uint8_t)(1u << (cp & 7));
            if (grow((void **)&list, &cap, count + 1, sizeof(uint32_t)) < 0) { oom = 1; break; }
            list[count++] = cp;
        }
    }
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    qsort(list, count, sizeof(uint32_t), cmp_u32);
    size_t w = count;
    ret = u32_bytes(list, w);
done:
    free(seen); free(list);
    PyBuffer_Release(&off); PyBuffer_Release(&data); PyBuffer_Release(&rows);
    return ret;
}

/* minhash_rows(offsets, data, width, base, rows u32, out_rows u32, a u32, b u32, out u32[.., P],
 *              cps u32, low u32, flags u8) -> bytes: positions k (into rows) left for the caller to normalise */
static PyObject *py_minhash_rows(PyObject *self, PyObject *args) {
    Py_buffer off, data, rows, out_rows, a, b, out, cps, low, flags;
    int width;
    Py_ssize_t base;
    if (!PyArg_ParseTuple(args, "y*y*iny*y*y*y*w*y*y*y*", &off, &data, &width, &base, &rows, &out_rows, &a, &b,
                          &out, &cps, &low, &flags))
        return NULL;
    PyObject *ret = NULL;
    strarr_t arr;
    cptable_t table;
    uint32_t *failed = NULL;
    Py_ssize_t n = rows.len / 4, P = a.len / 4;
    if (parse_strarr(&arr, &off, &data, width, base, &rows) < 0 || parse_table(&table, &cps, &low, &flags) < 0)
        goto done;
    if (out_rows.len != rows.len || b.len != a.len || P == 0) {
        PyErr_SetString(PyExc_ValueError, "rows/out_rows or a/b length mismatch");
        goto done;
    }
    const uint32_t *ri = (const uint32_t *)rows.buf, *ro = (const uint32_t *)out_rows.buf;
    for (Py_ssize_t k = 0; k < n; k++)
        if ((Py_ssize_t)(ro[k] + 1) * P * 4 > out.len) {
            PyErr_SetString(PyExc_IndexError, "out_rows beyond output buffer");
            goto done;
        }
    failed = (uint32_t *)malloc(sizeof(uint32_t) * (n + 1));
    if (!failed) { PyErr_NoMemory(); goto done; }
    size_t nfailed = 0;
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    memset(&s, 0, sizeof(s));
    const uint32_t *A = (const uint32_t *)a.buf, *B = (const uint32_t *)b.buf;
    for (Py_ssize_t k = 0; k < n && !oom; k++) {
        const uint8_t *p;
        size_t len;
        str_at(&arr, ri[k], &p, &len);
        uint32_t *sig = (uint32_t *)out.buf + (size_t)ro[k] * P;
        for (Py_ssize_t j = 0; j < P; j++) sig[j] = 0xFFFFFFFFu;
        Py_ssize_t nh = doc_hashes(&s, p, len, &table);
        if (nh == -1) { oom = 1; break; }
        if (nh == -2) { failed[nfailed++] = (uint32_t)k; continue; }
        uint32_t *hx = (uint32_t *)s.tmp;   /* fmix32 of each hash, computed once for all permutations */
        if (grow((void **)&s.tmp, &s.tmp_cap, (size_t)nh / 2 + 1, sizeof(uint64_t)) < 0) { oom = 1; break; }
        hx = (uint32_t *)s.tmp;
        for (Py_ssize_t h = 0; h < nh; h++) hx[h] = fmix32((uint32_t)s.hv[h]);
        permute_doc(sig, A, B, P, hx, nh);
    }
    scratch_free(&s);
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    ret = u32_bytes(failed, nfailed);
done:
    free(failed);
    PyBuffer_Release(&off); PyBuffer_Release(&data); PyBuffer_Release(&rows); PyBuffer_Release(&out_rows);
    PyBuffer_Release(&a); PyBuffer_Release(&b); PyBuffer_Release(&out);
    PyBuffer_Release(&cps); PyBuffer_Release(&low); PyBuffer_Release(&flags);
    return ret;
}

/* shingle_sets(offsets, data, width, base, rows u32, cps, low, flags) -> (offsets i64[n+1], hashes u64, failed u32):
 * sorted distinct 64-bit shingle hashes (token-tuple hashes, not sha1) of each row, for exact Jaccard;
 * failed rows get an empty set. */
static PyObject *py_shingle_sets(PyObject *self, PyObject *args) {
    Py_buffer off, data, rows, cps, low, flags;
    int width;
    Py_ssize_t base;
    if (!PyArg_ParseTuple(args, "y*y*iny*y*y*y*", &off, &data, &width, &base, &rows, &cps, &low, &flags))
        return NULL;
    PyObject *ret = NULL;
    strarr_t arr;
    cptable_t table;
    Py_ssize_t n = rows.len / 4;
    int64_t *offs = NULL;
    uint64_t *all = NULL;
    uint32_t *failed = NULL;
    size_t nall = 0, cap = 0, nfailed = 0;
    if (parse_strarr(&arr, &off, &data, width, base, &rows) < 0 || parse_table(&table, &cps, &low, &flags) < 0)
        goto done;
    offs = (int64_t *)malloc(sizeof(int64_t) * (n + 1));
    failed = (uint32_t *)malloc(sizeof(uint32_t) * (n + 1));
    if (!offs || !failed) { PyErr_NoMemory(); goto done; }
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    scratch_t s;
    memset(&s, 0, sizeof(s));
    const uint32_t *ri = (const uint32_t *)rows.buf;
    offs[0] = 0;
    for (Py_ssize_t k = 0; k < n; k++) {
        const uint8_t *p;
        size_t len;
        str_at(&arr, ri[k], &p, &len);
        Py_ssize_t nh = doc_set_hashes(&s, p, len, &table);
        if (nh == -1) { oom = 1; break; }
        if (nh == -2) { failed[nfailed++] = (uint32_t)k; nh = 0; }
        nh = sort_unique(&s, nh);
        if (nh < 0 || grow((void **)&all, &cap, nall + (size_t)nh, sizeof(uint64_t)) < 0) { oom = 1; break; }
        memcpy(all + nall, s.hv, sizeof(uint64_t) * (size_t)nh);
        nall += (size_t)nh;
        offs[k + 1] = (int64_t)nall;
    }
    scratch_free(&s);
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    PyObject *o = PyBytes_FromStringAndSize((const char *)offs, sizeof(int64_t) * (n + 1));
    PyObject *h = PyBytes_FromStringAndSize((const char *)all, (Py_ssize_t)(sizeof(uint64_t) * nall));
    PyObject *f = u32_bytes(failed, nfailed);
    if (o && h && f) ret = PyTuple_Pack(3, o, h, f);
    Py_XDECREF(o); Py_XDECREF(h); Py_XDECREF(f);
done:
    free(offs); free(all); free(failed);
    PyBuffer_Release(&off); PyBuffer_Release(&data); PyBuffer_Release(&rows);
    PyBuffer_Release(&cps); PyBuffer_Release(&low); PyBuffer_Release(&flags);
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


/* The LSH key of one band of one signature: seeded by the band number (so a range of bands gives exactly its
 * share of the whole), fmix64 after each of the band's `nr` values, and once more at the end. The one
 * definition behind band_keys and candidate_pairs, whose keys must agree. */
static inline uint64_t band_hash(const uint32_t *row, Py_ssize_t band, Py_ssize_t nr) {
    uint64_t h = 0x9E3779B97F4A7C15ULL * (uint64_t)(band + 1);
    for (Py_ssize_t q = 0; q < nr; q++) h = fmix64(h ^ (uint64_t)row[band * nr + q]) + 0x9E3779B97F4A7C15ULL;
    return fmix64(h);
}

/* band_keys(sigs u32[n, P], P, first_band, n_bands, rows, out u64[n_bands, n]): one 64-bit key per band/doc. */
static PyObject *py_band_keys(PyObject *self, PyObject *args) {
    Py_buffer sig, out;
    Py_ssize_t P, first, nb, nr;
    if (!PyArg_ParseTuple(args, "y*nnnnw*", &sig, &P, &first, &nb, &nr, &out)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = P > 0 ? sig.len / 4 / P : 0;
    if (P <= 0 || first < 0 || (first + nb) * nr > P || out.len != n * nb * 8 || sig.len != n * P * 4) {
        PyErr_SetString(PyExc_ValueError, "band_keys: shapes do not match");
        goto done;
    }
    const uint32_t *s = (const uint32_t *)sig.buf;
    uint64_t *o = (uint64_t *)out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint32_t *row = s + (size_t)i * P;
        for (Py_ssize_t j = 0; j < nb; j++) {
            o[(size_t)j * n + i] = band_hash(row, first + j, nr);
        }
    }
    Py_END_ALLOW_THREADS
    ret = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&sig); PyBuffer_Release(&out);
    return ret;
}

/* candidate_pairs(sigs u32[n, P], P, bands, rows, window[, first, count]) -> bytes: sorted distinct
 * (i << 32 | j), i < j, of rows sharing a band key, over bands first..first+count (default: all `bands`; the
 * band number seeds its key, so a range gives exactly its bands' share of the whole and callers may run
 * ranges side by side). Per band: keys sorted with their rows (LSD radix, stable, so ties stay in row order),
 * then each row of a run is paired with the next `window` rows of that run, as lsh._band_pairs does. */
#define CP_GROUP 8

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static PyObject *py_candidate_pairs(PyObject *self, PyObject *args) {
    Py_buffer sig;
    Py_ssize_t P, nb, nr, window, first = 0, count = -1;
    if (!PyArg_ParseTuple(args, "y*nnnn|nn", &sig, &P, &nb, &nr, &window, &first, &count)) return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = P > 0 ? sig.len / 4 / P : 0;
    if (count < 0) count = nb - first;
    uint64_t *key = NULL, *key2 = NULL, *pairs = NULL;
    uint32_t *row = NULL, *row2 = NULL;
    size_t npairs = 0, cap = 0;
    if (P <= 0 || nb * nr > P || sig.len != n * P * 4 || window < 1 || n >= ((Py_ssize_t)1 << 32) || first < 0 ||
        count < 0 || first + count > nb) {
        PyErr_SetString(PyExc_ValueError, "candidate_pairs: bad shapes");
        goto done;
    }
    /* keys of CP_GROUP bands are computed in one sweep over the signatures: a sweep per band was bound by
     * memory (each row's signature is a cache line or more apart from the next one's) */
    const Py_ssize_t group = count < CP_GROUP ? (count > 0 ? count : 1) : CP_GROUP;
    key = malloc(sizeof(uint64_t) * (n + 1) * group); key2 = malloc(sizeof(uint64_t) * (n + 1));
    row = malloc(sizeof(uint32_t) * (n + 1)); row2 = malloc(sizeof(uint32_t) * (n + 1));
    if (!key || !key2 || !row || !row2) { PyErr_NoMemory(); goto done; }
    int oom = 0;
    Py_BEGIN_ALLOW_THREADS
    const uint32_t *s = (const uint32_t *)sig.buf;
    for (Py_ssize_t band = first; band < first + count && !oom; band++) {
        Py_ssize_t slot = (band - first) % group;
        if (slot == 0) {
            Py_ssize_t in_group = first + count - band < group ? first + count - band : group;
            for (Py_ssize_t i = 0; i < n; i++) {
                const uint32_t *r = s + (size_t)i * P;
                for (Py_ssize_t g = 0; g < in_group; g++) {
                    key[(size_t)g * (n + 1) + i] = band_hash(r, band + g, nr);
                }
            }
        }
        for (Py_ssize_t i = 0; i < n; i++) row[i] = (uint32_t)i;
        uint64_t *ks = key + (size_t)slot * (n + 1), *kd = key2;
        uint32_t *rs = row, *rd = row2;
        /* the keys are uniform hashes: a stable LSD radix sort on the top bytes only (enough of them that equal
         * top bytes with unequal keys are rare), then a stable insertion pass on the whole key, orders them as a
         * stable sort on all 8 bytes would, with 3-4 passes over the keys instead of 8 */
        int passes = 2;
        while (passes < 8 && ((Py_ssize_t)1 << (8 * passes - 4)) < n) passes++;
        if (passes & 1) passes++;                         /* even: keys end up back in key/row */
        for (int pass = 8 - passes; pass < 8; pass++) {
            size_t count[257] = {0};
            int shift = 8 * pass;
            for (Py_ssize_t i = 0; i < n; i++) count[((ks[i] >> shift) & 0xFF) + 1]++;
            for (int b = 0; b < 256; b++) count[b + 1] += count[b];
            for (Py_ssize_t i = 0; i < n; i++) {
                size_t at = count[(ks[i] >> shift) & 0xFF]++;
                kd[at] = ks[i];
                rd[at] = rs[i];
            }
            uint64_t *kt = ks; ks = kd; kd = kt;
            uint32_t *rt = rs; rs = rd; rd = rt;
        }
        for (Py_ssize_t i = 1; i < n; i++) {            /* strict >: equal keys keep their row order */
            uint64_t x = ks[i];
            uint32_t xr = rs[i];
            Py_ssize_t j = i;
            while (j > 0 && ks[j - 1] > x) { ks[j] = ks[j - 1]; rs[j] = rs[j - 1]; j--; }
            ks[j] = x;
            rs[j] = xr;
        }
        for (Py_ssize_t i = 0; i < n; ) {
            Py_ssize_t e = i + 1;
            while (e < n && ks[e] == ks[i]) e++;
            for (Py_ssize_t a = i; a < e; a++)
                for (Py_ssize_t b = a + 1; b < e && b <= a + window; b++) {
                    if (grow((void **)&pairs, &cap, npairs + 1, sizeof(uint64_t)) < 0) { oom = 1; break; }
                    pairs[npairs++] = ((uint64_t)rs[a] << 32) | rs[b];   /* rows ascending in a run */
                }
            i = e;
        }
    }
    if (!oom && npairs) {
        qsort(pairs, npairs, sizeof(uint64_t), cmp_u64);
        size_t w = 1;
        for (size_t k = 1; k < npairs; k++)
            if (pairs[k] != pairs[w - 1]) pairs[w++] = pairs[k];
        npairs = w;
    }
    Py_END_ALLOW_THREADS
    if (oom) { PyErr_NoMemory(); goto done; }
    ret = PyBytes_FromStringAndSize((const char *)pairs, (Py_ssize_t)(npairs * sizeof(uint64_t)));
done:
    free(key); free(key2); free(row); free(row2); free(pairs);
    PyBuffer_Release(&sig);
    return ret;
}

static PyObject *py_sha1_backend(PyObject *self, PyObject *noargs) {
    const char *base = sha1_blocks == sha1_blocks_portable ? "portable" : "sha-ni";
    return PyUnicode_FromFormat("%s%s", use_x16 ? "avx512+" : "", base);
}

static int cpu_has_shani(void) {
#ifdef HAVE_X86
    return __builtin_cpu_supports("sha") && __builtin_cpu_supports("sse4.1");
#else
    return 0;
#endif
}

static int cpu_has_avx512(void) {
#ifdef HAVE_X86
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");
#else
    return 0;
#endif
}

static void use_backend(int shani, int x16) {
#ifdef HAVE_X86
    sha1_blocks = shani ? sha1_blocks_shani : sha1_blocks_portable;
    sha1_x4 = shani ? sha1_x4_shani : sha1_x4_portable;
#else
    (void)shani;
#endif
    use_x16 = x16;
}

/* set_sha1_backend("portable" | "sha-ni" | "avx512" | "best"): for tests and benchmarks; all give equal hashes. */
static PyObject *py_set_sha1_backend(PyObject *self, PyObject *arg) {
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name) return NULL;
    if (strcmp(name, "portable") == 0) { use_backend(0, 0); Py_RETURN_NONE; }
    if (strcmp(name, "sha-ni") == 0 && cpu_has_shani()) { use_backend(1, 0); Py_RETURN_NONE; }
    if (strcmp(name, "avx512") == 0 && cpu_has_avx512()) { use_backend(cpu_has_shani(), 1); Py_RETURN_NONE; }
    if (strcmp(name, "best") == 0) { use_backend(cpu_has_shani(), cpu_has_avx512()); Py_RETURN_NONE; }
    PyErr_Format(PyExc_ValueError, "sha1 backend %s is not available here", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"distinct_codepoints", py_distinct_codepoints, METH_VARARGS, "Sorted distinct non-ASCII code points."},
    {"minhash_rows", py_minhash_rows, METH_VARARGS, "MinHash signatures of selected rows of an Arrow string array."},
    {"shingle_sets", py_shingle_sets, METH_VARARGS, "Sorted distinct 64-bit shingle hashes of selected rows."},
    {"jaccard_pairs", py_jaccard_pairs, METH_VARARGS, "Exact Jaccard of pairs of sorted hash sets."},
    {"candidate_pairs", py_candidate_pairs, METH_VARARGS, "Sorted distinct LSH candidate pairs (packed)."},
    {"band_keys", py_band_keys, METH_VARARGS, "64-bit LSH band keys from signatures."},
    {"sha1_backend", py_sha1_backend, METH_NOARGS, "Which SHA-1 implementation is in use."},
    {"set_sha1_backend", py_set_sha1_backend, METH_O, "Force portable / sha-ni / avx512 / best (tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_minhash", "Bulk MinHash kernels.", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__minhash(void) {
    for (int c = 0; c < 128; c++) {
        ASCII_LOWER[c] = (uint8_t)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        ASCII_WORD[c] = (uint8_t)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
        ASCII_OUT[c] = ASCII_WORD[c] ? ASCII_LOWER[c] : (uint8_t)' ';
    }
#ifdef HAVE_X86
    __builtin_cpu_init();
#endif
    use_backend(cpu_has_shani(), cpu_has_avx512());
    return PyModule_Create(&module);
}
