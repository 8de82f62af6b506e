"""The small, named error set. Every message says which file or backend and what to do."""

from __future__ import annotations


class LvasError(Exception):
    """Base class: an expected failure with a message meant for a person."""


class InputError(LvasError):
    """A source (path, glob, manifest) that cannot be turned into videos."""


class VideoProbeError(LvasError):
    """A file that is not a decodable video (missing, empty, truncated, audio-only...)."""


class DecodeError(LvasError):
    """A video that probed fine but broke while decoding."""


class BackendUnavailable(LvasError):
    """A configured backend cannot be used here: a package, weights, a GPU or a server is missing.

    Transient variants (a server that timed out, 429, 5xx) are retried by the tasks.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class AgentOutputError(LvasError):
    """A model answer that stayed invalid after the repair round-trip."""


class RenderError(LvasError):
    """A layer that could not be rendered, mixed or muxed."""


class RunLocked(LvasError):
    """Another run holds the output folder."""
