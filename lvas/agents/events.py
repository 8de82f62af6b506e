"""A scene's design as a timeline of events, and the rules every timeline obeys.

Each :class:`~lvas.models.SoundItem` of a design is one timed event of its layer (Audio-Agent's
atomic generation call): a start and an end in seconds from the scene's start, and a gain in dB
relative to its layer. The rules, from ``AgentSettings``:

* every event lies inside the scene and lasts at least ``min_event_s``;
* at most ``max_concurrent_events`` events sound at once (both layers counted);
* at least one background event reaches the end of the scene (the bed never drops out);
* a label is a knowledge-base label, and never an excluded one (speech and music unless allowed).

:func:`check_items` names every broken rule (the design loop sends the reasons back to the
Designer); :func:`fit_items` repairs a design so the rules hold whatever a model answered (times
clipped, too-short events dropped, the least important events dropped while too many overlap, a
background stretched to the end). :func:`place_items` gives untimed items times from what the
offline agents can measure (:class:`SceneTiming`); :func:`scene_events` turns a final design into
the cue sheet's events.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from lvas.models import LayerKind, Scene, SoundDesign, SoundEvent, SoundItem
from lvas.settings import AgentSettings

EPS = 1e-6
LAYERS: tuple[tuple[str, LayerKind], ...] = (("audio", "foreground"), ("background", "background"))


def item_gain_db(item: SoundItem) -> float:
    """The item's gain relative to its layer: ``gain_db``, else ``volume`` in dB (floor -40 dB)."""
    if item.gain_db is not None:
        return float(item.gain_db)
    return round(20 * math.log10(max(item.volume, 0.01)), 3)


def item_span(item: SoundItem, duration: float) -> tuple[float, float]:
    """``(start, end)`` of an item in seconds from the scene start (None edges are the scene's)."""
    start = 0.0 if item.start_s is None else float(item.start_s)
    end = duration if item.end_s is None else float(item.end_s)
    return start, end


def max_concurrent(spans: Sequence[tuple[float, float]]) -> tuple[int, float]:
    """The most spans sounding at once and the first time it happens (an end at t closes before a
    start at t opens)."""
    points = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda p: (p[0], p[1]))
    best, at, now = 0, 0.0, 0
    for t, step in points:
        now += step
        if now > best:
            best, at = now, t
    return best, at


def _timed(design: SoundDesign) -> list[tuple[str, SoundItem]]:
    return [(layer, item) for key, layer in LAYERS for item in getattr(design, key)]


def check_items(
    design: SoundDesign,
    duration: float,
    settings: AgentSettings,
    known: Collection[str] | None = None,
    excluded: Collection[str] = (),
) -> list[str]:
    """Every rule the design's timeline breaks, as reasons a Designer can act on (empty: none).

    Arguments:
        design: the design (its items' times are from the scene start).
        duration: the scene's length in seconds.
        settings: the agents section (the limits).
        known: the knowledge base's labels; None skips the unknown-label check.
        excluded: labels that must not be used (speech and music unless allowed).

    Returns:
        One sentence per problem, naming the item.
    """
    problems: list[str] = []
    spans = []
    for layer, item in _timed(design):
        start, end = item_span(item, duration)
        name = f"{layer} {item.description!r}"
        if not (math.isfinite(start) and math.isfinite(end)):
            problems.append(f"{name}: times must be numbers")
            continue
        if start < -EPS or end > duration + EPS:
            problems.append(f"{name}: {start:g}-{end:g} s is outside the scene (0-{duration:g} s)")
        if end - start < settings.min_event_s - EPS:
            problems.append(f"{name}: {start:g}-{end:g} s is shorter than {settings.min_event_s:g} s")
        if item.label is not None and known is not None and item.label not in known:
            problems.append(f"{name}: label {item.label!r} is not in the sound library")
        if item.label is not None and item.label in excluded:
            problems.append(f"{name}: label {item.label!r} is speech or music, which this run excludes")
        spans.append((max(0.0, start), min(duration, end)))
    most, at = max_concurrent(spans)
    if most > settings.max_concurrent_events:
        problems.append(f"{most} events sound at once at {at:g} s; at most {settings.max_concurrent_events}")
    if design.background and not any(item_span(i, duration)[1] >= duration - EPS for i in design.background):
        problems.append(f"no background event reaches the end of the scene ({duration:g} s)")
    return problems


