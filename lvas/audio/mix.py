"""Mixing a video's rendered layers into one track of exactly the video's length.

:func:`mix_events` places timed events (the pipeline's form): each event is loudness-normalised
to ``layer_lufs``, then takes its own gain, then its layer's balance (background
``background_gain_db`` under the foreground); events sum into a foreground and a background stem
of the full length, and the stems' sum is mastered. An event's free edges get a 5 ms fade (no
click); a background event's edge on a scene cut is crossfaded with whatever continues there, like
scenes below. :func:`mix_video` is the older per-scene form.

Per scene: each layer is loudness-normalised to ``layer_lufs``, then its design volume is applied
(background sits ``background_gain_db`` under the foreground). Scenes are joined with equal-power
crossfades centred on the boundaries; each side of a seam is extended past the boundary by its
own time-reversed tail, which is continuous with it, so a crossfade never needs audio a layer
does not have and never adds a click. The sum is mastered to ``target_lufs`` with the true peak
at most ``true_peak_dbtp``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile as sf
from pydantic import BaseModel, ConfigDict
from scipy.signal import resample_poly

from lvas.audio.loudness import db_to_gain, master, normalize_loudness
from lvas.backends.synth import equal_power_fades, fit_channels, write_wav
from lvas.errors import RenderError
from lvas.models import RenderedLayer, Scene
from lvas.settings import MixSettings
from lvas.storage.atomic import atomic_path

EDGE_FADE_S = 0.005  # a fade this short is inaudible as a fade but removes the click of a hard edge


class MixReport(BaseModel):
    """What the mix stage produced and measured."""

    model_config = ConfigDict(frozen=True)

    wav_path: str
    sample_rate: int
    channels: int
    samples: int
    duration_s: float
    layers: int
    scenes: int
    integrated_lufs: float | None = None  # None: silent
    true_peak_dbtp: float | None = None
    master_gain_db: float = 0.0
    limited: bool = False
    silent: bool = True
    events: int = 0
    limited_fraction: float = 0.0  # share of the track's samples the limiter turned down
    stems: dict[str, str] = {}


def mix_video(
    layers: list[RenderedLayer],
    scenes: list[Scene],
    duration_s: float,
    settings: MixSettings,
    sample_rate: int,
    channels: int,
    out_wav: str | Path,
) -> MixReport:
    """Mix ``layers`` into ``out_wav``: a 24-bit WAV of exactly ``round(duration_s * sr)`` samples.

    Arguments:
        layers: rendered layers of this video (any sample rate/channels; resampled and remapped).
        scenes: the video's scenes (their spans place the layers); a layer whose scene is not listed
            uses its own spec's span.
        duration_s: the video's duration.
        settings: the mix section (targets, background gain, crossfade length).
        sample_rate: output rate (44100 or 16000).
        channels: 1 or 2.
        out_wav: destination, written atomically.

    Returns:
        The mix report with the measured integrated loudness and true peak.

    Raises:
        RenderError: a layer file is missing or unreadable.
    """
    n = max(0, round(duration_s * sample_rate))
    spans = {s.index: (s.start_s, s.end_s) for s in scenes}
    by_scene: dict[int, list[RenderedLayer]] = defaultdict(list)
    for layer in layers:
        by_scene[layer.spec.scene_index].append(layer)
        spans.setdefault(layer.spec.scene_index, (layer.spec.start_s, layer.spec.end_s))
    segments = _segments(spans, n, sample_rate)
    out = np.zeros((n, channels), np.float32)  # float32: a 10-minute stereo mix is 200 MB, not 400
    half = round(settings.scene_crossfade_s * sample_rate / 2)
    for k, (index, a, b) in enumerate(segments):
        bus = _scene_bus(by_scene.get(index, []), b - a, settings, sample_rate, channels)
        left = _seam(segments, k - 1, half) if k > 0 else None
        right = _seam(segments, k, half) if k + 1 < len(segments) else None
        _add_with_fades(out, bus, a, b, left, right, sample_rate)
    result = master(out, sample_rate, settings.target_lufs, settings.true_peak_dbtp)
    with atomic_path(out_wav) as tmp:
        sf.write(str(tmp), result.audio.astype(np.float32), sample_rate, subtype="PCM_24", format="WAV")
    lufs, tp = result.lufs, result.true_peak_dbtp
    return MixReport(
        wav_path=str(out_wav),
        sample_rate=sample_rate,
        channels=channels,
        samples=n,
        duration_s=n / sample_rate if sample_rate else 0.0,
        layers=len(layers),
        scenes=len(segments),
        integrated_lufs=lufs if math.isfinite(lufs) else None,
        true_peak_dbtp=tp if math.isfinite(tp) else None,
        master_gain_db=result.gain_db,
        limited=result.limited,
        silent=not math.isfinite(lufs),
    )


def _segments(spans: dict[int, tuple[float, float]], n: int, sr: int) -> list[tuple[int, int, int]]:
    """``(scene index, first sample, end sample)`` sorted by time, clipped to the track, non-empty."""
    segs = []
    for index, (start, end) in sorted(spans.items(), key=lambda kv: (kv[1][0], kv[0])):
        a, b = min(max(0, round(start * sr)), n), min(max(0, round(end * sr)), n)
        if b > a:
            segs.append((index, a, b))
    return segs


def _seam(segments: list[tuple[int, int, int]], k: int, half: int) -> int | None:
    """Half-length of the crossfade between segments k and k+1; None if they do not touch."""
    _, a0, b0 = segments[k]
    _, a1, b1 = segments[k + 1]
    if abs(b0 - a1) > 1:
        return None
    return max(0, min(half, (b0 - a0) // 2, (b1 - a1) // 2))


def _scene_bus(
    layers: list[RenderedLayer], n: int, settings: MixSettings, sr: int, channels: int
) -> np.ndarray:
    """The scene's layers, each loudness-normalised and at its design volume, summed."""
    bus = np.zeros((n, channels), np.float32)
    for layer in layers:
        audio = _read_layer(layer, sr, channels)
        audio = _fit_length(audio, n)
        audio, _ = normalize_loudness(audio, sr, settings.layer_lufs)
        gain = layer.spec.volume
        if layer.spec.kind == "background":
            gain *= db_to_gain(settings.background_gain_db)
        bus += audio * gain
    return bus


