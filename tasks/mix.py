"""Mix task: loudness-controlled mix, the dubbed MP4 and the report of each video of a batch, shown in the UI."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from prefect.artifacts import create_table_artifact

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, video_unit


@lvas_task(name="mix", task_run_name="mix {batch.label}")
def mix(batch: VideoBatch, scenes: dict[str, int], out: str, settings: Settings,
        rendered: list[list[tuple[str, int]]]) -> dict[str, dict[str, str]]:
    """Mix, mux and report each video of the batch whose ``scenes`` (how many it has) all rendered;
    returns {video id: its output paths}."""
    layout = Layout(out)
    done_scenes = {tuple(x) for group in rendered for x in group}
    todo = [v for v in batch.videos
            if v.video_id in scenes and all((v.video_id, i) in done_scenes for i in range(scenes[v.video_id]))]

    def one(video: VideoRef) -> dict[str, str]:
        marker = video_unit(layout, video, "mix", pipeline.mix_key(layout, video, scenes[video.video_id], settings),
                            partial(pipeline.mix_stage, layout, video, settings))
        publish(video, out, marker["outputs"])
        return marker["outputs"]

    done = each(todo, one, name=lambda v: v.video_id)
    return {todo[i].video_id: outputs for i, outputs in done.items()}


def publish(video: VideoRef, out: str, outputs: dict[str, str]) -> None:
    """One UI artifact per video: its scene table (captions, labels), described by links to its
    outputs. Each artifact is a synchronous API call from the worker (this was 4 per video: a
    table and three link artifacts)."""
    from lvas.show import scene_table

    rows, _ = scene_table(out, video.video_id)
    table = [{**{k: r[k] for k in ("scene", "start_s", "end_s", "summary")},
              "foreground": ", ".join(r["foreground_labels"]), "background": ", ".join(r["background_labels"]),
              "rounds": r["rounds"], "verdict": r["verdict"]} for r in rows]
    create_table_artifact(table, key=f"scenes-{artifact_key(video.video_id)}",
                          description=outputs_markdown(video, outputs))


def outputs_markdown(video: VideoRef, outputs: dict[str, str]) -> str:
    """Markdown (the UI renders artifact descriptions as markdown): the source and output links."""
    links = " · ".join(f"{name}: [{Path(p).name}]({Path(p).resolve().as_uri()})" for name, p in outputs.items())
    return f"Scenes of `{video.source}`. Outputs: {links}"


def artifact_key(video_id: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() or c == "-" else "-" for c in video_id.lower())[:60]
