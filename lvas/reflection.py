"""The reflect stage's scene work: score what was rendered against the picture, repair what scores low.

A scene's take is its events as the mix places them: each event the scene owns (its first scene,
not continuing across a cut) read, fitted to its span, normalised to ``mix.layer_lufs`` and given
its gain (background ``mix.background_gain_db`` under); events continuing from or into another
scene sound in the scene as fixed context. The loop (:func:`lvas.audio.reflect.reflect`) edits the
original take each cycle and keeps an edit only when the scene scores better.

A bed that continues across a cut (one event, one file, spanning several scenes) is edited by the
unit of the scene it starts in, after the scenes' own loops: its take is the whole bed, and a take
is scored in every scene it spans, each with that scene's own events as its loop kept them (other
beds as rendered). The bed's score is the **lowest** of those scenes' scores (:func:`worst_scene`):
a bed is as good as the worst scene it sounds in. An edit is kept only when the worst scene after
it scores higher than the worst before it, so no scene ends below where the worst one was (a mean
would keep an edit that ruins a short scene for a small gain in a long one), and the threshold
means for a bed what it means for a scene: every scene it spans reaches it. Its cycles are rows of the owning
scene's table with the scenes it spans (``target`` = ``bed``, ``scenes`` = ``"2,3"``).

A kept edit is written per event to ``videos/<id>/reflect/<event file>`` with the gain in dB that
puts it back at its scored level after the mix's loudness normalisation; the scene's marker lists
them (``event:<event file name>`` -> path; the gains in its ``summary`` JSON, :func:`kept_edits`)
and the mix uses them in place of the originals. The scene's cycles go to
``videos/<id>/reflect/scene0003.parquet``; the mix gathers them into ``reflect.parquet``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from lvas.audio.actions import Action
from lvas.audio.loudness import db_to_gain, integrated_loudness, normalize_loudness
from lvas.audio.mix import read_event
from lvas.audio.reflect import Reflection, SceneLoop, Take, cycle_rows, llm_plan, offline_plan
from lvas.audio.scores import SceneClip, Scorer, Scores, make_scorer
from lvas.models import LayerSpec, SoundEvent, VideoRef
from lvas.render import event_key, event_specs, render_events
from lvas.settings import Settings
from lvas.storage.atomic import atomic_path, write_json, write_parquet
from lvas.storage.layout import Layout
from lvas.timeline import label_sets


@dataclass
class SceneSound:
    """A scene's events as the mix places them (see the module docstring)."""

    start_s: float
    end_s: float
    sample_rate: int
    specs: list[LayerSpec]           # the editable events' specs
    files: list[str]                 # their rendered files
    gains: list[float]               # their total gain (event gain, background offset) in dB
    context: np.ndarray              # the fixed events, placed, (samples, channels)
    layer_lufs: float = -23.0        # the mix's per-event loudness target
    tried: dict[str, list[str]] = field(default_factory=dict)  # rendering action -> the events' labels

    def place(self, take: Take) -> np.ndarray:
        """The scene's sound: the fixed context plus ``take``'s events at their spans."""
        out = self.context.copy()
        for spec, audio in zip(self.specs, take, strict=True):
            a = round((max(spec.start_s, self.start_s) - self.start_s) * self.sample_rate)
            skip = round(max(0.0, self.start_s - spec.start_s) * self.sample_rate)
            part = audio[skip: skip + len(out) - a]
            out[a: a + len(part)] += part
        return out


def scene_candidates(layout: Layout, video_id: str, scene: int) -> list[list[str]]:
    """The labels the design's last round retrieved for each of the scene's sounds, best first."""
    from lvas.agents.artifacts import load_designs

    path = layout.scene_design(video_id, scene)
    designs = load_designs(path) if path.exists() else []
    return [list(v) for d in designs[-1:] for r in d.rounds[-1:] for v in r.candidates.values()]


