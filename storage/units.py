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
    worker: str = "",
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
    base = dict(video_id=video_id, source=source, stage=stage, scene=-1 if scene is None else scene, run_id=run_id,
                worker=worker)
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


def run_units(
    layout: Layout,
    *,
    video_id: str,
    source: str,
    stage: str,
    keys: dict[int, str],
    work: Callable[[list[int]], dict[int, Outputs | BaseException]],
    run_id: str = "",
    worker: str = "",
) -> dict[int, BaseException]:
    """``run_unit`` for several scenes of one video done by one call of ``work`` (e.g. in lockstep).

    Scenes whose marker matches their key are skipped; ``work`` gets the rest and returns, per
    scene, its outputs or the exception that ended it. Each scene gets its own status record and
    marker, exactly as with ``run_unit``.

    Returns:
        {scene: exception} of the scenes that failed (empty when all are done).
    """
    base = dict(video_id=video_id, source=source, stage=stage, run_id=run_id, worker=worker)
    now = time.time()
    todo = [i for i, k in keys.items() if layout.done(video_id, stage, k, i) is None]
    for i in keys:
        if i not in todo:
            record(layout, StatusRecord(**base, scene=i, state="cached", started_at=now, finished_at=now))
    recs = {i: StatusRecord(**base, scene=i, state="running", started_at=now) for i in todo}
    for rec in recs.values():
        record(layout, rec)
    try:
        results = work(todo) if todo else {}
    except BaseException as exc:  # the whole batch failed: every scene of it says why
        results = dict.fromkeys(todo, exc)
    failed: dict[int, BaseException] = {}
    for i, rec in recs.items():
        res = results.get(i, RuntimeError(f"scene {i} was not processed"))
        rec.duration_s = time.time() - now
        if isinstance(res, BaseException):
            rec.state, rec.error_type, rec.error = "failed", type(res).__name__, str(res) or repr(res)
            failed[i] = res
        else:
            layout.mark_done(video_id, stage, keys[i], res, i)
            rec.state, rec.outputs = "completed", res
        record(layout, rec)
    return failed
