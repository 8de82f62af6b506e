"""The sound-library synthesizer: real recordings placed where a model would generate.

Each label of a layer (or, later, each timed event) becomes a span, and :func:`place_recordings`
fills it from the indexed library (:mod:`lvas.backends.sound_index`):

1. retrieve: the recordings closest to the label by embedding similarity, less those whose text
   names something the negative prompt excludes (music, speech...);
2. judge: a recording is relevant when its similarity reaches ``library_min_score`` and its sound
   family (the procedural synthesizer's label families) does not contradict the label's; then fit
   orders them: a one-shot for an event, a steady or long recording for a bed;
3. place: events put a recording's onset exactly on each planned time (offline, the motion onsets
   of the scene's frames, as the procedural synthesizer times its impulses), never the same
   recording twice in a row when there is a choice; beds are cut from a random offset and, when
   the span is longer than the recording, looped with equal-power crossfades;
4. resample to the mix rate and channel count.

What the library does not cover is rendered by the procedural synthesizer for that label alone,
with the reason recorded. Every placed sound is recorded, with its file, licence and
attribution, in ``layers/sceneNNNN_<layer>.sounds.json`` beside the layer's WAV
(:func:`sound_credits` reads them back). Same index, spec and seed give the same bytes.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
from scipy import signal

from lvas.backends.procedural import (
    BEDS,
    MIN_GAP,
    families_for,
    family_of,
    motion_onsets,
    paced_steps,
    render_family,
    scene_motion,
)
from lvas.backends.sound_index import SoundHit, SoundIndex
from lvas.backends.synth import equal_power_fades, fit_channels, write_wav
from lvas.errors import BackendUnavailable, RenderError
from lvas.models import LayerSpec, RenderedLayer
from lvas.settings import SynthSettings
from lvas.storage.atomic import write_json

if TYPE_CHECKING:
    from lvas.storage.layout import Layout

# Continuous sources that make a bed; every other family is placed as events.
BED_FAMILIES = frozenset(BEDS) | {"engine", "aircraft", "siren", "insect", "power_tool"}
CANDIDATES = 12  # recordings retrieved per span before judging
POOL_MARGIN = 0.08  # recordings within this of the best fit are all used, for variety
POOL_MAX = 6
UNKNOWN_FAMILY_MARGIN = 0.05  # a recording or label without a family needs this much more similarity
OVERLAP_AFTER = 0.6  # the next event may start once this share of the previous one has sounded
EVENT_MAX_S = 2.5  # an event longer than this is cut (faded) here
PRE_ATTACK_S = 0.02  # an excerpt of a long recording starts this long before its onset
PITCH_SEMITONES = 0.5  # events are played up to this much higher or lower
EDGE_FADE_S = 0.01  # fades at the ends of a cut recording and of a bed
BED_XFADE_S = 0.5  # crossfade at a loop seam (less for short recordings)
CACHE_BYTES = 256 << 20  # decoded, resampled recordings kept per process


@dataclass(frozen=True)
class SpanRequest:
    """One sound to place: a label over a time span of a scene.

    Attributes:
        label: the sound (a knowledge-base label or a free description).
        prompt: the event's description; when it says more than the label, retrieval uses both.
        layer: ``foreground`` or ``background``.
        start_s, end_s: the span in seconds from the scene start.
        onsets: planned event times in seconds from the span start; None = from the scene's motion.
    """

    label: str
    prompt: str
    layer: str
    start_s: float
    end_s: float
    onsets: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Placement:
    """One recording placed in a scene (a row of the per-layer record).

    Attributes:
        label, layer: what it was placed for.
        path: the recording ("" for a procedural fallback).
        start_s, end_s: where it sounds, in seconds from the scene start.
        onset_s: for an event, the planned time its onset was put on (scene time); else None.
        file_offset_s: where in the recording the placed audio starts.
        score: its similarity to the label.
        license, attribution: from its tags or its free set ("" when unknown: see your library's terms).
        backend: ``library`` or ``procedural``.
        reason: why the procedural synthesizer was used ("" for a recording).
    """

    label: str
    layer: str
    path: str
    start_s: float
    end_s: float
    onset_s: float | None
    file_offset_s: float
    score: float
    license: str
    attribution: str
    backend: str = "library"
    reason: str = ""


@dataclass
class SpanResult:
    """The audio of one span (``(samples, channels)``, None when not covered) and what made it."""

    audio: np.ndarray | None
    placements: list[Placement] = field(default_factory=list)
    reason: str = ""


class SoundLibrary:
    """The index plus what placing needs: relevance rules and a cache of decoded recordings.

    Arguments:
        index: the opened index.
        min_score: the least similarity a recording needs.
        roots: only recordings indexed under these folders (None: all).
        exclude: words (e.g. the negative prompt's) that disqualify a recording whose text has them.
    """

    def __init__(self, index: SoundIndex, min_score: float = 0.5, roots: list[str] | None = None,
                 exclude: str = "") -> None:
        self.index, self.min_score, self.roots = index, min_score, roots
        self.exclude = {w.strip().lower() for w in re.split(r"[,;]", exclude) if w.strip()}
        self._cache: OrderedDict[tuple[str, int, int], np.ndarray] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def candidates(self, label: str, mode: str, prompt: str = "") -> tuple[list[SoundHit], str]:
        """The recordings to use for ``label`` (described by ``prompt``, when it says more) placed as
        ``mode`` (``event`` or ``bed``), best fit first, and the reason when there is none."""
        query = label if prompt.strip().lower() in ("", label.strip().lower()) else f"{label}: {prompt}"
        hits = self.index.query(query, k=CANDIDATES, roots=self.roots)
        want = family_of(label)
        judged: list[tuple[float, SoundHit]] = []
        best_rejected = ""
        for hit in hits:
            name = str(hit.meta.get("name", ""))
            words = set(re.findall(r"[a-z]+", str(hit.meta.get("words", name)).lower()))
            have = family_of(str(hit.meta.get("words", name)))
            need = self.min_score + (UNKNOWN_FAMILY_MARGIN if want is None or have is None else 0.0)
            if self.exclude & words:
                why = f"'{name}' is excluded ({', '.join(sorted(self.exclude & words))})"
            elif want and have and want != have:
                why = f"'{name}' is {have}, not {want}"
            elif hit.score < need:
                why = f"'{name}' is too far ({hit.score:.2f} < {need:.2f})"
            elif mode == "bed" and hit.shape == "oneshot":
                why = f"'{name}' is a one-shot, not a bed"
            else:
                judged.append((hit.score + _fit(hit, mode), hit))
                continue
            best_rejected = best_rejected or why
        if not judged:
            return [], f"no recording matches '{label}'" + (f": best {best_rejected}" if best_rejected else "")
        judged.sort(key=lambda sh: (-sh[0], sh[1].path))
        top = judged[0][0]
        return [h for s, h in judged if s >= top - POOL_MARGIN][:POOL_MAX], ""

    def clip(self, path: str, sample_rate: int, channels: int) -> np.ndarray:
        """A recording decoded, resampled to ``sample_rate`` and fitted to ``channels`` (cached).

        Raises:
            RenderError: it cannot be read any more (moved or broken since it was indexed).
        """
        key = (path, sample_rate, channels)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        try:
            data, sr = sf.read(path, dtype="float32", always_2d=True)
        except Exception as exc:  # libsndfile errors, missing file
            raise RenderError(f"sound library: cannot read {path} ({exc}); run `lvas library index` again") from exc
        audio = fit_channels(resample(data, sr, sample_rate), channels).astype(np.float32)
        with self._lock:
            self._cache[key] = audio
            self._cached_bytes += audio.nbytes
            while self._cached_bytes > CACHE_BYTES and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.nbytes
        return audio


def _fit(hit: SoundHit, mode: str) -> float:
    """How well a recording's shape suits the use: added to its similarity."""
    if mode == "event":
        return {"oneshot": 0.1, "varied": 0.0}.get(hit.shape, -0.15)
    return {"steady": 0.1, "varied": 0.05 if hit.duration_s >= 4.0 else -0.1}.get(hit.shape, -1.0)


def mode_for(label: str, layer: str) -> str:
    """``bed`` for continuous sources (rain, engines...), ``event`` for the rest; a label of no known
    family is a bed in the background layer and events in the foreground."""
    family = family_of(label)
    if family is None:
        return "bed" if layer == "background" else "event"
    return "bed" if family in BED_FAMILIES else "event"


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """``(samples, channels)`` from ``sr_in`` to ``sr_out`` Hz by polyphase filtering."""
    if sr_in == sr_out:
        return audio
    g = math.gcd(sr_in, sr_out)
    return signal.resample_poly(audio, sr_out // g, sr_in // g, axis=0).astype(np.float32)


# --------------------------------------------------------------------------- placing


def place_recordings(
    library: SoundLibrary,
    span: SpanRequest,
    *,
    sample_rate: int,
    channels: int,
    seed: int,
    motion: tuple[np.ndarray, np.ndarray] | None = None,
    avoid: frozenset[str] = frozenset(),
) -> SpanResult:
    """Fill one span with recordings from the library.

    Arguments:
        library: the library.
        span: the label, layer, span (scene time) and planned onsets.
        sample_rate, channels: of the result.
        seed: fixes every choice (recording, offset, level).
        motion: the scene's ``(t, motion)`` (t from the scene start), for onsets when the span has none.
        avoid: recordings already used beside this span (another label of the layer): left out when
            the library has others that fit as well.

    Returns:
        ``(round(span duration * sample_rate), channels)`` audio and one placement per recording
        placed; or no audio and the reason when the library does not cover the label.

    Raises:
        BackendUnavailable: there is no index.
        RenderError: a recording chosen cannot be read.
    """
    n = max(1, round((span.end_s - span.start_s) * sample_rate))
    mode = mode_for(span.label, span.layer)
    pool, reason = library.candidates(span.label, mode, span.prompt)
    if not pool:
        return SpanResult(None, [], reason)
    pool = [h for h in pool if h.path not in avoid] or pool
    rng = np.random.default_rng(seed)
    if mode == "bed":
        return _bed(library, span, pool, n, sample_rate, channels, rng)
    duration = n / sample_rate
    if span.onsets is not None:
        onsets, strengths = np.asarray(span.onsets, np.float64), np.ones(len(span.onsets))
    else:
        local = None
        if motion is not None:
            t, m = motion
            keep = (t >= span.start_s) & (t < span.end_s)
            local = (t[keep] - span.start_s, m[keep]) if keep.sum() >= 3 else None
        family = family_of(span.label) or ""
        onsets, strengths = motion_onsets(local, duration, rng, min_gap=MIN_GAP.get(family, 0.25))
        if family == "footsteps":  # a walker keeps stepping between the visible steps
            onsets = paced_steps(onsets, duration, rng)
            strengths = rng.uniform(0.6, 1.0, len(onsets))
    keep = (onsets >= 0) & (onsets < duration)
    return _events(library, span, pool, onsets[keep], strengths[keep], n, sample_rate, channels, rng)


def _events(library: SoundLibrary, span: SpanRequest, pool: list[SoundHit], onsets: np.ndarray,
            strengths: np.ndarray, n: int, sr: int, channels: int, rng: np.random.Generator) -> SpanResult:
    out = np.zeros((n, channels), np.float32)
    placements: list[Placement] = []
    previous: tuple[str, float] | None = None
    free_at = -math.inf  # a long event (a neigh, a crow) is not restarted before most of it has sounded
    for t, strength in zip(onsets.tolist(), strengths.tolist(), strict=True):
        if t < free_at:
            continue
        hit, start = _pick_excerpt(pool, previous, rng)
        previous = (hit.path, start)
        clip = library.clip(hit.path, sr, channels)
        oneshot = hit.shape == "oneshot"
        # a one-shot is played whole; a long recording from one of its onsets, with a little pre-attack
        onset = round(float(hit.meta.get("onset_s", 0.0) if oneshot else start) * sr)
        head = onset if oneshot else min(onset, round(PRE_ATTACK_S * sr))
        first = onset - head
        limit = len(clip) if oneshot else onset + round(EVENT_MAX_S * sr)
        piece = clip[first:min(limit, len(clip))].copy()
        if len(piece) == 0:
            continue
        if limit < len(clip):
            _fade(piece, out_only=True, sr=sr)
        piece, head = _vary_pitch(piece, head, rng)
        peak = float(np.max(np.abs(piece)))
        level = strength * 10 ** (rng.uniform(-2.0, 0.0) / 20) * (0.5 / peak if peak > 1e-9 else 1.0)
        at = round(t * sr) - head  # the onset sample lands exactly on the planned time
        lo, hi = max(at, 0), min(at + len(piece), n)
        if hi <= lo:
            continue
        out[lo:hi] += piece[lo - at:hi - at] * level
        free_at = t + OVERLAP_AFTER * (len(piece) - head) / sr
        placements.append(Placement(
            label=span.label, layer=span.layer, path=hit.path, start_s=round(span.start_s + lo / sr, 4),
            end_s=round(span.start_s + hi / sr, 4), onset_s=round(span.start_s + t, 4),
            file_offset_s=round(first / sr, 4), score=hit.score,
            license=str(hit.meta.get("license", "")), attribution=str(hit.meta.get("attribution", "")),
        ))
    if not placements:
        return SpanResult(None, [], f"no event to place for '{span.label}' in {n / sr:.2f} s")
    if np.any(out[-1]):  # a recording cut by the span's end is faded, not clipped
        _fade(out, out_only=True, sr=sr)
    return SpanResult(out, placements)


def _vary_pitch(piece: np.ndarray, head: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Play ``piece`` up to half a semitone faster or slower (so a repeated recording is not
    identical each time); returns it and where its onset (``head`` samples in) now is."""
    speed = 2 ** (rng.uniform(-PITCH_SEMITONES, PITCH_SEMITONES) / 12)
    up, down = 50, round(50 * speed)  # 2% steps: a short polyphase filter
    if up == down:
        return piece, head
    return signal.resample_poly(piece, up, down, axis=0).astype(np.float32), round(head * up / down)


def _pick_excerpt(pool: list[SoundHit], previous: tuple[str, float] | None,
                  rng: np.random.Generator) -> tuple[SoundHit, float]:
    """A recording (and, for a long one, which of its onsets) not equal to the previous choice when
    there is another to choose."""
    choices = [(h, t) for h in pool for t in ((h.meta.get("onset_s", 0.0),) if h.shape == "oneshot"
                                                else (h.onsets or (0.0,)))]
    fresh = [c for c in choices if (c[0].path, float(c[1])) != previous] or choices
    hit, t = fresh[int(rng.integers(len(fresh)))]
    return hit, float(t)


def _bed(library: SoundLibrary, span: SpanRequest, pool: list[SoundHit], n: int, sr: int, channels: int,
         rng: np.random.Generator) -> SpanResult:
    out = np.zeros((n, channels), np.float64)
    power = np.zeros(n)
    placements: list[Placement] = []
    pos, previous = 0, ""
    while pos < n:
        fresh = [h for h in pool if h.path != previous] or pool
        hit = fresh[int(rng.integers(len(fresh)))]
        previous = hit.path
        clip = library.clip(hit.path, sr, channels)
        xf = min(round(BED_XFADE_S * sr), len(clip) // 4)
        length = min(len(clip), n - pos + (xf if pos else 0))
        offset = int(rng.integers(0, len(clip) - length + 1))
        piece = clip[offset:offset + length].astype(np.float64)
        rms = float(np.sqrt(np.mean(piece**2)))
        piece *= 0.1 / rms if rms > 1e-9 else 1.0
        start = pos - xf if pos else 0
        gain = np.ones(length)
        if pos and xf:
            gain[:xf] = equal_power_fades(xf)[1]
        if start + length < n and xf:  # another piece follows: fade out into it
            gain[-xf:] = equal_power_fades(xf)[0]
        end = min(start + length, n)
        out[start:end] += piece[: end - start] * gain[: end - start, None]
        power[start:end] += gain[: end - start] ** 2
        placements.append(Placement(
            label=span.label, layer=span.layer, path=hit.path, start_s=round(span.start_s + start / sr, 4),
            end_s=round(span.start_s + end / sr, 4), onset_s=None, file_offset_s=round(offset / sr, 4),
            score=hit.score, license=str(hit.meta.get("license", "")),
            attribution=str(hit.meta.get("attribution", "")),
        ))
        pos = end
    audio = (out / np.sqrt(np.maximum(power, 1e-12))[:, None]).astype(np.float32)
    _fade(audio, out_only=False, sr=sr)
    return SpanResult(audio, placements)


def _fade(audio: np.ndarray, *, out_only: bool, sr: int) -> None:
    """Short linear fades (in place) at the end, and at the start unless ``out_only``."""
    m = min(round(EDGE_FADE_S * sr), len(audio) // 2)
    if m < 1:
        return
    ramp = np.linspace(0.0, 1.0, m, endpoint=False)[:, None]
    audio[-m:] *= ramp[::-1]
    if not out_only:
        audio[:m] *= ramp


# --------------------------------------------------------------------------- the synthesizer


def record_path(out_wav: str | Path) -> Path:
    """The record of the sounds placed in a layer: beside its WAV, ``<name>.sounds.json``."""
    p = Path(out_wav)
    return p.with_name(p.stem + ".sounds.json")


class LibrarySynth:
    """Renders a layer from the sound library, label by label, with the procedural synthesizer for
    what the library does not cover (see the module docstring)."""

    name = "library"

    def __init__(self, settings: SynthSettings | None = None) -> None:
        self.settings = settings or SynthSettings()
        self._library: SoundLibrary | None = None

    @property
    def library(self) -> SoundLibrary:
        """The opened library.

        Raises:
            BackendUnavailable: no index, or an index without a usable recording.
        """
        if self._library is None:
            s = self.settings
            roots = [r for r in (s.library_dir or "").split(os.pathsep) if r] or None
            index = SoundIndex.open(s.library_index)
            if index.count(roots) == 0:
                what = f"no usable recording under {s.library_dir}" if roots else "no usable recording"
                raise BackendUnavailable(
                    f"the sound library index at {index.where} has {what}: run `lvas library index "
                    f"{s.library_dir or 'FOLDER'}` (or `lvas library index --installed`)")
            self._library = SoundLibrary(index, s.library_min_score, roots, exclude=s.negative_prompt)
        return self._library

    def render(self, spec: LayerSpec, out_wav: str | Path, *, sample_rate: int, channels: int,
               layout: Layout | None = None) -> RenderedLayer:
        """Render the layer's labels from recordings (primary label loudest) to ``out_wav``, and
        record the sounds placed beside it.

        Arguments:
            spec: the layer; each label is retrieved and placed over the whole scene.
            out_wav: destination WAV (32-bit float), written atomically.
            sample_rate, channels: of the WAV.
            layout: output folder holding the video's ``frames.parquet`` (event times); None = none.

        Returns:
            The rendered layer; its backend is ``library``, or ``library+procedural`` when some
            label fell back.

        Raises:
            BackendUnavailable: the library has no index.
            RenderError: a recording cannot be read, or the audio is not finite.
        """
        duration = spec.end_s - spec.start_s
        n = max(1, round(duration * sample_rate))
        motion = scene_motion(layout, spec)
        mix = np.zeros((n, channels), np.float64)
        rows: list[Placement] = []
        labels = list(dict.fromkeys(spec.labels))[:4]
        for i, label in enumerate(labels):
            seed = spec.seed * 31 + i
            span = SpanRequest(label, label, spec.kind, 0.0, duration)  # the layer's prompt joins all its labels
            used = frozenset(r.path for r in rows if r.path)
            got = place_recordings(self.library, span, sample_rate=sample_rate, channels=channels, seed=seed,
                                   motion=motion, avoid=used)
            part = got.audio
            if part is None:
                family = families_for(spec.model_copy(update={"labels": [label], "prompt": label}))[0]
                part = render_family(family, n, sample_rate, seed, motion, channels)
                rows.append(Placement(label, spec.kind, "", 0.0, round(duration, 4), None, 0.0, 0.0, "", "",
                                      backend="procedural", reason=f"{got.reason}; procedural '{family}'"))
            rows.extend(got.placements)
            rms = float(np.sqrt(np.mean(part.astype(np.float64) ** 2)))
            if rms > 1e-9:
                mix += part * ((1.0 if i == 0 else 0.6) * 0.1 / rms)
        peak = float(np.max(np.abs(mix)))
        if peak > 0.9:
            mix *= 0.9 / peak
        write_wav(out_wav, mix.astype(np.float32), sample_rate)
        backend = "library" if all(r.backend == "library" for r in rows) else "library+procedural"
        write_json(record_path(out_wav), {
            "video_id": spec.video_id, "scene_index": spec.scene_index, "layer": spec.kind,
            "backend": backend, "sounds": [asdict(r) for r in rows],
        })
        return RenderedLayer(spec=spec, wav_path=str(out_wav), sample_rate=sample_rate, backend=backend)


def sound_credits(layout: Layout, video_id: str) -> list[dict[str, Any]]:
    """Every sound placed in a video's layers by the library synthesizer, scene by scene.

    Arguments:
        layout: the output folder.
        video_id: the video.

    Returns:
        Rows with ``scene_index`` and the :class:`Placement` fields; empty when no layer was
        rendered by the library synthesizer.
    """
    import json

    rows: list[dict[str, Any]] = []
    folder = layout.video_dir(video_id) / "layers"
    for path in sorted(folder.glob("scene*.sounds.json")):
        record = json.loads(path.read_text())
        rows.extend({"scene_index": record["scene_index"], **s} for s in record["sounds"])
    return rows
