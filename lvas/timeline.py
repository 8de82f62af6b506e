"""What can be measured about when sounds happen in a scene, for the offline event planner.

:func:`scene_timing` gathers, for one scene, the motion onsets and sustained-motion segments of its
analysed frames (``frames.parquet``), the shot cuts inside it, and the caption segments and timed
sound events of the video's sidecar; :func:`lvas.agents.events.place_items` turns them into event
times. :func:`label_sets` gives the knowledge base's labels and those a run excludes.
"""

from __future__ import annotations

import functools
from collections.abc import Collection

from lvas.agents.base import RetrieveLayers
from lvas.agents.captions import SidecarCaptions
from lvas.agents.events import SceneTiming, TimedCue, motion_timing
from lvas.kb.labels import load_labels
from lvas.models import Scene, Storyboard
from lvas.settings import AgentSettings
from lvas.storage.layout import Layout

SPEECH_FAMILY = "voice"
MUSIC_FAMILY = "instrument"


def label_sets(settings: AgentSettings) -> tuple[frozenset[str], frozenset[str]]:
    """``(known, excluded)``: every knowledge-base label, and the speech (family ``voice``) and
    musical-instrument (family ``instrument``) labels unless ``allow_speech``/``allow_music``."""
    return _label_sets(settings.allow_speech, settings.allow_music)


@functools.cache
def _label_sets(allow_speech: bool, allow_music: bool) -> tuple[frozenset[str], frozenset[str]]:
    labels = load_labels()
    banned = {f for f, ok in ((SPEECH_FAMILY, allow_speech), (MUSIC_FAMILY, allow_music)) if not ok}
    return frozenset(x.label for x in labels), frozenset(x.label for x in labels if x.family in banned)


def scene_timing(layout: Layout, board: Storyboard, scene: Scene, sidecar: SidecarCaptions | None) -> SceneTiming:
    """The measurable timing of one scene (times from its start; see the module docstring).

    Arguments:
        layout: the output folder (the video's ``frames.parquet``).
        board: the video's storyboard (its cuts).
        scene: the scene.
        sidecar: the video's sidecar, if any.

    Returns:
        The scene's timing; empty parts where nothing was measured (no frames table, no sidecar).
    """
    from lvas.storyboard import load_frame_stats

    d, t0 = scene.duration_s, scene.start_s
    onsets: list[float] = []
    active: list[tuple[float, float]] = []
    try:
        stats = load_frame_stats(layout, board.video_id, scene.start_s, scene.end_s)
        onsets, active = motion_timing((stats["t_s"] - t0).tolist(), stats["motion"].tolist(), d)
    except (FileNotFoundError, KeyError):
        pass
    cuts = [round(c - t0, 4) for c in board.cuts_s if 0 < c - t0 < d]
    cues, events = [], []
    for seg in sidecar.segments if sidecar else ():
        a, b = max(seg.start, scene.start_s) - t0, min(seg.end, scene.end_s) - t0
        if b - a > 0:
            text = " ".join((seg.caption.entity, seg.caption.action, seg.caption.summary))
            cues.append(TimedCue(round(a, 4), round(b, 4), text))
    for ev in sidecar.events if sidecar else ():
        if scene.start_s <= ev.start < scene.end_s:  # an event belongs to the scene it starts in
            events.append(TimedCue(round(ev.start - t0, 4), round(min(ev.end, scene.end_s) - t0, 4), ev.sound,
                                   ev.layer, ev.gain_db))
    return SceneTiming(duration=d, onsets=tuple(sorted({*onsets, *cuts})), active=tuple(active),
                       cues=tuple(cues), events=tuple(events))


def sidecar_event_problems(sidecar: SidecarCaptions | None, duration_s: float, where: str) -> list[str]:
    """The sidecar's timed events that fall outside the video, one sentence each naming the file,
    the event and the problem (an event may end past the video's end: it is clipped)."""
    problems = []
    for k, ev in enumerate(sidecar.events if sidecar else ()):
        if ev.start >= duration_s:
            problems.append(f"sidecar {where}: event {k} ({ev.sound!r}) starts at {ev.start:g} s, at or after "
                            f"the video's end ({duration_s:g} s)")
    return problems


def label_retrieval(labels: Collection[str]) -> RetrieveLayers:
    """A ``retrieve`` without the knowledge base's retrieval (the ``--no-rag`` ablation): every
    item is offered every label of its layer, in alphabetical order, so the Synthesizer picks
    from the whole list with no ranking by similarity."""
    by_layer: dict[str, list[str]] = {}
    for lab in load_labels():
        if lab.label in labels:
            by_layer.setdefault(lab.layer, []).append(lab.label)
    for names in by_layer.values():
        names.sort()

    def retrieve(wanted: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return {layer: {t: list(by_layer.get(layer, [])) for t in texts} for layer, texts in wanted.items()}

    return retrieve
