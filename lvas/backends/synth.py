"""The synthesizer interface, the backend registry and the window plan shared by the backends.

A synthesizer turns one :class:`~lvas.models.LayerSpec` (one layer of one scene) into a WAV file.
Backends are chosen by name from :class:`~lvas.settings.SynthSettings` (``procedural`` is the
embedded CPU default, ``mmaudio`` the real model on GPU workers); switching is one settings string.

Models are trained on short windows (MMAudio: 8 s; longer windows degrade, its issue #32), so a
long scene is cut into overlapping windows by :func:`plan_windows` and the rendered windows are
joined with equal-power crossfades by :func:`join_windows`. A batching backend
(:class:`BatchSynthesizer`) plans the windows of many layers or events into shared model calls
(:func:`plan_calls`: one window length and one conditioning a call) and runs them with the CPU
work of the next call overlapped (:func:`run_calls`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np
from scipy.io import wavfile

from lvas import registry
from lvas.errors import BackendUnavailable, RenderError
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings
from lvas.storage.atomic import atomic_path

if TYPE_CHECKING:
    from lvas.storage.layout import Layout

MIN_WINDOW_S = 1.0  # shorter windows give MMAudio's Synchformer less than a couple of segments
R = TypeVar("R")


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


@dataclass(frozen=True)
class LayerJob:
    """One layer to render and where its WAV goes."""

    spec: LayerSpec
    out_wav: Path


@runtime_checkable
class BatchSynthesizer(Synthesizer, Protocol):
    """A synthesizer that renders several layers (of any scenes and videos) in shared model calls."""

    def render_batch(
        self, jobs: Sequence[LayerJob], *, sample_rate: int, channels: int, layout: Layout | None = None
    ) -> list[RenderedLayer | Exception]:
        """Render every job; equal windows of different layers share batched model calls.

        Returns:
            Per job, in order, its rendered layer or the exception that stopped it (one layer's bad
            input never fails the others; a failed model call fails the layers it served).

        Raises:
            BackendUnavailable: the backend cannot run here at all.
        """
        ...


def get_synth(settings: SynthSettings) -> Synthesizer:
    """The synthesizer named by ``settings.backend`` (``lvas.registry.SYNTHS``).

    Arguments:
        settings: the synth section of the settings.

    Returns:
        A ready synthesizer. Heavy models are loaded lazily and cached per worker process.

    Raises:
        BackendUnavailable: unknown name, or the backend's packages, weights or GPU are missing.
    """
    try:
        backend = registry.choose(registry.SYNTHS, settings.backend, "synth")
    except ValueError as exc:
        raise BackendUnavailable(str(exc)) from None
    try:
        factory = backend.load()
    except ImportError as exc:  # e.g. torch or mmaudio missing on this worker
        raise BackendUnavailable(f"synth backend {backend.name!r} cannot be imported ({exc}); install "
                                 f"{backend.install or 'its packages'}") from exc
    return factory(settings)


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


def layer_windows(spec: LayerSpec, settings: SynthSettings) -> list[tuple[float, float]]:
    """The model windows of one layer, relative to its start (see :func:`plan_windows`).

    A layer shorter than ``MIN_WINDOW_S`` is planned that long (the renderer trims it); the overlap
    is at most half a window.
    """
    span = max(spec.end_s - spec.start_s, MIN_WINDOW_S)
    return plan_windows(span, settings.window_s, max(0.0, min(settings.overlap_s, settings.window_s / 2)))


@dataclass(frozen=True)
class ModelCall:
    """One batched model call: windows of one length and one kind of conditioning.

    ``conditioned`` is True for video-to-audio windows (foreground), False for text-only ones.
    ``windows`` are ``(job, window)`` index pairs, possibly of several layers, scenes and videos.
    """

    conditioned: bool
    duration: float
    windows: tuple[tuple[int, int], ...]


def plan_calls(plans: Sequence[tuple[bool, Sequence[tuple[float, float]]]], most: int) -> list[ModelCall]:
    """Group the windows of several layers into batched model calls.

    Arguments:
        plans: per job, whether it is conditioned on video and its windows (``layer_windows``).
        most: the most windows in one call (GPU memory bounds the batch).

    Returns:
        Calls of at most ``most`` windows, each of one duration (rounded to 1 ms, as a batch must
        be) and one conditioning; groups in order of first appearance, jobs in order within them.
    """
    groups: dict[tuple[bool, float], list[tuple[int, int]]] = {}
    for j, (conditioned, windows) in enumerate(plans):
        for w, (a, b) in enumerate(windows):
            groups.setdefault((conditioned, round(b - a, 3)), []).append((j, w))
    return [
        ModelCall(conditioned, duration, tuple(items[i:i + most]))
        for (conditioned, duration), items in groups.items()
        for i in range(0, len(items), max(1, most))
    ]


def call_seed(seeds: Sequence[int], windows: Sequence[tuple[int, int]]) -> int:
    """The seed of a batched call: the layer's own seed when the call serves one layer, else a
    stable mix of its layers' seeds and window positions (same batch, same noise)."""
    if len(set(seeds)) == 1 and len({j for j, _ in windows}) == 1:
        return int(seeds[0])
    blob = ",".join(f"{s}:{w}" for s, (_, w) in zip(seeds, windows, strict=True))
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:4], "little")