def next_label(label: str, candidates: list[list[str]], step: int, excluded: frozenset[str]) -> str:
    """The label ``step`` places after ``label`` in the first candidate list holding it, among the
    labels of the same family (the scorer cannot tell a car engine from an ice-cream van's jingle,
    so a replacement must be a sound of the same kind); excluded labels skipped; ``label`` itself
    when there is none."""
    from lvas.kb.labels import labels_by_name

    known = labels_by_name()
    family = known[label].family if label in known else None
    for labels in candidates:
        if label in labels:
            rest = [x for x in labels[labels.index(label) + 1:] if x not in excluded
                    and (family is None or (x in known and known[x].family == family))]
            return rest[min(step, len(rest)) - 1] if rest else label
    return label


def reflect_dir(layout: Layout, video_id: str) -> Path:
    """Where the reflect stage writes: ``videos/<id>/reflect/``."""
    return layout.video_dir(video_id) / "reflect"


def scene_table(layout: Layout, video_id: str, scene: int) -> Path:
    """One scene's reflection cycles (gathered into ``reflect.parquet`` by the mix)."""
    return reflect_dir(layout, video_id) / f"scene{scene:04d}.parquet"


def scorer_for(s: Settings) -> Scorer:
    """The configured scorer (``reflect.scorer`` with ``reflect.scorer_options``).

    Raises:
        ValueError, ScorerUnavailable: as :func:`lvas.audio.scores.make_scorer`.
    """
    return make_scorer(s.reflect.scorer, **s.reflect.scorer_options)


def scene_motion(layout: Layout, video_id: str, start_s: float, end_s: float) -> tuple[np.ndarray, float]:
    """The storyboard's per-frame motion of ``[start_s, end_s)`` and its frame rate."""
    from lvas.storyboard import load_frame_stats

    stats = load_frame_stats(layout, video_id, start_s, end_s)
    t = np.asarray(stats["t_s"], dtype=np.float64)
    fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 1.0
    return np.asarray(stats["motion"], dtype=np.float64), float(fps)


def _read(path: str, sr: int, channels: int, n: int) -> np.ndarray:
    audio = read_event(path, sr, channels)
    return audio[:n] if len(audio) >= n else np.pad(audio, ((0, n - len(audio)), (0, 0)))


def _placed(path: str, spec: LayerSpec, s: Settings, gain_db: float) -> np.ndarray:
    sr = s.synth.sample_rate
    n = max(1, round((spec.end_s - spec.start_s) * sr))
    audio, _ = normalize_loudness(_read(path, sr, s.synth.channels, n), sr, s.mix.layer_lufs)
    return (audio * db_to_gain(gain_db)).astype(np.float32)


def _gain(ev: SoundEvent | LayerSpec, s: Settings) -> float:
    kind = ev.layer if isinstance(ev, SoundEvent) else ev.kind
    return ev.gain_db + (s.mix.background_gain_db if kind == "background" else 0.0)


def own_event(ev: SoundEvent, scene: int) -> bool:
    """The scene's own event: it starts in ``scene`` and does not continue across a cut."""
    return ev.scene_index == scene and len(ev.scenes) <= 1


