"""What a sound-library index is keyed on, without importing Chroma: its format and embedding
model (:func:`index_fingerprint`), where it is kept, and the digests of its recordings that make up
the library's state (lvas.backends.library_state); lvas.backends.sound_index writes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lvas.kb.model import model_id, vector_cache_dir

FORMAT = "1"  # of the index's documents and metadata: bump to force a full re-index
STATE_FILE = "lvas-library-state.json"


def index_fingerprint() -> str:
    """The embedding model and index format an index must have been made with (16 hex digits)."""
    return hashlib.sha256(f"{model_id()}|{FORMAT}".encode()).hexdigest()[:16]


def default_location() -> Path:
    """Where the index is kept when none is configured: ``<LVAS_CACHE_DIR>/library`` (per user)."""
    return vector_cache_dir() / "library"


def recording_row(meta: Mapping[str, Any]) -> str:
    """What of one indexed recording the state holds: path, size, modification time."""
    return f"{meta['path']}|{meta.get('size')}|{meta.get('mtime_ns')}"


def folder_digest(rows: Iterable[str]) -> str:
    """The digest of one indexed folder's usable recordings (:func:`recording_row` each)."""
    return hashlib.sha256("\n".join(sorted(rows)).encode()).hexdigest()[:16]


def resolved_roots(roots: Iterable[str] | None) -> list[str] | None:
    """``roots`` as the index records folders (absolute, links resolved), sorted; None stays None."""
    return None if roots is None else sorted(str(Path(r).expanduser().resolve()) for r in roots)


def combine(fingerprint: str, folders: Mapping[str, str], roots: Iterable[str] | None) -> str:
    """The state of the folders ``roots`` (every indexed folder when None) from their digests.

    Arguments:
        fingerprint: :func:`index_fingerprint` of the index.
        folders: {indexed folder: :func:`folder_digest`}.
        roots: the folders a run may use, as configured (``library_dir``), or None.

    Returns:
        16 hex digits.
    """
    chosen = resolved_roots(roots)
    picked = sorted(f"{root}={digest}" for root, digest in folders.items() if chosen is None or root in chosen)
    return hashlib.sha256("\n".join([fingerprint, *picked]).encode()).hexdigest()[:16]


def state_path(location: str | Path | None) -> Path | None:
    """The state file of a local index folder (None for a Chroma server URL)."""
    loc = str(location) if location else str(default_location())
    return None if loc.startswith(("http://", "https://")) else Path(loc) / STATE_FILE
