"""Scores of a rendered scene's audio against its picture (AVAgent's check), and the scorer registry.

Public API (stable; other modules and branches build on it):

* :func:`score_scene` ``(motion, fps, audio, sample_rate) -> Scores`` — the embedded CPU scorer.
* :class:`Scores` — ``values`` (name -> score in [0, 1]), ``details`` (name -> measured figure),
  ``overall`` (one number in [0, 1], higher is better), ``scorer`` (who measured).
* :class:`SceneClip` — what any scorer receives: the scene's per-frame motion and fps, its audio,
  and optionally the video file and the scene's span (for scorers that look at pixels).
* :class:`Scorer` — the protocol: ``name`` and ``score(clip) -> Scores``.
* :func:`make_scorer` ``(name, **options) -> Scorer`` and :data:`SCORERS` — scorers by name:
  ``embedded`` (this module), ``imagebind`` and ``synchformer`` (real models, local weights only).
* :class:`ScorerUnavailable` — a real scorer whose code or weights are missing; nothing downloads.

The embedded scores are **measurable proxies, not the paper's metrics** (ImageBind score, DeSync).
They read the storyboard's frame-difference motion (``frames.parquet``'s ``motion``: mean absolute
luma change between analysed frames, 0..1), not the pixels, and the rendered waveform:

``sync``
    Onset synchrony. The audio's onset envelope (spectral flux, 100 Hz) is cross-correlated with
    the picture's motion-onset envelope (the rise of the motion, resampled to 100 Hz) over lags of
    ±``max_lag_s`` (at most a quarter of the scene, so that the compared parts overlap).
    ``details['lag_s']`` is the best lag (positive: the sound comes late, like DeSync's offset),
    ``details['lag_strength']`` the normalised correlation there. The score is the strength,
    scaled down linearly with ``|lag|`` (1 at no lag, 0 at ``max_lag_s``). A picture
    that does not move gives nothing to be out of sync with: the score is 1 and
    ``details['sync_measured']`` is 0.
``coverage``
    The share of analysed frames with neither fault: silence (below ``silence_dbfs``) while the
    picture moves, or a loud transient (12 dB over the scene's median level and above
    ``loud_dbfs``) while it is still. ``details['silent_motion_frac']`` and
    ``details['loud_still_frac']`` are the two faults' shares.
``level``
    Level sanity: the product of a clipping factor (0 once 0.1 % of samples sit at full scale),
    a loudness factor (1 between -40 and -6 LUFS, falling to 0 20 LU beyond) and a loudness-range
    factor (1 up to 15 LU between the 10th and 95th percentile of 400 ms block levels, 0 at 30 LU).
``leak``
    Speech/music leak indicator, **higher is worse**: the share of audible 40 ms frames that are
    strongly periodic (normalised autocorrelation peak over ``harmonic_threshold`` for a pitch of
    70–1000 Hz) weighted by how steady their pitch track is (consecutive frames within 3 %).
    A sustained tone, a sung note or voiced speech raise it; noise, impacts and most ambience do
    not. It cannot tell a bird's whistle or an engine hum from a melody: it flags, not recognises.

``overall`` is the mean of ``sync``, ``coverage``, ``level`` and ``1 - leak``.
"""

from __future__ import annotations

import importlib
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import soundfile as sf
from scipy import signal

from lvas.audio.loudness import integrated_loudness
from lvas.errors import LvasError

SCORE_NAMES = ("sync", "coverage", "level", "leak")
"""The embedded scorer's score names, in the order they are reported."""

LOWER_IS_BETTER = frozenset({"leak", "desync"})
"""Score names where 0 is good; :attr:`Scores.overall` counts them as ``1 - value``."""

ENVELOPE_HZ = 100.0
"""Rate of the onset envelopes compared by ``sync``."""

_ANALYSIS_SR = 16000


class ScorerUnavailable(LvasError):
    """A scorer cannot run here: its code or its local weights are missing (nothing downloads)."""


class ScoringError(LvasError):
    """A scene could not be scored (empty or malformed input); the rendered audio is untouched."""