def scene_sound(layout: Layout, video: VideoRef, scene: int, events: list[SoundEvent], start_s: float,
                end_s: float, s: Settings, version: str, editable: Callable[[SoundEvent], bool] | None = None,
                takes: dict[str, np.ndarray] | None = None) -> SceneSound:
    """Read the scene's events into a :class:`SceneSound` (editable and fixed parts).

    Arguments:
        editable: which of the events sounding in the scene are edited (default: its own,
            :func:`own_event`); the others are fixed context.
        takes: placed waveforms to use for fixed events instead of their renders, by render path
            (what a scene's loop kept, :func:`scene_takes`).
    """
    sr, ch = s.synth.sample_rate, s.synth.channels
    edit = editable or (lambda ev: own_event(ev, scene))
    sounding = [ev for ev in events if ev.end_s > start_s and ev.start_s < end_s]
    specs = event_specs(video, sounding, s.synth)
    files = [str(layout.event_wav(video.video_id, sp.scene_index, event_key(sp, s.synth, version))) for sp in specs]
    context = np.zeros((max(1, round((end_s - start_s) * sr)), ch), np.float32)
    sound = SceneSound(start_s, end_s, sr, [], [], [], context, s.mix.layer_lufs)
    for ev, spec, f in zip(sounding, specs, files, strict=True):
        if edit(ev):
            sound.specs.append(spec)
            sound.files.append(f)
            sound.gains.append(_gain(ev, s))
        else:
            fixed = SceneSound(start_s, end_s, sr, [spec], [f], [0.0], np.zeros_like(context))
            placed = takes[f] if takes and f in takes else _placed(f, spec, s, _gain(ev, s))
            sound.context += fixed.place([placed])
    return sound


@dataclass
class PendingBed:
    """A bed continuing across cuts whose loop is set up (:func:`start_bed`): one take (the whole
    bed), scored in each scene it spans (``sounds``, in the order of ``scenes``)."""

    scenes: tuple[int, ...]
    label: str
    sounds: list[SceneSound]
    loop: SceneLoop


@dataclass
class PendingScene:
    """A scene whose loop is set up (:func:`start_scene`) and not yet written (:func:`finish_scene`),
    with the loops of the beds it starts (:func:`start_bed`)."""

    video_id: str
    scene: int
    sound: SceneSound
    loop: SceneLoop
    beds: list[PendingBed] = field(default_factory=list)


def _rerenderer(layout: Layout, sound: SceneSound, candidates: list[list[str]], s: Settings,
                version: str) -> Callable[[Action], Take]:
    """``action -> take``: the sound's editable events rendered again with moved seeds (``rerender``)
    or the next label of the design's candidates (``next_label``), placed as the originals."""
    _, excluded = label_sets(s.agents)

    def rerender(action: Action) -> Take:
        if action.name == "next_label":
            step = round(action.params["step"])
            labels = [next_label(sp.prompt, candidates, step, excluded) for sp in sound.specs]
            specs = [sp.model_copy(update={"prompt": lab, "labels": [lab]}) for sp, lab in zip(sound.specs, labels,
                                                                                               strict=True)]
        else:
            specs = [sp.model_copy(update={"seed": sp.seed + round(action.params["offset"])}) for sp in sound.specs]
        sound.tried[action.label()] = [sp.prompt for sp in specs]
        paths = list(render_events(specs, layout, s.synth, version).values())
        return [_placed(p, sp, s, g) for p, sp, g in zip(paths, specs, sound.gains, strict=True)]

    return rerender


def start_scene(layout: Layout, video: VideoRef, scene: int, events: list[SoundEvent], start_s: float,
                end_s: float, s: Settings, scorer: Scorer, version: str, planner: Any = None) -> PendingScene:
    """Read one rendered scene and score it: the first step of its loop (AVAgent).

    Arguments:
        layout: the output folder.
        video: the video.
        scene: the scene index.
        events: the video's events (``pipeline.video_events``).
        start_s, end_s: the scene's span.
        s: the settings (``reflect``, ``mix``, ``synth``).
        scorer: the scorer.
        version: the render version (event file names).
        planner: a planner (default: from ``reflect.planner``).

    Returns:
        The scene with its loop, ready for :func:`lvas.audio.reflect.run_lockstep`.

    Raises:
        ScoringError, ScorerUnavailable, RenderError: the scene could not be read or scored (its
            render stays as it is).
    """
    sound = scene_sound(layout, video, scene, events, start_s, end_s, s, version)
    motion, fps = scene_motion(layout, video.video_id, start_s, end_s)
    sr = sound.sample_rate

    def score(take: Take) -> Scores:
        clip = SceneClip(motion, fps, sound.place(take), sr, Path(video.path), start_s, end_s)
        return scorer.score(clip)

    rerender = _rerenderer(layout, sound, scene_candidates(layout, video.video_id, scene), s, version)
    original = [_placed(f, sp, s, g) for f, sp, g in zip(sound.files, sound.specs, sound.gains, strict=True)]
    loop = SceneLoop(original, score, planner or _planner(s), s.reflect.threshold,
                     s.reflect.max_cycles if sound.specs else 0, sr, rerender if sound.specs else None)
    return PendingScene(video.video_id, scene, sound, loop)


