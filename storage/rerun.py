"""Which videos a rerun touches, and which completion markers it clears first.

A failed unit has no marker, so rerunning its video recomputes exactly the failed units (and what
depends on them); every finished unit is skipped by its marker and its artifacts stay byte-identical.
Naming a video (or a scene of it) clears those markers so they are recomputed on purpose.
"""

from __future__ import annotations

import contextlib

from lvas.storage.layout import Layout
from lvas.storage.runs import read_sources
from lvas.storage.status import collect, rollup


def plan_rerun(layout: Layout, *, failed: bool, videos: list[str], scenes: list[int]) -> list[str]:
    """Return the video ids to rerun, after clearing the markers of what was named.

    Raises:
        InputError: a named video is unknown to this folder, or --scene without exactly one --video.
    """
    from lvas.errors import InputError

    sources = [r["video_id"] for r in read_sources(layout)]  # one row a video (storage.runs.prepare_run)
    known = set(sources)
    unknown = [v for v in videos if v not in known]
    if unknown:
        raise InputError(f"{layout.root}: unknown video id(s) {', '.join(unknown)} (see `lvas status`)")
    if scenes and len(videos) != 1:
        raise InputError("--scene needs exactly one --video")
    chosen = list(videos)
    for vid in videos:
        _clear(layout, vid, scenes or None)
    if failed:  # and every video of this folder that is not done, started or not (a lost cluster's)
        states = rollup(collect(layout))
        chosen += [v for v in sources if v not in chosen and (v not in states or states[v].state != "completed")]
    return chosen


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
