"""Cache keys: a stage's key hashes its inputs' keys, its own settings and its code/prompt version.

Changing a stage's settings changes its key and every key downstream of it, nothing upstream.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

CHUNK = 1 << 20


def digest(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode("utf-8", "surrogateescape"))
        h.update(b"\x1f")
    return h.hexdigest()[:24]


def content_fingerprint(path: str | os.PathLike[str]) -> str:
    """Hash of a file's size and its first, middle and last MiB: cheap on large videos, and any
    re-encode, trim or replacement changes it. A missing/unreadable file hashes to its error."""
    p = Path(path)
    try:
        size = p.stat().st_size
        h = hashlib.sha256(str(size).encode())
        with open(p, "rb") as fh:
            for off in sorted({0, max(0, size // 2 - CHUNK // 2), max(0, size - CHUNK)}):
                fh.seek(off)
                h.update(fh.read(CHUNK))
        return h.hexdigest()[:24]
    except OSError as exc:
        return f"unreadable:{type(exc).__name__}"
