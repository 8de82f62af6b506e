"""The design-refine subflow (LVAS-Agent Algorithm 2) for one scene.

The loop itself lives in the domain (``lvas.agents.design.design_refine``); this flow gives it a
``retrieve`` that runs as a Prefect task against the Chroma label store, so every retrieval round
shows up in the UI under the scene's subflow run.
"""

from __future__ import annotations

from prefect import flow

from lvas import pipeline
from lvas.models import VideoRef
from lvas.settings import Settings
from storage.layout import Layout
from tasks.design import retrieve_labels


@flow(name="design-refine", flow_run_name="design-refine {video.video_id} scene {scene}", log_prints=True)
def design_refine(video: VideoRef, scene: int, out: str, settings: Settings) -> pipeline.StageResult:
    def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:
        return retrieve_labels(texts, layer, out, settings, n=len(texts))

    return pipeline.design_stage(Layout(out), video, scene, settings, retrieve)