@dataclass(frozen=True)
class Scores:
    """Named scores of one scene's audio against its picture.

    Attributes:
        values: score name -> value in [0, 1]; higher is better except names in
            :data:`LOWER_IS_BETTER`.
        details: measured figures behind the scores (lag in seconds, fractions, LUFS, ...).
        scorer: the scorer's name.
    """

    values: Mapping[str, float]
    details: Mapping[str, float] = field(default_factory=dict)
    scorer: str = "embedded"

    @property
    def overall(self) -> float:
        """The mean of the scores, each counted so that higher is better; 0 with no scores."""
        if not self.values:
            return 0.0
        good = [1.0 - v if k in LOWER_IS_BETTER else v for k, v in self.values.items()]
        return float(np.mean(good))

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def as_row(self, prefix: str = "") -> dict[str, float | str]:
        """Flat record: ``overall``, each score and each detail (``detail_<name>``), the scorer.

        Arguments:
            prefix: put before every key (e.g. ``"before_"``).

        Returns:
            A dict fit for one row of a Parquet table.
        """
        row: dict[str, float | str] = {f"{prefix}overall": round(self.overall, 6),
                                       f"{prefix}scorer": self.scorer}
        row.update({f"{prefix}{k}": round(float(v), 6) for k, v in self.values.items()})
        row.update({f"{prefix}detail_{k}": round(float(v), 6) for k, v in self.details.items()})
        return row


@dataclass(frozen=True)
class SceneClip:
    """One scene as a scorer sees it.

    Attributes:
        motion: per analysed frame, the frame-difference motion (0..1), from the scene's start.
        fps: analysed frames per second of ``motion``.
        audio: the rendered audio, ``(samples,)`` or ``(samples, channels)``, float.
        sample_rate: of ``audio``.
        video_path: the source video, for scorers that read pixels (None when not at hand).
        start_s: the scene's start in the video.
        end_s: the scene's end in the video (None: ``start_s`` + the audio's length).
    """

    motion: np.ndarray
    fps: float
    audio: np.ndarray
    sample_rate: int
    video_path: Path | None = None
    start_s: float = 0.0
    end_s: float | None = None


@runtime_checkable
class Scorer(Protocol):
    """Scores a scene: ``score(clip) -> Scores``. Raises ScoringError or ScorerUnavailable."""

    name: str

    def score(self, clip: SceneClip) -> Scores:
        """Score one scene.

        Arguments:
            clip: the scene's motion, audio and (optionally) video.

        Returns:
            Its scores.
        """
        ...


# --------------------------------------------------------------------------- embedded scorer


