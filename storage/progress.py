"""Terminal progress during a run, and the `lvas status` report; both read the status records only."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lvas.storage.layout import Layout
from lvas.storage.status import STAGE_ORDER, collect, rollup, top_errors
from lvas.text import printable


def _line(videos: Counter, units: Counter) -> str:
    stages = " ".join(f"{s} {units[(s, True)]}/{units[(s, True)] + units[(s, False)]}"
                      for s in STAGE_ORDER if units[(s, True)] + units[(s, False)])
    return (f"videos: {videos['completed']} done, {videos['failed']} failed, "
            f"{videos['running'] + videos['pending']} in progress | {stages}")


def _units(records: list) -> Counter:
    return Counter((r.stage, r.state in ("completed", "cached")) for r in records)


class Tally:
    """The progress line over a folder's status records.

    Each call re-reads only the records that changed, and a video's records are forgotten once it
    is completed (its counts are kept): over a long run the flow process holds the ids of the
    finished videos, not their records.
    """

    def __init__(self, layout: Layout, final_stage: str) -> None:
        self.layout, self.final = layout, final_stage
        self.finished: set[str] = set()
        self.finished_units: Counter = Counter()
        self.cache: dict = {}  # storage.status.collect's: the unfinished videos' records

    def line(self) -> str:
        base = self.layout.status_dir()
        ids = sorted(p.name for p in base.iterdir() if p.is_dir() and p.name not in self.finished) \
            if base.exists() else []
        records = collect(self.layout, ids, cache=self.cache)
        states = rollup(records, self.final)
        videos = Counter(v.state for v in states.values())
        videos["completed"] += len(self.finished)
        line = _line(videos, _units(records) + self.finished_units)
        done = {vid for vid, v in states.items() if v.state == "completed"}
        self.finished |= done
        self.finished_units += _units([r for r in records if r.video_id in done])
        self.cache = {p: hit for p, hit in self.cache.items() if p.parent.name not in done}
        return line


class ProgressPrinter:
    """Prints a progress line every ``every`` seconds (when it changed) while a run goes on."""

    def __init__(self, out: str, final_stage: str = "mix", every: float = 2.0) -> None:
        self.tally, self.every = Tally(Layout(out), final_stage), every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._t0 = time.time()

    def _loop(self) -> None:
        last = ""
        while not self._stop.wait(self.every):
            try:
                line = self.tally.line()
            except Exception:  # progress must never break a run
                continue
            if line != last:
                print(f"[{time.time() - self._t0:6.0f}s] {line}", file=sys.stderr, flush=True)
                last = line

    def __enter__(self) -> ProgressPrinter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            print(f"[{time.time() - self._t0:6.0f}s] {self.tally.line()}", file=sys.stderr)


def final_stage(layout: Layout) -> str:
    """The last stage the folder's latest run was asked for (mix unless it ran with --until)."""
    try:
        return json.loads((layout.root / "settings.json").read_text())["run"]["stages"][-1]
    except (FileNotFoundError, KeyError, IndexError, json.JSONDecodeError):
        return "mix"


def status_report(out: str, failed_only: bool = False) -> dict[str, Any]:
    """Per-video rows (source, video_id, stage, state, error, scenes, outputs), top errors, throughput.

    Raises:
        LvasError: ``out`` holds no lvas run.
    """
    from lvas.errors import InputError

    layout = Layout(out)
    if not layout.status_dir().exists():
        raise InputError(f"{out}: no lvas status here (run `lvas dub ... --out {out}` first)")
    records = collect(layout)
    states = rollup(records, final_stage(layout))
    videos = [asdict(v) for v in states.values() if not failed_only or v.state == "failed"]
    finished = [r for r in records if r.state in ("completed", "failed") and r.finished_at]
    span = (max(r.finished_at for r in finished) - min(r.started_at for r in finished)) if finished else 0.0
    done_videos = sum(1 for r in finished if r.stage == "mix" and r.state == "completed")
    done_scenes = sum(1 for r in finished if r.stage == "render" and r.state == "completed")
    per_hour = (3600.0 / span) if span > 0 else 0.0
    counts = Counter(v["state"] for v in videos)
    lines = [f"{'state':10} {'stage':11} {'video_id':40} error"]
    lines += [f"{v['state']:10} {v['stage']:11} {v['video_id']:40} {v['error'][:100]}" for v in videos]
    lines.append("")
    lines.append("videos: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    if span:
        lines.append(f"throughput: {done_videos * per_hour:.0f} videos/h, {done_scenes * per_hour:.0f} scenes/h "
                     f"(computed over {span:.0f} s of recorded work)")
    errs = top_errors(records)
    if errs:
        lines.append("top errors:")
        lines += [f"  {n:4d} x {msg}" for msg, n in errs]
    return {"videos": videos, "text": printable("\n".join(lines)), "top_errors": errs,
            "throughput": {"videos_per_hour": done_videos * per_hour, "scenes_per_hour": done_scenes * per_hour},
            "root": str(Path(out).absolute())}
