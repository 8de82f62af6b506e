"""Design tasks: one scene's design-refine subflow, the label retrieval it calls, the per-video table."""

from __future__ import annotations

import functools

from prefect import task

from kb.store import LabelStore
from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import KBSettings, Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import retry_transient, run_id


@functools.lru_cache(maxsize=8)
def _store(kb: KBSettings, out: str) -> LabelStore:
    """One open store per worker process (the embedding model loads once, too)."""
    return LabelStore.from_settings(kb, out)


@task(name="retrieve-labels", task_run_name="retrieve {layer} x{n}", retries=2, retry_delay_seconds=2,
      retry_condition_fn=retry_transient)
def retrieve_labels(texts: list[str], layer: str, out: str, settings: Settings, n: int = 0) -> dict[str, list[str]]:
    """Query the Chroma label store: {text: [labels, best first]} for one layer (event/ambience)."""
    hits = _store(settings.kb, out).query_many(texts, k=settings.agents.retrieve_k, layer=layer)
    return {t: [h.label for h in hs] for t, hs in hits.items()}


@task(name="design-scene", task_run_name="design {video.video_id} scene {scene}", retries=2,
      retry_delay_seconds=[5, 30], retry_condition_fn=retry_transient)
def design_scene(video: VideoRef, scene: int, out: str, settings: Settings) -> int:
    """Runs the design-refine subflow for one scene unless its design is cached."""
    from flows.design_refine import design_refine

    layout = Layout(out)
    run_unit(layout, video_id=video.video_id, source=video.source, stage="design", scene=scene,
             key=pipeline.design_key(video, scene, settings), run_id=run_id(),
             work=lambda: design_refine(video, scene, out, settings))
    return scene


@task(name="collect-designs", task_run_name="designs {video.video_id}")
def collect_designs(video: VideoRef, n_scenes: int, out: str, designed: list[int]) -> str:
    return str(pipeline.collect_designs(Layout(out), video, n_scenes))
