"""Render task: the foreground and background layers of a group of scenes (GPU workers when MMAudio)."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import SceneGroup, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, video_unit


@lvas_task(name="render", task_run_name="render {group.label}", retries=1, retry_delay_seconds=5,
           retry_condition_fn=retry_transient)
def render_scenes(group: SceneGroup, designed: list[str], out: str, settings: Settings) -> list[tuple[str, int]]:
    """Render the group's scenes of the ``designed`` videos; returns the (video id, scene) done."""
    layout = Layout(out)
    todo = [(v, i) for v, i in group.scenes if v.video_id in designed]

    def one(item: tuple[VideoRef, int]) -> None:
        video, scene = item
        video_unit(layout, video, "render", pipeline.render_key(layout, video, scene, settings),
                   partial(pipeline.render_stage, layout, video, scene, settings), scene=scene)

    done = each(todo, one, name=lambda item: f"{item[0].video_id} scene {item[1]}")
    return [(todo[i][0].video_id, todo[i][1]) for i in done]
