"""The ``biomass`` command's exit codes, in one place, and which failure gets which.

An operator's script (or Airflow's BashOperator) must tell "the data was refused" from "the disk is full" from
"a bug" without reading the text, so each gets its own code. An exception class picks its code with an
``exit_code`` class attribute (the protocol: no import of this module needed, an int is enough); classes that
predate it are matched by name here, and the rest by their built-in base.
"""

from __future__ import annotations

import errno
import os
import traceback

OK = 0
INTERNAL = 1       # a bug or an unexpected error (also Python's own code for a crash before main() runs)
USAGE = 2          # bad input or usage: an unknown option, a missing input file, a bad config value (argparse: 2)
CHECK_FAILED = 3   # the data was refused: a gate failed, publish refused, metrics --fail-on-collapse found collapse
IO_ERROR = 4       # the operating system refused: disk full, permission denied, read-only filesystem ...
INTEGRITY = 5      # data does not match its recorded checksum or signature (corruption or tampering; verify)
LOCKED = 6         # another run holds the lock on this data root / year; nothing was changed
REVIEW_PENDING = 7  # the year waits for a reviewer's decision (review mode `required`); nothing was published
UNAVAILABLE = 8    # a service the command depends on (the openai backend's server) kept failing; nothing was written
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)

MEANING = {OK: "ok", INTERNAL: "internal error", USAGE: "bad input or usage", CHECK_FAILED: "check failed",
           IO_ERROR: "I/O error", INTEGRITY: "integrity failure", LOCKED: "locked by another run",
           REVIEW_PENDING: "waiting for review", UNAVAILABLE: "service unavailable",
           INTERRUPTED: "interrupted"}

# Classes that carry no ``exit_code`` attribute yet, by class name anywhere in their MRO.
BY_NAME = {"YAMLError": USAGE, "GateFailed": CHECK_FAILED, "PublishRefused": CHECK_FAILED, "IntegrityError": INTEGRITY,
           "RunLocked": LOCKED, "RunLockHeld": LOCKED, "LockHeld": LOCKED, "RunLockError": LOCKED}

HINTS = {
    errno.ENOSPC: "the filesystem is full: free space there (or point --data-root elsewhere) and rerun",
    errno.EDQUOT: "the disk quota is used up: free space there and rerun",
    errno.EACCES: "permission denied: check the owner and mode of that path (and of its folder)",
    errno.EPERM: "operation not permitted: check the owner and mode of that path (and of its folder)",
    errno.EROFS: "the filesystem is read-only: remount it read-write or point --data-root elsewhere",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) and rerun",
    errno.EIO: "the device reported an I/O error: check the disk (dmesg) before rerunning",
}


def exit_code_for(exc: BaseException) -> int:
    """The code for an exception that reached ``main()``."""
    code = getattr(type(exc), "exit_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    for cls in type(exc).__mro__:
        if cls.__name__ in BY_NAME:
            return BY_NAME[cls.__name__]
    if isinstance(exc, FileNotFoundError):
        return USAGE      # a path the user named does not exist (as before: 2)
    if isinstance(exc, OSError):
        return IO_ERROR
    if isinstance(exc, (ValueError, LookupError)):  # bad values, pydantic's ValidationError, unknown keys
        return USAGE
    return INTERNAL


def describe(exc: BaseException, code: int) -> str:
    """One line (or a few, for a multi-line message) that says what happened, on which path, and where."""
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
        paths = " -> ".join(os.fsdecode(p) for p in (exc.filename, exc.filename2) if p is not None)
        text = f"{MEANING.get(code, 'error')}: {name} ({exc.strerror or os.strerror(exc.errno)})"
        text += f" on {paths}" if paths else ""
        where = _where(exc)
        text += f" while in {where}" if where else ""
        hint = HINTS.get(exc.errno)
        return text + (f"; {hint}" if hint else "")
    message = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 else exc
    if code == INTERNAL:
        where = _where(exc)
        return f"internal error: {type(exc).__name__}: {message}" + (f" (in {where})" if where else "")
    return f"error: {message}"


def _where(exc: BaseException) -> str:
    """The chain of biomass functions the exception passed through (the command's dispatcher left out)."""
    frames = [(frame.f_globals.get("__name__", ""), frame.f_code.co_qualname, lineno)
              for frame, lineno in traceback.walk_tb(exc.__traceback__)]
    ours = [f for f in frames if f[0].startswith("biomass.") and f[0] != "biomass.cli"]
    if not ours:
        return ""
    names = [name for _, name, _ in ours[1:]] or [ours[0][1]]  # the first is the command's own _cmd_* function
    if len(names) > 4:
        names = names[:2] + ["..."] + names[-1:]
    module, _, lineno = ours[-1]
    return f"{' > '.join(names)} ({module}:{lineno})"


def summary_line() -> str:
    return ", ".join(f"{code} {MEANING[code]}" for code in sorted(MEANING))
