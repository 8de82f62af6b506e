"""Design tasks: one scene's design-refine subflow, the label retrieval it calls, the per-video table."""

from __future__ import annotations

import functools

from kb.store import LabelStore
from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import KBSettings, Settings
from storage.layout import Layout
from storage.units import run_units
from tasks.common import lvas_task, retry_transient, run_id, worker_name
from tasks.lean import without_heartbeats


@functools.lru_cache(maxsize=8)
def label_store(kb: KBSettings, out: str) -> LabelStore:
    """One open store per worker process (the embedding model loads once, too)."""
    return LabelStore.from_settings(kb, out)


@lvas_task(name="build-label-store", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def build_label_store(out: str, settings: Settings) -> bool:
    """Build (or find up to date) the run's Chroma label store before any design reads it."""
    return label_store(settings.kb, out).build()


@lvas_task(name="retrieve-labels", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def retrieve_labels(texts: dict[str, list[str]], out: str, settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Query the Chroma label store for one design round: {layer: {text: [labels, best first]}}."""
    return label_store(settings.kb, out).labels_by_layer(texts, k=settings.agents.retrieve_k)


@lvas_task(name="design-video", task_run_name="design {video.video_id} ({n_scenes} scenes)",
      retry_condition_fn=retry_transient)
def design_video(video: VideoRef, n_scenes: int, out: str, settings: Settings) -> int:
    """Design every scene of a video not designed yet (the design-refine subflow), then write the
    video's design table. Scenes fail alone in the status table; the task fails if any did."""
    layout = Layout(out)
    keys = {i: pipeline.design_key(video, i, settings) for i in range(n_scenes)}
    failed = run_units(layout, video_id=video.video_id, source=video.source, stage="design", keys=keys,
                       run_id=run_id(), worker=worker_name(),
                       work=lambda todo: _design_refine(video, todo, out, settings))
    if failed:
        raise next(iter(failed.values()))
    pipeline.collect_designs(layout, video, n_scenes)
    return n_scenes


def _design_refine(video: VideoRef, scenes: list[int], out: str, settings: Settings) -> dict:
    from flows.design_refine import design_refine

    with without_heartbeats():  # the parent flow run's heartbeats cover it; saves ~0.5 s per video
        return design_refine(video, scenes, out, settings, scenes_label=_label(scenes))


def _label(scenes: list[int]) -> str:
    return f"{len(scenes)} scenes" if len(scenes) != 1 else f"scene {scenes[0]}"
