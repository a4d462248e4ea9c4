"""HTTP for remote generators: retries with backoff (``biomass.threads.ordered_map`` keeps the requests
concurrent and in order).

Why: a vLLM or llama.cpp server batches concurrent requests, so one request at a time leaves it idle; and a busy
server answers 429 or 503 for a moment, which must cost a wait, not the whole stage. Results keep request order,
so the output stays deterministic whatever finishes first.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from biomass.exitcodes import UNAVAILABLE

RETRY_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class GeneratorUnavailable(RuntimeError):
    """The remote generator kept failing after every allowed attempt: not a bug and not bad input (the same
    command may work once the server is back), so it has its own exit code, and the stage has written nothing."""

    exit_code = UNAVAILABLE


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_s: float = 0.5     # the first wait; doubles each retry ("full jitter": a uniform draw up to it)
    max_s: float = 30.0     # cap on one wait, Retry-After included
    sleep: Callable[[float], None] = time.sleep

    def wait_s(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_s)
        return rng.uniform(0.0, min(self.max_s, self.base_s * 2 ** attempt))


def retry_after_s(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - datetime.now(timezone.utc)).total_seconds()


def post_json(url: str, body: bytes, headers: dict[str, str], timeout_s: float, policy: RetryPolicy) -> dict:
    """POST and decode JSON; 429/5xx/connection errors are retried, other HTTP errors raise at once."""
    rng = random.Random()  # jitter only spreads retries in time; it never reaches the output
    last = ""
    for attempt in range(policy.attempts):
        retry_after = None
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if exc.code not in RETRY_STATUS:
                raise
            retry_after = retry_after_s(exc.headers.get("Retry-After") if exc.headers else None)
            last = f"HTTP {exc.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if attempt + 1 < policy.attempts:
            policy.sleep(policy.wait_s(attempt, retry_after, rng))
    raise GeneratorUnavailable(f"{url}: no answer after {policy.attempts} attempts (last: {last})")
