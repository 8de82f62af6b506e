"""Cache keys: a stage's key hashes its inputs' keys, its own settings and its code/prompt version.

Changing a stage's settings changes its key and every key downstream of it, nothing upstream.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

CHUNK = 1 << 20


def digest(*parts: object) -> str:
    import hashlib  # here, not at the top: lvas shots imports this module for one stat check

    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogateescape"))
        h.update(b"\x1f")
    return h.hexdigest()[:24]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a whole file's content (hex): what a completion marker records of each artifact.

    Raises:
        OSError: the file cannot be read.
    """
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def not_a_regular_file(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be read as a file, or None when it is a regular, readable file.

    Checked with ``stat`` before anything opens it: opening a FIFO blocks until a writer comes,
    and a device or socket is no input either.

    Arguments:
        path: the file to check.

    Returns:
        A short reason ("no such file", "a FIFO (named pipe), not a regular file", ...) or None.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file"
    except OSError as exc:
        return f"cannot stat it ({exc.strerror or type(exc).__name__})"
    if not stat.S_ISREG(mode):
        return f"{_KINDS.get(stat.S_IFMT(mode), 'a special file')}, not a regular file"
    if not os.access(path, os.R_OK):
        return "not readable (permission denied)"
    return None


_KINDS = {stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def content_fingerprint(path: str | os.PathLike[str]) -> str:
    """Hash of a file's size and its first, middle and last MiB: cheap on large videos, and any
    re-encode, trim or replacement changes it. A missing, unreadable or special file (a FIFO,
    a device) hashes to its problem and is never opened: the stage that reads it fails with it."""
    p = Path(path)
    problem = not_a_regular_file(p)
    if problem is not None:
        return f"unreadable:{problem}"
    try:
        # O_NONBLOCK: should the file have been swapped for a FIFO since the check, opening it
        # returns at once, and fstat below refuses it
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb") as fh:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return "unreadable:not a regular file"
            size = st.st_size
            import hashlib

            h = hashlib.sha256(str(size).encode())
            for off in sorted({0, max(0, size // 2 - CHUNK // 2), max(0, size - CHUNK)}):
                fh.seek(off)
                h.update(fh.read(CHUNK))
        return h.hexdigest()[:24]
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"