def fit_items(design: SoundDesign, duration: float, settings: AgentSettings, excluded: Collection[str] = ()
              ) -> SoundDesign:
    """Repair ``design`` so its timeline obeys the rules (see the module docstring).

    Times are clipped to the scene and written out (no None edges left); events shorter than
    ``min_event_s`` and events with an excluded label are dropped; while too many overlap, the
    least important event goes (secondary before primary, foreground before background, later
    before earlier); the background event that ends last is stretched to the scene's end.

    Returns:
        A new SoundDesign whose every item has ``start_s``, ``end_s`` and ``gain_db`` set.
    """
    timed: list[tuple[str, int, SoundItem]] = []
    for key, _ in LAYERS:
        for k, item in enumerate(getattr(design, key)):
            if item.label is not None and item.label in excluded:
                continue
            start, end = item_span(item, duration)
            if not (math.isfinite(start) and math.isfinite(end)):
                start, end = 0.0, duration
            start, end = round(min(max(0.0, start), duration), 4), round(min(max(0.0, end), duration), 4)
            if end - start < min(settings.min_event_s, duration) - EPS:
                continue
            fixed = item.model_copy(update={"start_s": start, "end_s": end, "gain_db": item_gain_db(item)})
            timed.append((key, k, fixed))

    def importance(t: tuple[str, int, SoundItem]) -> tuple:
        key, k, item = t
        return (item.primary, key == "background", -(item.start_s or 0.0), -k)

    keep = list(timed)
    while True:
        background = [t for t in keep if t[0] == "background"]
        if background and not any(t[2].end_s >= duration - EPS for t in background):
            key, k, last = max(background, key=lambda t: (t[2].end_s, t[2].primary))
            keep[keep.index((key, k, last))] = (key, k, last.model_copy(update={"end_s": round(duration, 4)}))
        most, at = max_concurrent([(i.start_s, i.end_s) for _, _, i in keep])
        if most <= settings.max_concurrent_events:
            break
        keep.remove(min((t for t in keep if t[2].start_s <= at < t[2].end_s), key=importance))
    out = {key: [i for kk, _, i in keep if kk == key] for key, _ in LAYERS}
    for key in out:
        if out[key] and not any(i.primary for i in out[key]):
            out[key][0] = out[key][0].model_copy(update={"primary": True})
    return design.model_copy(update={"audio": out["audio"], "background": out["background"]})


# --------------------------------------------------------------------------- offline timing


@dataclass(frozen=True)
class TimedCue:
    """A stretch of a scene (seconds from its start) with text that says what sounds there."""

    start_s: float
    end_s: float
    text: str
    layer: LayerKind | None = None
    gain_db: float | None = None


@dataclass(frozen=True)
class SceneTiming:
    """What the offline agents can measure about when things happen in a scene (times from its start).

    Attributes:
        duration: the scene's length.
        onsets: motion onsets (a rise of the frame-difference motion) and shot cuts inside the scene.
        active: segments of sustained motion.
        cues: caption segments of a sidecar, with their text.
        events: timed sound events a sidecar names; they join the design as they are.
    """

    duration: float
    onsets: tuple[float, ...] = ()
    active: tuple[tuple[float, float], ...] = ()
    cues: tuple[TimedCue, ...] = ()
    events: tuple[TimedCue, ...] = field(default=())


def _stems(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z]{3,}", text.lower())}


def place_items(design: SoundDesign, timing: SceneTiming) -> SoundDesign:
    """Give the untimed items of ``design`` times from measurements; add a sidecar's timed events.

    * A foreground item named by a sidecar caption segment (sharing a word with it) sounds over
      that segment.
    * Otherwise it sounds from the first onset (motion onset or cut) to the end of the last
      segment of sustained motion; with no motion measured, over the whole scene.
    * Background items span the whole scene (ambience is continuous).
    * Sidecar events are added with their own times, layer and gain (unless the design already
      has an item of the same description).

    Items that already have times (a model's plan) are left alone.
    """
    d = timing.duration

    def fg_span(item: SoundItem) -> tuple[float, float]:
        words = _stems(item.description)
        for cue in timing.cues:
            if words & _stems(cue.text):
                return cue.start_s, cue.end_s
        starts = [t for t in timing.onsets if t < d] + [a for a, _ in timing.active]
        if not starts:
            return 0.0, d
        start = min(starts)
        end = max([b for _, b in timing.active if b > start], default=d)
        return (start, end) if end - start >= min(0.5, d) else (start, d)

    def timed(item: SoundItem, layer: str) -> SoundItem:
        if item.start_s is not None or item.end_s is not None:
            return item
        start, end = fg_span(item) if layer == "audio" else (0.0, d)
        return item.model_copy(update={"start_s": round(start, 4), "end_s": round(end, 4)})

    audio = [timed(i, "audio") for i in design.audio]
    background = [timed(i, "background") for i in design.background]
    have = {i.description.strip().lower() for i in (*audio, *background)}
    for ev in timing.events:
        if ev.text.strip().lower() in have:
            continue
        item = SoundItem(description=ev.text.strip(), primary=False, start_s=ev.start_s, end_s=ev.end_s,
                         gain_db=ev.gain_db)
        (background if ev.layer == "background" else audio).append(item)
        have.add(ev.text.strip().lower())
    return design.model_copy(update={"audio": audio, "background": background})


