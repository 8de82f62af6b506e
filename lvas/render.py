"""From a scene's sound design to rendered sound: what to ask the synthesizer, and asking it.

The pipeline renders timed events (:func:`event_specs`, :func:`render_events`): each event of a
design for its own span, cached per event. :func:`layers_for` is the older per-scene form (one
foreground and one background layer spanning the scene), kept for callers that want it.

A scene has at most two layers: ``foreground`` (the design's ``audio`` items: entities and
actions, video-to-audio) and ``background`` (its ``background`` items: ambience, text-to-audio).
An empty item list means no layer, not a silent file.

Volumes: the foreground layer's volume is ``design.volume`` (the Designer's foreground level)
times its loudest item's volume; the background layer's is its loudest item's volume. The mix then
puts the background ``mix.background_gain_db`` under the foreground after loudness-normalising both.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lvas.backends.synth import BatchSynthesizer, LayerJob, Synthesizer, get_synth, layer_seed
from lvas.keys import digest
from lvas.models import LayerKind, LayerSpec, RenderedLayer, Scene, SoundDesign, SoundEvent, SoundItem, VideoRef
from lvas.settings import SynthSettings
from lvas.storage.layout import Layout

_SYNTHS: dict[str, Synthesizer] = {}
_LOCK = threading.Lock()


def layers_for(
    video: VideoRef, scene: Scene, design: SoundDesign, settings: SynthSettings
) -> list[LayerSpec]:
    """The layers to render for one scene (0, 1 or 2).

    Arguments:
        video: the video the scene belongs to.
        scene: the scene (its span is the layer's span).
        design: the scene's final sound design (items mapped to KB labels where possible).
        settings: the synth section (negative prompt, base seed).

    Returns:
        Foreground then background spec, each only if the design has items for it. Labels are the
        items' KB labels (or their descriptions when unmapped), primary items first, deduplicated;
        the prompt joins them.
    """
    specs = []
    parts: tuple[tuple[LayerKind, list[SoundItem]], ...] = (
        ("foreground", design.audio),
        ("background", design.background),
    )
    for kind, items in parts:
        if not items:
            continue
        ordered = sorted(items, key=lambda item: not item.primary)  # stable: primary first
        labels = list(dict.fromkeys(_text(item) for item in ordered if _text(item)))
        if not labels:
            continue
        loudest = max(item.volume for item in items)
        volume = loudest * design.volume if kind == "foreground" else loudest
        specs.append(
            LayerSpec(
                video_id=video.video_id,
                video_path=video.path,
                scene_index=scene.index,
                kind=kind,
                start_s=scene.start_s,
                end_s=scene.end_s,
                labels=labels,
                prompt=", ".join(labels),
                negative_prompt=settings.negative_prompt,
                volume=round(volume, 4),
                seed=layer_seed(settings.seed, video.video_id, scene.index, kind),
            )
        )
    return specs


def _text(item: SoundItem) -> str:
    return (item.label or item.description).strip()


def synth_for(settings: SynthSettings) -> Synthesizer:
    """The synthesizer for ``settings``, created once per process (models stay loaded between layers)."""
    key = settings.fingerprint()
    with _LOCK:
        if key not in _SYNTHS:
            _SYNTHS[key] = get_synth(settings)
        return _SYNTHS[key]


def render_layer(spec: LayerSpec, layout: Layout, settings: SynthSettings) -> RenderedLayer:
    """Render one layer to ``layout.layer(video_id, scene, kind)`` with the configured backend.

    Arguments:
        spec: the layer (from :func:`layers_for`).
        layout: the output folder.
        settings: the synth section (backend, sample rate, channels...).

    Returns:
        The rendered layer (path, sample rate, backend name).

    Raises:
        BackendUnavailable: the backend cannot run on this worker.
        RenderError: the layer could not be rendered.
    """
    synth = synth_for(settings)
    out = layout.layer(spec.video_id, spec.scene_index, spec.kind)
    return synth.render(
        spec, out, sample_rate=settings.sample_rate, channels=settings.channels, layout=layout
    )


# --------------------------------------------------------------------------- timed events


def event_specs(video: VideoRef, events: list[SoundEvent], settings: SynthSettings) -> list[LayerSpec]:
    """One spec per timed event: its own span, its layer, its label as the prompt.

    The seed depends on the event's video, first scene, layer, prompt and start only, so adding or
    changing one event leaves every other event's spec (and cached render) as it was; a bed that
    continues across cuts is one event, one seed.

    Arguments:
        video: the video the events belong to.
        events: its events (``lvas.agents.events.scene_events``, joined by ``join_continuing``).
        settings: the synth section (negative prompt, base seed).

    Returns:
        Specs in the events' order, ``spec.event`` holding the event's index in its scene.
    """
    return [
        LayerSpec(
            video_id=video.video_id, video_path=video.path, scene_index=ev.scene_index, kind=ev.layer,
            start_s=ev.start_s, end_s=ev.end_s, labels=[ev.prompt], prompt=ev.prompt,
            negative_prompt=settings.negative_prompt, seed=layer_seed(
                settings.seed, video.video_id, ev.scene_index,
                f"{ev.layer}|{ev.prompt}|{ev.start_s:.3f}" + (f"|{ev.seed_offset}" if ev.seed_offset else "")),
            event=ev.index, gain_db=ev.gain_db,
        )
        for ev in events
    ]


def event_key(spec: LayerSpec, settings: SynthSettings, version: str) -> str:
    """The cache key of one event's render: its spec and the synth settings (nothing else)."""
    return digest("event", version, spec.model_dump_json(exclude={"gain_db"}), settings.fingerprint())


def render_events(specs: list[LayerSpec], layout: Layout, settings: SynthSettings, version: str
                  ) -> dict[str, str]:
    """Render every event not rendered yet; one file per event, named by its cache key.

    A file that exists was written atomically for exactly that key, so it is reused: changing
    one event renders that event only.

    Returns:
        {event name ``scene0003_e02``: WAV path} for every spec.

    Raises:
        BackendUnavailable, RenderError: as :func:`render_layer` (the first event that failed).
    """
    out: dict[str, str] = {}
    for spec, done in zip(specs, render_event_files(specs, layout, settings, version), strict=True):
        if isinstance(done, Exception):
            raise done
        out[event_name(spec)] = done
    return out


def event_name(spec: LayerSpec) -> str:
    """The name of an event's output in its scene's marker: ``scene0003_e02``."""
    return f"scene{spec.scene_index:04d}_e{spec.event or 0:02d}"


def render_event_files(specs: list[LayerSpec], layout: Layout, settings: SynthSettings, version: str
                       ) -> list[str | Exception]:
    """Render the events (of any scenes and videos) whose file is missing, and say where each is.

    A batching backend (:class:`~lvas.backends.synth.BatchSynthesizer`: mmaudio, simulated-gpu)
    gets all the missing ones at once, so equal windows of different events, scenes and videos
    share model calls; any other backend renders them one after the other. An event listed twice
    (a bed that several scenes own) is rendered once.

    Arguments:
        specs: the events (from :func:`event_specs`).
        layout: the output folder.
        settings: the synth section.
        version: the render code version (part of each event's cache key).

    Returns:
        Per spec, in order, its WAV path or the exception that stopped it: one event's failure
        never stops the others.

    Raises:
        BackendUnavailable: the backend cannot be built on this worker at all.
    """
    synth = synth_for(settings)
    paths = [layout.event_wav(sp.video_id, sp.scene_index, event_key(sp, settings, version)) for sp in specs]
    todo = {path: LayerJob(sp, path) for sp, path in zip(specs, paths, strict=True) if not path.exists()}
    jobs = list(todo.values())
    errors: dict[Path, Exception] = {}
    if isinstance(synth, BatchSynthesizer) and jobs:
        done = synth.render_batch(jobs, sample_rate=settings.sample_rate, channels=settings.channels,
                                  layout=layout)
        errors = {job.out_wav: res for job, res in zip(jobs, done, strict=True) if isinstance(res, Exception)}
    else:
        for job in jobs:
            try:
                synth.render(job.spec, job.out_wav, sample_rate=settings.sample_rate, channels=settings.channels,
                             layout=layout)
            except Exception as exc:
                errors[job.out_wav] = exc
    return [errors.get(path, str(path)) for path in paths]
