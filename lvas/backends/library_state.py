"""The sound library's state, for render cache keys, read without opening Chroma where it can be.

The state is a digest of the usable recordings a run may use (each one's path, size and
modification time) and of the index's format. ``lvas library index`` removes
``lvas-library-state.json`` from a local index folder when it starts and writes it when it has
finished, with each indexed folder's usable count and digest; a run reads it (milliseconds) and
falls back to the index itself (Chroma, about a second to import) when it is absent: a Chroma
server, an index being written, or one that stopped half-way.
"""

from __future__ import annotations

import json
import os

from lvas.backends.index_format import combine, index_fingerprint, resolved_roots, state_path
from lvas.settings import Settings, SynthSettings


def state_from_file(synth: SynthSettings) -> str | None:
    """The library state from the index folder's state file, or None when it cannot say: no file,
    another embedding model or format, or no usable recording among the folders the run may use
    (then the index itself is asked, and says what is wrong)."""
    path = state_path(synth.library_index)
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        folders = {str(k): (int(v["usable"]), str(v["digest"])) for k, v in data["folders"].items()}
        fingerprint = str(data["fingerprint"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    roots = [r for r in (synth.library_dir or "").split(os.pathsep) if r] or None
    chosen = resolved_roots(roots)
    usable = sum(n for root, (n, _) in folders.items() if chosen is None or root in chosen)
    if fingerprint != index_fingerprint() or usable == 0:
        return None
    return combine(fingerprint, {root: d for root, (_, d) in folders.items()}, roots)


def with_library_state(settings: Settings) -> Settings:
    """``settings`` with ``synth.library_state`` set to the state of the recordings the run may
    use; other backends unchanged.

    Render cache keys hold the synth settings, so a re-index that adds, removes or changes a
    recording re-renders what was made from the library, and nothing else.

    Arguments:
        settings: the run's settings (``synth.backend``, ``library_index``, ``library_dir``).

    Returns:
        A copy with ``synth.library_state`` set, or ``settings`` itself for another backend.

    Raises:
        BackendUnavailable: the library backend is chosen and its index is missing, was made with
            another embedding model, or holds no usable recording (under ``library_dir``, when set).
    """
    if settings.synth.backend != "library":
        return settings
    state = state_from_file(settings.synth)
    if state is None:
        from lvas.backends.library import LibrarySynth  # opens Chroma: only without a state file

        library = LibrarySynth(settings.synth).library
        state = library.index.state(library.roots)
    return settings.model_copy(update={"synth": settings.synth.model_copy(update={"library_state": state})})
