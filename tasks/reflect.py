"""Reflect task: score each rendered scene of a batch against its picture and repair the low ones (AVAgent)."""

from __future__ import annotations

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, run_id, worker_name


@lvas_task(name="reflect-scenes", task_run_name="reflect {batch.label}", retry_condition_fn=retry_transient)
def reflect_scenes(batch: VideoBatch, scenes: dict[str, int], out: str, settings: Settings) -> list[str]:
    """Reflect every scene not reflected yet of the batch's videos (``scenes``: how many each has);
    scenes fail alone in the status table. Returns the ids of the videos whose every scene is done."""
    failed = pipeline.reflect_videos(Layout(out), [(v, scenes[v.video_id]) for v in batch.videos], settings,
                                     run_id=run_id(), worker=worker_name())

    def one(video: VideoRef) -> None:
        if video.video_id in failed:
            raise failed[video.video_id]

    done = each(batch.videos, one, name=lambda v: v.video_id)
    return [batch.videos[i].video_id for i in done]
