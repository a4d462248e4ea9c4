"""Signatures must equal datasketch 2.0.0's default MinHash over the issue-4 shingles, bit for bit."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH

from biomass.dedup import shingles, signatures
from biomass.dedup.minhash import _csr_concat, jaccard_pairs, kernel, shingle_set_parts, shingle_sets

from .conftest import real_docs


def reference(texts, num_perm=128, seed=1) -> np.ndarray:
    """Straight datasketch: one MinHash per text, updated with each shingle's utf-8 bytes."""
    out = []
    for text in texts:
        m = MinHash(num_perm=num_perm, seed=seed)
        for sh in shingles(text or ""):
            m.update(sh.encode("utf-8"))
        out.append(m.hashvalues)
    return np.array(out, dtype=np.uint32).reshape(len(texts), num_perm)


def test_real_text_many_docs_equal_datasketch():
    docs = real_docs()[:300]
    ours = signatures(docs)
    assert ours.shape == (len(docs), 128) and ours.dtype == np.uint32
    assert np.array_equal(ours, reference(docs))


@pytest.mark.parametrize("num_perm,seed", [(64, 7), (256, 42), (1, 0)])
def test_other_num_perm_and_seed(num_perm, seed):
    docs = real_docs(400)[:40]
    assert np.array_equal(signatures(docs, num_perm=num_perm, seed=seed), reference(docs, num_perm, seed))


SHORT = ["", " ", "!!! ??? ...", "one", "two words", "three little words", "four words right here",
         "exactly five words are here", "exactly five words are here plus one", "\n\t", "_", "a_b", "ÉTÉ"]


def test_short_docs_are_one_shingle():
    assert shingles("") == [""]
    assert shingles("Two  WORDS!") == ["two words"]
    assert len(shingles("a b c d e f")) == 2
    assert np.array_equal(signatures(SHORT), reference(SHORT))


UNICODE = [
    "ﬁne ﬂour, ＦＵＬＬＷＩＤＴＨ letters and x² + y³ — NFKC folds all of them",
    "İstanbul'da ΣΊΣΥΦΟΣ ΟΔΥΣΣΕΎΣ; Straße ẞ; the final sigma ΧΑΟΣ differs from σ",
    "Café naïve coöperate résumé — e\u0301 combining versus é precomposed",
    "日本語のテキストです。漢字とかなが混ざっています 中文文本也在这里 한국어 텍스트",
    "हिन्दी में लिखा गया पाठ, जिसमें मात्राएँ हैं; العربية نص مكتوب هنا ١٢٣ ٤٥٦",
    "emoji 😀 between 🎉 words 👍🏽 and ZWJ 👨‍👩‍👧 families, ½ ⅓ Ⅻ ① numerals",
    "tab\tnew\nline\r\nnbsp\u00a0thin\u2009space ideographic\u3000space",
    "under_score snake_case __dunder__ 3.14 1,000,000 v2.0-beta",
    "a" * 70 + " tokens longer than one sha1 block " + "b" * 200 + " " + "ü" * 40 + " end",
    " ".join(["supercalifragilistic"] * 12),
]


def test_unicode_normalisation_and_tokens():
    assert np.array_equal(signatures(UNICODE), reference(UNICODE))


def test_random_code_points_tokenise_like_python_re():
    """Random strings over many scripts: \\w in the kernel must be exactly Python's."""
    rng = random.Random(1234)
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x1E00, 0x1FFF), (0x2000, 0x2BFF), (0x3000, 0x30FF), (0x4E00, 0x4E80), (0xAC00, 0xAC80),
              (0xFB00, 0xFB4F), (0xFF00, 0xFFEF), (0x1D400, 0x1D7FF), (0x1F300, 0x1F64F), (0x10000, 0x1007F)]
    texts = []
    for _ in range(400):
        lo, hi = rng.choice(ranges)
        chars = [chr(rng.randint(lo, hi)) if rng.random() < 0.7 else rng.choice(" _-.,") for _ in range(60)]
        texts.append("".join(chars))
    assert np.array_equal(signatures(texts), reference(texts))


def test_arrow_inputs_chunked_sliced_and_null():
    docs = real_docs(300)[:30] + UNICODE
    want = reference(docs)
    assert np.array_equal(signatures(pa.array(docs, pa.string())), want)
    chunked = pa.chunked_array([pa.array(docs[:7], pa.string()), pa.array(docs[7:], pa.string())])
    assert np.array_equal(signatures(chunked), want)
    sliced = pa.array(["skip me"] * 3 + docs, pa.large_string()).slice(3)
    assert np.array_equal(signatures(sliced), want)
    with_null = pa.array(["x y", None], pa.string())
    assert np.array_equal(signatures(with_null), reference(["x y", ""]))
    assert signatures([]).shape == (0, 128)


