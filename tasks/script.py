"""Script task: captions, the merge discussion, scenes (Scriptwriter + Storyboarder)."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import lvas_task, retry_transient, run_id, worker_name


@lvas_task(name="script", task_run_name="script {video.video_id}", retries=2, retry_delay_seconds=[5, 30],
      retry_condition_fn=retry_transient)
def script(video: VideoRef, out: str, settings: Settings) -> int:
    """Returns the number of scenes, which the flow fans out over."""
    layout = Layout(out)
    marker = run_unit(layout, video_id=video.video_id, source=video.source, stage="script",
                      key=pipeline.script_key(video, settings), run_id=run_id(), worker=worker_name(),
                      work=partial(pipeline.script_stage, layout, video, settings))
    return int(marker["scenes"])
