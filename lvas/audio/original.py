"""The input's own audio track under the new sound (``--original-audio clean``).

``drop`` replaces the track, ``keep`` keeps it as a second stream of the dubbed MP4 (untouched),
``clean`` decodes it, denoises it (the reflection loop's spectral gating, then Wiener filtering),
and mixes it with the new sound, the new sound ducked by ``mix.duck_db`` wherever the cleaned
track is active (its 50 ms level above its own median by 6 dB, and audible), with 50 ms attack and
300 ms release, so the original's dialogue stays intelligible. The result is mastered to the mix's
loudness and true-peak targets like the mix itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
from scipy.signal import resample_poly

from lvas.audio.actions import Action, apply_action
from lvas.audio.loudness import master
from lvas.errors import RenderError

CLEANING = (Action(name="spectral_gate"), Action(name="wiener", params={"size": 5}))


def decode_track(video_path: str | Path, sample_rate: int, channels: int) -> np.ndarray | None:
    """The video's first audio track as ``(samples, channels)`` float32 at ``sample_rate``; None without one.

    Raises:
        RenderError: the file cannot be read.
    """
    try:
        with av.open(str(video_path)) as src:
            if not src.streams.audio:
                return None
            stream = src.streams.audio[0]
            resampler = av.AudioResampler(format="fltp", layout="stereo" if channels == 2 else "mono",
                                          rate=sample_rate)
            parts = []
            for frame in src.decode(stream):
                parts += [f.to_ndarray() for f in resampler.resample(frame)]
            parts += [f.to_ndarray() for f in resampler.resample(None)]
    except av.error.FFmpegError as exc:
        raise RenderError(f"cannot read the audio track of {video_path}: {exc}") from exc
    if not parts:
        return None
    return np.concatenate(parts, axis=1).T.astype(np.float32)


def clean_track(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Denoise a track with :data:`CLEANING` (spectral gating, then a short Wiener filter)."""
    for action in CLEANING:
        audio = apply_action(audio, sample_rate, action)
    return audio


def duck_under(new: np.ndarray, original: np.ndarray, sample_rate: int, duck_db: float,
               target_lufs: float, true_peak_dbtp: float) -> np.ndarray:
    """Mix ``original`` with ``new``, ``new`` turned down by ``duck_db`` where ``original`` is active.

    Arguments:
        new: the new sound, ``(samples, channels)``.
        original: the cleaned original track (fitted to ``new``'s length here).
        sample_rate: of both.
        duck_db: how far the new sound goes down (negative dB).
        target_lufs, true_peak_dbtp: the master targets.

    Returns:
        The mastered sum, ``new``'s shape.
    """
    n = len(new)
    orig = original[:n] if len(original) >= n else np.pad(original, ((0, n - len(original)), (0, 0)))
    block = max(1, round(0.05 * sample_rate))
    nb = math.ceil(n / block)
    padded = np.pad(orig.mean(axis=1), (0, nb * block - n))
    level = 10 * np.log10(np.maximum((padded.reshape(nb, block).astype(np.float64) ** 2).mean(axis=1), 1e-12))
    active = (level > np.median(level) + 6.0) & (level > -50.0)
    gain_db = np.where(active, duck_db, 0.0)
    release = math.exp(-1.0 / 6.0)  # 300 ms in 50 ms blocks
    smooth = np.empty_like(gain_db)
    g = 0.0
    for i, target in enumerate(gain_db):  # attack within a block, release over ~300 ms
        g = target if target < g else release * g + (1 - release) * target
        smooth[i] = g
    per_sample = np.repeat(10 ** (smooth / 20.0), block)[:n].astype(np.float32)
    mixed = new * per_sample[:, None] + orig
    return master(mixed, sample_rate, target_lufs, true_peak_dbtp).audio.astype(np.float32)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``audio`` ``(samples, channels)`` from ``rate`` to ``target``."""
    if rate == target:
        return audio
    g = math.gcd(rate, target)
    return resample_poly(audio, target // g, rate // g, axis=0).astype(np.float32)