def motion_timing(t: Sequence[float], motion: Sequence[float], duration: float,
                  min_active_s: float = 0.3, guard_s: float = 0.1) -> tuple[list[float], list[tuple[float, float]]]:
    """Motion onsets and sustained-motion segments of a scene from its frame-difference motion.

    A frame is active when its motion stands above the scene's median by a quarter of the range;
    an onset is the start of an active run; a run lasting at least ``min_active_s`` is a segment.
    The first and last ``guard_s`` are ignored (a frame difference there measures the cut).

    Arguments:
        t: frame times from the scene start.
        motion: the frames' motion values.
        duration: the scene's length.

    Returns:
        ``(onsets, segments)``, times from the scene start.
    """
    pairs = [(float(a), float(m)) for a, m in zip(t, motion, strict=True)
             if guard_s <= a < duration - guard_s and math.isfinite(m)]
    if len(pairs) < 3:
        return [], []
    values = sorted(m for _, m in pairs)
    median, span = values[len(values) // 2], values[-1] - values[0]
    if span <= 1e-9:
        return [], []
    threshold = median + 0.25 * span
    onsets, segments, run_start = [], [], None
    step = (pairs[-1][0] - pairs[0][0]) / max(1, len(pairs) - 1)
    for a, m in pairs:
        if m > threshold and run_start is None:
            run_start = a
            onsets.append(round(a, 4))
        elif m <= threshold and run_start is not None:
            if a - run_start >= min_active_s:
                segments.append((round(run_start, 4), round(a, 4)))
            run_start = None
    if run_start is not None and pairs[-1][0] + step - run_start >= min_active_s:
        segments.append((round(run_start, 4), round(min(duration, pairs[-1][0] + step), 4)))
    return onsets, segments


# --------------------------------------------------------------------------- events


def scene_events(scene: Scene, design: SoundDesign, settings: AgentSettings, excluded: Collection[str] = ()
                 ) -> list[SoundEvent]:
    """The timed events of a scene's final design, on the video's timeline.

    The design is repaired first (:func:`fit_items`), so the events obey the rules whatever was
    stored. A foreground event's gain includes the Designer's foreground level (``design.volume``).

    Returns:
        Events in design order (foreground first), times in video seconds.
    """
    fitted = fit_items(design, scene.duration_s, settings, excluded)
    fg_level = 20 * math.log10(max(design.volume, 0.01)) if design.volume < 1 else 0.0
    events = []
    for key, layer in LAYERS:
        for item in getattr(fitted, key):
            gain = (item.gain_db or 0.0) + (fg_level if layer == "foreground" else 0.0)
            events.append(SoundEvent(
                scene_index=scene.index, index=len(events), layer=layer, label=item.label or "",
                prompt=(item.label or item.description).strip(), start_s=round(scene.start_s + item.start_s, 4),
                end_s=round(scene.start_s + item.end_s, 4), gain_db=round(gain, 3), scenes=(scene.index,),
            ))
    return events


def join_continuing(events: Sequence[SoundEvent], scenes: Sequence[Scene], tolerance_s: float = 1e-3
                    ) -> list[SoundEvent]:
    """Ambience continuity: a background event that reaches a cut joins the next scene's background
    event of the same label starting at that cut; the joined event spans both (one render, one seed,
    no restart at the cut) and keeps the first event's scene, index and gain.

    Arguments:
        events: every event of a video, scene by scene.
        scenes: the video's scenes.

    Returns:
        The events with continuing beds merged, in time order.
    """
    ends = {s.index: s.end_s for s in scenes}
    out: list[SoundEvent] = []
    open_beds: dict[str, int] = {}  # label -> position in out of a bed that reaches its scene's end
    for ev in sorted(events, key=lambda e: (e.scene_index, e.index)):
        if ev.layer == "background" and ev.label in open_beds:
            prev = out[open_beds[ev.label]]
            if abs(prev.end_s - ev.start_s) <= tolerance_s:
                merged = prev.model_copy(update={"end_s": ev.end_s, "scenes": (*prev.scenes, ev.scene_index)})
                out[open_beds[ev.label]] = merged
                if abs(ev.end_s - ends.get(ev.scene_index, -1.0)) > tolerance_s:
                    del open_beds[ev.label]
                continue
        out.append(ev)
        if ev.layer == "background" and ev.label and abs(ev.end_s - ends.get(ev.scene_index, -1.0)) <= tolerance_s:
            open_beds[ev.label] = len(out) - 1
    return sorted(out, key=lambda e: (e.start_s, e.scene_index, e.index))
