"""Storyboard task: shots, keyframes and frame statistics of each video of a batch."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import each, lvas_task, run_id, worker_name


@lvas_task(name="storyboard", task_run_name="storyboard {batch.label}")
def storyboard(batch: VideoBatch, out: str, settings: Settings) -> VideoBatch:
    """Returns the videos whose storyboard is done (a failed one is in the status table)."""
    layout = Layout(out)

    def one(video: VideoRef) -> None:
        run_unit(layout, video_id=video.video_id, source=video.source, stage="storyboard",
                 key=pipeline.storyboard_key(video, settings), run_id=run_id(), worker=worker_name(),
                 work=partial(pipeline.storyboard_stage, layout, video, settings))

    done = each(batch.videos, one, name=lambda v: v.video_id)
    return VideoBatch.of([batch.videos[i] for i in done])
