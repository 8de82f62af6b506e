"""Probe: how does TransNetV2 rate hsv's boundaries, its false alarms and its misses?

    .venv/bin/python bench/probe_transnet.py [--stats LABEL] [--add 0.8 0.9]

TransNetV2's per-frame transition probability over every whole clip of the real footage
(bench/real_footage.py; kept in bench/out/transnet/, about 10 minutes the first time), read
against hsv's detections (from bench_shots_real's kept statistics, ``--stats``, default
``probe``) in the tune and held-out parts apart:

- each hsv cut: the largest probability within 2 frames of it, true cuts against false alarms;
- each hsv dissolve or fade: the largest probability over its span and 2 frames either side;
- each miss: the largest probability within 3 frames of the annotated time;
- ``--add``: the errors if TransNetV2's own boundaries at these levels that hsv has none within
  0.3 s of were added to hsv's.

It answers whether TransNetV2 could veto hsv's false alarms or add its misses (bench/RESULTS.md).
A measurement, not a detector.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_shots_real import kept_key, kept_stats
from bench.real_footage import IGNORED_KINDS, TOLERANCE_S, available, heldout_from, load, score
from lvas.media.shots import FrameStats, detect_boundaries
from lvas.media.transnet import transnet_probabilities
from lvas.settings import StoryboardSettings

KEPT = Path(__file__).resolve().parent / "out" / "transnet"
NEAR = 2  # frames either side of a cut or a span
MISS_NEAR = 3  # frames either side of a missed boundary's annotated time
APART_S = 0.3  # an added boundary this far from any of hsv's


def probabilities(video: str, path: Path) -> np.ndarray:
    """TransNetV2's probabilities of a whole clip, kept after the first time."""
    kept = KEPT / f"{kept_key(path)}.npy"
    if not kept.exists():
        KEPT.mkdir(parents=True, exist_ok=True)
        part = kept.with_name(kept.stem + ".part.npy")
        np.save(part, transnet_probabilities(path))
        part.replace(kept)
        print(f"rated {video}", flush=True)
    return np.load(kept)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stats", default="probe")
    ap.add_argument("--add", type=float, nargs="*", default=[0.8, 0.9])
    args = ap.parse_args()
    gt = load()
    rows: dict[str, list[tuple[str, str, float, str, float]]] = {"tune": [], "heldout": []}
    errors = {level: {"tune": [0, 0], "heldout": [0, 0]} for level in args.add}
    for video, path in available(gt).items():
        notes, name = gt[video], video.split("/")[-1]
        p = probabilities(video, path)
        s, fps, end = kept_stats(path, args.stats)
        found = detect_boundaries(s, fps, StoryboardSettings())

        def at(frame: int, s: FrameStats = s, end: float = end) -> float:
            return float(s.t_s[frame]) if frame < len(s) else end

        def peak(a: int, b: int, p: np.ndarray = p) -> float:
            return float(p[max(a, 0) : min(b, len(p))].max(initial=0.0))

        times = [at(b.frame) for b in found]
        edge = heldout_from(notes)
        ignored = [a for a in notes if a.kind in IGNORED_KINDS]
        for split in rows:
            tally = score(times, notes, split)
            alarms = {round(e[1], 6) for e in tally.errors if e[0] == "false alarm"}
            for b, t in zip(found, times, strict=True):
                if (t >= edge - TOLERANCE_S) != (split == "heldout") or any(
                        a.start_s - TOLERANCE_S <= t <= a.end_s + TOLERANCE_S for a in ignored):
                    continue
                lo, hi = (b.frame - 1, b.frame) if b.kind == "cut" else (b.start, b.end)
                told = "false alarm" if round(t, 6) in alarms else "true"
                rows[split].append((told, b.kind, peak(lo - NEAR, hi + NEAR + 1), name, t))
            for e in tally.errors:
                if e[0] == "miss":
                    i = int(np.searchsorted(s.t_s, e[1] - 1e-4))
                    rows[split].append(("miss", e[2], peak(i - 1 - MISS_NEAR, i + MISS_NEAR + 1), name, e[1]))
        for level in args.add:
            inside = p > level
            own = [at(int(i)) for i in np.flatnonzero(inside[:-1] & ~inside[1:]) + 1]
            extra = [t for t in own if all(abs(t - h) > APART_S for h in times)]
            for split in rows:
                errors[level][split][0] += len(score(times, notes, split).errors)
                errors[level][split][1] += len(score(sorted(times + extra), notes, split).errors)
    for split, found_rows in rows.items():
        print(f"\n{split}")
        for told in ("true", "false alarm", "miss"):
            for kinds in (("cut",), ("dissolve", "fade")):
                x = sorted(r[2] for r in found_rows if r[0] == told and r[1] in kinds)
                if x:
                    q = np.quantile(x, [0.0, 0.05, 0.25, 0.5]).round(3).tolist()
                    print(f"  {told:11s} {'/'.join(kinds):13s} n={len(x):3d}  min/5%/25%/median {q}")
        for r in sorted(found_rows, key=lambda r: r[2]):
            if r[0] != "true":
                print(f"    {r[0]:11s} {r[1]:8s} {r[2]:.4f}  {r[3]} {r[4]:.2f}")
    for level, by in errors.items():
        print(f"\nadding TransNetV2's own boundaries over {level}: errors "
              + ", ".join(f"{split} {a} -> {b}" for split, (a, b) in by.items()))


if __name__ == "__main__":
    main()
