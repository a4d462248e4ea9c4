"""One run per (data root, year): ``<data_root>/locks/<year>.lock``, with its owner and a heartbeat.

Two runs of one year on one data root would clear each other's staging and race to publish (the last writer
wins, silently). So a run takes the lock before it touches staging and holds it to the end; a second run is
refused with a message naming the holder.

The lock file is created with O_EXCL (exactly one creator wins) and holds the owner (``run_id``, ``host``,
``pid``), ``started`` and ``heartbeat`` (UTC). The holder refreshes the heartbeat while it works
(``holding``). A lock is stale, and taken over with a warning in the log, when its heartbeat is older than the
timeout or, on the same host, its pid is gone. A DAG run spans processes, so its lock has no pid
(``pid=None``): only the heartbeat decides. A DAG run waiting for a person (the review before publish, which may
take days while no task runs) marks its lock ``awaiting_review_until`` the review's deadline (``await_review``):
until then it is live without a heartbeat; the next step that resumes the lock clears the mark. Breaking a stale lock goes through ``<year>.lock.break`` (also
O_EXCL), so two runs that both find it stale cannot both take it over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from biomass.storage import fsync_dir, write_bytes_atomic

log = logging.getLogger(__name__)


class RunLocked(RuntimeError):
    """Another run holds the lock of this (data root, year)."""

    def __init__(self, path: Path, holder: dict[str, Any] | None, timeout: float):
        self.path, self.holder, self.timeout = path, holder, timeout
        who = describe(holder) if holder else "an unreadable lock file"
        super().__init__(f"another run is building this year: {path} is held by {who}. Wait for it to finish, "
                         f"or, if it is dead, remove the lock (it is taken over by itself once its heartbeat is "
                         f"older than {timeout:g} s, or at once on the same host when its process is gone)")

    def __reduce__(self):   # rebuilt from its parts, so it survives a trip to or from a worker process
        return type(self), (self.path, self.holder, self.timeout)


class LockLost(RuntimeError):
    """This run no longer holds its lock (taken over as stale, or removed): it must stop before it writes more."""


AWAITING_REVIEW = "awaiting_review_until"


def describe(holder: dict[str, Any]) -> str:
    pid = f" pid {holder['pid']}" if holder.get("pid") is not None else ""
    waiting = f", waiting for review until {holder[AWAITING_REVIEW]}" if holder.get(AWAITING_REVIEW) else ""
    return (f"run {holder.get('run_id')!r} on {holder.get('host')}{pid}, started {holder.get('started')}, "
            f"last heartbeat {holder.get('heartbeat')}{waiting}")


def process_run_id() -> str:
    """An owner id for a one-process run (``biomass run-year``): unique per run, readable in the message."""
    return f"run-year:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive
        return True
    return True


@dataclass
class RunLock:
    path: Path
    run_id: str
    timeout: float = 3600.0
    pid: int | None = field(default_factory=os.getpid)   # None: the run spans processes (a DAG run)

    def __post_init__(self) -> None:
        self.path = Path(self.path)

    # -- reading --------------------------------------------------------------------------------------
    def holder(self) -> dict[str, Any] | None:
        """The lock's content; {} for a lock file that exists but cannot be read (being written, or damaged)."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, UnicodeDecodeError):
            return {}

    def stale_reason(self, holder: dict[str, Any]) -> str | None:
        """Why the lock ``holder`` describes may be taken over, or None while it is live."""
        try:
            beat = datetime.fromisoformat(holder["heartbeat"]).timestamp()
        except (KeyError, TypeError, ValueError):   # unreadable: judge by the file's own age
            try:
                beat = self.path.stat().st_mtime
            except FileNotFoundError:
                return "it is gone"
        age = time.time() - beat
        if age > self.timeout and not self._awaiting_review(holder):
            return f"no heartbeat for {age:.0f} s (timeout {self.timeout:g} s)"
        pid = holder.get("pid")
        if pid is not None and holder.get("host") == socket.gethostname() and not _pid_alive(int(pid)):
            return f"its process {pid} on {holder['host']} is gone"
        return None

    @staticmethod
    def _awaiting_review(holder: dict[str, Any]) -> bool:
        """True while the holder waits for a person and the review's deadline has not passed."""
        try:
            return datetime.fromisoformat(holder[AWAITING_REVIEW]) > _now()
        except (KeyError, TypeError, ValueError):
            return False

    # -- holding --------------------------------------------------------------------------------------
    def acquire(self) -> "RunLock":
        """Take the lock, or raise RunLocked naming its holder. Taking a lock this run already holds refreshes it
        (a plan task retried, a cleared task of the same DAG run)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            started = _now().isoformat(timespec="seconds")
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue   # released meanwhile: try again
                if holder.get("run_id") == self.run_id:
                    self.refresh()
                    return self
                reason = self.stale_reason(holder)
                if reason is None:
                    raise RunLocked(self.path, holder, self.timeout) from None
                self._break(holder, reason)
                continue
            try:
                os.write(fd, self._content(started).encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.path.parent)
            log.info("run lock %s taken by %s", self.path, self.run_id)
            return self
        raise RunLocked(self.path, self.holder(), self.timeout)

    def refresh(self) -> None:
        """Check this run still holds the lock and write a new heartbeat; LockLost if it does not."""
        holder = self.holder()
        if not holder or holder.get("run_id") != self.run_id:
            now = f"held by {describe(holder)}" if holder else "gone"
            raise LockLost(f"run {self.run_id!r} lost its lock {self.path}: it is {now}. Stop: another run may be "
                           f"building this year (raise run_lock.timeout_seconds if this run was only slow)")
        write_bytes_atomic(self.path, self._content(holder.get("started"), holder.get(AWAITING_REVIEW)).encode(),
                            unique_tmp=True)

    def await_review(self, until: datetime) -> None:
        """Mark the lock live until ``until`` without heartbeats: the run now waits for a person (no task runs
        to refresh it). Heartbeats keep the mark; ``resume`` (the next step) clears it. LockLost if not held."""
        holder = self.holder()
        if not holder or holder.get("run_id") != self.run_id:
            self.refresh()   # raises LockLost with the usual message
        write_bytes_atomic(self.path, self._content(holder.get("started"),
                                                     until.astimezone(timezone.utc).isoformat(timespec="seconds")
                                                     ).encode(), unique_tmp=True)
        log.info("run lock %s held by %s while it waits for review, until %s", self.path, self.run_id, until)

    def resume(self) -> "RunLock":
        """For a later step of a run that spans processes: refresh the lock if this run holds it, take it again if
        it is free (the run's failure released it and a task is re-run), refuse if another run holds it."""
        holder = self.holder()
        if holder and holder.get("run_id") == self.run_id:
            if holder.get(AWAITING_REVIEW):   # a step runs again: its heartbeat keeps the lock from now on
                write_bytes_atomic(self.path, self._content(holder.get("started")).encode(), unique_tmp=True)
            else:
                self.refresh()
            return self
        return self.acquire()

    def release(self) -> bool:
        """Remove the lock if this run holds it (never another run's); True if removed."""
        holder = self.holder()
        if not holder or holder.get("run_id") != self.run_id:
            return False
        self.path.unlink(missing_ok=True)
        log.info("run lock %s released by %s", self.path, self.run_id)
        return True

    @contextlib.contextmanager
    def holding(self, interval: float = 30.0) -> Iterator["RunLock"]:
        """Refresh the heartbeat every ``interval`` seconds while the body runs (a thread). If the lock is lost
        meanwhile, the body is not interrupted, but leaving the block raises LockLost."""
        stop, lost = threading.Event(), []

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    self.refresh()
                except LockLost as exc:
                    log.error("%s", exc)
                    lost.append(exc)
                    return
                except OSError as exc:   # a full disk must not kill the heartbeat: the next beat may succeed
                    log.warning("heartbeat of %s failed: %s", self.path, exc)

        thread = threading.Thread(target=beat, name=f"heartbeat {self.path.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()
        if lost:
            raise lost[0]

    # -- internals ------------------------------------------------------------------------------------
    def _content(self, started: str | None, awaiting_review_until: str | None = None) -> str:
        now = _now().isoformat(timespec="seconds")
        content = {"run_id": self.run_id, "host": socket.gethostname(), "pid": self.pid,
                   "started": started or now, "heartbeat": now}
        if awaiting_review_until:
            content[AWAITING_REVIEW] = awaiting_review_until
        return json.dumps(content, indent=2) + "\n"

    def _break(self, holder: dict[str, Any], reason: str) -> None:
        """Remove a stale lock, unless someone else is already doing so or it changed since it was judged."""
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            fd = os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            with contextlib.suppress(FileNotFoundError):
                if time.time() - breaker.stat().st_mtime > 60:   # a breaker that died while breaking
                    breaker.unlink()
            time.sleep(0.05)
            return
        try:
            if self.holder() == holder:
                self.path.unlink(missing_ok=True)
                log.warning("run lock %s was stale (%s); taken over from %s", self.path, reason,
                            describe(holder) if holder else "an unreadable lock file")
        finally:
            os.close(fd)
            breaker.unlink(missing_ok=True)

