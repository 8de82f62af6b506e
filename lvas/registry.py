"""The backends lvas can use, by name, with what each needs, and the stage list: one table that
the settings, the CLI's choices and the flow read (a base module: it imports nothing of lvas).

A backend's ``factory`` is ``"module:callable"``; the callable takes its settings section and
returns the backend. It is imported only when the backend is built, so that naming a backend never
imports its heavy packages.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

STAGES = ("storyboard", "script", "design", "render", "reflect", "mix")


@dataclass(frozen=True)
class Backend:
    name: str
    factory: str
    summary: str
    gpu: bool = False  # its work runs only on Dask workers that declare the GPU resource
    network: bool = False  # it calls a service (an endpoint, a server)
    install: str = ""  # what to install when its packages are missing

    def load(self) -> Callable[[Any], Any]:
        module, _, name = self.factory.partition(":")
        return getattr(importlib.import_module(module), name)


SYNTHS = {b.name: b for b in (
    Backend("procedural", "lvas.backends.procedural:ProceduralSynth",
            "CPU preview audio per label family, timed to the picture's motion (offline stand-in)"),
    Backend("mmaudio", "lvas.backends.mmaudio_backend:MMAudioSynth",
            "MMAudio video-to-audio and text-to-audio from local weights", gpu=True,
            install="torch and `pip install git+https://github.com/hkchengrex/MMAudio` on the GPU workers"),
    Backend("library", "lvas.backends.library:LibrarySynth",
            "recorded effects from an indexed sound library (`lvas library index`); procedural for what it lacks"),
    Backend("simulated-gpu", "lvas.backends.simulated:simulated_gpu",
            "benchmark stand-in: procedural audio after a fixed latency, placed like a GPU model", gpu=True),
)}

AGENTS = {b.name: b for b in (
    Backend("offline", "lvas.agents:offline_agents",
            "deterministic stand-ins that describe what they measure (colour, motion, sidecar captions)"),
    Backend("openai", "lvas.agents:openai_agents",
            "any OpenAI-compatible endpoint (Qwen API, vLLM, Ollama)", network=True),
)}


def choose(table: dict[str, Backend], name: str, what: str) -> Backend:
    """The backend called ``name`` in ``table``.

    Raises:
        ValueError: an unknown name, with the known ones.
    """
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"{what} backend {name!r} is unknown; choose one of {', '.join(table)}") from None
