"""Synthesis at scale: streamed counts, the batch sampler, batched language ids, each held to the simple path."""

import random
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from biomass.config import SynthesizeConfig
from biomass.lm.counting import BOS, NgramCounter
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import whitespace_tokens
from biomass.provenance.watermark import Watermarker
from biomass.storage import file_sha256
from biomass.synth import synthesize_stage
from biomass.synth import batch_sampler as bs_module
from biomass.synth.batch_sampler import BatchSampler, Guide, Job, KeyIndex, search
from biomass.text import detect_lang, detect_langs, normalize

CFG = SynthesizeConfig()
_CHARS = list("ab \t\n\r\x0b\x0c\x00\x1c\x1f\x7f\x85\xa0\u1680\u2000\u200a\u200b\u2028\u2029\u202f\u3000\u180ee\u0301")


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(st.sampled_from(_CHARS)), st.text()))
def test_words_is_the_split_of_normalised_text(text):
    assert whitespace_tokens(text) == normalize(text).split()


def test_streamed_counts_equal_counting_everything_at_once(human_docs):
    docs = [whitespace_tokens(t)[:300] for t in human_docs[:40]] + [[]]
    expected = Counter()
    for d in docs:
        seq = [BOS, BOS] + d
        expected.update(tuple(seq[i - 2:i + 1]) for i in range(2, len(seq)))
    shuffled = docs[:]
    random.Random(3).shuffle(shuffled)
    counter = NgramCounter(3, merge_every=50)  # many merges
    for lo in range(0, len(shuffled), 3):
        counter.add(shuffled[lo:lo + 3])
    got = counter.finish()
    base = len(got.vocab) + 1
    decoded = {tuple(got.vocab[(k // base ** j) % base] for j in (2, 1, 0)): int(c)
               for k, c in zip(got.keys.tolist(), got.counts.tolist())}
    assert decoded == dict(expected)
    assert np.all(np.diff(got.keys) > 0) and got.vocab == [BOS] + sorted({w for d in docs for w in d})
    one = NgramCounter(3)
    one.add(docs)
    assert np.array_equal(one.finish().keys, got.keys)


def test_batch_counts_equal_token_list_counts(human_docs):
    """``add_batch`` (Arrow tokens, distinct tokens looked up once) counts what ``add`` of ``whitespace_tokens`` counts."""
    from biomass.lm.tokenize import TokenBatch

    docs = human_docs[:50] + ["", "  ", "\x00", "héllo wörld ça va", "a\u200bb c", "Ω Ω Ω"] + human_docs[50:70]
    one = NgramCounter(3)
    one.add([whitespace_tokens(t) for t in docs])
    batched = NgramCounter(3, merge_every=500)
    for lo in (0, 20, 53, 60):
        batched.add_batch(TokenBatch.encode(docs[lo:{0: 20, 20: 53, 53: 60, 60: None}[lo]]))
    a, b = one.finish(), batched.finish()
    assert a.vocab == b.vocab and np.array_equal(a.keys, b.keys) and np.array_equal(a.counts, b.counts)
    assert np.array_equal(a.doc_lengths, b.doc_lengths)


def test_training_prompts_and_lengths_are_those_of_words(train_table):
    from biomass.lm.tokenize import join_tokens
    from biomass.lm.training import collect

    texts = dict(zip(train_table.column("doc_id").to_pylist(), train_table.column("text").to_pylist()))
    got = collect([train_table], order=3, prompt_tokens=5, max_docs=None, seed=1)
    assert got.doc_ids == sorted(texts)
    assert got.lengths.tolist() == [len(whitespace_tokens(texts[d])) for d in got.doc_ids]
    assert got.prompts == [join_tokens(whitespace_tokens(texts[d])[:5]) for d in got.doc_ids]


def _jobs(model, human_docs, n=120):
    rng = np.random.default_rng(0)
    jobs = []
    for i in range(n):
        ws = whitespace_tokens(human_docs[i % 60])
        length = int(rng.integers(1, 300))
        jobs.append((ws[:min(8, max(length - 1, 1))], length, (5, 2024, i)))
    return jobs


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("watermarked", [False, True])
def test_batch_sampler_gives_each_document_the_scalar_samplers_words(human_docs, order, watermarked):
    model = NgramModel.train(human_docs[:60], order=order)
    wm = Watermarker(b"TEST-ONLY key", gamma=0.25, delta=2.0)
    jobs = _jobs(model, human_docs)
    expected = [model.sample(p, n, s, wm.acceptor(model.vocab) if watermarked else None) for p, n, s in jobs]
    # A pool steps once per word of its longest slot, so a small pool is slow in numpy: the one- and seven-slot
    # pools get a prefix of the jobs (still more jobs than slots, texts past the 64-word buffer, many refills of
    # the 16-uniform window); the wide pool gets them all.
    for slots, window, lookahead, n_jobs in [(1, 16, 1, 16), (7, 16, 5, 40), (64, 512, 1000, len(jobs))]:
        some = jobs[:n_jobs]
        assert len(some) > slots and max(n for _, n, _ in some) > 64
        sampler = BatchSampler(model, wm.vector_acceptor(model.vocab) if watermarked else None, slots=slots,
                               window=window, lookahead=lookahead)
        got = sampler.run(Job([model.index[w] for w in p], n, s) for p, n, s in some)
        assert [[model.vocab[i] for i in ids] for ids in got] == expected[:n_jobs]


def test_lockstep_search_and_key_index_match_the_library():
    rng = np.random.default_rng(1)
    a = np.cumsum(rng.random(5000) + 0.01)
    x = rng.random(3000) * a[-1] * 1.1 - 1.0
    lo = rng.integers(0, 5000, 3000)
    hi = np.minimum(lo + rng.integers(0, 400, 3000), 5000)
    got = search(a, x, lo, hi, right=True)
    assert np.array_equal(got, [np.searchsorted(a[lo_:hi_], v, side="right") + lo_ for v, lo_, hi_ in zip(x, lo, hi)])
    keys = np.unique(rng.integers(0, 2**62, 20_000))
    probe = np.concatenate([keys[::3], rng.integers(0, 2**62, 500)])
    rows = {k: i for i, k in enumerate(keys.tolist())}
    assert KeyIndex(keys).find(probe).tolist() == [rows.get(k, -1) for k in probe.tolist()]
    start = np.array([0, 10, 11, 4000]); end = np.array([10, 11, 4000, 5000])
    guide = Guide(a, start, end)
    seg = rng.integers(0, 4, 3000)
    lo_v = np.where(start[seg] > 0, a[np.maximum(start[seg] - 1, 0)], 0.0)
    xs = lo_v + rng.random(3000) * (a[end[seg] - 1] - lo_v)
    b0, b1 = guide.bounds(seg, xs, lo_v, a[end[seg] - 1], start[seg], end[seg])
    truth = np.array([np.searchsorted(a[s:e], v, side="right") + s for v, s, e in zip(xs, start[seg], end[seg])])
    assert np.all((b0 <= truth) & (truth <= b1))


def test_vector_acceptor_decides_as_the_scalar_one(human_docs):
    model = NgramModel.train(human_docs[:20])
    wm = Watermarker(b"TEST-ONLY key", gamma=0.3, delta=1.5)
    rng = np.random.default_rng(2)
    prev, word, u = rng.integers(0, len(model.vocab), (2, 5000)).astype(np.int64).tolist() + [rng.random(5000)]
    scalar = wm.acceptor(model.vocab)
    vector = wm.vector_acceptor(model.vocab)(np.array(prev), np.array(word), u)
    assert vector.tolist() == [scalar(p, w, x) for p, w, x in zip(prev, word, u.tolist())]


def test_batched_language_ids_equal_detect_lang(human_docs):
    texts = human_docs[:80] + [t[i:i + 250] for t in human_docs[80:120] for i in (0, 700)] + [
        "", "1234 5678", "UPPER CASE ENGLISH TEXT HERE", "Привет, как дела? Это русский текст.", "日本語のテキストです。",
        "Ceci est un texte en français.", "Das ist ein Text über Häuser.", "a", "\x00 abc", "emoji 😀 text", "Ω" * 3000]
    assert detect_langs(texts, batch=17) == [detect_lang(t) for t in texts]


def _run(tmp_path, train, prov, name, config=CFG, n=30):
    path = tmp_path / name
    counts = synthesize_stage(train, n=n, seed=5, year=2024, parent=2023, config=config, provenance=prov,
                              out_path=str(path))
    return counts, path


def test_a_parent_under_the_bound_is_trained_whole_and_a_sample_is_recorded(tmp_path, train_table, prov):
    counts, _ = _run(tmp_path, [train_table], prov, "all.parquet")
    assert (counts.notes["train_docs"], counts.notes["parent_docs"], counts.notes["train_sample"]) == (80, 80, "all")
    assert counts.notes["train_sample_bound"] == CFG.max_train_docs == 100_000
    small = CFG.model_copy(update={"max_train_docs": 25})
    counts, path = _run(tmp_path, [train_table], prov, "s.parquet", config=small)
    assert (counts.notes["train_docs"], counts.notes["parent_docs"], counts.notes["train_sample"]) == (25, 80, "uniform")
    assert counts.notes["train_sample_bound"] == 25
    manifest = __import__("json").loads(pq.read_table(path).column("provenance")[0].as_py())["c2pa"]["manifest"]
    ingredients = manifest["assertions"][1]["data"]
    assert (ingredients["training_docs"], ingredients["parent_docs"]) == (25, 80)


def test_sample_is_uniform_over_the_parent(train_table):
    """Bottom-k by a seeded hash: over seeds every document is picked about k/N of the time."""
    from biomass.lm.training import collect

    picked = Counter()
    for seed in range(200):
        picked.update(collect([train_table], order=2, prompt_tokens=4, max_docs=20, seed=seed, count=False).doc_ids)
    freq = np.array([picked[d] for d in train_table.column("doc_id").to_pylist()]) / 200
    assert len(picked) == 80 and abs(freq.mean() - 0.25) < 1e-9 and freq.min() > 0.12 and freq.max() < 0.4


def test_stream_of_small_batches_and_pool_sizes_give_the_same_bytes(tmp_path, train_table, prov, monkeypatch):
    _, a = _run(tmp_path, [train_table], prov, "a.parquet")
    batches = [b for b in train_table.to_batches(max_chunksize=7)][::-1]
    _, b = _run(tmp_path, iter(batches), prov, "b.parquet")
    original = bs_module.BatchSampler.__init__

    def tiny_pool(self, model, accept=None, slots=4096, window=512, lookahead=16384):
        original(self, model, accept, slots=3, window=16, lookahead=2)

    monkeypatch.setattr(bs_module.BatchSampler, "__init__", tiny_pool)
    _, c = _run(tmp_path, [train_table], prov, "c.parquet")
    assert file_sha256(a) == file_sha256(b) == file_sha256(c)
    assert pq.read_table(a).num_rows == 30


def test_output_is_watermarked(tmp_path, train_table, prov):
    from biomass.synth.stage import make_watermarker

    _, path = _run(tmp_path, [train_table], prov, "w.parquet", n=20)
    wm = make_watermarker(prov)
    texts = pq.read_table(path).column("text").to_pylist()
    human = [t for t in train_table.column("text").to_pylist()[:20]]
    assert np.mean([wm.score(t).z for t in texts]) > 4 > np.mean([wm.score(t).z for t in human])


def _guide_table_at_once(cum, start, end):
    """The guide table as it was built before chunking: every entry's temporaries at once."""
    r = (end - start).astype(np.int64)
    offset = start.astype(np.int64) + np.arange(len(start), dtype=np.int64)
    seg = np.repeat(np.arange(len(start)), r + 1)
    j = np.arange(len(seg), dtype=np.int64) - np.repeat(offset, r + 1)
    lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    hi = cum[np.maximum(end - 1, 0)]
    t = lo[seg] + (hi[seg] - lo[seg]) * j / np.maximum(r[seg], 1)
    return np.clip(np.searchsorted(cum, t, side="right"), start[seg], end[seg]).astype(np.int64)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_guide_built_in_chunks_equals_the_table_built_at_once(monkeypatch, chunk):
    rng = np.random.default_rng(5)
    cum = np.cumsum(rng.random(3000) + 0.01)
    cuts = np.unique(np.concatenate([[0, 3000], rng.integers(0, 3000, 400)]))
    start, end = cuts[:-1], cuts[1:]
    start, end = np.append(start, 3000), np.append(end, 3000)   # an empty last segment too
    monkeypatch.setattr(Guide, "CHUNK", chunk)
    guide = Guide(cum, start, end)
    assert np.array_equal(guide.table, _guide_table_at_once(cum, start, end))


def _same_model(a, b) -> bool:
    return (a.vocab == b.vocab and a.n_docs == b.n_docs and a.n_tokens == b.n_tokens
            and all(x.discount == y.discount and all(np.array_equal(getattr(x, f), getattr(y, f)) for f in
                    ("keys", "counts", "ctx_keys", "ctx_start", "ctx_end", "ctx_total", "ctx_types"))
                    for x, y in zip(a.levels, b.levels)))


def test_a_bound_above_the_parent_is_training_on_all_of_it(train_table):
    """A sample bound the parent does not exceed changes nothing: the same model (arrays, discounts, document
    lengths in the same order), prompts, lengths and doc_ids as the one-pass whole-parent path."""
    from biomass.lm.training import collect

    dup = pa.concat_tables([train_table, train_table.slice(3, 5)])   # 5 repeated doc_ids: first copies count
    whole = collect([dup], order=3, prompt_tokens=5, max_docs=None, seed=4)
    bounded = collect(lambda: iter(dup.to_batches(max_chunksize=9)), order=3, prompt_tokens=5, max_docs=80, seed=4)
    assert (whole.parent_docs, whole.duplicates) == (bounded.parent_docs, bounded.duplicates) == (80, 5)
    assert whole.doc_ids == bounded.doc_ids and whole.prompts == bounded.prompts
    assert np.array_equal(whole.lengths, bounded.lengths)
    assert _same_model(whole.model, bounded.model)
    assert np.array_equal(whole.model.doc_lengths, bounded.model.doc_lengths)


def test_the_two_pass_sample_is_the_bottom_k_of_the_whole_table(train_table):
    """The streamed sample (hashes only in the first pass, the chosen texts counted as they come in the second)
    equals the definition computed on the whole table: the k distinct doc_ids of smallest seeded hash, trained
    on with ``NgramModel.train``; whatever the batching or order of the input."""
    import hashlib

    from biomass.lm.training import collect

    texts = dict(zip(train_table.column("doc_id").to_pylist(), train_table.column("text").to_pylist()))
    for seed, k in ((1, 20), (9, 33), (2, 1)):
        key = {d: hashlib.sha256(f"{seed}\x00{d}".encode()).digest()[:16] for d in texts}
        picked = sorted(sorted(texts, key=key.__getitem__)[:k])
        shuffled = train_table.take(np.random.default_rng(seed).permutation(train_table.num_rows))
        got = collect(lambda: iter(shuffled.to_batches(max_chunksize=7)), order=3, prompt_tokens=4, max_docs=k,
                      seed=seed)
        assert got.doc_ids == picked and (len(got), got.parent_docs, got.duplicates) == (k, 80, 0)
        assert got.lengths.tolist() == [len(whitespace_tokens(texts[d])) for d in picked]
        assert _same_model(got.model, NgramModel.train([texts[d] for d in picked], order=3))
        again = collect([train_table], order=3, prompt_tokens=4, max_docs=k, seed=seed)   # a list: read twice
        assert again.doc_ids == picked and again.prompts == got.prompts and _same_model(again.model, got.model)


def test_a_one_shot_stream_is_sampled_like_a_function_of_it(train_table):
    from biomass.lm.training import collect

    one_shot = collect(iter(train_table.to_batches(max_chunksize=11)), order=2, prompt_tokens=4, max_docs=15, seed=3)
    fresh = collect(lambda: train_table.to_batches(max_chunksize=11), order=2, prompt_tokens=4, max_docs=15, seed=3)
    assert one_shot.doc_ids == fresh.doc_ids and _same_model(one_shot.model, fresh.model)


def test_a_stream_that_changes_between_the_passes_is_an_error(train_table):
    from biomass.lm.training import collect

    reads = iter([[train_table.slice(0, 40)], [train_table]])
    with pytest.raises(ValueError, match="changed between its two passes"):
        collect(lambda: next(reads), order=2, prompt_tokens=4, max_docs=10, seed=3)
