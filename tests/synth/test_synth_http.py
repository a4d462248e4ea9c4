"""The OpenAI-compatible backend's transport: bounded concurrency in request order, retries with backoff."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from biomass.config import SynthesizeConfig
from biomass.synth.backends import OpenAIBackend, Request
from biomass.synth.http import GeneratorUnavailable, RetryPolicy, post_json, retry_after_s


class _Flaky(BaseHTTPRequestHandler):
    """Completions that echo the seed; the first ``fail`` calls per prompt answer with ``status``; tracks
    how many requests are in flight at once."""

    lock = threading.Lock()
    in_flight = 0
    max_in_flight = 0
    calls: dict = {}
    fail = 0
    status = 429
    retry_after = "0"
    delay = 0.05

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.in_flight += 1
            cls.max_in_flight = max(cls.max_in_flight, cls.in_flight)
            n = cls.calls[body["prompt"]] = cls.calls.get(body["prompt"], 0) + 1
        try:
            time.sleep(cls.delay)
        finally:
            # Out of flight before the answer is written: the client may send its next request the moment it
            # has read this one, and counting that overlap would blame the backend for the server's lag.
            with cls.lock:
                cls.in_flight -= 1
        if n <= cls.fail:
            self.send_response(cls.status)
            if cls.retry_after is not None:
                self.send_header("Retry-After", cls.retry_after)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"choices": [{"text": f" out{body['seed']} more words here"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Flaky.in_flight = _Flaky.max_in_flight = 0
    _Flaky.calls = {}
    _Flaky.fail, _Flaky.status, _Flaky.retry_after = 0, 429, "0"
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/v1"
    srv.shutdown()
    srv.server_close()


def _backend(url, **update):
    cfg = SynthesizeConfig(backend="openai", openai_base_url=url, openai_timeout_s=10.0, openai_backoff_s=0.01,
                           openai_backoff_max_s=0.05, **update)
    return OpenAIBackend(cfg)


def _requests(n):
    return [Request([f"p{i}"], 5, (1, 2024, i)) for i in range(n)]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_until_the_server_answers_and_keeps_order(server, status):
    _Flaky.fail, _Flaky.status = 2, status
    backend = _backend(server, openai_max_concurrency=4)
    out = list(backend.generate_many(_requests(12)))
    assert [o[:2] for o in out] == [[f"p{i}", f"out{1 * 1_000_003 + i}"] for i in range(12)]
    assert all(n == 3 for n in _Flaky.calls.values())


def test_requests_run_concurrently_but_bounded(server):
    _Flaky.delay = 0.1
    try:
        out = list(_backend(server, openai_max_concurrency=4).generate_many(_requests(16)))
    finally:
        _Flaky.delay = 0.05
    assert 2 <= _Flaky.max_in_flight <= 4
    assert [o[0] for o in out] == [f"p{i}" for i in range(16)]


def test_gives_up_with_a_clear_error_after_n_attempts(server):
    _Flaky.fail, _Flaky.status = 99, 500
    with pytest.raises(GeneratorUnavailable, match="after 3 attempts.*HTTP 500"):
        list(_backend(server, openai_max_attempts=3).generate_many(_requests(2)))
    assert set(_Flaky.calls.values()) <= {3}


def test_client_errors_are_not_retried(server):
    import urllib.error

    _Flaky.fail, _Flaky.status = 99, 400
    with pytest.raises(urllib.error.HTTPError):
        _backend(server).generate(["p0"], 5, (1, 0))
    assert _Flaky.calls == {"p0": 1}


def test_connection_errors_are_retried_then_reported():
    waits = []
    policy = RetryPolicy(attempts=3, base_s=1.0, max_s=8.0, sleep=waits.append)
    with pytest.raises(GeneratorUnavailable, match="after 3 attempts"):
        post_json("http://127.0.0.1:9/v1/completions", b"{}", {}, 1.0, policy)  # port 9: nothing listens
    assert len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0  # full jitter, doubling cap


def test_retry_after_is_honoured(server):
    _Flaky.fail, _Flaky.retry_after = 1, "3"
    waits = []
    backend = _backend(server)
    backend.retry = RetryPolicy(attempts=3, base_s=0.01, max_s=30.0, sleep=waits.append)
    backend.generate(["p0"], 5, (1, 0))
    assert waits == [3.0]
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") < 0 and retry_after_s("junk") is None
