"""Per-unit status records and the dataset status table built from them.

Each unit of work (video x stage, or video x stage x scene) owns one small JSON record that only
its own task writes, atomically. Concurrent workers therefore never contend for a shared file,
and a killed worker leaves at worst a ``running`` record that the next run overwrites. The
Parquet status table is a snapshot built from the records (``collect``).
"""

from __future__ import annotations

import errno
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lvas.registry import STAGES
from lvas.settings import redact
from lvas.storage.atomic import write_json, write_parquet
from lvas.storage.layout import Layout

STATES = ("running", "completed", "cached", "failed", "skipped")


@dataclass
class StatusRecord:
    video_id: str
    stage: str
    state: str
    source: str = ""
    scene: int = -1
    error: str = ""
    error_type: str = ""
    attempts: int = 1
    duration_s: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    run_id: str = ""
    worker: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["outputs"] = json.dumps(self.outputs, sort_keys=True)
        return row


def record(layout: Layout, rec: StatusRecord) -> None:
    """Write a unit's status record, its error text redacted (``lvas.settings.redact``): the
    status table, ``lvas status`` and the terminal are all built from these records."""
    rec.error = redact(rec.error)
    scene = None if rec.scene < 0 else rec.scene
    path = layout.status_record(rec.video_id, rec.stage, scene)
    if rec.state == "running":
        # keep the attempt count across retries and reruns
        prev = read_record(path)
        if prev is not None and prev.state in ("running", "failed"):
            rec.attempts = prev.attempts + 1
    elif not rec.finished_at:
        rec.finished_at = time.time()
    try:
        write_json(path, asdict(rec))
    except OSError as exc:
        if exc.errno != errno.ENOSPC or not _rewrite_in_place(path, asdict(rec)):
            raise


def _rewrite_in_place(path: Path, data: dict[str, Any]) -> bool:
    """On a full disk, overwrite the unit's existing record (its blocks are already allocated) so
    that a failure is still recorded. Not atomic: a last resort. Returns whether it worked."""
    blob = json.dumps(data, indent=2, sort_keys=True, default=str).encode()
    try:
        with open(path, "r+b") as fh:
            fh.write(blob)
            fh.truncate()
    except OSError:
        return False
    return True


def read_record(path: Path) -> StatusRecord | None:
    try:
        return StatusRecord(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def collect(layout: Layout, video_ids: list[str] | None = None,
            cache: dict[Path, tuple[tuple[int, int], StatusRecord | None]] | None = None) -> list[StatusRecord]:
    """Every status record under ``layout`` (optionally of some videos), oldest first.

    ``cache`` (a dict kept by the caller between calls) re-reads only the records whose file
    changed since the last call: a progress line over a large dataset then costs a ``stat`` per
    record, not a JSON parse (records are replaced atomically, so a change is a new mtime/size).
    """
    base = layout.status_dir()
    if not base.exists():
        return []
    dirs = [base / v for v in video_ids] if video_ids is not None else sorted(p for p in base.iterdir() if p.is_dir())
    known = cache if cache is not None else {}
    out = []
    seen: dict[Path, tuple[tuple[int, int], StatusRecord | None]] = {}
    for d in dirs:
        for p in sorted(d.glob("*.json")):
            try:
                st = p.stat()
            except FileNotFoundError:  # replaced or removed since the listing
                continue
            stamp = (st.st_mtime_ns, st.st_size)
            hit = known.get(p)
            rec = hit[1] if hit is not None and hit[0] == stamp else read_record(p)
            seen[p] = (stamp, rec)
            if rec is not None:
                out.append(rec)
    if cache is not None:
        cache.clear()
        cache.update(seen)
    return sorted(out, key=lambda r: (r.started_at, r.video_id, r.stage, r.scene))


def write_table(path: Path, records: list[StatusRecord]) -> Path:
    """Snapshot records as a Parquet status table (one row per unit)."""
    return write_parquet(path, [r.to_row() for r in records])


def top_errors(records: list[StatusRecord], n: int = 5) -> list[tuple[str, int]]:
    """The most frequent failure messages, with the file-specific part kept short."""
    c = Counter(f"{r.stage}: {r.error_type or 'Error'}: {r.error.splitlines()[0][:160] if r.error else ''}"
                for r in records if r.state == "failed")
    return c.most_common(n)


# stage order, for "how far did a video get"
STAGE_ORDER = STAGES


@dataclass
class VideoState:
    video_id: str
    source: str
    state: str  # completed | failed | running | pending
    stage: str  # furthest stage reached (or the one that failed)
    error: str = ""
    scenes: int = 0
    failed_scenes: list[int] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def rollup(records: list[StatusRecord], final_stage: str = "mix") -> dict[str, VideoState]:
    """One state per video from its unit records: failed if any unit failed, completed once its
    final stage completed (or was cached), running while a unit runs, pending otherwise."""
    out: dict[str, VideoState] = {}
    for r in records:
        v = out.setdefault(r.video_id, VideoState(r.video_id, r.source, "pending", r.stage))
        v.source = v.source or r.source
        if _rank(r.stage) >= _rank(v.stage):
            v.stage = r.stage
        if r.scene >= 0:
            v.scenes = max(v.scenes, r.scene + 1)
        if r.state == "failed":
            v.state, v.stage = "failed", r.stage
            first = (r.error.splitlines() or ["(no message)"])[0]
            v.error = v.error or f"{r.stage}{'' if r.scene < 0 else f' scene {r.scene}'}: {first}"
            if r.scene >= 0:
                v.failed_scenes.append(r.scene)
        elif r.stage == final_stage and r.state in ("completed", "cached") and v.state != "failed":
            v.state = "completed"
            v.outputs = r.outputs
        elif r.state == "running" and v.state == "pending":
            v.state = "running"
    return out


def _rank(stage: str) -> int:
    return STAGE_ORDER.index(stage) if stage in STAGE_ORDER else -1
