"""The reflect subflow (AVAgent): after a batch's scenes render, score each against its picture and,
below ``reflect.threshold``, let a planner pick edits applied to the original render, keeping only
those that score better (``lvas.audio.reflect``). One subflow run per batch, its scenes in one
``reflect-scenes`` task; per-scene state is in the status table, every cycle in ``reflect.parquet``.
"""

# No `from __future__ import annotations` here: the ``reflect`` task travels to the workers by
# value, and the subflow's parameter types must be objects in it, not names to resolve there.
from prefect import flow

from lvas.models import VideoBatch
from lvas.settings import Settings
from lvas.tasks.common import lvas_task, retry_transient
from lvas.tasks.reflect import reflect_scenes


@flow(name="reflect", flow_run_name="reflect {batch.label}", persist_result=False)
def reflect_batch(batch: VideoBatch, scenes: dict[str, int], out: str, settings: Settings) -> list[str]:
    """Reflect the rendered scenes of ``batch`` (``scenes``: how many each video has); returns the
    ids of the videos whose every scene is reflected."""
    return reflect_scenes(batch, scenes, out, settings)


@lvas_task(name="reflect", task_run_name="reflect {batch.label}", retry_condition_fn=retry_transient)
def reflect(batch: VideoBatch, scenes: dict[str, int], out: str, settings: Settings,
            rendered: list[list[tuple[str, int]]]) -> list[list[tuple[str, int]]]:
    """The dataset flow's reflect stage: the subflow over the batch's videos whose every scene
    rendered. Returns ``rendered`` as it came, for the mix: a scene whose check failed (in the
    status table with its reason) is mixed from its render as it is."""
    done_scenes = {tuple(x) for group in rendered for x in group}
    ready = [v for v in batch.videos
             if v.video_id in scenes and all((v.video_id, i) in done_scenes for i in range(scenes[v.video_id]))]
    if ready:
        reflect_batch(VideoBatch.of(ready), {v.video_id: scenes[v.video_id] for v in ready}, out, settings)
    return rendered
