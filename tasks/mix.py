"""Mix task: loudness-controlled mix, the dubbed MP4 and the report of one video."""

from __future__ import annotations

from functools import partial

from prefect import task

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import run_id


@task(name="mix", task_run_name="mix {video.video_id}")
def mix(video: VideoRef, n_scenes: int, out: str, settings: Settings, rendered: list[int]) -> dict[str, str]:
    layout = Layout(out)
    marker = run_unit(layout, video_id=video.video_id, source=video.source, stage="mix",
                      key=pipeline.mix_key(video, n_scenes, settings), run_id=run_id(),
                      work=partial(pipeline.mix_stage, layout, video, settings))
    return marker["outputs"]
