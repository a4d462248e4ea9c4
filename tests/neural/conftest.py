"""Fixtures for the tests that run a real language model (SmolLM2-135M through llama.cpp), marked ``neural``.

They run only when asked for (``make test-neural`` sets BIOMASS_NEURAL=1 and installs the `neural` extra), since
they hold both cores for minutes, and skip cleanly where llama-cpp-python or the packaged model is missing.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.opt_in import skip_unless_asked

from tests.text_fixtures import human_docs, keypair, prov, train_table  # noqa: F401 (fixtures)

SERVER_START_S = 120.0


def pytest_collection_modifyitems(config, items):
    skip_unless_asked(items, "neural", "BIOMASS_NEURAL", "test-neural")


@pytest.fixture(scope="session")
def model_path() -> str:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (make test-neural)")
    from biomass.provenance.lm_detector import packaged_model_path

    try:
        return packaged_model_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """``python -m llama_cpp.server`` on a free loopback port, started and stopped by the test."""

    def __init__(self, model: str, log: Path, alias: str = "smollm2"):
        pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] is not installed")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.alias = alias
        self.log = log
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", model, "--model_alias", alias,
               "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "2048", "--n_threads", "1",
               "--logits_all", "false"]
        self.proc = subprocess.Popen(cmd, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.proc.returncode}: "
                                   f"{log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/models", timeout=2) as r:
                    if alias in json.loads(r.read())["data"][0]["id"]:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"llama_cpp.server did not answer within {SERVER_START_S}s")
            time.sleep(0.25)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture(scope="module")
def llama_server(model_path, tmp_path_factory):
    server = LlamaServer(model_path, tmp_path_factory.mktemp("llama") / "server.log")
    yield server
    server.stop()
