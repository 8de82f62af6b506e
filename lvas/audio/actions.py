"""The editing actions of the reflection loop (AVAgent): typed, validated, applied to a waveform.

An :class:`Action` is data (a name and numeric parameters), never code: a planner's answer is
parsed into actions by :func:`parse_actions`, which refuses an unknown action, an unknown
parameter or a value out of its range with the reason. :func:`apply_action` applies one to audio
``(samples,)`` or ``(samples, channels)`` and returns audio of the same shape.

=====================  =========================================================  ===============
action                 what it does (library)                                      parameters
=====================  =========================================================  ===============
spectral_subtraction   subtract ``strength`` x each bin's mean magnitude in the       strength, floor
                       quietest fifth of the frames, keep at least ``floor`` of it
                       (scipy.signal STFT)
wiener                 local Wiener filter of window ``size`` (scipy.signal.wiener)  size
wavelet_denoise        soft-threshold the detail coefficients at ``scale`` x the      level, scale
                       universal threshold (PyWavelets, db8)
spectral_gate          stationary spectral gating with the quietest fifth of the     prop_decrease
                       audio as the noise sample, the mask smoothed over 100 Hz
                       (noisereduce)
speed                  time-stretch by ``rate`` keeping pitch, fitted back to the     rate
                       original length (librosa)
pitch_shift            shift by ``semitones`` keeping duration (librosa)             semitones
volume                 gain in dB                                                    gain_db
fill_blanks            silent stretches longer than ``min_gap_s`` filled with the     min_gap_s
                       audio just before them, crossfaded
rerender               render the event again with its seed moved by ``offset``      offset
                       (applied by the caller: it needs the synthesizer)
next_label             render the event with the label ``step`` places further down  step
                       its design's retrieval candidates (applied by the caller)
=====================  =========================================================  ===============
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pywt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from scipy import signal

# name -> parameter -> (lowest, highest, default)
ACTIONS: dict[str, dict[str, tuple[float, float, float]]] = {
    "spectral_subtraction": {"strength": (0.5, 4.0, 2.0), "floor": (0.01, 0.5, 0.05)},
    "wiener": {"size": (3, 129, 15)},
    "wavelet_denoise": {"level": (1, 8, 5), "scale": (0.25, 3.0, 1.0)},
    "spectral_gate": {"prop_decrease": (0.1, 1.0, 0.9)},
    "speed": {"rate": (0.5, 2.0, 1.1)},
    "pitch_shift": {"semitones": (-12.0, 12.0, 2.0)},
    "volume": {"gain_db": (-24.0, 24.0, -6.0)},
    "fill_blanks": {"min_gap_s": (0.05, 5.0, 0.3)},
    "rerender": {"offset": (1, 1000, 1)},
    "next_label": {"step": (1, 5, 1)},
}
"""Each action's parameters with their (lowest, highest, default) values."""

INTEGER_PARAMS = frozenset({("wiener", "size"), ("wavelet_denoise", "level"), ("rerender", "offset"),
                            ("next_label", "step")})
RENDERING = frozenset({"rerender", "next_label"})
"""Actions that render the events again (the caller's synthesizer) instead of editing a waveform."""
MAX_ACTIONS = 2
"""A planner picks one or two actions per cycle."""


class Action(BaseModel):
    """One editing action with its parameters (missing ones take their defaults).

    Raises (on construction):
        ValueError: unknown action or parameter, a value that is not a finite number or is out of range.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="one of " + ", ".join(ACTIONS))
    params: dict[str, float] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in ACTIONS:
            raise ValueError(f"unknown action {name!r}; known: {', '.join(ACTIONS)}")
        return name

    @model_validator(mode="after")
    def _in_range(self) -> Action:
        spec = ACTIONS[self.name]
        for key, value in self.params.items():
            if key not in spec:
                raise ValueError(f"{self.name}: unknown parameter {key!r}; known: {', '.join(spec)}")
            lo, hi, _ = spec[key]
            if not math.isfinite(value) or not lo <= value <= hi:
                raise ValueError(f"{self.name}: {key}={value} is outside [{lo}, {hi}]")
        full = {k: float(self.params.get(k, default)) for k, (_, _, default) in spec.items()}
        object.__setattr__(self, "params", full)
        return self

    def value(self, key: str) -> float:
        """A parameter's value (ints for the integer parameters are rounded by the caller)."""
        return self.params[key]

    def label(self) -> str:
        """``name(key=value, ...)`` for tables and logs."""
        return f"{self.name}(" + ", ".join(f"{k}={v:g}" for k, v in self.params.items()) + ")"


