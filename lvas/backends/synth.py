"""The synthesizer interface, the backend registry and the window plan shared by the backends.

A synthesizer turns one :class:`~lvas.models.LayerSpec` (one layer of one scene) into a WAV file.
Backends are chosen by name from :class:`~lvas.settings.SynthSettings` (``procedural`` is the
embedded CPU default, ``mmaudio`` the real model on GPU workers); switching is one settings string.

Models are trained on short windows (MMAudio: 8 s; longer windows degrade, its issue #32), so a
long scene is cut into overlapping windows by :func:`plan_windows` and the rendered windows are
joined with equal-power crossfades by :func:`join_windows`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import soundfile as sf

from lvas.errors import BackendUnavailable, RenderError
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings
from lvas.storage.atomic import atomic_path

if TYPE_CHECKING:
    from lvas.storage.layout import Layout

BACKENDS = ("procedural", "mmaudio", "simulated-gpu", "library")
SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile command id (sndfile.h)


@runtime_checkable
class Synthesizer(Protocol):
    """Renders one layer of one scene to a WAV file."""

    name: str

    def render(
        self,
        spec: LayerSpec,
        out_wav: str | Path,
        *,
        sample_rate: int,
        channels: int,
        layout: Layout | None = None,
    ) -> RenderedLayer:
        """Render ``spec`` to ``out_wav`` (written atomically) and describe the result.

        Arguments:
            spec: the layer to render (scene span, kind, labels, prompt, seed...).
            out_wav: destination WAV path.
            sample_rate: output rate in Hz (44100 or 16000).
            channels: 1 (mono) or 2 (stereo).
            layout: the output folder, for backends that read per-video analysis (frames.parquet).

        Returns:
            The rendered layer: the spec, the WAV path, its sample rate and the backend name.

        Raises:
            BackendUnavailable: the backend cannot run here (package, weights or GPU missing).
            RenderError: the layer could not be rendered.
        """
        ...


def get_synth(settings: SynthSettings) -> Synthesizer:
    """The synthesizer named by ``settings.backend``.

    Arguments:
        settings: the synth section of the settings.

    Returns:
        A ready synthesizer. Heavy models are loaded lazily and cached per worker process.

    Raises:
        BackendUnavailable: unknown name, or the backend's packages, weights or GPU are missing.
    """
    name = settings.backend
    if name == "procedural":
        from lvas.backends.procedural import ProceduralSynth

        return ProceduralSynth(settings)
    if name == "mmaudio":
        try:
            from lvas.backends.mmaudio_backend import MMAudioSynth
        except ImportError as exc:  # torch itself missing on this worker
            raise BackendUnavailable(
                f"synth backend 'mmaudio' cannot be imported ({exc}); install torch and "
                "`pip install git+https://github.com/hkchengrex/MMAudio` on the GPU workers"
            ) from exc
        return MMAudioSynth(settings)
    if name == "library":
        from lvas.backends.library import LibrarySynth

        return LibrarySynth(settings)
    if name == "simulated-gpu":
        from lvas.backends.procedural import ProceduralSynth

        return SimulatedGPUSynth(ProceduralSynth(settings), settings.simulated_latency_s)
    raise BackendUnavailable(f"unknown synth backend {name!r}; choose one of {', '.join(BACKENDS)}")


# --------------------------------------------------------------------------- windows


def plan_windows(duration: float, window: float, overlap: float) -> list[tuple[float, float]]:
    """Cut ``[0, duration]`` into equal windows of ``window`` seconds overlapping by at least ``overlap``.

    A scene no longer than the window is one window. Otherwise the fewest windows that keep the
    requested overlap are spread evenly from 0 to ``duration``: every window has the full model
    length (so all of them batch into one model call, and none is a short, poorly conditioned
    tail) and the spare time goes into slightly longer overlaps.

    Arguments:
        duration: scene length in seconds (> 0).
        window: model window in seconds (> 0).
        overlap: minimum seconds shared by consecutive windows (0 <= overlap < window).

    Returns:
        ``[(start, end), ...]`` in seconds relative to the scene start, covering it exactly.

    Raises:
        ValueError: on a non-positive duration/window or an overlap not below the window.
    """
    if duration <= 0 or window <= 0:
        raise ValueError(f"duration ({duration}) and window ({window}) must be positive")
    if not 0 <= overlap < window:
        raise ValueError(f"overlap ({overlap}) must be in [0, window={window})")
    if duration <= window:
        return [(0.0, float(duration))]
    count = math.ceil((duration - overlap) / (window - overlap) - 1e-9)
    spacing = (duration - window) / (count - 1)
    plan = [(round(i * spacing, 6), round(i * spacing + window, 6)) for i in range(count)]
    plan[-1] = (plan[-1][0], float(duration))  # no rounding drift at the end
    return plan


def equal_power_fades(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Fade-out and fade-in gains over ``n`` samples with ``out**2 + in**2 == 1`` everywhere."""
    theta = (np.arange(n) + 0.5) / max(n, 1) * (np.pi / 2)
    return np.cos(theta), np.sin(theta)


