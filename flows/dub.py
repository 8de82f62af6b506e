"""The dataset flow: batches of videos go through the stages; scenes fan out once a batch has its script.

    batch ─ storyboard ─ script ─ design-refine (subflow) ─ render (scene groups) ─ reflect (subflow)
          ─ mix+mux+report

A batch is one video, or up to ``run.batch_videos`` when the dataset is large enough
(``pipeline.batches``): each Prefect task run costs tens of milliseconds on every process involved.
Every unit of work is keyed by (video id, stage, scene) and skips work whose completion marker matches
its cache key, so rerunning the same command does only what is new, changed or failed.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

import dask
from prefect import flow
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.futures import PrefectFuture
from prefect.states import Completed, Failed, State

from lvas import pipeline, registry
from lvas.backends.library_state import with_library_state
from lvas.discover import discover
from lvas.flows.design_refine import design as design_task
from lvas.flows.reflect import reflect as reflect_task
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
PRIORITY = {"storyboard": 0, "script": 1, "design": 2, "render": 3, "reflect": 4, "mix": 5, "now": 10}
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


@flow(name="dub-dataset", flow_run_name="dub {out}", log_prints=True)
def dub_dataset(
    sources: list[str], out: str, settings: Settings | None = None, only: list[str] | None = None
) -> State:
    """Dub every video in ``sources`` into ``out`` (only the ids in ``only``, when given).

    At most ``IN_FLIGHT_PER_SLOT`` batches per worker slot are in the cluster at once, each driven
    by a thread of this process through :meth:`Stages.dub`; the next starts when one finishes, so
    the flow holds the futures of the batches in flight only, whatever the dataset's size.
    """
    settings = with_library_state(settings or Settings())
    with RunLock(Layout(out).lock()):
        videos = prepare(sources, out, settings, only)
        stages = Stages(out, settings)
        if videos and "design" in settings.run.stages:
            stages.first(build_label_store, out, settings)  # the store's one writer, on a worker
            if stages.gpu:
                stages.first(check_gpu_workers, settings.synth.gpu_resource)  # on a worker: sees the cluster
        slots = settings.run.workers * settings.run.threads_per_worker
        batches = [VideoBatch.of(b) for b in pipeline.batches(videos, settings.run.batch_videos, slots)]
        progress = create_progress_artifact(0.0, key="dub-progress", description=f"videos dubbed in {out}")
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, IN_FLIGHT_PER_SLOT * slots)) as pool:
            # each thread gets a copy of this flow run's context, which Prefect's submit needs
            running = [pool.submit(contextvars.copy_context().run, stages.dub, b) for b in batches]
            for finished in as_completed(running):
                done += finished.result()
                update_progress_artifact(progress, 100.0 * done / max(1, len(videos)))
        return finish(out, videos, settings)


@dataclass
class Stages:
    """The stage tasks of one run, with its retry policy, Dask priorities and GPU placement."""

    out: str
    settings: Settings

    def __post_init__(self) -> None:
        run = self.settings.run
        self.wanted = set(run.stages)
        self.tasks = {"storyboard": storyboard, "mix": mix, "reflect": reflect_task, **{
            name: with_retries(t, run.task_retries, run.retry_delay_s)
            for name, t in (("script", script_task), ("design", design_task), ("render", render_task))}}
        self.gpu = registry.SYNTHS[self.settings.synth.backend].gpu and "render" in self.wanted
        self.annotating = threading.Lock()  # dask.annotate sets Dask's global config: one submit at a time

    def dub(self, batch: VideoBatch) -> int:
        """One batch through the stages the run asks for (the flow's stage list); returns its size
        once its last stage has ended. A stage's failures are in the status table: what did not
        fail goes on."""
        board = self.submit("storyboard", batch)
        scripted = self.submit("script", board)
        scenes = self.wait(scripted)  # {video id: its scenes' durations}: what the scenes fan out over
        designed = self.submit("design", batch, scenes or None)
        groups = pipeline.scene_groups([(v, i, d) for v in batch.videos for i, d in enumerate((scenes or {})
                                        .get(v.video_id, []))], self.settings.run.render_group_s)
        renders = [self.submit("render", SceneGroup.of(g), designed) for g in groups] if designed else []
        counts = {vid: len(d) for vid, d in (scenes or {}).items()}
        reflected = self.submit("reflect", batch, counts, renders or None) if self.settings.reflect.enabled else None
        mixed = self.submit("mix", batch, counts, reflected or renders or None)
        for future in (board, scripted, designed, *renders, reflected, mixed):
            self.wait(future)
        return len(batch.videos)

    def submit(self, stage: str, *args: Any) -> PrefectFuture | None:
        """Submit ``stage``'s task with ``args`` (then ``out`` and the settings); None when the run
        stops before that stage or its input failed."""
        if stage not in self.wanted or any(a is None for a in args):
            return None
        gpu = {"resources": {self.settings.synth.gpu_resource: 1}} if stage == "render" and self.gpu else {}
        if stage in ("reflect", "mix"):  # they take the renders last
            args = (*args[:-1], self.out, self.settings, args[-1])
        else:
            args = (*args, self.out, self.settings)
        with self.annotating, dask.annotate(priority=PRIORITY[stage], **gpu):
            return self.tasks[stage].submit(*args)

    def first(self, task: Any, *args: Any) -> Any:
        """Run ``task`` on a worker, ahead of the queue, and wait for it."""
        with self.annotating, dask.annotate(priority=PRIORITY["now"]):
            future = task.submit(*args)
        return future.result()

    @staticmethod
    def wait(future: PrefectFuture | None) -> Any:
        """The future's result; None when there is none or its task failed (the status table says why)."""
        if future is None:
            return None
        with contextlib.suppress(Exception):
            return future.result()
        return None


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