def test_threads_and_sha1_backends_agree():
    docs = real_docs(500)[:400] + UNICODE
    one = signatures(docs, threads=1)
    assert np.array_equal(one, signatures(docs, threads=2))
    k = kernel()
    tried = []
    try:
        for backend in ("portable", "sha-ni", "avx512"):
            try:
                k.set_sha1_backend(backend)
            except ValueError:        # this CPU lacks it
                continue
            tried.append(k.sha1_backend())
            assert np.array_equal(one, signatures(docs, threads=1)), backend
    finally:
        k.set_sha1_backend("best")
    assert "portable" in tried


def test_interoperates_with_datasketch_lean_minhash_and_lsh():
    docs = real_docs()[:50]
    sigs = signatures(docs)
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    for i, sig in enumerate(sigs):
        lean = LeanMinHash(seed=1, hashvalues=sig, scheme="affine32")
        lsh.insert(f"d{i}", lean)
    m = MinHash(num_perm=128, seed=1)
    m.update_batch([s.encode() for s in shingles(docs[3])])
    assert "d3" in lsh.query(m)
    assert LeanMinHash(m) == LeanMinHash(seed=1, hashvalues=sigs[3], scheme="affine32")


def test_exact_shingle_sets_and_jaccard():
    docs = real_docs(600)[:20] + UNICODE[:3]
    offsets, hashes = shingle_sets(docs)
    sets = [set(shingles(d)) for d in docs]
    for i in range(len(docs)):
        assert offsets[i + 1] - offsets[i] == len(sets[i])
    left = np.array([0, 1, 2, 5, 20], dtype=np.uint32)
    right = np.array([1, 1, 7, 6, 21], dtype=np.uint32)
    got = jaccard_pairs(offsets, hashes, left, right)
    want = [len(sets[a] & sets[b]) / len(sets[a] | sets[b]) for a, b in zip(left, right)]
    assert np.allclose(got, want, rtol=0, atol=1e-12)


_M64 = (1 << 64) - 1


def _fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & _M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & _M64
    return k ^ (k >> 33)


def _token_hash(tok: bytes) -> int:
    h = 0x27D4EB2F165667C5 ^ ((len(tok) * 0x9E3779B97F4A7C15) & _M64)
    i = 0
    while i + 8 <= len(tok):
        h = ((h ^ int.from_bytes(tok[i:i + 8], "little")) * 0x9E3779B97F4A7C15) & _M64
        h = ((h << 31) | (h >> 33)) & _M64
        i += 8
    if i < len(tok):
        h = ((h ^ int.from_bytes(tok[i:], "little") ^ 0xA0761D6478BD642F) * 0x9E3779B97F4A7C15) & _M64
    return _fmix64(h)


def reference_set_hashes(text: str) -> list[int]:
    """The kernel's exact-set hashes, written out in Python: a hash per token, one per shingle from its tokens."""
    import re

    from biomass.dedup.minhash import normalize_for_shingles

    th = [_token_hash(t.encode("utf-8")) for t in re.findall(r"\w+", normalize_for_shingles(text))]
    width = min(len(th), 5)
    out = set()
    for k in range(max(1, len(th) - 4)):
        h = (0x9E3779B97F4A7C15 * (width + 1)) & _M64
        for q in range(k, k + width):
            h = ((h ^ th[q]) * 0xD6E8FEB86659FD93) & _M64
            h = ((h << 29) | (h >> 35)) & _M64
        out.add(_fmix64(h))
    return sorted(out)


def test_shingle_set_hashes_equal_their_definition():
    """Every token length (the kernel reads a token's last 1-7 bytes in one masked load), ASCII and not."""
    rng = random.Random(13)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789\u00e9\u00df\u4e2d\u0416"
    docs = [" ".join("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))
                     for _ in range(rng.randint(0, 40))) for _ in range(60)]
    docs += real_docs(600)[:10] + UNICODE[:3] + ["", "one", "a b c d", "x" * 8, "y" * 16 + " " + "z" * 7]
    offsets, hashes = shingle_sets(docs)
    for i, doc in enumerate(docs):
        assert hashes[offsets[i]:offsets[i + 1]].tolist() == reference_set_hashes(doc), doc


def test_safe_code_point_rule_matches_unicode_data():
    """The per-code-point shortcut relies on: every composition second is a mark, a non-starter or a jamo."""
    import unicodedata

    from biomass.dedup.minhash import classify_codepoint, combines_backward, composition_seconds

    for cp in composition_seconds():
        ch = chr(cp)
        assert unicodedata.combining(ch) or unicodedata.category(ch).startswith("M") or 0x1100 <= cp <= 0x11FF
        assert combines_backward(ch)
    assert classify_codepoint(ord("…")) == tuple((ord(".") << 1) for _ in range(3))
    assert classify_codepoint(ord("Σ")) is None                    # final sigma depends on context
    assert classify_codepoint(0x0301) is None                      # combining acute composes backward
    assert classify_codepoint(0x0C3E) is not None                  # Telugu vowel sign: a mark, composes with nothing


