"""Sampling in shards from a saved model: any split of the records into ranges, run in any order from the model
on disk, gives the records one process writes; the model store gives back the model it saved."""

import numpy as np
import pytest
import pyarrow as pa
import pyarrow.parquet as pq

from biomass.config import SynthesizeConfig
from biomass.lm.model_store import load_training, save_training
from biomass.synth import synthesize_stage
from biomass.synth.stage import sample_range, train

CFG = SynthesizeConfig()


def test_saved_model_is_the_trained_one(tmp_path, train_table):
    trained = train([train_table], n=1, seed=3, config=CFG)
    loaded = load_training(save_training(trained, tmp_path / "model"))
    assert (list(loaded.doc_ids), list(loaded.prompts), loaded.parent_docs, loaded.sha256) == (
        trained.doc_ids, trained.prompts, trained.parent_docs, trained.sha256)
    assert np.array_equal(loaded.lengths, trained.lengths)
    a, b = trained.model, loaded.model
    assert (a.order, a.vocab, a.n_docs, a.n_tokens) == (b.order, b.vocab, b.n_docs, b.n_tokens)
    for la, lb in zip(a.levels, b.levels):
        assert la.discount == lb.discount
        for name in ("keys", "counts", "ctx_keys", "ctx_start", "ctx_end", "ctx_total", "ctx_types"):
            x, y = getattr(la, name), getattr(lb, name)
            assert x.dtype == y.dtype and np.array_equal(x, y), (la.k, name)
    texts = train_table.column("text").to_pylist()[:5]
    assert a.perplexity(texts) == b.perplexity(texts)


def test_ranges_in_reverse_order_from_disk_equal_one_process(tmp_path, train_table, prov):
    n, seed = 23, 9
    synthesize_stage([train_table], n=n, seed=seed, year=2024, parent=2023, config=CFG, provenance=prov,
                     out_path=str(tmp_path / "one.parquet"))
    folder = save_training(train([train_table], n=n, seed=seed, config=CFG), tmp_path / "model")
    bounds = [(0, 7), (7, 8), (8, 23)]
    counts = []
    for k, (lo, hi) in reversed(list(enumerate(bounds))):
        counts.append(sample_range(load_training(folder), lo=lo, hi=hi, n=n, seed=seed, year=2024, parent=2023,
                                   config=CFG, provenance=prov, out_path=str(tmp_path / f"part-{k}.parquet")))
    parts = pa.concat_tables(pq.read_table(tmp_path / f"part-{k}.parquet") for k in range(len(bounds)))
    assert parts.equals(pq.read_table(tmp_path / "one.parquet"))
    assert sum(c.rows_in for c in counts) == n and sum(c.rows_out for c in counts) == parts.num_rows
    assert len(set(parts.column("doc_id").to_pylist())) == parts.num_rows


def test_openai_backend_shards_from_a_saved_prompt_table(tmp_path, train_table, prov, human_docs):
    """A remote generator saves no model, only the prompt table; its shards send their own requests and
    together write what one process writes."""
    import threading
    from http.server import ThreadingHTTPServer

    from biomass.lm.ngram import NgramModel
    from tests.synth.test_synth_stage import _CompletionServer

    _CompletionServer.model = NgramModel.train(human_docs[100:140])
    _CompletionServer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CompletionServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        cfg = CFG.model_copy(update={"backend": "openai", "openai_model": "kn-test", "openai_timeout_s": 10.0,
                                     "openai_base_url": f"http://127.0.0.1:{server.server_port}/v1"})
        n = 6
        synthesize_stage([train_table], n=n, seed=2, year=2024, parent=2023, config=cfg, provenance=prov,
                         out_path=str(tmp_path / "one.parquet"))
        training = train([train_table], n=n, seed=2, config=cfg)
        assert training.model is None
        folder = save_training(training, tmp_path / "model")
        for k, (lo, hi) in reversed(list(enumerate([(0, 4), (4, 6)]))):
            sample_range(load_training(folder), lo=lo, hi=hi, n=n, seed=2, year=2024, parent=2023, config=cfg,
                         provenance=prov, out_path=str(tmp_path / f"part-{k}.parquet"))
    finally:
        server.shutdown()
        server.server_close()
    parts = pa.concat_tables(pq.read_table(tmp_path / f"part-{k}.parquet") for k in range(2))
    assert parts.num_rows == n and parts.equals(pq.read_table(tmp_path / "one.parquet"))
    assert len(_CompletionServer.requests) == 2 * n


def test_stored_prompts_read_per_pick_equal_the_trained_lists(tmp_path, train_table, monkeypatch):
    """A loaded set reads only the rows a shard picks, batch by batch; any picks (repeats, any order, across
    record batches) give the strings the trained lists hold."""
    import biomass.lm.model_store as model_store
    from biomass.lm.training import take_strings

    monkeypatch.setattr(model_store, "PROMPT_BATCH_ROWS", 4)   # several record batches even for a small set
    trained = train([train_table], n=1, seed=3, config=CFG)
    loaded = load_training(save_training(trained, tmp_path / "model"))
    assert len(loaded) == len(trained) > 8
    picks = np.random.default_rng(0).integers(0, len(trained), size=50)
    assert take_strings(loaded.prompts, picks) == [trained.prompts[i] for i in picks]
    assert take_strings(loaded.doc_ids, picks) == [trained.doc_ids[i] for i in picks]
    assert loaded.prompts[-1] == trained.prompts[-1] and loaded.doc_ids[2] == trained.doc_ids[2]
    monkeypatch.setattr(model_store, "PROMPT_BATCH_ROWS", 5)   # a reader expecting other batches fails loudly
    with pytest.raises(ValueError, match="record batches"):
        take_strings(load_training(tmp_path / "model").prompts, picks)
