import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.config import SynthesizeConfig
from biomass.lm.ngram import NgramModel
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.fingerprint import FingerprintArchive
from biomass.provenance.verify import verify_table
from biomass.schema import RECORD_SCHEMA, sha256_text
from biomass.storage import file_sha256
from biomass.synth import synthesize_stage

CFG = SynthesizeConfig()


def run(tmp_path, train, prov, name="out.parquet", n=12, seed=5, year=2024, parent=2023, config=CFG):
    path = tmp_path / name
    counts = synthesize_stage(train, n=n, seed=seed, year=year, parent=parent, config=config,
                              provenance=prov, out_path=str(path))
    return counts, path


def test_byte_identical_and_independent_of_input_order(tmp_path, train_table, prov):
    _, a = run(tmp_path, [train_table], prov, "a.parquet")
    _, b = run(tmp_path, [train_table], prov, "b.parquet")
    reordered = [train_table.slice(40), train_table.slice(0, 40)]
    _, c = run(tmp_path, reordered, prov, "c.parquet")
    assert file_sha256(a) == file_sha256(b) == file_sha256(c)
    _, d = run(tmp_path, [train_table], prov, "d.parquet", seed=6)
    assert file_sha256(a) != file_sha256(d)


def test_records_are_tagged_at_birth(tmp_path, train_table, prov):
    counts, path = run(tmp_path, [train_table], prov)
    table = pq.read_table(path)
    assert table.schema.equals(RECORD_SCHEMA, check_metadata=False)
    assert counts.rows_in == counts.rows_out == table.num_rows == 12
    counts.check()
    rows = table.to_pylist()
    train_ids = set(train_table.column("doc_id").to_pylist())
    for r in rows:
        assert (r["source"], r["origin"], r["synthetic_score"], r["generation"]) == ("synthetic", "synthetic", 1.0, 2024)
        assert r["collected_at"] == datetime(2024, 1, 1, tzinfo=timezone.utc)
        assert r["content_sha256"] == sha256_text(r["text"])
        prov_json = json.loads(r["provenance"])
        assert prov_json["generator"]["id"] and prov_json["generator"]["version"]
        assert prov_json["parent_generation"] == 2023
        assert prov_json["prompt"]["doc_id"] in train_ids
        assert r["text"].startswith(prov_json["prompt"]["text"])
        assert prov_json["watermark"]["settings_id"]
        assert prov_json["seed"]["run"] == 5
        manifest = prov_json["c2pa"]["manifest"]
        labels = [a["label"] for a in manifest["assertions"]]
        assert labels == ["c2pa.actions", "c2pa.ingredients", "c2pa.hash.data"]
    assert verify_table(table, prov).ok


def test_output_lengths_follow_the_training_documents(tmp_path, train_table, prov):
    _, path = run(tmp_path, [train_table], prov, n=40)
    train_lengths = {len(whitespace_tokens(t)) for t in train_table.column("text").to_pylist()}
    out_lengths = [len(whitespace_tokens(t)) for t in pq.read_table(path).column("text").to_pylist()]
    assert all(n in train_lengths for n in out_lengths)
    assert len(set(out_lengths)) > 5  # drawn from the distribution, not one fixed length


def test_year_none_means_generation_zero(tmp_path, train_table, prov):
    _, path = run(tmp_path, [train_table], prov, n=2, year=None, parent=None)
    rows = pq.read_table(path).to_pylist()
    assert {r["generation"] for r in rows} == {0}
    assert json.loads(rows[0]["provenance"])["parent_generation"] is None


@pytest.mark.parametrize("n,train", [(0, "table"), (5, "empty")])
def test_nothing_to_do_writes_an_empty_table(tmp_path, train_table, prov, n, train):
    tables = [train_table] if train == "table" else [train_table.slice(0, 0), pa.table({"doc_id": ["x"], "text": ["  "]})]
    counts, path = run(tmp_path, tables, prov, n=n)
    assert pq.read_table(path).num_rows == 0
    assert counts.rows_in == n and counts.rows_out == 0 and counts.notes["skipped"]
    counts.check()


def test_max_train_docs_is_a_deterministic_subset(tmp_path, train_table, prov):
    small = CFG.model_copy(update={"max_train_docs": 10})
    c1, a = run(tmp_path, [train_table], prov, "a.parquet", config=small)
    c2, b = run(tmp_path, [train_table.slice(30), train_table.slice(0, 30)], prov, "b.parquet", config=small)
    assert c1.notes["train_docs"] == 10 and file_sha256(a) == file_sha256(b)


def test_no_signing_key_is_an_error(tmp_path, train_table, monkeypatch):
    from biomass.config.provenance import ProvenanceConfig

    monkeypatch.delenv("BIOMASS_SIGNING_KEY", raising=False)
    with pytest.raises(ValueError, match="no signing key"):
        run(tmp_path, [train_table], ProvenanceConfig())


def test_outputs_enter_the_fingerprint_archive(tmp_path, train_table, prov):
    archive_dir = tmp_path / "fp"
    with_archive = prov.model_copy(update={"fingerprint_archive": str(archive_dir)})
    _, path = run(tmp_path, [train_table], with_archive, n=6)
    run(tmp_path, [train_table], with_archive, "again.parquet", n=6)  # same run again: idempotent
    archive = FingerprintArchive(archive_dir)
    assert len(archive) == 6
    texts = pq.read_table(path).column("text").to_pylist()
    assert all(m.jaccard == 1.0 for m in archive.match(texts))


class _CompletionServer(BaseHTTPRequestHandler):
    """A stdlib HTTP server on 127.0.0.1 speaking the OpenAI /v1/completions protocol. Behind it runs a small
    NgramModel (trained on the fixture) that continues the prompt, seeded by the request's ``seed``."""

    model: NgramModel = None
    requests: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        if self.path != "/v1/completions":
            self.send_error(404)
            return
        prompt = whitespace_tokens(body["prompt"])
        sampled = self.model.sample(prompt, len(prompt) + body["max_tokens"] // 2, [body["seed"]])
        text = join_tokens(sampled[len(prompt):])
        payload = json.dumps({"object": "text_completion", "model": body["model"],
                              "choices": [{"index": 0, "text": " " + text, "finish_reason": "length"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_openai_compatible_backend_against_a_local_server(tmp_path, train_table, prov, human_docs):
    _CompletionServer.model = NgramModel.train(human_docs[100:140])
    _CompletionServer.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CompletionServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cfg = CFG.model_copy(update={"backend": "openai", "openai_model": "kn-test",
                                     "openai_base_url": f"http://127.0.0.1:{server.server_port}/v1",
                                     "openai_timeout_s": 10.0})
        counts, a = run(tmp_path, [train_table], prov, "a.parquet", n=4, config=cfg)
        _, b = run(tmp_path, [train_table], prov, "b.parquet", n=4, config=cfg)
    finally:
        server.shutdown()
        server.server_close()
    table = pq.read_table(a)
    assert counts.rows_out == 4 and len(_CompletionServer.requests) == 8
    assert {r["model"] for r in _CompletionServer.requests} == {"kn-test"}
    assert file_sha256(a) == file_sha256(b)  # the server honours the seed, so the stage is deterministic
    rows = table.to_pylist()
    for r in rows:
        p = json.loads(r["provenance"])
        assert p["generator"]["id"] == "openai-compatible" and p["watermark"] is None
        assert r["text"].startswith(p["prompt"]["text"])
    assert verify_table(table, prov).ok
