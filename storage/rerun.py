"""Which videos a rerun touches, and which completion markers it clears first.

A failed unit has no marker, so rerunning its video recomputes exactly the failed units (and what
depends on them); every finished unit is skipped by its marker and its artifacts stay byte-identical.
Naming a video (or a scene of it) clears those markers so they are recomputed on purpose.

Compositions of ``lvas compose`` are rerun the same way, as a whole (:func:`plan_compose_rerun`).

Markers are only ever cleared under the folder's run lock: a rerun refused because another run
holds the folder changes nothing in it.
"""

from __future__ import annotations

import contextlib
import json

from lvas.errors import InputError
from lvas.storage.layout import Layout, artifact_problems
from lvas.storage.lock import RunLock
from lvas.storage.runs import read_compositions, read_sources
from lvas.storage.status import StatusRecord, collect, read_record, record, rollup


def plan_rerun(layout: Layout, *, failed: bool, videos: list[str], scenes: list[int],
               lock: RunLock | None = None) -> list[str]:
    """Return the video ids to rerun, after clearing the markers of what was named.

    Arguments:
        lock: the folder's run lock, held by the caller (who then keeps it for the run). Without
            it, the lock is taken for the planning and released on return.

    Raises:
        RunLocked: another run holds the folder (nothing was changed).
        InputError: a named video is unknown to this folder, --scene without exactly one --video,
            or a scene the video does not have.
        ValueError: ``lock`` is given but not held.
    """
    if lock is None:
        with RunLock(layout.lock()) as held:
            return plan_rerun(layout, failed=failed, videos=videos, scenes=scenes, lock=held)
    if not lock.held or lock.path != layout.lock():
        raise ValueError(f"plan_rerun needs {layout.lock()} held by the caller")
    sources = [r["video_id"] for r in read_sources(layout)]  # one row a video (storage.runs.prepare_run)
    known = set(sources)
    unknown = [v for v in videos if v not in known]
    if unknown:
        raise InputError(f"{layout.root}: unknown video id(s) {', '.join(unknown)} (see `lvas status`)")
    if scenes and len(videos) != 1:
        raise InputError("--scene needs exactly one --video")
    if scenes:
        script = layout.read_marker(videos[0], "script") or {}
        n = int(script.get("scenes", 0))
        missing = sorted({s for s in scenes if not 0 <= s < n})
        if missing:
            has = f"has {n} scene{'s' if n != 1 else ''} (0-{n - 1})" if n else "has no script yet"
            raise InputError(f"{videos[0]} {has}: no scene {', '.join(map(str, missing))} to rerun")
    chosen = list(videos)
    for vid in videos:
        _clear(layout, vid, scenes or None)
    if failed:  # and every video of this folder that is not done, started or not (a lost cluster's)
        states = rollup(collect(layout))
        chosen += [v for v in sources if v not in chosen and (v not in states or states[v].state != "completed")]
    return chosen


def plan_compose_rerun(layout: Layout, *, failed: bool, ids: list[str], lock: RunLock | None = None) -> list[str]:
    """Return the compositions (of ``lvas compose``) to rerun, after clearing the markers of those
    named, so they are planned, rendered and mixed again (rendered events are reused by their keys).

    Arguments:
        failed: also every recorded composition that is not done: failed, cut short or never started.
        ids: compositions to redo on purpose.
        lock: the folder's run lock, held by the caller; without it, taken for the planning.

    Raises:
        RunLocked: another run holds the folder (nothing was changed).
        InputError: a named composition is not recorded in this folder.
        ValueError: ``lock`` is given but not held.
    """
    if lock is None:
        with RunLock(layout.lock()) as held:
            return plan_compose_rerun(layout, failed=failed, ids=ids, lock=held)
    if not lock.held or lock.path != layout.lock():
        raise ValueError(f"plan_compose_rerun needs {layout.lock()} held by the caller")
    recorded = [r["job_id"] for r in read_compositions(layout)]
    unknown = [i for i in ids if i not in recorded]
    if unknown:
        raise InputError(f"{layout.root}: unknown composition id(s) {', '.join(unknown)} "
                         f"(`lvas show {layout.root}` lists them)")
    chosen = list(dict.fromkeys(ids))
    for job_id in chosen:
        _clear(layout, job_id, None)
    if failed:
        chosen += [i for i in unfinished_compositions(layout) if i not in chosen]
    return chosen


def unfinished_compositions(layout: Layout) -> list[str]:
    """The recorded compositions (of ``lvas compose``) that are not done: failed, cut short or
    never started, in the order they were recorded.

    Arguments:
        layout: the output folder.

    Returns:
        Their ids (empty when ``lvas compose`` never ran here).
    """
    recorded = [r["job_id"] for r in read_compositions(layout)]
    states = rollup(collect(layout, [i for i in recorded if layout.status_dir(i).is_dir()]))
    return [i for i in recorded if i not in states or states[i].state != "completed"]


def _clear(layout: Layout, video_id: str, scenes: list[int] | None) -> None:
    done = layout.video_dir(video_id) / ".done"
    if scenes is None:
        targets = list(done.glob("*.json"))
    else:
        targets = [layout.marker(video_id, st, s) for s in scenes for st in ("design", "render")]
        targets.append(layout.marker(video_id, "mix"))
    for t in targets:
        with contextlib.suppress(FileNotFoundError):
            t.unlink()


def invalidate_broken(layout: Layout, lock: RunLock, full: bool = True) -> list[str]:
    """Remove the completion markers whose artifacts no longer match them, so the next run redoes
    exactly those units (and, through the cache keys, what was built from a changed output).

    Arguments:
        lock: the folder's run lock, held by the caller: a run in progress must not see its
            markers disappear.
        full: compare content hashes (reads every artifact); otherwise sizes only.

    Returns:
        One line per removed marker: the unit and what did not match.

    Raises:
        ValueError: ``lock`` is not held.
    """
    if not lock.held or lock.path != layout.lock():
        raise ValueError(f"invalidate_broken needs {layout.lock()} held by the caller")
    found = []
    for marker_path in sorted(layout.root.glob("videos/*/.done/*.json")):
        try:
            marker = json.loads(marker_path.read_text())
        except (OSError, ValueError):
            marker, problems = None, ["unreadable marker"]
        else:
            problems = artifact_problems(marker, full=full) if isinstance(marker, dict) else ["not a marker"]
        if problems:
            video_id, unit = marker_path.parent.parent.name, marker_path.stem
            found.append(f"{video_id} {unit}: {'; '.join(problems)}")
            with contextlib.suppress(FileNotFoundError):
                marker_path.unlink()
            _record_damage(layout, video_id, unit, "; ".join(problems))
    return found


def _record_damage(layout: Layout, video_id: str, unit: str, problem: str) -> None:
    """The unit's status record says failed, with what did not match: `lvas status` shows it and
    `lvas rerun --failed` redoes it."""
    stage, _, scene = unit.partition("@")
    index = int(scene) if scene.isdigit() else None
    before = read_record(layout.status_record(video_id, stage, index))
    record(layout, StatusRecord(video_id=video_id, stage=stage, state="failed", scene=-1 if index is None else index,
                                source=before.source if before else "", error_type="ArtifactMismatch",
                                error=f"artifact no longer matches its completion marker: {problem}"))
