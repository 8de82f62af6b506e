"""Mix task: loudness-controlled mix, the dubbed MP4 and the report of one video, shown in the UI."""

from __future__ import annotations

from functools import partial

from prefect.artifacts import create_link_artifact, create_table_artifact

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.units import run_unit
from tasks.common import lvas_task, run_id, worker_name


@lvas_task(name="mix", task_run_name="mix {video.video_id}")
def mix(video: VideoRef, n_scenes: int, out: str, settings: Settings, rendered: list[int]) -> dict[str, str]:
    layout = Layout(out)
    marker = run_unit(layout, video_id=video.video_id, source=video.source, stage="mix",
                      key=pipeline.mix_key(video, n_scenes, settings), run_id=run_id(), worker=worker_name(),
                      work=partial(pipeline.mix_stage, layout, video, settings))
    publish(video, out, marker["outputs"])
    return marker["outputs"]


def publish(video: VideoRef, out: str, outputs: dict[str, str]) -> None:
    """The video's scene table (captions, labels) and links to its outputs, as UI artifacts."""
    from lvas.show import scene_table

    rows, _ = scene_table(out, video.video_id)
    table = [{**{k: r[k] for k in ("scene", "start_s", "end_s", "summary")},
              "foreground": ", ".join(r["foreground_labels"]), "background": ", ".join(r["background_labels"]),
              "rounds": r["rounds"], "verdict": r["verdict"]} for r in rows]
    key = artifact_key(video.video_id)
    create_table_artifact(table, key=f"scenes-{key}", description=f"scenes of {video.source}")
    for name, path in outputs.items():
        create_link_artifact(f"file://{path}", link_text=f"{name}: {path}", key=f"{name}-{key}",
                             description=f"{name} of {video.source}")


def artifact_key(video_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() or c == "-" else "-" for c in video_id.lower())[:60]