def owned_beds(events: list[SoundEvent], scene: int) -> list[SoundEvent]:
    """The beds that start in ``scene`` and continue across a cut (edited by its unit)."""
    return [ev for ev in events if ev.scene_index == scene and len(ev.scenes) > 1]


def worst_scene(scores: list[tuple[int, Scores]]) -> Scores:
    """A bed's scores: those of the scene it spans that scores lowest overall (the first on a tie),
    with that scene's index in ``details['worst_scene']`` (the module docstring says why the minimum).

    Raises:
        ValueError: no scores.
    """
    if not scores:
        raise ValueError("a bed spans no scene")
    scene, low = min(scores, key=lambda x: x[1].overall)
    return Scores(low.values, {**low.details, "worst_scene": float(scene)}, low.scorer)


def start_bed(layout: Layout, video: VideoRef, bed: SoundEvent, events: list[SoundEvent],
              spans: dict[int, tuple[float, float]], s: Settings, scorer: Scorer, version: str,
              takes: dict[int, dict[str, np.ndarray]], planner: Any = None) -> PendingBed:
    """Read a bed that continues across cuts and score it in every scene it spans: its loop's first step.

    Arguments:
        layout, video, events, s, scorer, version, planner: as :func:`start_scene`.
        bed: the bed (an event of ``events`` with more than one scene).
        spans: each scene's (start, end).
        takes: per spanned scene, its own events as its loop kept them (:func:`scene_takes`,
            :func:`kept_takes`); a scene missing here sounds as rendered.

    Returns:
        The bed with its loop; its score is :func:`worst_scene` of the scenes it spans.

    Raises:
        ScoringError, ScorerUnavailable, RenderError: the bed could not be read or scored in one
            of its scenes (its render stays as it is).
    """
    sounds, clips = [], []
    for j in bed.scenes:
        a, b = spans[j]
        sounds.append(scene_sound(layout, video, j, events, a, b, s, version, editable=lambda ev: ev == bed,
                                  takes=takes.get(j)))
        clips.append((j, *scene_motion(layout, video.video_id, a, b)))
    first = sounds[0]
    if len(first.specs) != 1:
        raise ValueError(f"bed {bed.label!r} of scene {bed.scene_index} is not one event")

    def score(take: Take) -> Scores:
        return worst_scene([(j, scorer.score(SceneClip(motion, fps, snd.place(take), snd.sample_rate,
                                                       Path(video.path), snd.start_s, snd.end_s)))
                            for (j, motion, fps), snd in zip(clips, sounds, strict=True)])

    original = [_placed(first.files[0], first.specs[0], s, first.gains[0])]
    rerender = _rerenderer(layout, first, scene_candidates(layout, video.video_id, bed.scene_index), s, version)
    loop = SceneLoop(original, score, planner or _planner(s), s.reflect.threshold, s.reflect.max_cycles,
                     first.sample_rate, rerender)
    return PendingBed(tuple(bed.scenes), bed.label or bed.prompt, sounds, loop)


def scene_takes(pending: PendingScene) -> dict[str, np.ndarray]:
    """The scene's own events as its loop kept them, by render path (empty when nothing was kept)."""
    result = pending.loop.result()
    return dict(zip(pending.sound.files, result.take, strict=True)) if result.edited else {}