class ActionPlan(BaseModel):
    """A planner's answer: one or two actions and why (the schema an LLM planner must fill)."""

    model_config = ConfigDict(extra="forbid")

    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    reason: str = ""


def parse_actions(data: Any) -> list[Action]:
    """Validate a planner's answer into actions.

    Arguments:
        data: ``{"actions": [{"name": ..., "params": {...}}], "reason": ...}`` or the list alone.

    Returns:
        One or two validated actions.

    Raises:
        ValueError: the answer is not of that shape, or an action is refused (the reason is in the message).
    """
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        data = {"actions": list(data)}
    if not isinstance(data, Mapping):
        raise ValueError(f"a plan must be an object with 'actions', not {type(data).__name__}")
    return list(ActionPlan.model_validate(data).actions)


def apply_action(audio: np.ndarray, sample_rate: int, action: Action) -> np.ndarray:
    """Apply one signal action (not one of :data:`RENDERING`) to ``audio``.

    Arguments:
        audio: ``(samples,)`` or ``(samples, channels)``, float.
        sample_rate: of ``audio``.
        action: a validated action.

    Returns:
        Float32 audio of the same shape.

    Raises:
        ValueError: ``rerender`` or ``next_label`` (the caller renders), or empty audio.
    """
    x = np.asarray(audio, dtype=np.float32)
    if x.size == 0:
        raise ValueError("cannot edit empty audio")
    if action.name in RENDERING:
        raise ValueError(f"{action.name} is applied by rendering the event again, not to a waveform")
    two_d = x.reshape(len(x), -1)
    channels = [_apply_mono(two_d[:, c].copy(), sample_rate, action) for c in range(two_d.shape[1])]
    out = np.stack(channels, axis=1).astype(np.float32)
    return out.reshape(x.shape)


def _apply_mono(x: np.ndarray, sr: int, a: Action) -> np.ndarray:
    p = a.params
    n = len(x)
    if a.name == "volume":
        return x * np.float32(10.0 ** (p["gain_db"] / 20.0))
    if a.name == "wiener":
        size = round(p["size"]) | 1
        return signal.wiener(x.astype(np.float64), mysize=size).astype(np.float32) if n > size else x
    if a.name == "spectral_subtraction":
        return _spectral_subtraction(x, sr, p["strength"], p["floor"])
    if a.name == "wavelet_denoise":
        return _wavelet_denoise(x, round(p["level"]), p["scale"])
    if a.name == "spectral_gate":
        import noisereduce  # imports torch: loaded when a cycle gates, not by every key check

        y = noisereduce.reduce_noise(y=x, sr=sr, y_noise=quietest_part(x, sr), stationary=True,
                                     prop_decrease=p["prop_decrease"], freq_mask_smooth_hz=100)
        return _fit(np.asarray(y, dtype=np.float32), n)
    if a.name in ("speed", "pitch_shift"):
        import librosa  # seconds to import: loaded when a cycle needs it, not by every key check

    if a.name == "speed":
        return _fit(librosa.effects.time_stretch(x, rate=p["rate"]), n)
    if a.name == "pitch_shift":
        return _fit(librosa.effects.pitch_shift(x, sr=sr, n_steps=p["semitones"]), n)
    if a.name == "fill_blanks":
        return fill_blanks(x, sr, p["min_gap_s"])
    raise ValueError(f"no signal implementation for {a.name!r}")


