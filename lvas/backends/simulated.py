"""The ``simulated-gpu`` benchmark backend: a GPU model's placement, batching and latency, procedural audio."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lvas.backends.procedural import ProceduralSynth
from lvas.backends.synth import LayerJob, ModelCall, Synthesizer, layer_windows, plan_calls, run_calls
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings

if TYPE_CHECKING:
    from lvas.storage.layout import Layout


def simulated_gpu(settings: SynthSettings) -> Synthesizer:
    """The ``simulated-gpu`` backend over the procedural synthesizer."""
    return SimulatedGPUSynth(ProceduralSynth(settings), settings)


class SimulatedGPUSynth:
    """A benchmark stand-in for a GPU model that batches windows like the MMAudio backend.

    Its layers are planned into the same batched calls (:func:`~lvas.backends.synth.plan_calls`); a
    call holds a simulated GPU for ``simulated_latency_s`` plus ``simulated_batch_cost`` of that per
    further window (a sleep, which like a CUDA call leaves the CPU to the other threads), and each
    layer's audio is then the procedural synthesizer's, written in the finishing thread (the CPU
    work a real backend does there). ``busy`` holds the (start, end) perf-counter times of every
    simulated call, to measure how busy the GPU is kept; ``calls`` the window count of each call.
    Its output says ``simulated-gpu (procedural audio)``: only placement and occupancy are measured.
    """

    name = "simulated-gpu"

    def __init__(self, inner: Synthesizer, settings: SynthSettings) -> None:
        self.inner, self.settings = inner, settings
        self.busy: list[tuple[float, float]] = []
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def render(self, spec: LayerSpec, out_wav: str | Path, *, sample_rate: int, channels: int,
               layout: Layout | None = None) -> RenderedLayer:
        """Render one layer (a batch of one; see :meth:`render_batch`)."""
        (done,) = self.render_batch([LayerJob(spec, Path(out_wav))], sample_rate=sample_rate, channels=channels,
                                    layout=layout)
        if isinstance(done, Exception):
            raise done
        return done

    def render_batch(self, jobs: Sequence[LayerJob], *, sample_rate: int, channels: int,
                     layout: Layout | None = None) -> list[RenderedLayer | Exception]:
        """Render ``jobs`` in simulated batched calls (see the class docstring).

        Returns:
            Per job, its rendered layer or the exception that stopped it.
        """
        s = self.settings
        plans = [layer_windows(job.spec, s) for job in jobs]
        calls = plan_calls([(job.spec.kind == "foreground" and bool(job.spec.video_path), plan)
                            for job, plan in zip(jobs, plans, strict=True)], s.batch_windows)

        def generate(call: ModelCall, inputs: list[Any]) -> list[None]:
            with self._lock:  # one simulated GPU per process
                start = time.perf_counter()
                time.sleep(s.simulated_latency_s * (1 + s.simulated_batch_cost * (len(call.windows) - 1)))
                self.busy.append((start, time.perf_counter()))
                self.calls.append(len(call.windows))
            return [None] * len(call.windows)

        def finish(j: int, _: list[Any]) -> RenderedLayer:
            done = self.inner.render(jobs[j].spec, jobs[j].out_wav, sample_rate=sample_rate, channels=channels,
                                     layout=layout)
            return done.model_copy(update={"backend": f"{self.name} (procedural audio)"})

        return run_calls(calls, [len(p) for p in plans], prepare=lambda j, w: None, generate=generate,
                         finish=finish)
