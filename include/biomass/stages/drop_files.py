"""A licence drop's files, confined to the drop: nothing outside it is listed or read, whatever its manifest says.

A publisher controls what is inside its drop folder, so every path from it is untrusted. A document path is
relative and normalised (``./docs/x.txt`` is ``docs/x.txt``); an absolute path, a ``..`` part, a symlink (to a
file or a folder, pointing inside the drop or out of it) or a special file (FIFO, device, socket) is refused as
``unsafe_path``. Symlinks are never followed, so one drop cannot publish /etc/passwd or another drop's files
under its licence. Documents are opened one folder at a time from the drop's own descriptor with ``O_NOFOLLOW``,
so a folder swapped for a symlink between the check and the read does not escape either; a FIFO is opened
non-blocking and refused, never read. Reads stop at a byte cap (``too_large``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(Exception):
    """A drop path that is not read, with the quarantine reason and a detail that names the path."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail

    def __reduce__(self):   # rebuilt from its parts, so it survives a trip to or from a worker process
        return type(self), (self.reason, self.detail)


def normalise(raw: str) -> str:
    """The drop-relative POSIX form of a manifest path; Refused(``unsafe_path``) if it could leave the drop."""
    if "\x00" in raw:
        raise Refused("unsafe_path", f"{raw!r} contains a NUL byte")
    path = PurePosixPath(raw)
    if path.is_absolute():
        raise Refused("unsafe_path", f"{raw!r} is absolute: document paths are relative to the drop")
    if ".." in path.parts:
        raise Refused("unsafe_path", f"{raw!r} has a '..' part: document paths stay inside the drop")
    if not path.parts:
        raise Refused("unsafe_path", f"{raw!r} names the drop folder itself, not a document")
    return path.as_posix()


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def unsafe_entry(root: Path, rel: str) -> str | None:
    """Why ``rel`` (normalised) inside ``root`` must not be read: a symlink on the way or a special file."""
    here = root
    for part in PurePosixPath(rel).parts:
        here = here / part
        try:
            mode = here.lstat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            return None  # missing: reported as missing_document once the licence checks pass
        if stat.S_ISLNK(mode):
            return f"{here.relative_to(root).as_posix()} is a symlink (to {os.readlink(here)}); symlinks are not followed"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return f"{rel} is {_kind(mode)}"
    return None


def list_drop(root: Path, skip: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
    """The drop's regular files, and the entries it refuses (symlinks, special files) with why; never follows links.

    Names in ``skip`` (the manifests) and hidden names are ignored, as before; hidden folders are still walked.
    """
    files, refused, todo = [], {}, [""]
    while todo:
        sub = todo.pop()
        with os.scandir(root / sub if sub else root) as entries:
            for entry in entries:
                rel = f"{sub}/{entry.name}" if sub else entry.name
                if entry.is_dir(follow_symlinks=False):
                    todo.append(rel)
                elif entry.name in skip or entry.name.startswith("."):
                    continue
                elif entry.is_symlink():
                    refused[rel] = f"{rel} is a symlink (to {os.readlink(entry.path)}); symlinks are not followed"
                elif entry.is_file(follow_symlinks=False):
                    files.append(rel)
                else:
                    refused[rel] = f"{rel} is {_kind(entry.stat(follow_symlinks=False).st_mode)}"
    return sorted(files), dict(sorted(refused.items()))


def read_document(root: Path, rel: str, max_bytes: int) -> bytes:
    """The bytes of drop file ``rel`` (normalised), opened without following any symlink; at most ``max_bytes``."""
    parts = PurePosixPath(rel).parts
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except (FileNotFoundError, NotADirectoryError):
                raise Refused("missing_document", "listed in the manifest but not in the drop") from None
            except OSError as exc:
                raise Refused("unsafe_path", f"{rel}: folder {part!r} cannot be opened safely ({exc.strerror})") from None
            os.close(fd)
            fd = child
        try:
            doc = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except (FileNotFoundError, NotADirectoryError):
            raise Refused("missing_document", "listed in the manifest but not in the drop") from None
        except OSError as exc:
            raise Refused("unsafe_path", f"{rel} cannot be opened safely ({exc.strerror})") from None
    finally:
        os.close(fd)
    try:
        info = os.fstat(doc)
        if stat.S_ISDIR(info.st_mode):
            raise Refused("missing_document", f"{rel} is a folder, not a document")
        if not stat.S_ISREG(info.st_mode):
            raise Refused("unsafe_path", f"{rel} is {_kind(info.st_mode)}")
        if info.st_size > max_bytes:
            raise Refused("too_large", f"{rel} is {info.st_size} bytes > license.max_document_bytes {max_bytes}; "
                                       "not read")
        with os.fdopen(doc, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(doc)
    if len(data) > max_bytes:  # it grew while we read it
        raise Refused("too_large", f"{rel} is over license.max_document_bytes {max_bytes}; not read")
    return data
