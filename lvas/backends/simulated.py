"""The ``simulated-gpu`` benchmark backend: a GPU model's placement and latency, procedural audio."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from lvas.backends.procedural import ProceduralSynth
from lvas.backends.synth import Synthesizer
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings

if TYPE_CHECKING:
    from lvas.storage.layout import Layout


def simulated_gpu(settings: SynthSettings) -> Synthesizer:
    """The ``simulated-gpu`` backend over the procedural synthesizer."""
    return SimulatedGPUSynth(ProceduralSynth(settings), settings.simulated_latency_s)


class SimulatedGPUSynth:
    """A benchmark stand-in for a GPU model: holds its GPU slot for a fixed latency per window,
    then writes the procedural rendering. Only for measuring placement and GPU-slot occupancy;
    its audio is the procedural synthesizer's, and it says so in ``backend``."""

    name = "simulated-gpu"

    def __init__(self, inner: Synthesizer, latency_s: float) -> None:
        self.inner, self.latency_s = inner, latency_s

    def render(self, spec: LayerSpec, out_wav: str | Path, *, sample_rate: int, channels: int,
               layout: Layout | None = None) -> RenderedLayer:
        time.sleep(self.latency_s)
        done = self.inner.render(spec, out_wav, sample_rate=sample_rate, channels=channels, layout=layout)
        return done.model_copy(update={"backend": f"{self.name} (procedural audio)"})
