"""Storyboard task: shots, keyframes and frame statistics of each video of a batch."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, video_unit


@lvas_task(name="storyboard", task_run_name="storyboard {batch.label}")
def storyboard(batch: VideoBatch, out: str, settings: Settings) -> VideoBatch:
    """Returns the videos whose storyboard is done (a failed one is in the status table)."""
    layout = Layout(out)

    def one(video: VideoRef) -> None:
        video_unit(layout, video, "storyboard", pipeline.storyboard_key(video, settings),
                   partial(pipeline.storyboard_stage, layout, video, settings))

    done = each(batch.videos, one, name=lambda v: v.video_id)
    return VideoBatch.of([batch.videos[i] for i in done])
