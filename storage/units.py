"""One unit of work (a stage of a video, or of one scene): skip if done, record status, mark done.

This is the resumability core, independent of the orchestrator: a unit whose completion marker
carries the same cache key (and whose outputs still exist) is skipped; otherwise it runs, and only
a successful run writes the marker. A status record says running / completed / cached / failed.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lvas.storage.layout import Layout
from lvas.storage.status import StatusRecord, record

# Below this many free bytes, a failure while writing is taken for the disk being full: libsndfile
# ("System error.") and SQLite ("database or disk is full") do not say ENOSPC.
FULL_BELOW_BYTES = 1 << 20

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
        full = no_space_left(layout.root, exc)
        if full:
            rec.error = f"{full} ({rec.error_type}: {rec.error})"
        elif not getattr(exc, "__module__", "").startswith("lvas"):
            # unexpected errors keep their traceback tail for the status table
            rec.error += "\n" + "".join(traceback.format_exception(exc)[-3:])
        rec.duration_s = time.time() - now
        record(layout, rec)
        raise
    layout.mark_done(video_id, stage, key, outputs, scene, **extra)
    rec.state, rec.outputs, rec.duration_s = "completed", outputs, time.time() - now
    record(layout, rec)
    return {"key": key, "outputs": outputs, **extra, "cached": False}


def run_scene_units(
    layout: Layout,
    *,
    stage: str,
    units: list[tuple[str, str, dict[int, str]]],
    work: Callable[[list[tuple[str, list[int]]]],
                   dict[tuple[str, int], Outputs | tuple[Outputs, dict[str, Any]] | BaseException]],
    run_id: str = "",
    worker: str = "",
) -> dict[tuple[str, int], BaseException]:
    """``run_unit`` for scenes of several videos done by one call of ``work`` (e.g. in lockstep).

    Arguments:
        units: (video id, source, {scene: cache key}) per video.
        work: gets [(video id, scenes to do)] (videos with nothing to do left out) and returns,
            per (video id, scene), its outputs (or ``(outputs, extra)`` as a stage function returns,
            ``extra`` going into the marker) or the exception that ended it.

    Scenes whose marker matches their key are skipped. Each scene gets its own status record and
    marker, exactly as with ``run_unit``.

    Returns:
        {(video id, scene): exception} of the scenes that failed (empty when all are done).
    """
    now = time.time()
    recs: dict[tuple[str, int], StatusRecord] = {}
    todo: list[tuple[str, list[int]]] = []
    for video_id, source, keys in units:
        base = dict(video_id=video_id, source=source, stage=stage, run_id=run_id, worker=worker)
        scenes = [i for i, k in keys.items() if layout.done(video_id, stage, k, i) is None]
        for i in keys:
            if i not in scenes:
                record(layout, StatusRecord(**base, scene=i, state="cached", started_at=now, finished_at=now))
        for i in scenes:
            recs[(video_id, i)] = StatusRecord(**base, scene=i, state="running", started_at=now)
            record(layout, recs[(video_id, i)])
        if scenes:
            todo.append((video_id, scenes))
    try:
        results = work(todo) if todo else {}
    except BaseException as exc:  # the whole batch failed: every scene of it says why
        results = dict.fromkeys(recs, exc)
    keys_of = {video_id: keys for video_id, _, keys in units}
    failed: dict[tuple[str, int], BaseException] = {}
    for (video_id, i), rec in recs.items():
        res = results.get((video_id, i), RuntimeError(f"{video_id} scene {i} was not processed"))
        rec.duration_s = time.time() - now
        if isinstance(res, BaseException):
            rec.state, rec.error_type, rec.error = "failed", type(res).__name__, str(res) or repr(res)
            full = no_space_left(layout.root, res)
            if full:
                rec.error = f"{full} ({rec.error_type}: {rec.error})"
            elif not getattr(res, "__module__", "").startswith("lvas"):
                # as run_unit: unexpected errors keep their traceback tail for the status table
                rec.error += "\n" + "".join(traceback.format_exception(res)[-3:])
            failed[(video_id, i)] = res
        else:
            outputs, extra = res if isinstance(res, tuple) else (res, {})
            layout.mark_done(video_id, stage, keys_of[video_id][i], outputs, i, **extra)
            rec.state, rec.outputs = "completed", outputs
        record(layout, rec)
    return failed


def no_space_left(root: Path, exc: BaseException) -> str:
    """"no space left on DEVICE (...)" when ``exc`` came from the output folder's file system being
    full, else "". Said plainly, since the libraries' own words for it are obscure."""
    said = isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    said = said or "disk is full" in str(exc) or "No space left" in str(exc)
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        return ""
    if not said and free >= FULL_BELOW_BYTES:
        return ""
    mount = _mount_point(root)
    return f"no space left on {_device(mount)} (the file system at {mount} holding {root}: {free} bytes free)"


def _mount_point(path: Path) -> str:
    p = Path(os.path.realpath(path))
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return str(p)


def _device(mount: str) -> str:
    """The device mounted at ``mount`` as /proc/mounts names it (the mount point elsewhere)."""
    try:
        with open("/proc/mounts") as fh:
            found = [line.split()[0] for line in fh if len(line.split()) > 1 and line.split()[1] == mount]
    except OSError:
        found = []
    return found[-1] if found else mount
