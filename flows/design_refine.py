"""The design-refine subflow (LVAS-Agent Algorithm 2) for the scenes of a batch of videos.

The loop lives in the domain (``lvas.agents.design.design_refine_jobs``): every scene runs its
own rounds, in lockstep across the batch's videos so that each round's knowledge-base lookups of
all their scenes go out as one ``retrieve_labels`` task (both layers). Every retrieval round shows
up in the UI under the batch's subflow run; per-scene state is in the status table.
"""

from __future__ import annotations

from lvas.storage.layout import Layout
from lvas.tasks.design import retrieve_labels
from prefect import flow

from lvas import pipeline
from lvas.models import VideoBatch
from lvas.settings import Settings


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
