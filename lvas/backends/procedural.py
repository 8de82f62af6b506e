"""The procedural CPU synthesizer: a deterministic, preview-quality stand-in for MMAudio.

This is NOT a generative model. It maps each label of a layer onto one of 29 sound families
(``kb/labels.csv`` gives every KB label its family; free text falls back to keyword matching)
and synthesises that family from filtered noise, oscillators and short event kernels with numpy
and scipy. What it can honestly measure about the picture is motion: event sounds (footsteps,
impacts, knocks, chirps...) are placed on the motion peaks of the scene read from the video's
``frames.parquet``, and continuous sounds (engines, wind, whooshes) follow the motion envelope.
The result is audible, varied per seed and in time with the picture, which is what a preview of
the pipeline needs; it does not sound like a recording.

Same spec and seed give the same bytes; its cost per second of audio is in bench/RESULTS.md
("Audio stages", bench/bench_audio.py).
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import signal

from lvas.backends.synth import write_wav
from lvas.errors import LvasError
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings

if TYPE_CHECKING:
    from lvas.storage.layout import Layout

log = logging.getLogger(__name__)

BEDS = ("rain", "wind", "water", "waves", "fire", "crowd", "traffic", "hum", "room_tone")
TONAL = (
    "engine",
    "aircraft",
    "siren",
    "bird",
    "insect",
    "animal_call",
    "bell",
    "horn",
    "instrument",
    "voice",
    "power_tool",
)
IMPULSES = ("footsteps", "impact", "gunshot", "knock", "clap", "splash", "typing", "thunder", "whoosh")
FAMILIES = BEDS + TONAL + IMPULSES

# Keyword fallback for labels the KB does not know and for free-text descriptions. Order is
# priority on ties: specific events before generic places ("thunder" before "rain", "car horn"
# before "car").
_KEYWORDS = {
    "thunder": "thunder, lightning, thunderstorm",
    "gunshot": "gunshot, gun, shot, explosion, firework, blast, pistol, rifle, cannon",
    "siren": "siren, alarm, ambulance, police",
    "horn": "horn, honk, honking, foghorn, beep",
    "footsteps": (
        "footstep, footsteps, steps, walking, walk, running, run, jogging, stomp, gravel, crunch, crunching"
    ),
    "knock": "knock, knocking, tapping, tap",
    "clap": "clap, clapping, applause, slap",
    "typing": "typing, keyboard, typewriter, click, clicking, mouse",
    "splash": "splash, splashing, dive, diving, swim, swimming, paddle",
    "whoosh": (
        "whoosh, swoosh, swish, swing, swinging, fly-by, zoom, rush, "
        "bicycle, bike, cycling, cyclist, skateboard"
    ),
    "impact": (
        "impact, hit, hitting, thud, bump, crash, collision, fall, falling, drop, punch, slam, "
        "bang, smash, kick, landing, jump, bounce"
    ),
    "power_tool": "drill, saw, chainsaw, grinder, mower, vacuum, blender, power tool",
    "aircraft": "airplane, aircraft, plane, jet, helicopter, propeller, drone",
    "engine": ("engine, car, motor, truck, bus, motorcycle, vehicle, idle, revving, tractor, scooter, train"),
    "bird": "bird, birds, chirp, chirping, tweet, birdsong, crow, seagull, pigeon, owl",
    "insect": "insect, insects, cricket, crickets, cicada, bee, bees, fly, mosquito",
    "animal_call": (
        "dog, bark, barking, cat, meow, cow, moo, horse, neigh, sheep, goat, rooster, howl, roar, "
        "growl, animal, rabbit, squirrel, pig, elephant, bunny, lion, duck"
    ),
    "bell": "bell, bells, chime, chimes, ding, gong, ringing, doorbell",
    "instrument": "guitar, piano, violin, drum, drums, flute, trumpet, instrument, music",
    "voice": "voice, speech, talking, singing, humming, laugh, laughing, baby, shout, scream",
    "rain": "rain, raining, drizzle, downpour, raindrop, raindrops",
    "wind": "wind, windy, breeze, gust, gusts, blizzard, storm",
    "waves": "wave, waves, surf, ocean, sea, shore, beach, tide, coast",
    "water": (
        "water, stream, river, brook, creek, fountain, faucet, drip, dripping, trickle, pouring, "
        "bubbling, waterfall, lake, pond"
    ),
    "fire": "fire, flame, flames, crackle, crackling, campfire, fireplace, burning, bonfire",
    "crowd": "crowd, people, audience, chatter, murmur, cheering, market, restaurant, party",
    "traffic": "traffic, street, highway, road, city, urban, intersection",
    "hum": "hum, humming machine, fridge, refrigerator, air conditioner, fan, transformer, server",
    "room_tone": "room tone, room, ambience, ambient, indoor, indoors, quiet, interior, office",
}
KEYWORDS: dict[str, tuple[str, ...]] = {
    f: tuple(k.strip() for k in v.split(",")) for f, v in _KEYWORDS.items()
}
assert set(KEYWORDS) == set(FAMILIES), "every family needs keywords"

MAX_FAMILIES_PER_LAYER = 4
EDGE_GUARD_S = 0.1  # motion peaks this close to a scene edge are ignored


# --------------------------------------------------------------------------- label -> family


@functools.cache
def _kb_families() -> dict[str, str]:
    """label -> family from the knowledge base file; empty if the KB is not available here."""
    try:
        from lvas.kb.labels import load_labels
    except ImportError:
        return {}
    try:
        return {str(row.label).strip().lower(): str(row.family) for row in load_labels()}
    except (LvasError, OSError, ValueError, KeyError) as exc:  # a broken KB file must not stop previews
        log.warning("procedural synth: knowledge base labels unavailable (%s); using keyword matching", exc)
        return {}


def family_of(text: str) -> str | None:
    """The family of a KB label, else the family whose keywords best match ``text`` (None if none)."""
    key = text.strip().lower()
    known = _kb_families().get(key)
    if known in FAMILIES:
        return known
    words = key.replace("_", " ").replace("-", " ")
    best, best_hits = None, 0
    for family, keys in KEYWORDS.items():
        hits = sum(1 for k in keys if re.search(rf"\b{re.escape(k)}\b", words))
        if hits > best_hits:
            best, best_hits = family, hits
    return best


def families_for(spec: LayerSpec) -> list[str]:
    """The families to render for a layer: one per label (deduplicated, primary first).

    Labels without a family fall back to the prompt; a layer with nothing recognisable gets a
    neutral family for its kind (room tone for background, impacts on motion for foreground).
    """
    found: list[str] = []
    for text in spec.labels:
        fam = family_of(text)
        if fam and fam not in found:
            found.append(fam)
    if not found and spec.prompt:
        for part in re.split(r"[,;]| and ", spec.prompt):
            fam = family_of(part)
            if fam and fam not in found:
                found.append(fam)
    if not found:
        found = ["room_tone" if spec.kind == "background" else "impact"]
    return found[:MAX_FAMILIES_PER_LAYER]


# --------------------------------------------------------------------------- motion


def scene_motion(layout: Layout | None, spec: LayerSpec) -> tuple[np.ndarray, np.ndarray] | None:
    """``(t, motion)`` of the scene's analysed frames, ``t`` relative to the scene start; None if absent."""
    if layout is None:
        return None
    try:
        from lvas.storyboard import load_frame_stats

        stats = load_frame_stats(layout, spec.video_id, spec.start_s, spec.end_s)
    except FileNotFoundError:
        return None
    except (ImportError, KeyError, ValueError):  # older/partial frames.parquet: t_s and motion suffice
        stats = _read_frames(layout.frames(spec.video_id), spec.start_s, spec.end_s)
    if not stats or "motion" not in stats or len(stats.get("t_s", ())) < 3:
        return None
    t = np.asarray(stats["t_s"], np.float64) - spec.start_s
    m = np.nan_to_num(np.asarray(stats["motion"], np.float64))
    return t, m