@dataclass(frozen=True)
class EmbeddedScorer:
    """The CPU proxies of this module (see the module docstring): sync, coverage, level, leak.

    Attributes:
        max_lag_s: the largest audio-picture offset searched by ``sync``.
        silence_dbfs: below this a frame's audio counts as silent.
        loud_dbfs: a transient must exceed this level to count as a loud event.
        motion_floor: motion below this is a still picture whatever its spread (luma change, 0..1).
        harmonic_threshold: normalised autocorrelation peak above which a frame is periodic.
    """

    max_lag_s: float = 1.0
    silence_dbfs: float = -50.0
    loud_dbfs: float = -30.0
    motion_floor: float = 0.01
    harmonic_threshold: float = 0.8
    name: str = "embedded"

    def score(self, clip: SceneClip) -> Scores:
        """Score one scene with the embedded proxies.

        Arguments:
            clip: the scene (``video_path`` is not read).

        Returns:
            ``sync``, ``coverage``, ``level``, ``leak`` and their details.

        Raises:
            ScoringError: no audio, no motion frames, or a non-positive rate.
        """
        motion = np.asarray(clip.motion, dtype=np.float64).ravel()
        mono = _mono(clip.audio)
        if clip.sample_rate <= 0 or clip.fps <= 0:
            raise ScoringError(f"rates must be positive (fps {clip.fps}, sample rate {clip.sample_rate})")
        if len(mono) == 0:
            raise ScoringError("the audio is empty")
        if len(motion) == 0:
            raise ScoringError("no analysed frames (motion) for the scene")
        motion = np.nan_to_num(motion, nan=0.0)
        x16 = _resample(mono, clip.sample_rate, _ANALYSIS_SR)
        details: dict[str, float] = {}
        sync = self._sync(motion, clip.fps, x16, details)
        coverage = self._coverage(motion, clip.fps, x16, details)
        level = _level(np.asarray(clip.audio, dtype=np.float64), clip.sample_rate, details)
        leak = self._leak(x16, details)
        values = {"sync": sync, "coverage": coverage, "level": level, "leak": leak}
        return Scores({k: float(np.clip(v, 0.0, 1.0)) for k, v in values.items()}, details, self.name)

    def _sync(self, motion: np.ndarray, fps: float, x16: np.ndarray, details: dict[str, float]) -> float:
        n = max(1, round(len(x16) / _ANALYSIS_SR * ENVELOPE_HZ))
        audio_env = _normalise(onset_envelope(x16, _ANALYSIS_SR)[:n], n)
        rise = np.maximum(np.diff(motion, prepend=motion[0]), 0.0)
        moving = motion.max() > self.motion_floor and rise.max() > 1e-9
        details["sync_measured"] = 1.0 if moving else 0.0
        if not moving:
            details["lag_s"], details["lag_strength"] = 0.0, 0.0
            return 1.0
        t_frames = np.arange(len(motion)) / fps
        t_env = np.arange(n) / ENVELOPE_HZ
        motion_env = _smooth(np.interp(t_env, t_frames, rise, left=0.0, right=0.0), 0.04)
        max_lag = min(self.max_lag_s, n / ENVELOPE_HZ / 4.0)  # lags keep 3/4 of a short scene overlapping
        lag, strength = best_lag(motion_env, _smooth(audio_env, 0.04), round(max_lag * ENVELOPE_HZ))
        lag_s = lag / ENVELOPE_HZ
        details["lag_s"], details["lag_strength"] = lag_s, strength
        return max(0.0, strength) * max(0.0, 1.0 - abs(lag_s) / self.max_lag_s)

    def _coverage(self, motion: np.ndarray, fps: float, x16: np.ndarray, details: dict[str, float]) -> float:
        active = motion_active(motion, self.motion_floor)
        centres = (np.arange(len(motion)) + 0.5) / fps
        level = frame_levels_db(x16, _ANALYSIS_SR, centres, 1.0 / fps)
        median = float(np.median(np.maximum(level, self.silence_dbfs)))
        silent_motion = active & (level <= self.silence_dbfs)
        loud_still = ~active & (level > self.loud_dbfs) & (level > median + 12.0)
        n = len(motion)
        details["silent_motion_frac"] = float(silent_motion.sum() / n)
        details["loud_still_frac"] = float(loud_still.sum() / n)
        details["motion_active_frac"] = float(active.sum() / n)
        return 1.0 - float((silent_motion | loud_still).sum() / n)

    def _leak(self, x16: np.ndarray, details: dict[str, float]) -> float:
        periodicity, f0, audible = pitch_track(x16, _ANALYSIS_SR)
        n_audible = int(audible.sum())
        if n_audible == 0:
            details["harmonic_frac"], details["pitch_stability"] = 0.0, 0.0
            return 0.0
        harmonic = audible & (periodicity > self.harmonic_threshold)
        steady = harmonic[1:] & harmonic[:-1] & (np.abs(np.diff(np.log(np.maximum(f0, 1.0)))) < 0.03)
        harmonic_frac = float(harmonic.sum() / n_audible)
        stability = float(steady.sum() / max(1, harmonic[1:].sum())) if harmonic.any() else 0.0
        details["harmonic_frac"], details["pitch_stability"] = harmonic_frac, stability
        return harmonic_frac * (0.5 + 0.5 * stability)


def score_scene(motion: np.ndarray, fps: float, audio: np.ndarray, sample_rate: int,
                **options: float) -> Scores:
    """Score a scene's audio against its picture with the embedded CPU proxies.

    Arguments:
        motion: per analysed frame, the frame-difference motion (``frames.parquet``'s ``motion``)
            from the scene's start.
        fps: analysed frames per second of ``motion``.
        audio: the rendered audio, ``(samples,)`` or ``(samples, channels)``, float in [-1, 1].
        sample_rate: of ``audio``.
        **options: :class:`EmbeddedScorer` fields (``max_lag_s``, ``silence_dbfs``, ...).

    Returns:
        Scores ``sync``, ``coverage``, ``level``, ``leak`` with their details.

    Raises:
        ScoringError: empty audio or motion, non-positive rates.
    """
    return EmbeddedScorer(**options).score(SceneClip(np.asarray(motion), fps, np.asarray(audio), sample_rate))


