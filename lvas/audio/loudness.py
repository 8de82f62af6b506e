"""Loudness (ITU-R BS.1770 with pyloudnorm's K-weighting), true peak, normalisation and a look-ahead limiter.

Audio arrays are float ``(samples,)`` or ``(samples, channels)``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pyloudnorm
from scipy import ndimage, signal

BLOCK_S = 0.4  # pyloudnorm's gating block; it raises on anything shorter
SILENCE_LUFS = -70.0  # the BS.1770 absolute gate: quieter than this counts as silence


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS; ``-inf`` for silence.

    Clips shorter than the 0.4 s gating block are measured on their periodic extension (the clip
    repeated to 1 s): the same K-weighted mean square, which is what gated loudness reduces to
    for a single block.
    """
    x = _as2d(audio)
    if len(x) == 0 or not np.any(x):
        return -math.inf
    if len(x) < round(BLOCK_S * sample_rate) + 1:
        reps = math.ceil(sample_rate / len(x))
        x = np.tile(x, (reps, 1))
    value = _gated_loudness(x.astype(np.float64), sample_rate)
    return value if value > SILENCE_LUFS else -math.inf


# BS.1770's channel weights (L, R, C, Ls, Rs) and its gates, as pyloudnorm has them
_CHANNEL_GAINS = np.array([1.0, 1.0, 1.0, 1.41, 1.41])
_ABSOLUTE_GATE = -70.0
_OVERLAP = 0.75


@functools.lru_cache(maxsize=8)
def _k_weighting(sample_rate: int) -> tuple[np.ndarray, float]:
    """BS.1770's K-weighting at ``sample_rate`` as second-order sections and their overall gain,
    designed once with pyloudnorm's public ``IIRfilter`` and the stage parameters its ``Meter``
    uses for "K-weighting" (a high shelf, then a high pass). tests/test_mix.py compares the
    loudness with pyloudnorm's own meter."""
    stages = (pyloudnorm.IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, sample_rate, "high_shelf"),
              pyloudnorm.IIRfilter(0.0, 0.5, 38.0, sample_rate, "high_pass"))
    sos = np.array([np.concatenate([f.b, f.a]) for f in stages])
    return sos, math.prod(f.passband_gain for f in stages)


def _gated_loudness(x: np.ndarray, sample_rate: int) -> float:
    """``pyloudnorm.Meter(sample_rate, block_size=BLOCK_S).integrated_loudness(x)``: the same
    filters, blocks and gates (block bounds truncated as pyloudnorm truncates them), vectorised.
    pyloudnorm filters each channel with each stage in turn and loops over blocks and channels in
    Python; here the channels go through both stages in one call (the cascade form agrees with
    pyloudnorm's filters to rounding), and the gating is array arithmetic. ``x`` is float64
    ``(samples, channels)``, at least one block long. tests/test_mix.py checks it against pyloudnorm.
    """
    sos, gain = _k_weighting(sample_rate)
    y = gain * signal.sosfilt(sos, np.ascontiguousarray(x.T), axis=-1)  # (channels, samples)
    n = y.shape[1]
    step = 1.0 - _OVERLAP
    blocks = int(np.round((n / sample_rate - BLOCK_S) / (BLOCK_S * step))) + 1
    j = np.arange(blocks)
    lo = (BLOCK_S * (j * step) * sample_rate).astype(np.int64)
    hi = np.minimum((BLOCK_S * (j * step + 1) * sample_rate).astype(np.int64), n)
    # Block sums from sums over the pieces between consecutive bounds: a running sum over pieces,
    # not samples, so a quiet block after loud ones keeps its precision.
    bounds = np.union1d(lo, hi)
    pieces = np.add.reduceat(np.square(y[:, : bounds[-1]]), bounds[:-1], axis=1)
    running = np.concatenate([np.zeros((len(y), 1)), np.cumsum(pieces, axis=1)], axis=1)
    z = (1.0 / (BLOCK_S * sample_rate)) * (running[:, np.searchsorted(bounds, hi)]
                                            - running[:, np.searchsorted(bounds, lo)])
    weights = _CHANNEL_GAINS[: len(y)]
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(weights @ z)
        above = block_lufs >= _ABSOLUTE_GATE
        if not above.any():
            return -math.inf
        relative = -0.691 + 10.0 * np.log10(weights @ z[:, above].mean(axis=1)) - 10.0
        gated = (block_lufs > relative) & (block_lufs > _ABSOLUTE_GATE)
        if not gated.any():
            return -math.inf
        return float(-0.691 + 10.0 * np.log10(weights @ z[:, gated].mean(axis=1)))