def run_calls(
    calls: Sequence[ModelCall],
    windows_per_job: Sequence[int],
    *,
    prepare: Callable[[int, int], Any],
    generate: Callable[[ModelCall, list[Any]], Sequence[Any]],
    finish: Callable[[int, list[Any]], R],
) -> list[R | Exception]:
    """Run batched model calls with their CPU work overlapped, so the model waits as little as possible.

    The inputs of the next call (``prepare``: decoding a window's frames) are made in a helper
    thread while the current call runs, and a layer whose windows are all generated is finished
    (``finish``: crossfade, resample, write) in another; ``generate`` runs in the calling thread.

    Arguments:
        calls: from :func:`plan_calls`.
        windows_per_job: how many windows each job has.
        prepare: ``(job, window) -> input`` of one window; an error fails that job only.
        generate: ``(call, inputs) -> one output per window``; an error fails the jobs it served.
        finish: ``(job, outputs in window order) -> result``; an error fails that job only.

    Returns:
        Per job, its result or the first exception that stopped it.
    """
    errors: dict[int, Exception] = {}
    chunks: dict[int, dict[int, Any]] = {}
    finishing: dict[int, Future[R]] = {}
    with ThreadPoolExecutor(1, thread_name_prefix="lvas-prepare") as prep, \
            ThreadPoolExecutor(1, thread_name_prefix="lvas-finish") as fin:

        def submit(k: int) -> list[Future[Any]]:
            return [prep.submit(prepare, j, w) for j, w in calls[k].windows] if k < len(calls) else []

        ahead = submit(0)
        for k, call in enumerate(calls):
            pending, ahead = ahead, submit(k + 1)
            inputs: list[Any] = []
            for (j, _), fut in zip(call.windows, pending, strict=True):
                try:
                    inputs.append(fut.result())
                except Exception as exc:
                    errors.setdefault(j, exc)
                    inputs.append(None)
            live = [i for i, (j, _) in enumerate(call.windows) if j not in errors]
            if not live:
                continue
            sub = ModelCall(call.conditioned, call.duration, tuple(call.windows[i] for i in live))
            try:
                outputs = generate(sub, [inputs[i] for i in live])
            except Exception as exc:
                for j, _ in sub.windows:
                    errors.setdefault(j, exc)
                continue
            for (j, w), out in zip(sub.windows, outputs, strict=True):
                chunks.setdefault(j, {})[w] = out
                if len(chunks[j]) == windows_per_job[j] and j not in errors:
                    done = chunks.pop(j)
                    finishing[j] = fin.submit(finish, j, [done[i] for i in range(windows_per_job[j])])
        results: list[R | Exception] = []
        for j in range(len(windows_per_job)):
            if j in errors:
                results.append(errors[j])
            elif j in finishing:
                try:
                    results.append(finishing[j].result())
                except Exception as exc:
                    results.append(exc)
            else:  # cannot happen with a plan from plan_calls; said rather than hidden
                results.append(RenderError(f"job {j}: not every window was generated"))
    return results


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
    # scipy's writer, not libsndfile's: libsndfile adds a PEAK chunk holding the time of writing to
    # float WAVs, so the same audio written twice would differ and a rerun could not be byte-identical
    with atomic_path(path) as tmp:
        wavfile.write(str(tmp), sample_rate, a)
    return Path(path)