def kept_takes(layout: Layout, video: VideoRef, scene: int, events: list[SoundEvent], s: Settings,
               version: str) -> dict[str, np.ndarray]:
    """As :func:`scene_takes`, for a scene reflected before: its own events' kept edits, read back
    and placed as the mix places them."""
    kept = kept_edits(layout, video.video_id, scene)
    own = [ev for ev in events if own_event(ev, scene)]
    out: dict[str, np.ndarray] = {}
    for ev, spec in zip(own, event_specs(video, own, s.synth), strict=True):
        f = str(layout.event_wav(video.video_id, spec.scene_index, event_key(spec, s.synth, version)))
        if Path(f).name in kept:
            path, gain, _ = kept[Path(f).name]
            out[f] = _placed(path, spec, s, _gain(ev, s) + gain)
    return out


def finish_scene(layout: Layout, pending: PendingScene) -> dict[str, str]:
    """Write a scene's loop result, with the beds it starts.

    Returns:
        The scene's outputs: ``reflect`` (its cycles table, its beds' cycles included),
        ``summary`` (JSON: ``gains`` {event file name: dB}, ``labels``, ``before``/``after``
        overall scores, ``cycles``, ``kept``, the scores, ``beds``) and ``event:<file name>`` for
        each kept edited event or bed.
    """
    why = "" if pending.sound.specs else \
        "nothing to edit: every event sounding here continues from or into another scene"
    return _write(layout, pending.video_id, pending.scene, pending.sound, pending.loop.result(), why, pending.beds)


def _planner(s: Settings) -> Any:
    if s.reflect.planner == "llm":
        from lvas.backends.llm import OpenAIBackend, user_message

        return llm_plan(OpenAIBackend(s.agents), s.agents.model, user_message)
    return offline_plan


def summary_path(layout: Layout, video_id: str, scene: int) -> Path:
    """One scene's reflection summary (JSON)."""
    return reflect_dir(layout, video_id) / f"scene{scene:04d}.json"


def kept_edits(layout: Layout, video_id: str, scene: int) -> dict[str, tuple[str, float, str | None]]:
    """The edited events a finished reflect unit kept: {original file name: (edited path, gain dB,
    the new label when a ``next_label`` edit changed it, else None)}."""
    marker = layout.read_marker(video_id, "reflect", scene)
    if marker is None:
        return {}
    try:
        summary = json.loads(Path(marker["outputs"]["summary"]).read_text())
        gains, labels = summary["gains"], summary.get("labels", {})
    except (KeyError, OSError, ValueError, TypeError):
        return {}
    return {name: (marker["outputs"][f"event:{name}"], float(g), labels.get(name)) for name, g in gains.items()
            if f"event:{name}" in marker["outputs"]}


def _save_edits(layout: Layout, video_id: str, sound: SceneSound, result: Reflection
                ) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    """Write a kept edit's events under ``reflect/``; returns their outputs, gains and new labels."""
    outputs: dict[str, str] = {}
    gains: dict[str, float] = {}
    labels: dict[str, str] = {}
    if not result.edited:
        return outputs, gains, labels
    new_labels = sound.tried.get(result.rendered.label(), []) if result.rendered else []
    for k, (f, g, audio) in enumerate(zip(sound.files, sound.gains, result.take, strict=True)):
        name = Path(f).name
        if result.rendered is not None and result.rendered.name == "next_label" and k < len(new_labels):
            labels[name] = new_labels[k]
        path = reflect_dir(layout, video_id) / name
        with atomic_path(path) as tmp:
            sf.write(str(tmp), audio, sound.sample_rate, subtype="FLOAT", format="WAV")
        lufs = integrated_loudness(audio, sound.sample_rate)
        # the mix normalises every event to layer_lufs, then applies its gain: this puts it back
        gains[name] = round(lufs - sound.layer_lufs - g, 4) if math.isfinite(lufs) else -120.0
        outputs[f"event:{name}"] = str(path)
    return outputs, gains, labels


