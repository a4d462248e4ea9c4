"""The `openai` synth backend against a real OpenAI-compatible server: llama.cpp's, serving SmolLM2-135M.

A small generation is synthesized with prompts from the previous generation (the human fixture), and its records
must be signed, fingerprinted at birth, and found again by `biomass tag` once their provenance is stripped
(re-posted, lightly edited, cut). A server that stops answering (frozen: timeouts) or dies mid-run must fail the
stage with a clear error and leave no output file behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from biomass.config import SynthesizeConfig
from biomass.lm.tokenize import join_tokens, whitespace_tokens
from biomass.provenance.fingerprint import FingerprintArchive
from biomass.provenance.verify import verify_table
from biomass.synth import backends, synthesize_stage
from biomass.synth.http import GeneratorUnavailable
from tests.neural.conftest import LlamaServer

pytestmark = pytest.mark.neural

N = 6


def openai_config(server: LlamaServer, **update) -> SynthesizeConfig:
    settings = dict(backend="openai", openai_base_url=server.url, openai_model=server.alias, max_output_words=120,
                    openai_max_concurrency=2, openai_timeout_s=120.0, openai_backoff_s=0.05, openai_backoff_max_s=0.2)
    return SynthesizeConfig(**{**settings, **update})


def light_edit(text: str, rate: float, seed: int) -> str:
    """Each word substituted, dropped or followed by an insertion with total probability ``rate``."""
    rng = np.random.default_rng(seed)
    out = []
    for w in whitespace_tokens(text):
        r = rng.random()
        if r < rate / 3:
            out.append("indeed")
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out += [w, "really"]
        else:
            out.append(w)
    return join_tokens(out)


@pytest.fixture(scope="module")
def generation(llama_server, train_table, prov, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gen")
    with_archive = prov.model_copy(update={"fingerprint_archive": str(tmp / "fp")})
    counts = synthesize_stage([train_table], n=N, seed=7, year=2026, parent=2025, config=openai_config(llama_server),
                              provenance=with_archive, out_path=str(tmp / "syn.parquet"))
    return counts, tmp, with_archive


def test_records_from_the_real_model_are_signed_and_fingerprinted(generation, train_table):
    counts, tmp, prov = generation
    table = pq.read_table(tmp / "syn.parquet")
    assert counts.rows_in == N and counts.rows_out + sum(counts.quarantined.values()) == N
    assert counts.rows_out >= N - 1 and table.num_rows == counts.rows_out
    assert verify_table(table, prov).ok
    prompts = set(train_table.column("doc_id").to_pylist())
    texts = table.column("text").to_pylist()
    for row in table.to_pylist():
        p = json.loads(row["provenance"])
        assert p["generator"]["id"] == "openai-compatible" and p["generator"]["version"].startswith("smollm2@")
        assert p["watermark"] is None and p["parent_generation"] == 2025 and p["prompt"]["doc_id"] in prompts
        assert row["text"].startswith(p["prompt"]["text"]) and len(whitespace_tokens(row["text"])) > 30
    assert len(set(texts)) == len(texts)  # real sampling, not one canned answer
    archive = FingerprintArchive(prov.fingerprint_archive)
    assert len(archive) == counts.rows_out
    assert all(m.jaccard == 1.0 for m in archive.match(texts))


def test_tag_finds_the_records_again_without_their_provenance(generation, human_docs, keypair):
    """Only doc_id and text survive: the fingerprint archive must still call every variant synthetic, and the
    held-out human texts beside them human."""
    _, tmp, prov = generation
    texts = pq.read_table(tmp / "syn.parquet").column("text").to_pylist()
    variants = {"reposted": texts,
                "edited": [light_edit(t, 0.05, i) for i, t in enumerate(texts)],
                "cut": [join_tokens(whitespace_tokens(t)[: int(len(whitespace_tokens(t)) * 0.6)]) for t in texts]}
    human = human_docs[-10:]
    rows = [(kind, t) for kind, ts in variants.items() for t in ts] + [("human", t) for t in human]
    stripped = pa.table({"doc_id": [f"x{i}" for i in range(len(rows))], "text": [t for _, t in rows]})
    pq.write_table(stripped, tmp / "stripped.parquet")
    env = {**os.environ, "BIOMASS_SIGNING_KEY": keypair[0]}
    out = subprocess.run([sys.executable, "-m", "biomass.cli", "tag", str(tmp / "stripped.parquet"),
                          "--out", str(tmp / "tagged.parquet"), "--archive", prov.fingerprint_archive],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    tagged = pq.read_table(tmp / "tagged.parquet")
    for (kind, _), origin, ev in zip(rows, tagged.column("origin").to_pylist(),
                                     tagged.column("tag_evidence").to_pylist()):
        fired = json.loads(ev)["fired"]
        if kind == "human":
            assert origin != "synthetic", ev
        else:
            assert origin == "synthetic" and "fingerprint" in fired, (kind, ev)


def _no_output(tmp) -> bool:
    return not (tmp / "out.parquet").exists() and not (tmp / ".out.parquet.tmp").exists()


def test_a_server_killed_mid_run_fails_the_stage_with_no_partial_output(model_path, train_table, prov, tmp_path,
                                                                         monkeypatch):
    server = LlamaServer(model_path, tmp_path / "server.log")
    answered = []
    real_post = backends.post_json

    def post_then_kill(*args, **kwargs):
        data = real_post(*args, **kwargs)
        answered.append(data)
        if len(answered) == 2:
            server.proc.kill()  # SIGKILL: no goodbye, connections refused from now on
            server.proc.wait(10)
        return data

    monkeypatch.setattr(backends, "post_json", post_then_kill)
    archive = prov.model_copy(update={"fingerprint_archive": str(tmp_path / "fp")})
    try:
        with pytest.raises(GeneratorUnavailable, match=r"after 3 attempts \(last: URLError"):
            synthesize_stage([train_table], n=N, seed=7, year=2026, parent=2025,
                             config=openai_config(server, openai_max_attempts=3, max_output_words=40),
                             provenance=archive, out_path=str(tmp_path / "out.parquet"))
    finally:
        server.stop()
    assert len(answered) == 2 and server.proc.returncode == -signal.SIGKILL
    assert _no_output(tmp_path)
    assert len(FingerprintArchive(tmp_path / "fp")) == 0  # nothing half-published into the archive either


def test_a_frozen_server_times_out_and_fails_the_stage_cleanly(model_path, train_table, prov, tmp_path):
    server = LlamaServer(model_path, tmp_path / "server.log")
    server.proc.send_signal(signal.SIGSTOP)  # accepts connections (the kernel does) but never answers
    try:
        with pytest.raises(GeneratorUnavailable, match=r"after 2 attempts \(last: (TimeoutError|URLError)"):
            synthesize_stage([train_table], n=2, seed=7, year=2026, parent=2025,
                             config=openai_config(server, openai_max_attempts=2, openai_timeout_s=1.5),
                             provenance=prov, out_path=str(tmp_path / "out.parquet"))
    finally:
        server.proc.send_signal(signal.SIGCONT)
        server.stop()
    assert _no_output(tmp_path)


def test_client_errors_from_the_server_stop_the_stage_at_once(llama_server, train_table, prov, tmp_path):
    """A wrong URL is the client's mistake: the server answers 404, and the stage stops at once, no retries."""
    import urllib.error

    bad = openai_config(llama_server).model_copy(update={"openai_base_url": llama_server.url + "/nonexistent"})
    with pytest.raises(urllib.error.HTTPError) as err:
        synthesize_stage([train_table], n=2, seed=7, year=2026, parent=2025, config=bad, provenance=prov,
                         out_path=str(tmp_path / "out.parquet"))
    assert 400 <= err.value.code < 500
    assert _no_output(tmp_path)