def _spectral_subtraction(x: np.ndarray, sr: int, strength: float, floor: float) -> np.ndarray:
    nper = 1024 if len(x) >= 1024 else max(16, 1 << (len(x).bit_length() - 1))
    _, _, z = signal.stft(x, fs=sr, nperseg=nper)
    mag = np.abs(z)
    energy = (mag**2).sum(axis=0)
    quiet = energy <= np.percentile(energy, 20)  # the quietest fifth of the frames is the noise
    noise = mag[:, quiet].mean(axis=1, keepdims=True)
    cleaned = np.maximum(mag - strength * noise, floor * mag)
    _, y = signal.istft(cleaned * np.exp(1j * np.angle(z)), fs=sr, nperseg=nper)
    return _fit(y.astype(np.float32), len(x))


def quietest_part(x: np.ndarray, sr: int, share: float = 0.2) -> np.ndarray:
    """The quietest ``share`` of ``x``'s 20 ms blocks, joined: the noise sample of the denoisers.

    Arguments:
        x: mono audio.
        sr: its sample rate.
        share: the fraction of blocks kept.

    Returns:
        Those blocks in their order (all of ``x`` when it is shorter than 5 blocks).
    """
    block = max(1, round(0.02 * sr))
    n = len(x) // block
    if n < 5:
        return x
    blocks = x[: n * block].reshape(n, block)
    energy = (blocks.astype(np.float64) ** 2).mean(axis=1)
    keep = np.sort(np.argsort(energy, kind="stable")[: max(1, round(share * n))])
    return blocks[keep].ravel()


def _wavelet_denoise(x: np.ndarray, level: int, scale: float) -> np.ndarray:
    wavelet = pywt.Wavelet("db8")
    level = max(1, min(level, pywt.dwt_max_level(len(x), wavelet.dec_len)))
    coeffs = pywt.wavedec(x, wavelet, level=level)
    sigma = float(np.median(np.abs(coeffs[-1]))) / 0.6745  # noise level from the finest details
    threshold = scale * sigma * math.sqrt(2.0 * math.log(max(2, len(x))))
    coeffs[1:] = [pywt.threshold(c, threshold, mode="soft") for c in coeffs[1:]]
    return _fit(pywt.waverec(coeffs, wavelet).astype(np.float32), len(x))


def fill_blanks(x: np.ndarray, sr: int, min_gap_s: float, silence_dbfs: float = -50.0,
                fade_s: float = 0.02) -> np.ndarray:
    """Fill each silent stretch of at least ``min_gap_s`` with the audio just before it (looped), crossfaded.

    Arguments:
        x: mono audio.
        sr: its sample rate.
        min_gap_s: the shortest silence filled.
        silence_dbfs: a 20 ms block below this level is silent.
        fade_s: the fade in and out of each fill.

    Returns:
        The audio with its gaps filled; a gap at the very start (nothing before it) stays.
    """
    block = max(1, round(0.02 * sr))
    nblocks = len(x) // block
    if nblocks == 0:
        return x
    rms = np.sqrt(np.mean(x[: nblocks * block].reshape(nblocks, block).astype(np.float64) ** 2, axis=1))
    silent = 20.0 * np.log10(np.maximum(rms, 1e-12)) < silence_dbfs
    y = x.copy()
    fade = max(1, round(fade_s * sr))
    i = 0
    while i < nblocks:
        if not silent[i]:
            i += 1
            continue
        j = i
        while j < nblocks and silent[j]:
            j += 1
        start, end = i * block, (j * block if j < nblocks else len(x))
        if (end - start) / sr >= min_gap_s and start > 0:
            source = x[max(0, start - max(end - start, block * 10)): start]
            audible = source[np.abs(source) > 0]
            if len(audible):
                reps = math.ceil((end - start) / len(source))
                patch = np.tile(source, reps)[: end - start].copy()
                ramp = np.minimum(1.0, np.minimum(np.arange(len(patch)) + 1, len(patch) - np.arange(len(patch)))
                                  / fade).astype(np.float32)
                y[start:end] = x[start:end] + patch * ramp
        i = j
    return y


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
