"""Measures of a soundtrack on the CPU: onsets, their synchrony with the picture, coverage, level.

Synchrony with the picture, coverage, level sanity and the leak indicator are the shared
scorer's (``lvas.audio.scores``, the one the reflection loop uses), so both agree. Onsets are
peaks of its onset envelope (spectral flux on a 100 Hz grid).

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

from lvas.audio import scores
from lvas.audio.loudness import integrated_loudness, true_peak_dbtp

RATE_HZ = scores.ENVELOPE_HZ  # the onset grid: 10 ms
ONSET_TOLERANCE_S = 0.1
MIN_ONSET_GAP_S = 0.05
SILENCE_DBFS = -50.0  # a 100 ms window quieter than this counts as silence for coverage


def mono(audio: np.ndarray) -> np.ndarray:
    """``audio`` ``(samples,)`` or ``(samples, channels)`` as float64 mono."""
    x = np.asarray(audio, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x


def onset_envelope(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """The shared scorer's onset envelope (``lvas.audio.scores``, spectral flux on the
    ``RATE_HZ`` grid) of ``audio``, mono or ``(samples, channels)``."""
    return scores.onset_envelope(mono(audio), sample_rate)


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


def video_scores(t_s: np.ndarray, motion: np.ndarray, audio: np.ndarray, sample_rate: int) -> scores.Scores:
    """The shared scorer (``lvas.audio.scores.score_scene``, the reflection loop's) on a whole video:
    ``sync`` with ``details['lag_s']`` (the best lag, positive: the sound is late) and
    ``details['lag_strength']``, ``coverage``, ``level`` and ``leak``.

    Arguments:
        t_s: analysed frame times (``frames.parquet``), from 0.
        motion: their motion.
        audio, sample_rate: the soundtrack.

    Raises:
        ScoringError: no frames or no audio.
    """
    t = np.asarray(t_s, dtype=np.float64)
    fps = 1.0 / float(np.median(np.diff(t))) if len(t) > 1 and np.median(np.diff(t)) > 0 else 1.0
    return scores.score_scene(np.asarray(motion, dtype=np.float64), fps, audio, sample_rate)


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


def sound_share(audio: np.ndarray, sample_rate: int, silence_dbfs: float = SILENCE_DBFS) -> float:
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
