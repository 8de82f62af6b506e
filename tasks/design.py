"""Design tasks: a batch's design-refine subflow, the label retrieval it calls, the per-video tables."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import KBSettings, Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, run_id, worker_name
from lvas.tasks.lean import without_heartbeats

if TYPE_CHECKING:
    from lvas.kb.store import LabelStore


@functools.lru_cache(maxsize=8)
def label_store(kb: KBSettings, out: str) -> LabelStore:
    """One open store per worker process (the embedding model loads once, too). Chroma is imported
    here, not with this module: the flow process imports this module but never opens a store."""
    from lvas.kb.store import LabelStore

    from lvas.settings import register_secret, url_secrets

    for secret in url_secrets(kb.chroma_url):  # redacted from this worker's status records
        register_secret(secret)
    return LabelStore.from_settings(kb, out)


@lvas_task(name="build-label-store", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def build_label_store(out: str, settings: Settings) -> bool:
    """Build (or find up to date) the run's Chroma label store before any design reads it."""
    return label_store(settings.kb, out).build()


@lvas_task(name="retrieve-labels", retries=2, retry_delay_seconds=2, retry_condition_fn=retry_transient)
def retrieve_labels(texts: dict[str, list[str]], out: str, settings: Settings) -> dict[str, dict[str, list[str]]]:
    """Query the Chroma label store for one design round: {layer: {text: [labels, best first]}}."""
    return label_store(settings.kb, out).labels_by_layer(texts, k=settings.agents.retrieve_k)


@lvas_task(name="design", task_run_name="design {batch.label}", retry_condition_fn=retry_transient)
def design(batch: VideoBatch, scenes: dict[str, list[float]], out: str, settings: Settings) -> list[str]:
    """Design every scene not designed yet of the batch's scripted videos (``scenes``: their scene
    durations) in one design-refine subflow, then write each video's design table. Scenes fail
    alone in the status table. Returns the ids of the videos whose every scene is designed."""
    from lvas.flows.design_refine import design_refine

    layout = Layout(out)
    videos = VideoBatch.of([v for v in batch.videos if v.video_id in scenes])
    n = {vid: len(d) for vid, d in scenes.items()}
    with without_heartbeats():  # the parent flow run's heartbeats cover it; saves ~0.5 s per subflow
        failed = design_refine(videos, n, out, settings, run=run_id(), worker=worker_name(),
                               scenes_label=_label(n))

    def one(video: VideoRef) -> None:
        if video.video_id in failed:
            raise failed[video.video_id]
        pipeline.collect_designs(layout, video, n[video.video_id])

    done = each(videos.videos, one, name=lambda v: v.video_id)
    return [videos.videos[i].video_id for i in done]


def _label(n: dict[str, int]) -> str:
    total = sum(n.values())
    return f"{total} scenes" if total != 1 else "1 scene"
