"""Measures of a soundtrack on the CPU: onsets, their synchrony with the picture, coverage, level.

Onsets are peaks of the spectral flux (positive change of the log-magnitude spectrum) on a
100 Hz grid. The picture's onset envelope is the positive change of the storyboard's per-frame
motion (``frames.parquet``) on the same grid. Synchrony is their normalised cross-correlation:
at lag 0, and its best lag within ``MAX_LAG_S`` (positive: the sound comes late).

Onset accuracy and average precision against a reference follow CondFoley (Du et al. 2023), as
Audio-Agent reports them: accuracy is 1 when both tracks have the same number of onsets, AP
ranks the output's onsets by strength and counts one within ``ONSET_TOLERANCE_S`` of a reference
onset not matched yet as a hit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from lvas.audio.loudness import integrated_loudness, true_peak_dbtp

RATE_HZ = 100  # the onset grid: 10 ms
MAX_LAG_S = 1.0
ONSET_TOLERANCE_S = 0.1
MIN_ONSET_GAP_S = 0.05
SILENCE_DBFS = -50.0  # a 100 ms window quieter than this counts as silence for coverage


def mono(audio: np.ndarray) -> np.ndarray:
    """``audio`` ``(samples,)`` or ``(samples, channels)`` as float64 mono."""
    x = np.asarray(audio, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x


def onset_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral flux of ``audio`` on the ``RATE_HZ`` grid (one value per 10 ms, >= 0).

    Arguments:
        audio: samples, mono or ``(samples, channels)``.
        sample_rate: its rate in Hz.

    Returns:
        The envelope; frame i covers ``[i / RATE_HZ, (i + 1) / RATE_HZ)``.
    """
    x = mono(audio)
    hop = max(1, round(sample_rate / RATE_HZ))
    n_frames = math.ceil(len(x) / hop)
    if n_frames < 2:
        return np.zeros(max(n_frames, 0))
    win = 2 * hop
    padded = np.concatenate([np.zeros(win), x, np.zeros(win)])
    frames = np.lib.stride_tricks.sliding_window_view(padded, win)[::hop][: n_frames + 1]
    mag = np.abs(np.fft.rfft(frames * np.hanning(win), axis=1))
    logmag = np.log1p(1000.0 * mag)
    flux = np.maximum(np.diff(logmag, axis=0), 0.0).sum(axis=1)
    return flux[:n_frames]


def motion_envelope(t_s: np.ndarray, motion: np.ndarray, duration_s: float) -> np.ndarray:
    """The picture's onset envelope on the ``RATE_HZ`` grid: the positive change of per-frame
    motion, each placed at its frame's time (frames between grid points keep the largest).

    Arguments:
        t_s: frame times in seconds (``frames.parquet`` ``t_s``).
        motion: per-frame motion (``frames.parquet`` ``motion``).
        duration_s: the video's duration.

    Returns:
        The envelope, ``ceil(duration_s * RATE_HZ)`` values.
    """
    n = max(0, math.ceil(duration_s * RATE_HZ))
    env = np.zeros(n)
    if len(t_s) < 2 or n == 0:
        return env
    rise = np.maximum(np.diff(np.asarray(motion, dtype=np.float64)), 0.0)
    idx = np.clip(np.round(np.asarray(t_s[1:], dtype=np.float64) * RATE_HZ).astype(int), 0, n - 1)
    np.maximum.at(env, idx, rise)
    return env


