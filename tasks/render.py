"""Render task: the timed events of a group of scenes (GPU workers when MMAudio)."""

from __future__ import annotations

from lvas import pipeline
from lvas.models import SceneGroup, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, run_id, worker_name


@lvas_task(name="render", task_run_name="render {group.label}", retries=1, retry_delay_seconds=5,
           retry_condition_fn=retry_transient)
def render_scenes(group: SceneGroup, designed: list[str], out: str, settings: Settings) -> list[tuple[str, int]]:
    """Render the group's scenes of the ``designed`` videos together (equal windows of all of them
    share model calls); each scene keeps its own marker and status record, and fails alone.
    Returns the (video id, scene) done."""
    todo = [(v, i) for v, i in group.scenes if v.video_id in designed]
    failed = pipeline.render_videos(Layout(out), todo, settings, run_id=run_id(), worker=worker_name())

    def one(item: tuple[VideoRef, int]) -> None:
        if (item[0].video_id, item[1]) in failed:
            raise failed[(item[0].video_id, item[1])]

    done = each(todo, one, name=lambda item: f"{item[0].video_id} scene {item[1]}")
    return [(todo[i][0].video_id, todo[i][1]) for i in done]
