"""One unit of work (a stage of a video, or of one scene): skip if done, record status, mark done.

This is the resumability core, independent of the orchestrator: a unit whose completion marker
carries the same cache key (and whose outputs still exist) is skipped; otherwise it runs, and only
a successful run writes the marker. A status record says running / completed / cached / failed.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from storage.layout import Layout
from storage.status import StatusRecord, record

Outputs = dict[str, str]


def run_unit(
    layout: Layout,
    *,
    video_id: str,
    source: str,
    stage: str,
    key: str,
    work: Callable[[], tuple[Outputs, dict[str, Any]]],
    scene: int | None = None,
    run_id: str = "",
) -> dict[str, Any]:
    """Run ``work`` unless the unit is already done with ``key``.

    Arguments:
        work: does the stage and writes its artifacts atomically; returns (outputs, extra) where
            outputs maps names to the artifact paths the marker vouches for, and extra is small
            JSON-able data kept in the marker (e.g. the scene count) for cached reruns.

    Returns:
        The marker: {"key", "outputs", **extra, "cached": bool}.

    Raises:
        Whatever ``work`` raises, after recording the failure.
    """
    base = dict(video_id=video_id, source=source, stage=stage, scene=-1 if scene is None else scene, run_id=run_id)
    done = layout.done(video_id, stage, key, scene)
    now = time.time()
    if done is not None:
        record(layout, StatusRecord(**base, state="cached", started_at=now, finished_at=now,
                                    outputs=done.get("outputs", {})))
        return {**done, "cached": True}
    rec = StatusRecord(**base, state="running", started_at=now)
    record(layout, rec)
    try:
        outputs, extra = work()
    except BaseException as exc:
        rec.state, rec.error_type = "failed", type(exc).__name__
        rec.error = str(exc) or repr(exc)
        if not getattr(exc, "__module__", "").startswith("lvas"):
            # unexpected errors keep their traceback tail for the status table
            rec.error += "\n" + "".join(traceback.format_exception(exc)[-3:])
        rec.duration_s = time.time() - now
        record(layout, rec)
        raise
    layout.mark_done(video_id, stage, key, outputs, scene, **extra)
    rec.state, rec.outputs, rec.duration_s = "completed", outputs, time.time() - now
    record(layout, rec)
    return {"key": key, "outputs": outputs, **extra, "cached": False}