# --------------------------------------------------------------------------- measurements


def onset_envelope(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """Spectral flux at :data:`ENVELOPE_HZ`: the summed rise of log-magnitude spectra frame to frame.

    Arguments:
        x: mono audio.
        sample_rate: of ``x``.

    Returns:
        One value per 1/ENVELOPE_HZ s, aligned to the frame's start.
    """
    hop = max(1, round(sample_rate / ENVELOPE_HZ))
    nper = 4 * hop
    if len(x) < nper:
        x = np.pad(x, (0, nper - len(x)))
    _, _, z = signal.stft(x, fs=sample_rate, nperseg=nper, noverlap=nper - hop, boundary="even",
                          padded=True)
    mag = np.log1p(100.0 * np.abs(z))
    flux = np.maximum(np.diff(mag, axis=1, prepend=mag[:, :1]), 0.0).sum(axis=0)
    return flux


def best_lag(reference: np.ndarray, probe: np.ndarray, max_lag: int) -> tuple[int, float]:
    """The lag (in samples) where ``probe`` best matches ``reference``, and the match's strength.

    Arguments:
        reference: the picture's envelope.
        probe: the audio's envelope, same rate.
        max_lag: search lags in [-max_lag, max_lag].

    Returns:
        ``(lag, r)``: a positive lag means ``probe`` comes later; ``r`` is the Pearson correlation
        of the overlapping parts at that lag (0 when either is constant).
    """
    n = min(len(reference), len(probe))
    a, b = reference[:n] - reference[:n].mean(), probe[:n] - probe[:n].mean()
    if n < 2 or a.std() < 1e-12 or b.std() < 1e-12:
        return 0, 0.0
    best, best_r = 0, -math.inf
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            u, v = a[: n - lag], b[lag:]
        else:
            u, v = a[-lag:], b[: n + lag]
        if len(u) < 2 or u.std() < 1e-12 or v.std() < 1e-12:
            continue
        r = float(np.corrcoef(u, v)[0, 1])
        if r > best_r + 1e-9 or (abs(r - best_r) <= 1e-9 and abs(lag) < abs(best)):
            best, best_r = lag, r
    return (best, best_r) if math.isfinite(best_r) else (0, 0.0)


def motion_active(motion: np.ndarray, floor: float = 0.01) -> np.ndarray:
    """Frames where the picture moves: above the median by a quarter of the range, and above ``floor``.

    Arguments:
        motion: per-frame motion (0..1).
        floor: the least motion that counts, whatever the spread.

    Returns:
        A boolean per frame.
    """
    m = np.asarray(motion, dtype=np.float64)
    if len(m) == 0:
        return np.zeros(0, dtype=bool)
    threshold = np.median(m) + 0.25 * (m.max() - m.min())
    return (m > threshold) & (m > floor) if m.max() - m.min() > 1e-9 else m > max(floor, 0.05)


def frame_levels_db(x: np.ndarray, sample_rate: int, centres_s: np.ndarray, width_s: float) -> np.ndarray:
    """RMS level in dBFS of ``x`` in a window of ``width_s`` around each centre (-inf: silence).

    Arguments:
        x: mono audio.
        sample_rate: of ``x``.
        centres_s: window centres in seconds.
        width_s: window length in seconds.

    Returns:
        One level per centre.
    """
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(x, dtype=np.float64) ** 2)])
    half = max(1, round(width_s * sample_rate / 2))
    c = np.round(np.asarray(centres_s) * sample_rate).astype(np.int64)
    lo, hi = np.clip(c - half, 0, len(x)), np.clip(c + half, 0, len(x))
    energy = (csum[hi] - csum[lo]) / np.maximum(1, hi - lo)
    with np.errstate(divide="ignore"):
        return np.where(energy > 1e-20, 10.0 * np.log10(np.maximum(energy, 1e-30)), -np.inf)


