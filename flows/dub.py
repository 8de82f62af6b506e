"""The dataset flow: videos fan out through the stages; scenes fan out once a video has its script.

    batches of videos ─ storyboard ─ script ─┬─ design-refine (subflow) ─ render (scene groups) ─┐
                                             └───────────────────────────────────────────────────── mix+mux+report

A batch is one video, or up to ``run.batch_videos`` when the dataset is large enough (``pipeline.batches``):
each Prefect task run costs tens of milliseconds of orchestration on every process involved, which
on clips of a few seconds cost more than the work (bench/RESULTS.md, "Dataset-scale operation").

Every unit of work is keyed by (video id, stage, scene) and skips work whose completion marker matches
its cache key, so rerunning the same command does only what is new, changed or failed.
"""

from __future__ import annotations

import contextlib
import queue
from collections import deque

import dask
from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State

from lvas import pipeline, registry
from lvas.discover import discover
from lvas.flows.design_refine import design as design_task
from lvas.flows.report import publish_video_artifacts, run_summary
from lvas.models import SceneGroup, VideoBatch, VideoRef
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.storage.lock import RunLock
from lvas.storage.runs import prepare_run, sweep_run_partials
from lvas.tasks.common import lvas_task, run_id, with_retries
from lvas.tasks.design import build_label_store
from lvas.tasks.mix import mix
from lvas.tasks.render import render_scenes as render_task
from lvas.tasks.script import script as script_task
from lvas.tasks.storyboard import storyboard

# Dask runs the higher number first: a batch that got further goes on before new batches start
# (results sooner, fewer half-done videos held on disk), and what the flow waits for goes first.
PRIORITY = {"storyboard": 0, "script": 1, "design": 2, "render": 3, "mix": 4, "now": 10}
IN_FLIGHT_PER_SLOT = 4  # batches started and not finished, per worker slot (pipeline.batches makes >= 4)


@lvas_task(name="prepare-run")
def prepare(sources: list[str], out: str, settings: Settings, only: list[str] | None = None) -> list[VideoRef]:
    """Discover the videos, leave out those already finished, record the manifest."""
    layout = Layout(out)
    found = discover(sources)
    for problem in found.problems:
        print(f"input problem: {problem}")
    videos = [v for v in found.videos if only is None or v.video_id in only]
    todo = [v for v in videos if not pipeline.is_finished(layout, v, settings)]
    print(f"{len(found.videos)} videos found, {len(videos) - len(todo)} already done, {len(todo)} to do")
    prepare_run(layout, todo, settings, run_id=run_id())
    return todo


@lvas_task(name="check-gpu-workers")
def check_gpu_workers(resource: str) -> int:
    """Fail fast when no worker declares the GPU resource (tasks would wait in no-worker forever)."""
    from distributed import get_client

    from lvas.errors import BackendUnavailable

    workers = get_client().scheduler_info(n_workers=-1)["workers"].values()
    n = sum(1 for w in workers if w.get("resources", {}).get(resource, 0) > 0)
    if n == 0:
        raise BackendUnavailable(
            f"the synthesizer needs a GPU worker but no Dask worker declares the resource {resource!r}: "
            f"start one with `dask worker <scheduler> --resources {resource}=1`, or use --gpu-workers "
            "on a local GPU machine, or LVAS_SYNTH__BACKEND=procedural on CPU"
        )
    return n


