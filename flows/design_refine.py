"""The design-refine subflow (LVAS-Agent Algorithm 2) for the scenes of a batch of videos, and the
``design`` task of the dataset flow that runs it on a worker.

The loop lives in the domain (``lvas.agents.design.design_refine_jobs``): every scene runs its
own rounds, in lockstep across the batch's videos so that each round's knowledge-base lookups of
all their scenes go out as one ``retrieve_labels`` task (both layers). Every retrieval round shows
up in the UI under the batch's subflow run; per-scene state is in the status table.
"""

# No `from __future__ import annotations` here: the ``design`` task travels to the workers by
# value, and the subflow's parameter types must be objects in it, not names to resolve there.
from prefect import flow
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from lvas import pipeline
from lvas.models import VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import each, lvas_task, retry_transient, run_id, worker_name
from lvas.tasks.design import retrieve_labels


@flow(name="design-refine", flow_run_name="design-refine {batch.label} ({scenes_label})", persist_result=False)
def design_refine(batch: VideoBatch, scenes: dict[str, int], out: str, settings: Settings, run: str = "",
                  worker: str = "", scenes_label: str = "") -> dict[str, BaseException]:
    """Design the scenes not designed yet of each video of ``batch`` (``scenes``: how many it has),
    all in lockstep, marking each done; returns {video id: the first error} of the videos with a
    failed scene."""
    rounds = iter(range(1, 1000))

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        size = " ".join(f"{layer} x{len(t)}" for layer, t in texts.items())
        name = f"retrieve round {next(rounds)}: {size}"
        return retrieve_labels.with_options(task_run_name=name)(texts, out, settings)

    return pipeline.design_videos(Layout(out), [(v, scenes[v.video_id]) for v in batch.videos], settings, retrieve,
                                  run_id=run, worker=worker)


@lvas_task(name="design", task_run_name="design {batch.label}", retry_condition_fn=retry_transient)
def design(batch: VideoBatch, scenes: dict[str, list[float]], out: str, settings: Settings) -> list[str]:
    """Design every scene not designed yet of the batch's scripted videos (``scenes``: their scene
    durations) in one design-refine subflow, then write each video's design table. Scenes fail
    alone in the status table. Returns the ids of the videos whose every scene is designed."""
    layout = Layout(out)
    videos = VideoBatch.of([v for v in batch.videos if v.video_id in scenes])
    n = {vid: len(d) for vid, d in scenes.items()}
    total = sum(n.values())
    # The subflow runs inside a task of a flow run whose heartbeats already say the run is alive; a
    # heartbeat thread of its own would only be joined, for up to a second, when it ends.
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        failed = design_refine(videos, n, out, settings, run=run_id(), worker=worker_name(),
                               scenes_label=f"{total} scene{'s' if total != 1 else ''}")

    def one(video: VideoRef) -> None:
        if video.video_id in failed:
            raise failed[video.video_id]
        pipeline.collect_designs(layout, video, n[video.video_id])

    done = each(videos.videos, one, name=lambda v: v.video_id)
    return [videos.videos[i].video_id for i in done]
