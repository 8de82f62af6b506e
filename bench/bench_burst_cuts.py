"""Cuts under a burst of light: how many lvas finds, against PySceneDetect on the same files.

    .venv/bin/python bench/bench_burst_cuts.py [--no-scenedetect]

The complement of bench/bench_light_bursts.py (a burst inside one shot: no boundary). Each clip
is two of bench/make_material.py's seven real source shots (24 fps, 720p): source s for 2.5 s,
then a burst of light comes on in 1 or 2 frames and fades back over 8 or 16 frames, and 0, 1
or 3 frames after it comes on the picture cuts to source s + 3, lit by the same burst (an
explosion seen from two angles, a flash cut). The burst is one of bench_light_bursts's three:
the whole picture 2.5 times as bright, clipping (``gain``), washed 80% toward white
(``white``), a warm glow over the right half (``glow``). A cut is found where a reported
boundary lies within bench/bench_shots.py's TOLERANCE_S of it; any other boundary is extra.
Clips are written once to bench/out/burstcuts/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_light_bursts import HOLD, KINDS, LENGTH, height, lit
from bench.bench_shots import TOLERANCE_S, run_scenedetect
from bench.make_material import load_sources, segment, write_720p
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze

OUT = Path(__file__).resolve().parent / "out" / "burstcuts"
FPS = 24
SHAPES = ((1, 8), (2, 16))  # (frames the burst comes on in, frames it fades back over)
OFFSETS = (0, 1, 3)  # frames from the burst's start to the cut
NEXT = 3  # the shot cut to: this many sources on


def clip_path(s: int, kind: str, rise: int, fall: int, off: int) -> Path:
    return OUT / f"s{s}_{kind}{rise}_{fall}_{off}.mp4"


def tally(cuts: list[float], at: float) -> tuple[int, int]:
    """(1 if a boundary lies within TOLERANCE_S of ``at``, else 0; the number of the others)."""
    hit = any(abs(c - at) <= TOLERANCE_S + 1e-6 for c in cuts)
    return int(hit), len(cuts) - int(hit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-scenedetect", action="store_true", help="lvas alone")
    args = parser.parse_args()
    detectors = ["lvas"] + ([] if args.no_scenedetect else ["ContentDetector", "AdaptiveDetector"])
    settings = StoryboardSettings()
    sources = load_sources()
    OUT.mkdir(parents=True, exist_ok=True)
    totals = {(d, kind): [0, 0, 0] for d in detectors for kind in KINDS}
    for kind in KINDS:
        for rise, fall in SHAPES:
            for off in OFFSETS:
                row = {d: [] for d in detectors}
                for s, source in enumerate(sources):
                    path = clip_path(s, kind, rise, fall, off)
                    if not path.exists():
                        one = segment(source, LENGTH, 0)
                        two = segment(sources[(s + NEXT) % len(sources)], LENGTH, 0)
                        write_720p(path, [lit(one[k] if k < HOLD + off else two[k], kind, height(k, rise, fall))
                                          for k in range(LENGTH)], FPS)
                    for d in detectors:
                        cuts = analyze(path, settings).cuts_s if d == "lvas" else run_scenedetect(path, d)[0]
                        hit, extra = tally(cuts, (HOLD + off) / FPS)
                        row[d].append(f"{hit}+{extra}")
                        t = totals[d, kind]
                        t[0], t[1], t[2] = t[0] + hit, t[1] + extra, t[2] + 1
                for d in detectors:
                    print(f"{kind:5s} on in {rise}, back over {fall:2d}, cut {off} frames in  {d:16s} "
                          f"found+extra per source: {' '.join(row[d])}", flush=True)
    for d in detectors:
        parts = [f"{kind} {totals[d, kind][0]} of {totals[d, kind][2]} ({totals[d, kind][1]} extra)" for kind in KINDS]
        found = sum(totals[d, kind][0] for kind in KINDS)
        extra = sum(totals[d, kind][1] for kind in KINDS)
        clips = sum(totals[d, kind][2] for kind in KINDS)
        print(f"{d}: cuts found {', '.join(parts)}; in all {found} of {clips}, {extra} extra boundaries")


if __name__ == "__main__":
    main()