def pitch_track(x: np.ndarray, sample_rate: int, frame_s: float = 0.04, hop_s: float = 0.02,
                fmin: float = 70.0, fmax: float = 1000.0,
                gate_dbfs: float = -50.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame periodicity, pitch and audibility from the normalised autocorrelation.

    Arguments:
        x: mono audio.
        sample_rate: of ``x``.
        frame_s: analysis frame length.
        hop_s: frame step.
        fmin: lowest pitch searched.
        fmax: highest pitch searched.
        gate_dbfs: frames below this RMS level are not audible.

    Returns:
        ``(periodicity, f0_hz, audible)``, one value per frame: the autocorrelation peak (bias
        corrected, 0..1) in the pitch range, its frequency, and whether the frame is audible.
    """
    n, hop = round(frame_s * sample_rate), round(hop_s * sample_rate)
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    count = 1 + (len(x) - n) // hop
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[::hop][:count]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames, 2 * n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, axis=1)[:, :n]
    lo, hi = max(1, int(sample_rate / fmax)), min(n - 1, int(sample_rate / fmin))
    r0 = ac[:, :1]
    unbiased = ac[:, lo: hi + 1] / (n - np.arange(lo, hi + 1)) * n
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(r0 > 1e-12, unbiased / np.maximum(r0, 1e-12), 0.0)
    # the first local peak within 10 % of the best: the period, not one of its multiples
    peak = np.zeros_like(norm, dtype=bool)
    peak[:, 1:-1] = (norm[:, 1:-1] >= norm[:, :-2]) & (norm[:, 1:-1] >= norm[:, 2:])
    peak[:, -1] = True
    k = np.argmax(peak & (norm >= 0.9 * norm.max(axis=1, keepdims=True)), axis=1)
    periodicity = np.clip(norm[np.arange(count), k], 0.0, 1.0)
    f0 = sample_rate / (k + lo)
    rms = np.sqrt(np.mean(frames**2, axis=1))
    audible = 20.0 * np.log10(np.maximum(rms, 1e-12)) > gate_dbfs
    return periodicity, f0, audible


def _level(audio: np.ndarray, sample_rate: int, details: dict[str, float]) -> float:
    peak = np.abs(audio)
    clip_frac = float(np.mean(peak >= 0.999)) if peak.size else 0.0
    loudness = integrated_loudness(audio, sample_rate)
    mono = _mono(audio)
    block = max(1, round(0.4 * sample_rate))
    centres = np.arange(block / 2, max(len(mono), block), block / 4) / sample_rate
    levels = frame_levels_db(mono, sample_rate, centres, 0.4)
    gated = levels[np.isfinite(levels) & (levels > -70.0)]
    if len(gated):
        gated = gated[gated > 10.0 * np.log10(np.mean(10.0 ** (gated / 10.0))) - 20.0]
    lra = float(np.percentile(gated, 95) - np.percentile(gated, 10)) if len(gated) > 1 else 0.0
    details["clip_frac"], details["loudness_lufs"], details["loudness_range_lu"] = (
        clip_frac, loudness if math.isfinite(loudness) else -99.0, lra)
    clip_factor = max(0.0, 1.0 - clip_frac / 0.001)
    if not math.isfinite(loudness):
        loud_factor = 0.0
    elif loudness < -40.0:
        loud_factor = max(0.0, 1.0 - (-40.0 - loudness) / 20.0)
    elif loudness > -6.0:
        loud_factor = max(0.0, 1.0 - (loudness + 6.0) / 20.0)
    else:
        loud_factor = 1.0
    range_factor = 1.0 if lra <= 15.0 else max(0.0, 1.0 - (lra - 15.0) / 15.0)
    return clip_factor * loud_factor * range_factor


def _mono(audio: np.ndarray) -> np.ndarray:
    a = np.asarray(audio, dtype=np.float64)
    return a.mean(axis=1) if a.ndim == 2 else a.ravel()


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return x
    g = math.gcd(int(sr), int(target))
    return signal.resample_poly(x, target // g, int(sr) // g)


def _normalise(env: np.ndarray, n: int) -> np.ndarray:
    return np.pad(env, (0, max(0, n - len(env))))[:n]


def _smooth(x: np.ndarray, sigma_s: float) -> np.ndarray:
    sigma = sigma_s * ENVELOPE_HZ
    half = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) / sigma) ** 2)
    return np.convolve(x, kernel / kernel.sum(), mode="same")


# --------------------------------------------------------------------------- real scorers


@dataclass
class ImageBindScorer:
    """ImageBind audio-visual similarity (the LVAS-Agent paper's IB score) from local weights.

    Uses the ``imagebind`` package's public API (``imagebind.models.imagebind_model.imagebind_huge``
    with ``pretrained=False``, then ``load_state_dict`` of the local checkpoint;
    ``imagebind.data.load_and_transform_video_data`` / ``load_and_transform_audio_data``) on the
    scene's span of the video (cut to a temporary file, :func:`cut_video`) and its audio; the
    score is the cosine similarity of the two embeddings mapped from [-1, 1] to [0, 1].

    Attributes:
        weights: the local checkpoint (``imagebind_huge.pth``); never downloaded.
        device: torch device.
    """

    weights: str | Path = ""
    device: str = "cpu"
    name: str = "imagebind"

    def __post_init__(self) -> None:
        self._model: Any = None
        self._modules = _import_or_unavailable(self.name, ("torch", "imagebind.data",
                                                            "imagebind.models.imagebind_model"))
        if not self.weights or not Path(self.weights).is_file():
            raise ScorerUnavailable(f"imagebind: weights file {str(self.weights) or '(unset)'!r} not found; "
                                    "set the scorer's 'weights' to a local imagebind_huge.pth (nothing is downloaded)")

    def score(self, clip: SceneClip) -> Scores:
        """ImageBind similarity of the scene's video span and its audio.

        Arguments:
            clip: needs ``video_path``.

        Returns:
            ``{"av_similarity": ...}`` with ``details['cosine']``.

        Raises:
            ScoringError: no video path in ``clip``.
        """
        if clip.video_path is None:
            raise ScoringError("imagebind needs the scene's video file")
        torch, data, ib = self._modules
        if self._model is None:
            model = ib.imagebind_huge(pretrained=False)
            model.load_state_dict(torch.load(str(self.weights), map_location="cpu"))
            self._model = model.eval().to(self.device)
        modality = ib.ModalityType
        end = clip.end_s if clip.end_s is not None else clip.start_s + len(clip.audio) / clip.sample_rate
        with tempfile.TemporaryDirectory() as tmp:
            wav = _write_wav(Path(tmp) / "scene.wav", clip.audio, clip.sample_rate)
            # ImageBind samples its clips over the whole file it is given: give it the scene only
            video = cut_video(clip.video_path, clip.start_s, end, Path(tmp) / "scene.mp4")
            inputs = {modality.VISION: data.load_and_transform_video_data([str(video)], self.device),
                      modality.AUDIO: data.load_and_transform_audio_data([str(wav)], self.device)}
            with torch.no_grad():
                emb = self._model(inputs)
        cos = float(torch.nn.functional.cosine_similarity(emb[modality.VISION], emb[modality.AUDIO]).mean())
        return Scores({"av_similarity": (cos + 1.0) / 2.0}, {"cosine": cos}, self.name)


@dataclass
class SynchformerScorer:
    """Synchformer's DeSync (predicted audio-visual offset, seconds) from local weights.

    Synchformer has no package on PyPI: its repository's code must be importable, and ``entry`` names
    a function ``module:function`` of that code that loads the checkpoint and returns a callable
    ``predict(video_path, start_s, end_s, audio, sample_rate) -> offset_s`` (av-benchmark's way of
    running it over 4.8 s windows). The score is ``desync`` = ``|offset| / max_offset_s`` clipped
    to [0, 1] (lower is better) with ``details['offset_s']``.

    Attributes:
        weights: the local checkpoint; never downloaded.
        entry: ``module:function`` building the predictor from (weights, device).
        device: torch device.
        max_offset_s: the offset mapped to the worst score (Synchformer's grid spans ±2 s).
    """

    weights: str | Path = ""
    entry: str = "synchformer_predict:load"
    device: str = "cpu"
    max_offset_s: float = 2.0
    name: str = "synchformer"

    def __post_init__(self) -> None:
        module_name, _, func = self.entry.partition(":")
        if not func:
            raise ScorerUnavailable(f"synchformer: entry {self.entry!r} is not 'module:function'")
        (module,) = _import_or_unavailable(self.name, (module_name,))
        if not self.weights or not Path(self.weights).is_file():
            raise ScorerUnavailable(f"synchformer: weights file {str(self.weights) or '(unset)'!r} not found; "
                                    "set the scorer's 'weights' to a local checkpoint (nothing is downloaded)")
        loader = getattr(module, func, None)
        if not callable(loader):
            raise ScorerUnavailable(f"synchformer: {self.entry!r} is not a function")
        self._predict: Callable[..., float] = loader(str(self.weights), self.device)

    def score(self, clip: SceneClip) -> Scores:
        """Predicted offset of the scene's audio against its video.

        Arguments:
            clip: needs ``video_path``.

        Returns:
            ``{"desync": ...}`` with ``details['offset_s']``.

        Raises:
            ScoringError: no video path, or the predictor's answer is not a finite number.
        """
        if clip.video_path is None:
            raise ScoringError("synchformer needs the scene's video file")
        end = clip.end_s if clip.end_s is not None else clip.start_s + len(clip.audio) / clip.sample_rate
        offset = self._predict(str(clip.video_path), clip.start_s, end, clip.audio, clip.sample_rate)
        if not isinstance(offset, (int, float)) or not math.isfinite(float(offset)):
            raise ScoringError(f"synchformer returned {offset!r}, not an offset in seconds")
        desync = min(1.0, abs(float(offset)) / self.max_offset_s)
        return Scores({"desync": desync}, {"offset_s": float(offset)}, self.name)


def _import_or_unavailable(scorer: str, names: tuple[str, ...]) -> list[Any]:
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name))
        except ImportError as exc:
            raise ScorerUnavailable(f"{scorer}: cannot import {name!r} ({exc}); install its code "
                                    "on this worker") from exc
    return modules


def cut_video(path: str | Path, start_s: float, end_s: float, out: Path) -> Path:
    """Write the frames of ``[start_s, end_s)`` of a video to ``out`` (H.264, same size and rate).

    Arguments:
        path: the video.
        start_s, end_s: the span, in seconds of the video's timeline.
        out: the file to write (an ``.mp4``; a temporary one, it is not written atomically).

    Returns:
        ``out``.

    Raises:
        ScoringError: the span holds no frame, or the video cannot be read.
    """
    import av

    try:
        with av.open(str(path)) as src, av.open(str(out), "w") as dst:
            stream = src.streams.video[0]
            rate = stream.average_rate or 25
            enc = dst.add_stream("libx264", rate=rate)
            # H.264 in 4:2:0 wants even sides
            enc.width, enc.height = stream.codec_context.width // 2 * 2, stream.codec_context.height // 2 * 2
            enc.pix_fmt = "yuv420p"
            enc.options = {"preset": "ultrafast"}
            n = 0
            for i, frame in enumerate(src.decode(stream)):
                # a stream without timestamps (raw H.264) is timed by its frame count
                t = float(frame.time) if frame.time is not None else i / float(rate)
                if t >= end_s:
                    break
                if t >= start_s:
                    kept = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
                    kept.pts, kept.time_base = n, 1 / Fraction(rate)  # renumbered from the span's start
                    dst.mux(enc.encode(kept))
                    n += 1
            dst.mux(enc.encode())
    except (av.FFmpegError, OSError) as exc:
        raise ScoringError(f"{path}: cannot cut {start_s:g}-{end_s:g} s ({exc})") from exc
    if n == 0:
        raise ScoringError(f"{path}: no frame in {start_s:g}-{end_s:g} s")
    return out


def _write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate)
    return path


SCORERS: dict[str, Callable[..., Scorer]] = {
    "embedded": EmbeddedScorer,
    "imagebind": ImageBindScorer,
    "synchformer": SynchformerScorer,
}
"""Scorer name -> factory taking the scorer's options as keywords. Add an entry to plug one in."""


def make_scorer(name: str, **options: Any) -> Scorer:
    """Build a scorer by name.

    Arguments:
        name: a key of :data:`SCORERS`.
        **options: the scorer's fields (``weights=...``, ``max_lag_s=...``).

    Returns:
        The scorer.

    Raises:
        ValueError: unknown name or option.
        ScorerUnavailable: a real scorer's code or weights are missing.
    """
    try:
        factory = SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown scorer {name!r}; known: {', '.join(sorted(SCORERS))}") from None
    try:
        return factory(**options)
    except TypeError as exc:
        raise ValueError(f"scorer {name!r}: bad options {sorted(options)} ({exc})") from exc
