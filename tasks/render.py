"""Render task: one scene's foreground and background layers (GPU workers when MMAudio)."""

from __future__ import annotations

from functools import partial

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import lvas_task, retry_transient, run_id, worker_name


@lvas_task(name="render-scene", task_run_name="render {video.video_id} scene {scene}", retries=1,
      retry_delay_seconds=5, retry_condition_fn=retry_transient)
def render_scene(video: VideoRef, scene: int, out: str, settings: Settings) -> int:
    layout = Layout(out)
    run_unit(layout, video_id=video.video_id, source=video.source, stage="render", scene=scene,
             key=pipeline.render_key(video, scene, settings), run_id=run_id(), worker=worker_name(),
             work=partial(pipeline.render_stage, layout, video, scene, settings))
    return scene