def _write(layout: Layout, video_id: str, scene: int, sound: SceneSound, result: Reflection,
           why_none: str, beds: list[PendingBed]) -> dict[str, str]:
    table = scene_table(layout, video_id, scene)
    rows = cycle_rows(video_id, scene, result, why_none,
                      {"target": "scene", "scenes": str(scene), "event": "", "label": ""})
    outputs, gains, labels = _save_edits(layout, video_id, sound, result)
    bed_rows = []
    for bed in beds:
        done = bed.loop.result()
        name = Path(bed.sounds[0].files[0]).name
        rows += cycle_rows(video_id, scene, done, "", {"target": "bed", "scenes": ",".join(map(str, bed.scenes)),
                                                       "event": name, "label": bed.label})
        more, more_gains, more_labels = _save_edits(layout, video_id, bed.sounds[0], done)
        outputs |= more
        gains |= more_gains
        labels |= more_labels
        bed_rows.append({"event": name, "label": bed.label, "scenes": list(bed.scenes),
                         "before": round(done.original.overall, 6), "after": round(done.best.overall, 6),
                         "cycles": len(done.cycles), "kept": sum(c.kept for c in done.cycles)})
    names = list(dict.fromkeys(k for r in rows for k in r))  # one set of columns for scene and bed rows
    write_parquet(table, [{k: r.get(k) for k in names} for r in rows])
    outputs["reflect"] = str(table)
    summary = {"before": round(result.original.overall, 6), "after": round(result.best.overall, 6),
               "cycles": len(result.cycles), "kept": sum(c.kept for c in result.cycles), "gains": gains,
               "labels": labels, "beds": bed_rows,
               "original": result.original.as_row(), "best": result.best.as_row()}
    write_json(summary_path(layout, video_id, scene), summary)
    outputs["summary"] = str(summary_path(layout, video_id, scene))
    return outputs


def score_video(layout: Layout, video: VideoRef, mix_wav: Path, scenes: list[tuple[int, float, float]],
                s: Settings) -> list[dict[str, Any]]:
    """Score each scene's span of the final mix (``scores.parquet``'s rows), with its reflection summary.

    A scene the scorer cannot score gets a row with its ``error``; the others are scored.

    Arguments:
        layout: the output folder.
        video: the video.
        mix_wav: its mix.
        scenes: (index, start, end) per scene.
        s: the settings (``reflect.scorer``).

    Returns:
        One row per scene: ``overall``, each score, ``detail_*``, ``scorer``, ``reflected_before``
        and ``reflected_after`` (the reflect stage's overall scores, NaN without one), ``error``.
    """
    audio, sr = sf.read(str(mix_wav), dtype="float32", always_2d=True)
    rows: list[dict[str, Any]] = []
    try:
        scorer: Scorer | None = scorer_for(s)
        problem = ""
    except Exception as exc:
        scorer, problem = None, f"{type(exc).__name__}: {exc}"
    for i, a, b in scenes:
        row: dict[str, Any] = {"video_id": video.video_id, "scene": i, "start_s": a, "end_s": b, "error": problem}
        try:
            summary = json.loads(summary_path(layout, video.video_id, i).read_text())
            row["reflected_before"], row["reflected_after"] = float(summary["before"]), float(summary["after"])
        except (OSError, ValueError, KeyError):
            row["reflected_before"] = row["reflected_after"] = float("nan")
        if scorer is not None:
            try:
                motion, fps = scene_motion(layout, video.video_id, a, b)
                part = audio[round(a * sr): round(b * sr)]
                row |= scorer.score(SceneClip(motion, fps, part, sr, Path(video.path), a, b)).as_row()
            except Exception as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"
        rows.append(row)
    return rows


def gather_cycles(layout: Layout, video_id: str, n_scenes: int) -> list[dict[str, Any]]:
    """Every scene's reflection cycles (``reflect.parquet``'s rows); scenes not reflected are left out."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for i in range(n_scenes):
        path = scene_table(layout, video_id, i)
        if path.exists():
            rows += pq.read_table(path).to_pylist()
    return rows
