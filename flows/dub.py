"""The dataset flow: videos fan out through the stages; scenes fan out once a video has its script.

    videos ─ storyboard ─ script ─┬─ design-refine (per scene, subflow) ─ render (per scene) ─┐
                                  └──────────────────────────────────────────────────────────── mix+mux+report

Every task is keyed by (video id, stage, scene) and skips work whose completion marker matches
its cache key, so rerunning the same command does only what is new, changed or failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dask
from prefect import flow, unmapped
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.states import Completed, Failed, State

from flows.report import publish_video_artifacts, run_summary
from lvas import pipeline
from lvas.discover import discover
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from storage.lock import RunLock
from storage.runs import prepare_run, sweep_run_partials
from tasks.common import lvas_task, run_id, with_retries
from tasks.design import build_label_store
from tasks.design import design_video as design_task
from tasks.mix import mix
from tasks.render import render_scene as render_task
from tasks.script import script as script_task
from tasks.storyboard import storyboard


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


def scripted(videos: list[VideoRef], scripts: list[PrefectFuture[int]]) -> Iterator[tuple[VideoRef, int]]:
    """(video, scene count) as each video's script completes; failed videos are left out."""
    by_future = {f.task_run_id: v for v, f in zip(videos, scripts, strict=True)}
    for fut in as_completed(scripts):
        with contextlib.suppress(Exception):  # a failed script is already in the status table
            yield by_future[fut.task_run_id], fut.result()


@flow(name="dub-dataset", log_prints=True)
def dub_dataset(
    sources: list[str], out: str, settings: Settings | None = None, only: list[str] | None = None
) -> State:
    """Dub every video in ``sources`` into ``out``: the stage list of ARCHITECTURE.md, section 1."""
    settings = settings or Settings()
    stages = set(settings.run.stages)
    script, design_video, render_scene = (with_retries(t, settings.run.task_retries, settings.run.retry_delay_s)
                                          for t in (script_task, design_task, render_task))
    with RunLock(Layout(out).lock()):
        videos = prepare(sources, out, settings, only)
        boards = storyboard.map(videos, unmapped(out), unmapped(settings))
        if "script" not in stages:
            return finish(out, videos, boards, settings)
        scripts = script.map(boards, unmapped(out), unmapped(settings))
        if "design" not in stages:
            return finish(out, videos, scripts, settings)
        if videos:  # the label store's one writer, on a worker: the embedding model stays out of this process
            build_label_store.submit(out, settings).result()
        gpu = settings.synth.backend in ("mmaudio", "simulated-gpu")
        if gpu and "render" in stages:
            check_gpu_workers.submit(settings.synth.gpu_resource).result()  # on a worker: sees the cluster
        progress = create_progress_artifact(0.0, key="dub-progress", description=f"videos dubbed in {out}")
        tails = []
        for video, n in scripted(videos, scripts):
            designed = design_video.submit(video, n, out, settings)
            if "render" not in stages:
                tails.append(designed)
                continue
            with dask.annotate(resources={settings.synth.gpu_resource: 1}) if gpu else contextlib.nullcontext():
                renders = [render_scene.submit(video, i, out, settings, wait_for=[designed]) for i in range(n)]
            tails.append(mix.submit(video, n, out, settings, renders))
        for done, _ in enumerate(as_completed(tails), 1):
            update_progress_artifact(progress, 100.0 * done / max(1, len(videos)))
        return finish(out, videos, tails, settings)


def finish(out: str, videos: list[VideoRef], futures: list[PrefectFuture], settings: Settings) -> State:
    """Wait for the last futures, write the run's status table and artifacts, and set the state."""
    for f in futures:
        f.wait()
    sweep_run_partials(Layout(out))  # a worker killed mid-write leaves its temporary file behind
    final_stage = settings.run.stages[-1]
    summary = run_summary(Layout(out), videos, final_stage)
    publish_video_artifacts(Layout(out), videos, final_stage)
    msg = f"{summary.completed} of {summary.total} videos done, {summary.failed} failed (lvas status {out})"
    print(msg)
    return Failed(message=msg, data=summary.as_dict()) if summary.failed else Completed(message=msg,
                                                                                          data=summary.as_dict())