def join_windows(
    chunks: Sequence[np.ndarray], windows: Sequence[tuple[float, float]], sample_rate: int
) -> np.ndarray:
    """Join rendered windows (``(samples, channels)`` arrays) with equal-power crossfades.

    Each window gets a sine fade-in over its overlap with the previous window and a cosine
    fade-out over its overlap with the next; the weighted sum is divided by the root of the summed
    squared weights, so the gains always have unit power (for two windows this is exactly the
    cos/sin crossfade; it stays correct if a very short scene makes three windows overlap).
    Constant power is right for uncorrelated audio, which is what independent renders are.

    Arguments:
        chunks: one array per window, shape ``(samples, channels)``; lengths may be off by a few samples.
        windows: the plan the chunks were rendered for.
        sample_rate: Hz.

    Returns:
        ``(round(windows[-1][1] * sample_rate), channels)`` float32 array.

    Raises:
        ValueError: the number of chunks and windows differ.
    """
    if len(chunks) != len(windows) or not chunks:
        raise ValueError(f"{len(chunks)} chunks for {len(windows)} windows")
    total = round(windows[-1][1] * sample_rate)
    bounds = [(round(s * sample_rate), min(round(e * sample_rate), total)) for s, e in windows]
    acc = np.zeros((total, chunks[0].shape[1]), np.float64)
    power = np.zeros(total, np.float64)
    for i, (chunk, (a, b)) in enumerate(zip(chunks, bounds, strict=True)):
        gain = np.ones(b - a)
        if i > 0 and (n := min(bounds[i - 1][1] - a, b - a)) > 0:
            gain[:n] *= equal_power_fades(n)[1]
        if i + 1 < len(bounds) and (n := min(b - bounds[i + 1][0], b - a)) > 0:
            gain[b - a - n :] *= equal_power_fades(n)[0]
        acc[a:b] += _fit(chunk, b - a) * gain[:, None]
        power[a:b] += gain**2
    return (acc / np.sqrt(np.maximum(power, 1e-12))[:, None]).astype(np.float32)


def _fit(chunk: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad ``chunk`` along time to exactly ``n`` samples."""
    if len(chunk) >= n:
        return chunk[:n]
    return np.concatenate([chunk, np.zeros((n - len(chunk), chunk.shape[1]), chunk.dtype)])


# --------------------------------------------------------------------------- helpers


def layer_seed(base: int, video_id: str, scene_index: int, kind: str) -> int:
    """A stable per-layer seed: same inputs, same seed, on any machine and Python."""
    digest = hashlib.sha256(f"{base}|{video_id}|{scene_index}|{kind}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def fit_channels(audio: np.ndarray, channels: int) -> np.ndarray:
    """``(samples,)`` or ``(samples, c)`` -> ``(samples, channels)`` (mono is duplicated, stereo averaged)."""
    a = audio[:, None] if audio.ndim == 1 else audio
    if a.shape[1] == channels:
        return a
    if channels == 1:
        return a.mean(axis=1, keepdims=True)
    return np.repeat(a[:, :1], channels, axis=1) if a.shape[1] == 1 else a[:, :channels]


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio ``(samples, channels)`` as a 32-bit float WAV, atomically.

    Raises:
        RenderError: the audio holds NaN/inf (a backend bug that must not reach the mix).
    """
    if not np.all(np.isfinite(audio)):
        raise RenderError(f"refusing to write {path}: the rendered audio contains NaN or inf")
    a = np.asarray(audio, np.float32)
    a = a[:, None] if a.ndim == 1 else a
    with atomic_path(path) as tmp, sf.SoundFile(str(tmp), "w", sample_rate, a.shape[1], subtype="FLOAT",
                                                 format="WAV") as fh:
        # libsndfile's PEAK chunk of a float WAV holds the time of writing: without this the same
        # audio written twice differs, and a rerun could not be byte-identical
        sf._snd.sf_command(fh._file, SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        fh.write(a)
    return Path(path)


class SimulatedGPUSynth:
    """A benchmark stand-in for a GPU model: holds its GPU slot for a fixed latency per window,
    then writes the procedural rendering. Only for measuring placement and GPU-slot occupancy;
    its audio is the procedural synthesizer's, and it says so in ``backend``."""

    name = "simulated-gpu"

    def __init__(self, inner: Synthesizer, latency_s: float) -> None:
        self.inner, self.latency_s = inner, latency_s

    def render(self, spec: LayerSpec, out_wav: str | Path, *, sample_rate: int, channels: int,
               layout: Layout | None = None) -> RenderedLayer:
        import time

        time.sleep(self.latency_s)
        done = self.inner.render(spec, out_wav, sample_rate=sample_rate, channels=channels, layout=layout)
        return done.model_copy(update={"backend": f"{self.name} (procedural audio)"})
