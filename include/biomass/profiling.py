"""Per-step wall time, peak memory and bytes written: what the sizing table and the benchmarks are built from.

Linux only for the memory and I/O figures (``/proc/self``); elsewhere they are None. The peak is per step:
before each step the kernel's high-water mark is reset (``clear_refs`` 5), so a step's figure is the most memory
the process held while that step ran, not the most since start-up.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

_PROC = Path("/proc/self")


def _status_kb(key: str) -> int | None:
    try:
        for line in (_PROC / "status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _written_bytes() -> int | None:
    try:
        for line in (_PROC / "io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        (_PROC / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Step:
    name: str
    seconds: float
    peak_rss_mb: float | None
    written_mb: float | None
    within: str | None = None     # a mapped step's shard: the step it belongs to (its time overlaps the step's)


@dataclass
class StepProfile:
    """Collects one ``Step`` per ``with profile.step(name):`` block, in order."""

    steps: list[Step] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        resettable = _reset_peak()
        written = _written_bytes()
        start = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            peak = _status_kb("VmHWM") if resettable else None
            after = _written_bytes()
            self.steps.append(Step(
                name, round(seconds, 3), None if peak is None else round(peak / 1024, 1),
                None if written is None or after is None else round((after - written) / 2**20, 1)))

    @contextmanager
    def group(self, name: str, shards: Iterable[Step]) -> Iterator[None]:
        """A mapped step: its shards (``shards``, filled while the block runs, each profiled in the process that
        ran it) are recorded under it. The step's peak is the largest of its shards' and this process's own;
        its bytes written, this process's plus its shards'."""
        before = len(self.steps)
        with self.step(name):
            yield
        own = self.steps[before]
        for shard in shards:
            shard.within = name
        peaks = [p for p in [own.peak_rss_mb] + [s.peak_rss_mb for s in shards] if p is not None]
        own.peak_rss_mb = max(peaks) if peaks else None
        if own.written_mb is not None and all(s.written_mb is not None for s in shards):
            own.written_mb = round(own.written_mb + sum(s.written_mb for s in shards), 1)

    def as_dict(self) -> dict:
        return {"pid": os.getpid(), "steps": [asdict(s) for s in self.steps]}

    def write(self, path: str | os.PathLike[str]) -> None:
        from biomass.storage import write_bytes_atomic

        write_bytes_atomic(path, (json.dumps(self.as_dict(), indent=2) + "\n").encode())