def pick_onsets(env: np.ndarray, rel_threshold: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Peaks of an onset envelope: at least ``rel_threshold`` of its maximum and ``MIN_ONSET_GAP_S`` apart.

    Returns:
        (onset times in seconds, their strengths).
    """
    if len(env) == 0 or float(env.max()) <= 0.0:
        return np.zeros(0), np.zeros(0)
    peaks, props = signal.find_peaks(env, height=rel_threshold * float(env.max()),
                                     distance=max(1, round(MIN_ONSET_GAP_S * RATE_HZ)))
    return peaks / RATE_HZ, props["peak_heights"]


@dataclass(frozen=True)
class Synchrony:
    """Normalised cross-correlation of the sound's and the picture's onset envelopes."""

    corr_at_zero: float  # -1..1; NaN when either envelope is flat
    best_lag_s: float  # where the correlation peaks within +-MAX_LAG_S; positive: the sound is late
    best_corr: float


def synchrony(audio_env: np.ndarray, picture_env: np.ndarray, max_lag_s: float = MAX_LAG_S) -> Synchrony:
    """How well the sound's onsets follow the picture's (both on the ``RATE_HZ`` grid).

    Arguments:
        audio_env: :func:`onset_envelope` of the soundtrack.
        picture_env: :func:`motion_envelope` of the video.
        max_lag_s: the lags searched, both ways.

    Returns:
        The correlation at lag 0, the best lag and the correlation there (NaN when an envelope is flat).
    """
    n = min(len(audio_env), len(picture_env))
    a = audio_env[:n] - audio_env[:n].mean() if n else audio_env[:0]
    p = picture_env[:n] - picture_env[:n].mean() if n else picture_env[:0]
    norm = float(np.sqrt((a * a).sum() * (p * p).sum()))
    if n < 2 or norm == 0.0:
        return Synchrony(math.nan, math.nan, math.nan)
    max_lag = min(n - 1, round(max_lag_s * RATE_HZ))
    full = signal.correlate(a, p, mode="full", method="fft") / norm  # index n-1 is lag 0
    window = full[n - 1 - max_lag: n + max_lag]
    best = int(np.argmax(window))
    return Synchrony(float(full[n - 1]), (best - max_lag) / RATE_HZ, float(window[best]))


@dataclass(frozen=True)
class OnsetMatch:
    """Onsets of an output against a reference (CondFoley's onset accuracy and AP)."""

    acc: float  # 1.0 when both have the same number of onsets, else 0.0
    ap: float  # average precision within ONSET_TOLERANCE_S; NaN without reference onsets
    n_output: int
    n_reference: int


def onset_match(out_times: np.ndarray, out_strength: np.ndarray, ref_times: np.ndarray,
                tolerance_s: float = ONSET_TOLERANCE_S) -> OnsetMatch:
    """Onset accuracy and average precision of ``out`` onsets against ``ref`` onsets.

    Arguments:
        out_times, out_strength: the output's onsets and their strengths (the AP's ranking).
        ref_times: the reference's onsets.
        tolerance_s: an output onset this close to an unmatched reference onset is a hit.

    Returns:
        The match; AP is 1.0 when every onset is a hit ranked above every miss.
    """
    n_out, n_ref = len(out_times), len(ref_times)
    acc = 1.0 if n_out == n_ref else 0.0
    if n_ref == 0:
        return OnsetMatch(acc, math.nan, n_out, n_ref)
    order = np.argsort(-np.asarray(out_strength), kind="stable")
    free = np.ones(n_ref, bool)
    hits = np.zeros(n_out, bool)
    for rank, i in enumerate(order):
        dist = np.abs(ref_times - out_times[i])
        dist[~free] = np.inf
        j = int(np.argmin(dist))
        if dist[j] <= tolerance_s:
            free[j] = False
            hits[rank] = True
    if not hits.any():
        return OnsetMatch(acc, 0.0, n_out, n_ref)
    precision = np.cumsum(hits) / np.arange(1, n_out + 1)
    return OnsetMatch(acc, float((precision * hits).sum() / n_ref), n_out, n_ref)


def coverage(audio: np.ndarray, sample_rate: int, silence_dbfs: float = SILENCE_DBFS) -> float:
    """Share of 100 ms windows of ``audio`` louder than ``silence_dbfs`` (RMS): how much of the
    video has sound. 0.0 for empty audio."""
    x = mono(audio)
    win = max(1, sample_rate // 10)
    n = len(x) // win
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(x[: n * win].reshape(n, win) ** 2, axis=1))
    return float(np.mean(rms > 10 ** (silence_dbfs / 20)))


def level(audio: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of ``audio`` (``-inf`` for silence)."""
    return integrated_loudness(audio, sample_rate), true_peak_dbtp(audio)
