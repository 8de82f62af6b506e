"""From a scene's sound design to rendered layers: what to ask the synthesizer, and asking it.

A scene has at most two layers: ``foreground`` (the design's ``audio`` items: entities and
actions, video-to-audio) and ``background`` (its ``background`` items: ambience, text-to-audio).
An empty item list means no layer, not a silent file.

Volumes: the foreground layer's volume is ``design.volume`` (the Designer's foreground level)
times its loudest item's volume; the background layer's is its loudest item's volume. The mix then
puts the background ``mix.background_gain_db`` under the foreground after loudness-normalising both.
"""

from __future__ import annotations

import threading

from lvas.backends.synth import Synthesizer, get_synth, layer_seed
from lvas.models import LayerKind, LayerSpec, RenderedLayer, Scene, SoundDesign, SoundItem, VideoRef
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