@flow(name="dub-dataset", log_prints=True)
def dub_dataset(
    sources: list[str], out: str, settings: Settings | None = None, only: list[str] | None = None
) -> State:
    """Dub every video in ``sources`` into ``out``: the stage list of ARCHITECTURE.md, section 1.

    Videos go through the stages in batches (``pipeline.batches``: up to ``run.batch_videos`` per
    task when there are many, one video per task when there are few) and their scenes are rendered in groups of at least
    ``run.render_group_s`` seconds; every video and scene keeps its own markers and status records.

    At most ``IN_FLIGHT_PER_SLOT`` batches per worker slot are in the cluster at once; the next
    starts when one finishes. A submitted task stays in the Dask scheduler (in this process), with
    its call and serialised Prefect context, until it is done and no future refers to it: a flow
    that submitted the whole dataset up front, or kept every future (as ``prefect.futures.as_completed``
    does), grew with the dataset (bench/RESULTS.md, "Dataset-scale operation"). Here the flow keeps
    only the batches in flight.
    """
    settings = settings or Settings()
    stages = set(settings.run.stages)
    script, design, render = (with_retries(t, settings.run.task_retries, settings.run.retry_delay_s)
                              for t in (script_task, design_task, render_task))
    gpu = registry.SYNTHS[settings.synth.backend].gpu and "render" in stages
    with RunLock(Layout(out).lock()):
        videos = prepare(sources, out, settings, only)
        slots = settings.run.workers * settings.run.threads_per_worker
        todo = deque(VideoBatch.of(b) for b in pipeline.batches(videos, settings.run.batch_videos, slots))
        events: queue.SimpleQueue[tuple[str, VideoBatch, PrefectFuture]] = queue.SimpleQueue()

        def watch(event: str, batch: VideoBatch, future: PrefectFuture) -> None:
            future.add_done_callback(lambda f: events.put((event, batch, f)))

        def start(batch: VideoBatch) -> None:
            """Storyboard and script: what a batch needs before its scenes are known."""
            with dask.annotate(priority=PRIORITY["storyboard"]):
                board = storyboard.submit(batch, out, settings)
            if "script" not in stages:
                return watch("finished", batch, board)
            with dask.annotate(priority=PRIORITY["script"]):
                scripted = script.submit(board, out, settings)
            watch("scripted" if "design" in stages else "finished", batch, scripted)

        def complete(batch: VideoBatch, scenes: dict[str, list[float]]) -> PrefectFuture:
            """Design (one subflow for the batch), render (scene groups), mix: the last task's future."""
            with dask.annotate(priority=PRIORITY["design"]):
                designed = design.submit(batch, scenes, out, settings)
            if "render" not in stages:
                return designed
            timed = [(v, i, d) for v in batch.videos for i, d in enumerate(scenes.get(v.video_id, []))]
            groups = pipeline.scene_groups(timed, settings.run.render_group_s)
            gpu_only = {"resources": {settings.synth.gpu_resource: 1}} if gpu else {}
            with dask.annotate(priority=PRIORITY["render"], **gpu_only):
                renders = [render.submit(SceneGroup.of(g), designed, out, settings) for g in groups]
            n = {vid: len(d) for vid, d in scenes.items()}
            with dask.annotate(priority=PRIORITY["mix"]):
                return mix.submit(batch, n, out, settings, renders)

        in_flight = 0
        while todo and in_flight < IN_FLIGHT_PER_SLOT * slots:
            start(todo.popleft())
            in_flight += 1
        if videos and "design" in stages:
            with dask.annotate(priority=PRIORITY["now"]):  # what the flow waits for, ahead of the queue
                # the store's one writer, on a worker: the embedding model stays out of this process
                build_label_store.submit(out, settings).result()
                if gpu:
                    check_gpu_workers.submit(settings.synth.gpu_resource).result()  # on a worker: sees the cluster
        progress = create_progress_artifact(0.0, key="dub-progress", description=f"videos dubbed in {out}")
        done = 0
        while in_flight:
            event, batch, future = events.get()
            if event == "scripted":
                with contextlib.suppress(Exception):  # a failed batch's videos are in the status table
                    scenes = future.result()
                    if scenes:  # else every video of the batch failed before its script: nothing to design
                        watch("finished", batch, complete(batch, scenes))
                        continue
            in_flight -= 1
            done += len(batch.videos)
            update_progress_artifact(progress, 100.0 * done / max(1, len(videos)))
            if todo:
                start(todo.popleft())
                in_flight += 1
        return finish(out, videos, settings)


def finish(out: str, videos: list[VideoRef], settings: Settings) -> State:
    """Write the run's status table and artifacts, and set the flow run's state."""
    sweep_run_partials(Layout(out))  # a worker killed mid-write leaves its temporary file behind
    final_stage = settings.run.stages[-1]
    summary = run_summary(Layout(out), videos, final_stage)
    publish_video_artifacts(Layout(out), videos, final_stage)
    unfinished = f", {summary.unfinished} unfinished" if summary.unfinished else ""
    msg = f"{summary.completed} of {summary.total} videos done, {summary.failed} failed{unfinished} (lvas status {out})"
    print(msg)
    state = Completed if summary.completed == summary.total else Failed
    return state(message=msg, data=summary.as_dict())
