"""Compose tasks: plan, render and mix one composition (``lvas compose``); thin wrappers over
``lvas.compose``'s stages, each a unit with its completion marker and status record."""

from __future__ import annotations

from functools import partial

from lvas import compose
from lvas.compose import ComposeJob
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.tasks.common import lvas_task, retry_transient, video_unit
from lvas.tasks.design import label_store


@lvas_task(name="compose-plan", task_run_name="plan {job.job_id}", retries=1, retry_delay_seconds=5,
           retry_condition_fn=retry_transient)
def plan(job: ComposeJob, out: str, settings: Settings) -> str:
    """Plan the composition's segments and events; returns its id."""
    layout = Layout(out)

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return label_store(settings.kb, out).labels_by_layer(texts, k=settings.agents.retrieve_k)

    video_unit(layout, job.ref(), "plan", compose.plan_key(job, settings),
               partial(compose.plan_stage, layout, job, settings, retrieve))
    return job.job_id


@lvas_task(name="compose-render", task_run_name="render {job.job_id}", retries=1, retry_delay_seconds=5,
           retry_condition_fn=retry_transient)
def render(job: ComposeJob, planned: str, out: str, settings: Settings) -> str:
    """Render every event of the planned composition (cached per event); returns its id."""
    layout = Layout(out)
    video_unit(layout, job.ref(), "render", compose.render_key(job, settings),
               partial(compose.render_stage, layout, job, settings))
    return planned


@lvas_task(name="compose-mix", task_run_name="mix {job.job_id}")
def mix(job: ComposeJob, rendered: str, out: str, settings: Settings) -> dict[str, str]:
    """Mix the composition, write its cue sheet, stems and report; returns its output paths."""
    layout = Layout(out)
    marker = video_unit(layout, job.ref(), "mix", compose.mix_key(job, settings),
                        partial(compose.mix_stage, layout, job, settings))
    return marker["outputs"]