def _read_layer(layer: RenderedLayer, sr: int, channels: int) -> np.ndarray:
    return read_event(layer.wav_path, sr, channels)


def read_event(path: str | Path, sr: int, channels: int) -> np.ndarray:
    """A rendered event's audio at ``sr`` with ``channels`` channels, ``(samples, channels)`` float32.

    Raises:
        RenderError: the file is missing or unreadable.
    """
    try:
        audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:  # soundfile raises LibsndfileError (a RuntimeError)
        raise RenderError(f"cannot read layer {path}: {exc}") from exc
    if rate != sr:
        g = math.gcd(int(rate), sr)
        audio = resample_poly(audio, sr // g, int(rate) // g, axis=0)
    return fit_channels(audio, channels)


def _fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim, or extend by reflection (never by a silent gap), to ``n`` samples."""
    if len(audio) >= n:
        return audio[:n]
    if len(audio) < 2:
        return np.zeros((n, audio.shape[1]))
    reps = []
    total, forward = 0, True
    while total < n:  # ping-pong the clip: continuous at every turn
        reps.append(audio if forward else audio[::-1])
        total += len(audio)
        forward = not forward
    return np.concatenate(reps)[:n]


def _add_with_fades(
    out: np.ndarray, bus: np.ndarray, a: int, b: int, left: int | None, right: int | None, sr: int
) -> None:
    """Add ``bus`` (covering [a, b)) to ``out``, crossfading at seams and fading free edges.

    ``left``/``right`` are the seams' half-lengths: the bus is extended that many samples past its
    edge by its mirrored tail and faded with equal power over ``[edge - half, edge + half)``; 0 is
    a hard cut (a crossfade of 0 s was asked for). None means no neighbour: a 5 ms fade inside the
    scene, so silence next to it does not start or end with a click.
    """
    seg, start = bus, a
    if left:
        seg = np.concatenate([bus[1 : left + 1][::-1], seg])
        start = a - left
    if right:
        seg = np.concatenate([seg, bus[len(bus) - right - 1 : len(bus) - 1][::-1]])
    seg = seg.copy()
    edge = min(round(EDGE_FADE_S * sr), len(seg) // 2)
    if left:
        seg[: 2 * left] *= equal_power_fades(2 * left)[1][:, None]
    elif left is None and edge:
        seg[:edge] *= np.sin(np.linspace(0, np.pi / 2, edge))[:, None] ** 2
    if right:
        seg[len(seg) - 2 * right :] *= equal_power_fades(2 * right)[0][:, None]
    elif right is None and edge:
        seg[len(seg) - edge :] *= np.cos(np.linspace(0, np.pi / 2, edge))[:, None] ** 2
    end = min(start + len(seg), len(out))
    out[start:end] += seg[: end - start]


LIMITED_RATIO = 0.99  # a sample counts as limited when the limiter took more than 1% off it
ON_CUT_S = 1e-4  # an event's edge this close to a cut is on it (event times are kept to 0.1 ms)


def _samples(event: RenderedLayer, n: int, sr: int) -> tuple[int, int]:
    """An event's first and end sample on a track of ``n``."""
    a, b = (min(max(0, round(t * sr)), n) for t in (event.spec.start_s, event.spec.end_s))
    return a, b


def mix_events(
    events: list[RenderedLayer],
    cuts_s: list[float],
    duration_s: float,
    settings: MixSettings,
    sample_rate: int,
    channels: int,
    out_wav: str | Path,
    stems: dict[str, Path] | None = None,
    crossfades_s: list[float] | None = None,
) -> MixReport:
    """Place timed events on the timeline and master their sum into ``out_wav``.

    Arguments:
        events: rendered events; each ``spec`` gives its span (video time), layer and ``gain_db``.
        cuts_s: the scene cuts (video time): a background edge on one is crossfaded, not faded.
        duration_s: the video's duration; the mix has exactly ``round(duration_s * sr)`` samples.
        settings: the mix section.
        sample_rate, channels: of the output.
        out_wav: destination (24-bit WAV, written atomically).
        stems: {"foreground": path, "background": path}: where to write the full-length stems
            (32-bit float, before mastering; they sum to the mix before its master gain).
        crossfades_s: per cut, the length of the crossfade of the background edges on it (a
            dissolve's span), centred on it and at most as long as the shorter bed meeting there;
            None: ``settings.scene_crossfade_s`` at every cut.

    Returns:
        The mix report, with the share of samples the limiter turned down.

    Raises:
        RenderError: an event's file is missing or unreadable.
    """
    n = max(0, round(duration_s * sample_rate))
    buses = {kind: np.zeros((n, channels), np.float32) for kind in ("foreground", "background")}
    lengths = crossfades_s if crossfades_s is not None else [settings.scene_crossfade_s] * len(cuts_s)
    if len(lengths) != len(cuts_s):
        raise ValueError(f"{len(lengths)} crossfade lengths for {len(cuts_s)} cuts")
    near = max(1, math.ceil(ON_CUT_S * sample_rate))
    beds = [_samples(ev, n, sample_rate) for ev in events if ev.spec.kind == "background"]
    seams = []  # per cut: its sample and half its crossfade, the same for both beds meeting there
    for cut, length in zip(cuts_s, lengths, strict=True):
        at, half = round(cut * sample_rate), round(length * sample_rate / 2)
        meeting = [b - a for a, b in beds if b > a and (abs(a - at) <= near or abs(b - at) <= near)]
        seams.append((at, min([half] + [m // 2 - 1 for m in meeting])))

    def seam_at(sample: int) -> int | None:
        """Half the crossfade of the cut an event's edge at ``sample`` is on; None on no cut."""
        half = next((h for at, h in seams if abs(sample - at) <= near), None)
        return half if half is not None and half > 0 else None

    for ev in events:
        a, b = _samples(ev, n, sample_rate)
        if b <= a:
            continue
        audio, _ = normalize_loudness(_fit_length(_read_layer(ev, sample_rate, channels), b - a), sample_rate,
                                      settings.layer_lufs)
        gain = db_to_gain(ev.spec.gain_db)
        if ev.spec.kind == "background":
            gain *= db_to_gain(settings.background_gain_db)
        background = ev.spec.kind == "background"
        left = seam_at(a) if background and a > 0 else None
        right = seam_at(b) if background and b < n else None
        _add_with_fades(buses[ev.spec.kind], (audio * gain).astype(np.float32), a, b, left, right, sample_rate)
    for kind, path in (stems or {}).items():
        write_wav(path, buses[kind], sample_rate)
    premaster = buses["foreground"] + buses["background"]
    result = master(premaster, sample_rate, settings.target_lufs, settings.true_peak_dbtp)
    with atomic_path(out_wav) as tmp:
        sf.write(str(tmp), result.audio.astype(np.float32), sample_rate, subtype="PCM_24", format="WAV")
    lufs, tp = result.lufs, result.true_peak_dbtp
    return MixReport(
        wav_path=str(out_wav), sample_rate=sample_rate, channels=channels, samples=n,
        duration_s=n / sample_rate if sample_rate else 0.0, layers=len(events),
        scenes=len(cuts_s) + 1, integrated_lufs=lufs if math.isfinite(lufs) else None,
        true_peak_dbtp=tp if math.isfinite(tp) else None, master_gain_db=result.gain_db,
        limited=result.limited, silent=not math.isfinite(lufs), events=len(events),
        limited_fraction=limited_fraction(premaster, result.audio, result.gain_db) if result.limited else 0.0,
        stems={k: str(v) for k, v in (stems or {}).items()},
    )


def limited_fraction(premaster: np.ndarray, mastered: np.ndarray, gain_db: float) -> float:
    """The share of samples (of those above -60 dBFS after the master gain) the limiter turned
    down by more than 1%: how often the limiter engaged, not whether it did."""
    expected = np.abs(premaster) * np.float32(db_to_gain(gain_db))
    audible = expected > 1e-3
    if not audible.any():
        return 0.0
    limited = np.abs(mastered) < expected * LIMITED_RATIO
    return float(np.count_nonzero(limited & audible) / np.count_nonzero(audible))