# 4x interpolation filter (49 taps, 12 per phase, as in BS.1770-4's example), DC gain 4 so each
# polyphase branch has unit gain.
_TP_TAPS = signal.firwin(49, 0.25, window=("kaiser", 7.0)) * 4
_TP_DELAY = 6  # (49 - 1) / 2 upsampled samples = 6 input samples


_TP_GAIN = max(float(np.abs(_TP_TAPS[p::4]).sum()) for p in range(4))  # worst-case overshoot (~1.8)
_TP_BLOCK = 4096


def sample_true_peaks(audio: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Per input sample, the largest magnitude of it and its 3 interpolated successors, over channels.

    Only the three new phases are filtered (12-tap direct convolutions). Blocks whose samples are
    so low that even the filter's worst-case overshoot stays under ``floor`` are skipped (their
    entry is just the sample peak): callers only care about peaks above a level they know.
    """
    x = _as2d(audio)
    n = len(x)
    if n == 0:
        return np.zeros(0)
    peak = np.abs(x[:, 0]).astype(np.float64)
    for ch in range(1, x.shape[1]):  # 7x faster than .max(axis=1), which reduces 2 values per row
        np.maximum(peak, np.abs(x[:, ch]), out=peak)
    blocks = math.ceil(n / _TP_BLOCK)
    block_max = np.pad(peak, (0, blocks * _TP_BLOCK - n)).reshape(blocks, _TP_BLOCK).max(axis=1)
    reach = np.maximum(block_max, np.maximum(np.roll(block_max, 1), np.roll(block_max, -1)))
    reach[0] = max(block_max[0], block_max[1] if blocks > 1 else 0)
    reach[-1] = max(block_max[-1], block_max[-2] if blocks > 1 else 0)
    margin = _TP_DELAY + 1
    for k in np.flatnonzero(reach * _TP_GAIN > floor):
        a, b = k * _TP_BLOCK, min(n, (k + 1) * _TP_BLOCK)
        lo, hi = max(0, a - margin), min(n, b + margin)
        seg = x[lo:hi].astype(np.float32)
        for phase in (1, 2, 3):
            branch = _TP_TAPS[phase::4].astype(np.float32)
            for ch in range(seg.shape[1]):
                y = np.convolve(seg[:, ch], branch)[_TP_DELAY : _TP_DELAY + len(seg)]
                np.maximum(peak[a:b], np.abs(y[a - lo : b - lo]), out=peak[a:b])
    return peak


def true_peak_dbtp(audio: np.ndarray) -> float:
    """True-peak estimate in dBTP: the peak of a 4x oversampled copy (BS.1770-4)."""
    x = _as2d(audio)
    if len(x) == 0:
        return -math.inf
    peak = float(sample_true_peaks(x, floor=float(np.abs(x).max())).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def db_to_gain(db: float) -> float:
    return 10 ** (db / 20)


def normalize_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> tuple[np.ndarray, float]:
    """Scale ``audio`` to ``target_lufs``; silence is returned unchanged.

    Returns:
        ``(scaled audio, gain in dB applied)``.
    """
    lufs = integrated_loudness(audio, sample_rate)
    if not math.isfinite(lufs):
        return audio, 0.0
    gain_db = target_lufs - lufs
    return audio * db_to_gain(gain_db), gain_db


def limit(
    audio: np.ndarray,
    sample_rate: int,
    ceiling_dbtp: float,
    lookahead_s: float = 0.005,
    release_s: float = 0.08,
) -> np.ndarray:
    """A look-ahead brick-wall limiter on the true (4x oversampled) peak.

    The gain each sample needs is the ceiling over the oversampled peak around it; taking the
    minimum over a look-ahead window and smoothing it with a window no longer than that minimum
    filter guarantees the gain at every peak is at most what the peak needs, and the gain moves
    smoothly (no clicks). A longer minimum window gives a gentle release.
    """
    x = _as2d(audio)
    if len(x) < 2:
        return audio
    ceiling = db_to_gain(ceiling_dbtp)
    return _limit(
        x, sample_true_peaks(x, floor=ceiling), ceiling, sample_rate, lookahead_s, release_s
    ).reshape(audio.shape)


def _limit(
    x: np.ndarray,
    peak: np.ndarray,
    ceiling: float,
    sr: int,
    lookahead_s: float = 0.005,
    release_s: float = 0.08,
) -> np.ndarray:
    need = np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))
    if need.min() >= 1.0:
        return x
    look = max(1, round(lookahead_s * sr))
    hold = ndimage.minimum_filter1d(need, size=2 * look + 1 + round(release_s * sr), mode="nearest")
    gain = ndimage.uniform_filter1d(hold, size=look, mode="nearest")
    gain = np.minimum(gain, ndimage.minimum_filter1d(need, size=2 * look + 1, mode="nearest"))
    return x * gain.astype(x.dtype)[:, None]


@dataclass(frozen=True)
class Mastered:
    """A mastered signal and what was measured on it (levels are -inf for silence)."""

    audio: np.ndarray
    lufs: float
    true_peak_dbtp: float
    gain_db: float
    limited: bool


def master(
    audio: np.ndarray, sample_rate: int, target_lufs: float, ceiling_dbtp: float, rounds: int = 4
) -> Mastered:
    """Bring ``audio`` to ``target_lufs`` with true peak at most ``ceiling_dbtp``.

    Gain to the target, then limit; limiting lowers loudness a little, so repeat (at most
    ``rounds`` times) until both hold; a final static trim guarantees the ceiling. Levels scale
    exactly with gain, so only limiting calls for a new measurement.

    Returns:
        The mastered audio with its integrated loudness, true peak, total gain before limiting and
        whether the limiter acted.
    """
    x = _as2d(audio).astype(np.float32)  # float32 halves the memory of long mixes; ample precision
    total_db, limited = 0.0, False
    ceiling = db_to_gain(ceiling_dbtp - 0.1)  # a little margin for the 4x estimate
    lufs = integrated_loudness(x, sample_rate)
    if not math.isfinite(lufs):
        return Mastered(x.reshape(audio.shape), -math.inf, true_peak_dbtp(x), 0.0, False)
    for _ in range(rounds):
        gain_db = target_lufs - lufs
        if abs(gain_db) > 0.05:
            x *= np.float32(db_to_gain(gain_db))
            total_db += gain_db
            lufs = target_lufs
        # Exact only where a peak could pass the ceiling: enough to decide, and cheap.
        peaks = sample_true_peaks(x, floor=ceiling)
        if peaks.max() <= db_to_gain(ceiling_dbtp):
            break
        x = _limit(x, peaks, ceiling, sample_rate)
        limited = True
        lufs = integrated_loudness(x, sample_rate)
    tp = true_peak_dbtp(x)
    if tp > ceiling_dbtp:  # never exceed the ceiling, even at the cost of loudness
        trim = ceiling_dbtp - tp - 0.05
        x *= np.float32(db_to_gain(trim))
        lufs, tp = lufs + trim, tp + trim
    return Mastered(x.reshape(audio.shape), lufs, tp, total_db, limited)


def _as2d(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio)
    return a[:, None] if a.ndim == 1 else a
