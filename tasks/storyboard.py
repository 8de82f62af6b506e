"""Storyboard task: shots, keyframes and frame statistics of one video."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import lvas_task, run_id, worker_name


@lvas_task(name="storyboard", task_run_name="storyboard {video.video_id}")
def storyboard(video: VideoRef, out: str, settings: Settings) -> VideoRef:
    layout = Layout(out)
    run_unit(layout, video_id=video.video_id, source=video.source, stage="storyboard",
             key=pipeline.storyboard_key(video, settings), run_id=run_id(), worker=worker_name(),
             work=partial(pipeline.storyboard_stage, layout, video, settings))
    return video
