"""Script task: captions, the merge discussion, scenes (Scriptwriter + Storyboarder), per video of a batch."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, video_unit


@lvas_task(name="script", task_run_name="script {batch.label}", retries=2, retry_delay_seconds=[5, 30],
           retry_condition_fn=retry_transient)
def script(batch: VideoBatch, out: str, settings: Settings) -> dict[str, list[float]]:
    """Returns {video id: its scenes' durations} of the scripted videos: what the flow fans out over."""
    from lvas.agents.artifacts import load_script

    layout = Layout(out)

    def one(video: VideoRef) -> list[float]:
        video_unit(layout, video, "script", pipeline.script_key(layout, video, settings),
                   partial(pipeline.script_stage, layout, video, settings))
        return [sc.duration_s for sc in load_script(layout.script(video.video_id)).scenes]

    done = each(batch.videos, one, name=lambda v: v.video_id)
    return {batch.videos[i].video_id: scenes for i, scenes in done.items()}