def test_shipped_mark_composition_seconds_match_unicode_data():
    """The shipped table (skips a scan of every code point at start-up) equals the one computed from unicodedata."""
    import unicodedata

    from biomass.dedup.minhash import composition_seconds, mark_composition_seconds

    computed = frozenset(cp for cp in composition_seconds() if unicodedata.category(chr(cp)).startswith("M"))
    assert mark_composition_seconds() == computed
    assert mark_composition_seconds("another version") == computed    # the fallback computes them


MIXED = [
    "Ellipsis… ﬁnal ﬂow ², ³ and ™ — Kelvin \u212a, Ångström \u212b, ㎏, Ǆemal, ǅ, Ⅻ, ①②",
    "decomposed e\u0301te\u0301 next to composed été; Bengali \u09c7\u09be (composes) and \u09cb",
    "తెలుగు భాష ఒక ద్రావిడ భాష; हिन्दी भाषा; ಕನ್ನಡ \u0cc6\u0cc2 ; 한국어 \u1100\u1161\u11a8 jamo",
    "ΌΣΟΣ ΣΟΦΟΣ ΣΊΣΥΦΟΣ · İSTANBUL ıi · ß ẞ ǰ ŉ ﬀ ﬃ ﬅ ﬆ",
]


def test_mixed_per_code_point_and_python_paths():
    texts = [a + " " + b for a in MIXED for b in MIXED] + MIXED
    assert np.array_equal(signatures(texts), reference(texts))
    offsets, _ = shingle_sets(texts)
    assert [int(offsets[i + 1] - offsets[i]) for i in range(len(texts))] == [len(set(shingles(t))) for t in texts]


def test_growing_table_over_batches_equals_whole_table_and_datasketch():
    """GrowingTable appends each batch's new code points to its table instead of rebuilding it: every code point
    must still map to lower(NFKC(c)) as ``codepoint_table`` says, and signatures / shingle sets must not move."""
    from biomass.dedup.minhash import GrowingTable, codepoint_table

    rng = random.Random(13)
    alphabet = "abc xyz ÉéßẞΣσςﬁ①Ⅻ가각 \u0301\u0308 ½ Ǆ İ 漢字 ÅÅ ﾊﾟ"
    docs = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(5, 80))) for _ in range(120)]
    docs += real_docs(400)[:30]
    batches = [pa.array(docs[i:i + 17], pa.large_string()) for i in range(0, len(docs), 17)]
    grow = GrowingTable()
    ours = np.concatenate([signatures(b, table=grow.covering(b)) for b in batches])
    assert np.array_equal(ours, reference(docs))
    cps, meta, seq = grow.table
    assert np.all(np.diff(cps.astype(np.int64)) > 0)
    ref_cps, ref_meta, ref_seq = codepoint_table(cps)
    assert np.array_equal(cps, ref_cps)
    for i in range(len(cps)):
        got = seq[meta[i] >> 8:(meta[i] >> 8) + (meta[i] & 0xFF)].tolist() if meta[i] else None
        want = ref_seq[ref_meta[i] >> 8:(ref_meta[i] >> 8) + (ref_meta[i] & 0xFF)].tolist() if ref_meta[i] else None
        assert got == want, hex(int(cps[i]))
    whole = pa.array(docs, pa.large_string())
    assert all(np.array_equal(x, y) for x, y in zip(shingle_sets(whole, table=grow.table),
                                                   shingle_sets(whole)))


def test_shingle_set_parts_join_to_shingle_sets():
    """The pieces a streamed verification joins once are the sets, Python-normalised rows included."""
    docs = real_docs(600)[:300] + UNICODE + real_docs(600)[300:400]
    rows = np.arange(0, len(docs), 2)
    for threads in (1, 2):
        parts = shingle_set_parts(docs, rows, threads=threads)
        offsets, hashes = _csr_concat(parts)
        sets = [set(shingles(docs[r])) for r in rows]
        assert [int(b - a) for a, b in zip(offsets[:-1], offsets[1:])] == [len(x) for x in sets]
        want_off, want_hash = shingle_sets(docs, rows, threads=1)
        assert np.array_equal(offsets, want_off) and np.array_equal(hashes, want_hash)


def test_jaccard_pairs_on_threads_equal_one_thread():
    docs = real_docs(600)[:200]
    offsets, hashes = shingle_sets(docs)
    rng = np.random.default_rng(3)
    left, right = rng.integers(0, len(docs), (2, 10_000)).astype(np.uint32)
    want = jaccard_pairs(offsets, hashes, left, right)
    sets = [set(shingles(d)) for d in docs]
    for k in (0, 4321, 9999):
        a, b = sets[left[k]], sets[right[k]]
        assert want[k] == pytest.approx(len(a & b) / len(a | b), abs=1e-12)
    for threads in (2, 3):
        assert np.array_equal(jaccard_pairs(offsets, hashes, left, right, threads=threads), want)