def _read_frames(path: Path, start_s: float, end_s: float) -> dict[str, np.ndarray] | None:
    """Fallback reader of frames.parquet (t_s, motion) for one time span."""
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["t_s", "motion"])
    except (KeyError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        log.warning("procedural synth: %s has no usable t_s/motion columns (%s)", path, exc)
        return None
    t = table.column("t_s").to_numpy()
    keep = (t >= start_s) & (t < end_s)
    return {"t_s": t[keep], "motion": table.column("motion").to_numpy()[keep]}


def motion_onsets(
    motion: tuple[np.ndarray, np.ndarray] | None,
    duration: float,
    rng: np.random.Generator,
    *,
    min_gap: float = 0.25,
    fallback_period: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """Event times (s, relative) and strengths (0..1) from motion peaks.

    A peak counts when it stands out from the scene's own motion (prominence of a quarter of
    its range and above the median), so a static shot gives few events and a busy one many.
    Without motion data the events fall on a seeded, slightly irregular rhythm.
    """
    if motion is not None:
        t, m = motion
        span = float(m.max() - m.min()) if len(m) else 0.0
        if span > 1e-9:
            dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.04
            peaks, props = signal.find_peaks(
                m, prominence=0.25 * span, height=float(np.median(m)), distance=max(1, round(min_gap / dt))
            )
            if len(peaks):
                times = t[peaks]
                strength = 0.4 + 0.6 * (props["prominences"] / props["prominences"].max())
                # Frame differences at a scene's first/last frames measure the cut, not an action.
                keep = (times >= EDGE_GUARD_S) & (times < duration - EDGE_GUARD_S)
                if keep.any():
                    return times[keep], strength[keep]
    lo = 0.1 if duration >= 0.2 else duration / 4  # a timed event may be as short as 0.1 s
    first = rng.uniform(lo, min(0.5, duration / 2))
    times = np.arange(first, duration, fallback_period)
    times = np.clip(
        times + rng.uniform(-0.08, 0.08, len(times)) * fallback_period, 0, max(duration - 0.05, 0)
    )
    return times, rng.uniform(0.6, 1.0, len(times))


def motion_envelope(motion: tuple[np.ndarray, np.ndarray] | None, n: int, sr: int) -> np.ndarray:
    """Motion normalised to 0..1 at audio rate (smooth); flat 0.5 without data."""
    if motion is None:
        return np.full(n, 0.5)
    t, m = motion
    span = m.max() - m.min()
    norm = (m - m.min()) / span if span > 1e-9 else np.full_like(m, 0.5)
    return np.clip(np.interp(np.arange(n) / sr, t, norm), 0.0, 1.0)


# --------------------------------------------------------------------------- building blocks


@dataclass
class Ctx:
    """Everything a family renderer may use (one channel)."""

    n: int
    sr: int
    rng: np.random.Generator
    onsets: np.ndarray
    strengths: np.ndarray
    activity: np.ndarray

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.n) / self.sr


_PINK_B = np.array([0.049922035, -0.095993537, 0.050612699, -0.004408786])
_PINK_A = np.array([1.0, -2.494956002, 2.017265875, -0.522189400])


def _colored(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Unit-RMS noise, white (slope < 0.4), pink (< 1.4) or brown, by cheap IIR filters (no DC)."""
    x = rng.standard_normal(n)
    if slope >= 1.4:  # leaky integrator: brown above ~7 Hz
        x = signal.lfilter([1.0], [1.0, -0.999], x)
        x = signal.lfilter([1.0, -1.0], [1.0, -0.995], x) if slope < 1.8 else x - x.mean()
    elif slope >= 0.4:  # Kellet's 3-pole pink-noise filter (within 0.05 dB above 9 Hz at 44.1 kHz)
        x = signal.lfilter(_PINK_B, _PINK_A, x)
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _filt(x: np.ndarray, sr: int, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    """Butterworth band/low/high-pass (None = open edge)."""
    nyq = sr / 2
    lo = lo if lo and lo > 0 else None
    hi = hi if hi and hi < nyq * 0.95 else None
    if not (lo or hi):
        return x
    return signal.sosfilt(_butter(order, lo, hi, sr), x)


@functools.lru_cache(maxsize=256)
def _butter(order: int, lo: float | None, hi: float | None, sr: int) -> np.ndarray:
    """Second-order sections of a Butterworth filter, cached: most cutoffs are fixed per family and
    designing one costs more than using it. Callers must not modify it (scipy's sosfilt only reads it)."""
    if lo and hi:
        sos = signal.butter(order, [lo, hi], "bandpass", fs=sr, output="sos")
    elif lo:
        sos = signal.butter(order, lo, "highpass", fs=sr, output="sos")
    else:
        sos = signal.butter(order, hi, "lowpass", fs=sr, output="sos")
    return sos


def _slow(
    rng: np.random.Generator, n: int, sr: int, rate: float, lo: float = 0.0, hi: float = 1.0
) -> np.ndarray:
    """A smooth random control signal between lo and hi changing about ``rate`` times a second."""
    k = max(2, math.ceil(n / sr * rate) + 2)
    points = rng.uniform(lo, hi, k)
    m = max(2, n // 64 + 2)  # shape at control rate, then interpolate: 64x less work
    x = np.linspace(0, k - 1, m)
    idx = np.floor(x).astype(int).clip(0, k - 2)
    frac = x - idx
    frac = frac * frac * (3 - 2 * frac)  # smoothstep: no corners in the modulation
    ctrl = points[idx] * (1 - frac) + points[idx + 1] * frac
    return np.interp(np.linspace(0, m - 1, n), np.arange(m), ctrl)


def _osc(
    freq: np.ndarray | float, n: int, sr: int, partials: tuple[float, ...], phase0: float = 0.0
) -> np.ndarray:
    """Sum of harmonics ``partials[k] * sin((k+1) * phase)`` following a (possibly moving) pitch.

    Harmonics come from the Chebyshev recurrence sin((k+1)p) = 2 cos(p) sin(kp) - sin((k-1)p):
    one sin and one cos for any number of partials.
    """
    f = np.broadcast_to(np.asarray(freq, np.float64), (n,))
    phase = phase0 + 2 * np.pi * np.cumsum(f) / sr
    s1, c2 = np.sin(phase), 2 * np.cos(phase)
    out = partials[0] * s1 if partials else np.zeros(n)
    prev, cur = np.zeros(n), s1
    for a in partials[1:]:
        prev, cur = cur, c2 * cur - prev
        if a:
            out = out + a * cur
    return out


def _place(
    ctx: Ctx,
    kernels: list[np.ndarray],
    gain: float = 1.0,
    times: np.ndarray | None = None,
    amps: np.ndarray | None = None,
) -> np.ndarray:
    """Add event kernels at onset times; each event picks a kernel variant and a level.

    A direct slice-add per event: events are sparse, so this beats an FFT convolution by far.
    """
    times = ctx.onsets if times is None else times
    amps = ctx.strengths if amps is None else amps
    out = np.zeros(ctx.n)
    if not len(times):
        return out
    pick = ctx.rng.integers(0, len(kernels), len(times))
    levels = amps * ctx.rng.uniform(0.75, 1.0, len(times)) * gain
    starts = np.clip(np.round(np.asarray(times) * ctx.sr).astype(int), 0, ctx.n - 1)
    for start, k, level in zip(starts.tolist(), pick.tolist(), levels.tolist(), strict=True):
        kernel = kernels[k]
        m = min(len(kernel), ctx.n - start)
        out[start : start + m] += level * kernel[:m]
    return out


def _decay(sr: int, seconds: float, tau: float, attack: float = 0.002) -> np.ndarray:
    t = np.arange(max(1, round(seconds * sr))) / sr
    return np.minimum(t / attack, 1.0) * np.exp(-t / tau)


def _burst(
    rng: np.random.Generator,
    sr: int,
    seconds: float,
    tau: float,
    lo: float | None,
    hi: float | None,
    attack: float = 0.001,
) -> np.ndarray:
    env = _decay(sr, seconds, tau, attack)
    return _filt(rng.standard_normal(len(env)), sr, lo, hi) * env


def _sparse(ctx: Ctx, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Poisson event times at ``rate`` per second (for droplets, crackles, clicks)."""
    dur = ctx.n / ctx.sr
    count = ctx.rng.poisson(rate * dur)
    return np.sort(ctx.rng.uniform(0, dur, count)), ctx.rng.uniform(0.2, 1.0, count)


# --------------------------------------------------------------------------- noise beds


def _rain(c: Ctx) -> np.ndarray:
    hiss = _filt(_colored(c.rng, c.n, 0.6), c.sr, 800, 9000) * 0.5
    drops = [_burst(c.rng, c.sr, 0.02, 0.004, f, f * 2.5) for f in (1500, 2500, 4000)]
    times, amps = _sparse(c, 120)
    return hiss + _place(c, drops, 1.2, times, amps)


def _wind(c: Ctx) -> np.ndarray:
    gust = _slow(c.rng, c.n, c.sr, 0.4, 0.25, 1.0) * (0.7 + 0.3 * c.activity)
    low = _filt(_colored(c.rng, c.n, 1.5), c.sr, 60, 500)
    whistle = _filt(_colored(c.rng, c.n, 1.0), c.sr, 500, 1400, order=3)
    mix = _slow(c.rng, c.n, c.sr, 0.25)
    return gust * (low * (1 - 0.5 * mix) + whistle * 0.6 * mix)


def _water(c: Ctx) -> np.ndarray:
    base = _filt(_colored(c.rng, c.n, 0.8), c.sr, 300, 4000)
    babble = _filt(c.rng.standard_normal(c.n), c.sr, 4, 18)  # fast random level changes = bubbling
    babble = 0.5 + 0.5 * np.tanh(babble / (np.std(babble) + 1e-12))
    blips = [
        np.sin(2 * np.pi * np.cumsum(np.linspace(f, f * 1.6, 600)) / c.sr) * _decay(c.sr, 600 / c.sr, 0.004)
        for f in (600, 900, 1300)
    ]
    times, amps = _sparse(c, 25)
    return base * babble + _place(c, blips, 0.6, times, amps)


def _waves(c: Ctx) -> np.ndarray:
    t = c.t
    period = c.rng.uniform(6.0, 9.0)
    swell = 0.5 - 0.5 * np.cos(2 * np.pi * (t / period + c.rng.uniform()))
    swell = swell**2 * _slow(c.rng, c.n, c.sr, 0.2, 0.6, 1.0)
    roar = _filt(_colored(c.rng, c.n, 1.2), c.sr, 80, 2500)
    fizz = _filt(c.rng.standard_normal(c.n), c.sr, 2500, 9000) * 0.3
    return roar * (0.15 + swell) + fizz * swell


def _fire(c: Ctx) -> np.ndarray:
    roar = _filt(_colored(c.rng, c.n, 2.0), c.sr, 40, 400) * _slow(c.rng, c.n, c.sr, 2.0, 0.5, 1.0)
    crackles = [_burst(c.rng, c.sr, 0.01, 0.0015, 1000, 8000), _burst(c.rng, c.sr, 0.03, 0.006, 300, 3000)]
    times, amps = _sparse(c, 14)
    return roar * 0.6 + _place(c, crackles, 2.5, times, amps**2)


def _crowd(c: Ctx) -> np.ndarray:
    out = np.zeros(c.n)
    for f in (350, 550, 800, 1200, 1900):  # a murmur of formant bands, each with a syllabic level
        band = _filt(c.rng.standard_normal(c.n), c.sr, f * 0.8, f * 1.25)
        out += band * _slow(c.rng, c.n, c.sr, c.rng.uniform(6, 10), 0.2, 1.0)  # syllabic level
    return out * (0.8 + 0.2 * c.activity)


def _traffic(c: Ctx) -> np.ndarray:
    rumble = _filt(_colored(c.rng, c.n, 1.8), c.sr, 30, 300)
    dur = c.n / c.sr
    coarse = np.linspace(0, dur, max(2, c.n // 64))  # pass-by swells are slow: shape them at 1/64 rate
    swell = np.zeros(len(coarse))
    for centre in c.rng.uniform(0, dur, max(1, c.rng.poisson(dur / 4))):
        width = c.rng.uniform(1.0, 2.5)
        swell += np.exp(-0.5 * ((coarse - centre) / (width / 2)) ** 2)
    passes = np.interp(np.arange(c.n) / c.sr, coarse, swell)
    hiss = _filt(_colored(c.rng, c.n, 1.0), c.sr, 200, 3000)
    return rumble * 0.7 + hiss * (0.2 + passes)


def _hum(c: Ctx) -> np.ndarray:
    mains = 50.0 if c.rng.uniform() < 0.5 else 60.0
    tone = _osc(
        mains * (1 + 0.001 * _slow(c.rng, c.n, c.sr, 0.5, -1, 1)), c.n, c.sr, (1, 0.6, 0.35, 0.2, 0.1)
    )
    return tone + 0.15 * _filt(_colored(c.rng, c.n, 1.0), c.sr, 100, 4000)


def _room_tone(c: Ctx) -> np.ndarray:
    return _filt(_colored(c.rng, c.n, 1.3), c.sr, 30, 3000) * _slow(c.rng, c.n, c.sr, 0.3, 0.8, 1.0)


# --------------------------------------------------------------------------- tonal


def _engine(c: Ctx) -> np.ndarray:
    rpm = c.rng.uniform(25, 45) * (1 + 0.8 * _filt(c.activity, c.sr, None, 2, order=1))
    body = _osc(rpm, c.n, c.sr, (1, 0.8, 0.6, 0.45, 0.3, 0.2, 0.12, 0.08))
    grit = _filt(c.rng.standard_normal(c.n), c.sr, 100, 1500) * 0.3
    return np.tanh(1.5 * body) + grit * (0.5 + 0.5 * np.sin(2 * np.pi * np.cumsum(rpm) / c.sr) ** 2)


def _aircraft(c: Ctx) -> np.ndarray:
    dur = c.n / c.sr
    approach = np.exp(-0.5 * ((c.t - c.rng.uniform(0.3, 0.7) * dur) / max(dur / 3, 0.5)) ** 2)
    roar = _filt(_colored(c.rng, c.n, 1.4), c.sr, 60, 3000)
    doppler = 1 + 0.04 * np.tanh((c.rng.uniform(0.3, 0.7) * dur - c.t) / max(dur / 6, 0.2))
    whine = _osc(c.rng.uniform(900, 1600) * doppler, c.n, c.sr, (1, 0.3))
    return (roar + 0.15 * whine) * (0.3 + 0.7 * approach)


def _siren(c: Ctx) -> np.ndarray:
    rate = c.rng.uniform(0.4, 1.5)
    sweep = 0.5 - 0.5 * np.cos(2 * np.pi * rate * c.t)
    return _osc(650 + 600 * sweep, c.n, c.sr, (1, 0.4, 0.2, 0.1))


def _chirp(rng: np.random.Generator, sr: int) -> np.ndarray:
    dur = rng.uniform(0.05, 0.15)
    m = round(dur * sr)
    f0, f1 = rng.uniform(2500, 4500), rng.uniform(3000, 6500)
    f = np.linspace(f0, f1, m) * (1 + 0.08 * np.sin(np.linspace(0, rng.uniform(6, 20), m)))
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.sin(np.linspace(0, np.pi, m)) ** 2


def _bird(c: Ctx) -> np.ndarray:
    calls = []
    for _ in range(3):  # a call is a short phrase of 2-5 chirps
        parts = [
            np.concatenate([_chirp(c.rng, c.sr), np.zeros(round(c.rng.uniform(0.02, 0.08) * c.sr))])
            for _ in range(c.rng.integers(2, 6))
        ]
        calls.append(np.concatenate(parts))
    times, amps = _sparse(c, 1.2)
    return _place(c, calls, 1.0) + _place(c, calls, 0.4, times, amps)


def _insect(c: Ctx) -> np.ndarray:
    carrier = _osc(c.rng.uniform(3800, 5200), c.n, c.sr, (1, 0.2))
    pulse = (np.sin(2 * np.pi * c.rng.uniform(25, 60) * c.t) > 0.3).astype(float)
    pulse = _filt(pulse, c.sr, None, 400, order=1)
    return carrier * pulse * _slow(c.rng, c.n, c.sr, 0.5, 0.4, 1.0)


def _animal_call(c: Ctx) -> np.ndarray:
    calls = []
    for _ in range(3):
        dur = c.rng.uniform(0.15, 0.6)
        m = round(dur * c.sr)
        f = np.linspace(c.rng.uniform(250, 600), c.rng.uniform(150, 450), m)
        tone = _osc(f, m, c.sr, (1, 0.7, 0.5, 0.35, 0.2, 0.1))
        shaped = _filt(tone + 0.2 * c.rng.standard_normal(m), c.sr, 200, 3000)
        calls.append(shaped * np.sin(np.linspace(0, np.pi, m)) ** 0.5)
    return _place(c, calls, 1.0)


def _bell(c: Ctx) -> np.ndarray:
    kernels = []
    for base in c.rng.uniform(400, 1100, 3):
        m = round(2.5 * c.sr)
        tt = np.arange(m) / c.sr
        ratios, amps, taus = (1, 2.0, 2.76, 5.4, 8.93), (1, 0.5, 0.6, 0.3, 0.15), (1.6, 1.0, 0.8, 0.4, 0.2)
        kernels.append(
            sum(
                a * np.sin(2 * np.pi * base * r * tt) * np.exp(-tt / tau)
                for r, a, tau in zip(ratios, amps, taus, strict=True)
            )
        )
    return _place(c, kernels, 1.0)


def _horn(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(2):
        m = round(c.rng.uniform(0.25, 0.8) * c.sr)
        f = c.rng.uniform(350, 480)
        tone = _osc(f, m, c.sr, (1, 0.5, 0.33, 0.25)) + _osc(f * 1.26, m, c.sr, (1, 0.5, 0.33, 0.25))
        env = np.minimum(1, np.minimum(np.arange(m), m - np.arange(m)) / (0.01 * c.sr))
        kernels.append(np.tanh(tone) * env)
    return _place(c, kernels, 1.0)


def _instrument(c: Ctx) -> np.ndarray:
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14]) / 12)  # pentatonic: never dissonant
    kernels = []
    for f in c.rng.choice(scale, 4, replace=False):
        m = round(1.5 * c.sr)
        tt = np.arange(m) / c.sr
        kernels.append(
            sum(
                (0.6**k) * np.sin(2 * np.pi * f * (k + 1) * tt) * np.exp(-tt * (2 + 1.5 * k))
                for k in range(6)
            )
        )
    return _place(c, kernels, 1.0)


def _voice(c: Ctx) -> np.ndarray:
    # Non-lexical vocal murmur (vowel formants on a gliding pitch); never intelligible speech.
    f0 = c.rng.uniform(110, 220) * (1 + 0.05 * _slow(c.rng, c.n, c.sr, 3, -1, 1))
    source = _osc(f0, c.n, c.sr, tuple(1 / k for k in range(1, 13)))
    vowel = sum(
        _filt(source, c.sr, f * 0.85, f * 1.15) * g
        for f, g in ((c.rng.uniform(500, 800), 1.0), (c.rng.uniform(1000, 1600), 0.6), (2500, 0.3))
    )
    phrases = _place(c, [np.hanning(round(c.rng.uniform(0.4, 1.2) * c.sr)) for _ in range(3)], 1.0)
    syll = 0.5 + 0.5 * np.sin(2 * np.pi * c.rng.uniform(3, 5) * c.t) ** 2
    return vowel * np.clip(phrases, 0, 1) * syll


def _power_tool(c: Ctx) -> np.ndarray:
    speed = c.rng.uniform(120, 220) * (0.7 + 0.3 * np.clip(c.activity * 1.5, 0, 1))
    whine = np.tanh(2 * _osc(speed, c.n, c.sr, (1, 0.7, 0.5, 0.4, 0.3, 0.2)))
    grind = _filt(c.rng.standard_normal(c.n), c.sr, 1500, 7000) * 0.4
    on = _filt((c.activity > np.median(c.activity) * 0.8).astype(float), c.sr, None, 8, order=1)
    return (whine + grind) * (0.2 + 0.8 * on)


# --------------------------------------------------------------------------- impulses


def _footsteps(c: Ctx) -> np.ndarray:
    steps = []
    for _ in range(4):  # heel thump plus a short scuff
        step = _burst(c.rng, c.sr, 0.12, 0.025, 80, 1500)
        step[: round(0.05 * c.sr)] += 0.5 * _burst(c.rng, c.sr, 0.05, 0.008, 1500, 6000)
        steps.append(step)
    t = paced_steps(c.onsets, c.n / c.sr, c.rng)
    return _place(c, steps, 1.0, t, c.rng.uniform(0.6, 1.0, len(t)))


def paced_steps(anchors: np.ndarray, duration: float, rng: np.random.Generator) -> np.ndarray:
    """A walker's step times: a steady seeded pace through ``duration``, re-anchored on each of
    ``anchors`` (the visible steps, motion peaks), so steps land on them and never stop between."""
    pace = rng.uniform(0.45, 0.6)
    anchors = np.asarray(anchors) if len(anchors) else np.array([rng.uniform(0, pace)])
    bounds = [0.0, *((anchors[:-1] + anchors[1:]) / 2), duration]
    times = []
    for k, anchor in enumerate(anchors):  # each anchor owns the span up to the midpoints around it
        grid = anchor + pace * np.arange(-math.ceil(duration / pace), math.ceil(duration / pace) + 1)
        times.append(grid[(grid >= bounds[k]) & (grid < bounds[k + 1])])
    t = np.concatenate(times)
    return t[np.concatenate([[True], np.diff(t) > pace / 2])]  # no double steps at the seams


def _impact(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(3):
        m = round(0.4 * c.sr)
        tt = np.arange(m) / c.sr
        thump = np.sin(2 * np.pi * c.rng.uniform(50, 90) * tt * (1 - 0.3 * tt)) * np.exp(-tt / 0.07)
        kernels.append(thump + 0.6 * _burst(c.rng, c.sr, 0.4, 0.03, 200, 5000))
    return _place(c, kernels, 1.0)


def _gunshot(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(2):
        crack = _burst(c.rng, c.sr, 0.05, 0.006, 500, None, attack=0.0002)
        tail = _burst(c.rng, c.sr, 1.2, 0.25, 60, 1500, attack=0.005) * 0.5
        k = np.zeros(len(tail))
        k[: len(crack)] += crack * 2
        kernels.append(np.tanh(k + tail))
    return _place(c, kernels, 1.0)


def _knock(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(2):
        one = np.sin(2 * np.pi * c.rng.uniform(150, 260) * np.arange(round(0.12 * c.sr)) / c.sr)
        one = one * _decay(c.sr, 0.12, 0.02) + 0.4 * _burst(c.rng, c.sr, 0.12, 0.004, 1000, 4000)
        gap = round(c.rng.uniform(0.14, 0.22) * c.sr)
        count = int(c.rng.integers(2, 4))  # two or three knocks per event
        k = np.zeros(gap * (count - 1) + len(one))
        for j in range(count):
            k[j * gap : j * gap + len(one)] += one
        kernels.append(k)
    return _place(c, kernels, 1.0)


def _clap(c: Ctx) -> np.ndarray:
    kernels = [_burst(c.rng, c.sr, 0.06, 0.012, f, f * 2.2) for f in c.rng.uniform(700, 1400, 3)]
    return _place(c, kernels, 1.0)


def _splash(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(2):
        body = _burst(c.rng, c.sr, 0.8, 0.18, 300, 6000, attack=0.01)
        m = len(body)
        bubbles = np.zeros(m)
        for start in c.rng.integers(round(0.1 * c.sr), m - 400, 12):
            f = c.rng.uniform(400, 1400)
            seg = np.sin(2 * np.pi * f * np.arange(400) / c.sr * (1 + np.linspace(0, 0.5, 400)))
            bubbles[start : start + 400] += seg * np.hanning(400) * 0.3
        kernels.append(body + bubbles)
    return _place(c, kernels, 1.0)


def _typing(c: Ctx) -> np.ndarray:
    clicks = [_burst(c.rng, c.sr, 0.025, 0.003, f, f * 3) for f in (1500, 2200, 3000, 4000)]
    # Keys at 6-9 per second while there is activity; motion peaks add the harder strokes.
    times, amps = _sparse(c, c.rng.uniform(6, 9))
    active = np.interp(times, c.t, c.activity) > 0.15 if len(times) else np.zeros(0, bool)
    return _place(c, clicks, 0.7, times[active], amps[active]) + _place(c, clicks, 1.0)


def _thunder(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(2):
        m = round(c.rng.uniform(3.0, 5.0) * c.sr)
        tt = np.arange(m) / c.sr
        rumble = _filt(_colored(c.rng, m, 2.0), c.sr, 25, 300)
        env = np.minimum(tt / 0.05, 1) * np.exp(-tt / 1.2) * (0.6 + 0.4 * _slow(c.rng, m, c.sr, 4))
        crack = np.zeros(m)
        crack[: round(0.3 * c.sr)] = _burst(c.rng, c.sr, 0.3, 0.06, 300, 5000)
        kernels.append(rumble * env + crack * 0.8)
    times = c.onsets[:: max(1, len(c.onsets) // 2)]  # thunder is rare: at most a couple of strikes
    return _place(c, kernels, 1.0, times, c.strengths[:: max(1, len(c.onsets) // 2)])


def _whoosh(c: Ctx) -> np.ndarray:
    kernels = []
    for _ in range(3):
        m = round(c.rng.uniform(0.3, 0.7) * c.sr)
        noise = c.rng.standard_normal(m)
        lo = _filt(noise, c.sr, 300, 1200)
        hi = _filt(noise, c.sr, 1500, 6000)
        ramp = np.linspace(0, 1, m)
        env = np.sin(np.pi * ramp) ** 2
        kernels.append((lo * (1 - ramp) + hi * ramp) * env)
    # Centre each whoosh on its motion peak rather than starting it there.
    shift = 0.2
    return _place(c, kernels, 1.0, np.clip(c.onsets - shift, 0, None), c.strengths)


RENDERERS: dict[str, Callable[[Ctx], np.ndarray]] = {
    "rain": _rain,
    "wind": _wind,
    "water": _water,
    "waves": _waves,
    "fire": _fire,
    "crowd": _crowd,
    "traffic": _traffic,
    "hum": _hum,
    "room_tone": _room_tone,
    "engine": _engine,
    "aircraft": _aircraft,
    "siren": _siren,
    "bird": _bird,
    "insect": _insect,
    "animal_call": _animal_call,
    "bell": _bell,
    "horn": _horn,
    "instrument": _instrument,
    "voice": _voice,
    "power_tool": _power_tool,
    "footsteps": _footsteps,
    "impact": _impact,
    "gunshot": _gunshot,
    "knock": _knock,
    "clap": _clap,
    "splash": _splash,
    "typing": _typing,
    "thunder": _thunder,
    "whoosh": _whoosh,
}
assert set(RENDERERS) == set(FAMILIES)

# Minimum spacing of motion-driven events per family (seconds).
MIN_GAP = {
    "footsteps": 0.3,
    "typing": 0.12,
    "thunder": 2.0,
    "bell": 0.6,
    "horn": 0.8,
    "animal_call": 0.7,
    "bird": 0.4,
    "instrument": 0.3,
    "voice": 1.2,
    "gunshot": 0.3,
}


# --------------------------------------------------------------------------- the synthesizer


def render_family(
    family: str,
    n: int,
    sr: int,
    seed: int,
    motion: tuple[np.ndarray, np.ndarray] | None = None,
    channels: int = 1,
    starts_at_onset: bool = False,
) -> np.ndarray:
    """Synthesise ``n`` samples of one family as ``(n, channels)``, peak-normalised to 0.5.

    Beds are rendered per channel (decorrelated stereo); events and tones are mono, panned by seed.
    ``starts_at_onset``: the first onset is at sample 0 (a timed event starts with its sound).
    """
    rng = np.random.default_rng(seed)
    duration = n / sr
    gap = MIN_GAP.get(family, 0.25)
    onsets, strengths = motion_onsets(motion, duration, rng, min_gap=gap)
    if starts_at_onset:  # a timed event: its first sound is at its start
        keep = onsets >= gap
        onsets, strengths = np.concatenate([[0.0], onsets[keep]]), np.concatenate([[1.0], strengths[keep]])
    activity = motion_envelope(motion, n, sr)
    chans = channels if family in BEDS else 1
    out = np.empty((n, chans))
    for ch in range(chans):
        ctx = Ctx(n, sr, np.random.default_rng([seed, ch]), onsets, strengths, activity)
        out[:, ch] = RENDERERS[family](ctx)[:n]
    if channels == 2 and chans == 1:
        theta = (rng.uniform(-0.35, 0.35) + 1) * np.pi / 4  # constant-power pan
        out = out[:, 0:1] * np.array([[np.cos(theta), np.sin(theta)]]) * np.sqrt(2)
    elif channels == 2:
        out[:, 1] = 0.6 * out[:, 0] + 0.8 * out[:, 1]  # partly correlated: a wide but stable image
    peak = float(np.max(np.abs(out))) if n else 0.0
    return (out * (0.5 / peak) if peak > 1e-9 else out).astype(np.float32)


class ProceduralSynth:
    """The embedded default synthesizer (preview quality; see the module docstring)."""

    name = "procedural"

    def __init__(self, settings: SynthSettings | None = None) -> None:
        self.settings = settings or SynthSettings()

    def render(
        self,
        spec: LayerSpec,
        out_wav: str | Path,
        *,
        sample_rate: int,
        channels: int,
        layout: Layout | None = None,
    ) -> RenderedLayer:
        """Render the layer's families, mixed (primary label loudest), to ``out_wav``.

        Arguments:
            spec: the layer; ``labels``/``prompt`` choose families, ``seed`` fixes every random choice.
                A timed event (``spec.event`` set) is rendered for its own span and its first
                impulse falls on its start.
            out_wav: destination WAV (32-bit float), written atomically.
            sample_rate: Hz.
            channels: 1 or 2.
            layout: output folder holding the video's ``frames.parquet`` (motion); None = no motion.

        Returns:
            The rendered layer.
        """
        n = max(1, round((spec.end_s - spec.start_s) * sample_rate))
        motion = scene_motion(layout, spec)
        mix = np.zeros((n, channels), np.float64)
        for i, family in enumerate(families_for(spec)):
            part = render_family(family, n, sample_rate, spec.seed * 31 + i, motion, channels,
                                 starts_at_onset=spec.event is not None)
            rms = float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))
            weight = 1.0 if i == 0 else 0.6
            if rms > 1e-9:  # equal loudness per family (events are judged by their RMS while active)
                mix += part * (weight * 0.1 / rms)
        peak = float(np.max(np.abs(mix)))
        if peak > 0.9:
            mix *= 0.9 / peak
        write_wav(out_wav, mix.astype(np.float32), sample_rate)
        return RenderedLayer(spec=spec, wav_path=str(out_wav), sample_rate=sample_rate, backend=self.name)
