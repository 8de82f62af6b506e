"""The design-refine subflow (LVAS-Agent Algorithm 2) for the scenes of one video.

The loop lives in the domain (``lvas.agents.design.design_refine_scenes``): every scene runs its
own rounds, in lockstep so that each round's knowledge-base lookups of all the video's scenes go
out as one ``retrieve_labels`` task (both layers). Every retrieval round shows up in the UI under the
video's subflow run; per-scene state is in the status table.
"""

from __future__ import annotations

from prefect import flow

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from tasks.design import retrieve_labels


@flow(name="design-refine", flow_run_name="design-refine {video.video_id} ({scenes_label})", persist_result=False)
def design_refine(video: VideoRef, scenes: list[int], out: str, settings: Settings,
                  scenes_label: str = "") -> dict:
    rounds = iter(range(1, 1000))

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        size = " ".join(f"{layer} x{len(t)}" for layer, t in texts.items())
        return retrieve_labels.with_options(task_run_name=f"retrieve round {next(rounds)}: {size}")(
            texts, out, settings)

    return pipeline.design_scenes(Layout(out), video, scenes, settings, retrieve)
