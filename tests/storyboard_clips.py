"""Synthetic clips for the Storyboarder tests: transitions, rotation, VFR, audio-only, byte surgery.

Frame functions follow tests/clips.py (``fn(i, t) -> HxWx3 uint8``). Textures move a little every
frame so that keyframe clustering and the adaptive threshold see realistic non-zero change.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.clips import solid

SIZE = (64, 48)
FrameFn = Callable[[int, float], np.ndarray]


def _texture(seed: int, size: tuple[int, int] = SIZE) -> Callable[[int], np.ndarray]:
    """A distinct, slowly drifting colour texture per seed (a 'shot')."""
    rng = np.random.default_rng(seed)
    base = rng.integers(30, 226, 3)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]

    def at(i: int) -> np.ndarray:
        tex = ((xx * (seed + 1) + yy * (seed + 2) + i) % 24).astype(np.int16) - 12
        return np.clip(base[None, None, :] + tex[..., None], 0, 255).astype(np.uint8)

    return at


def dissolve(at_s: float, length_s: float = 1.0, fps: int = 25) -> FrameFn:
    """Shot A dissolves into shot B over ``length_s`` centred on ``at_s``."""
    a, b = _texture(1), _texture(2)

    def fn(i: int, t: float) -> np.ndarray:
        w = np.clip((t - (at_s - length_s / 2)) / length_s, 0.0, 1.0)
        return ((1 - w) * a(i) + w * b(i)).astype(np.uint8)

    return fn


def fade_through_black(at_s: float, half_s: float = 0.4) -> FrameFn:
    """Shot A fades out to black and shot B fades in, black at ``at_s``."""
    a, b = _texture(3), _texture(4)

    def fn(i: int, t: float) -> np.ndarray:
        gain = np.clip(abs(t - at_s) / half_s, 0.0, 1.0)
        return ((a(i) if t < at_s else b(i)) * gain).astype(np.uint8)

    return fn


def flash(at_s: float, frames: int = 2, fps: int = 25) -> FrameFn:
    """One shot with a near-white flash of a few frames at ``at_s``."""
    a = _texture(5)
    first = round(at_s * fps)

    def fn(i: int, t: float) -> np.ndarray:
        img = a(i)
        if first <= i < first + frames:
            img = (img * 0.2 + 0.8 * 255).astype(np.uint8)
        return img

    return fn


def fast_pan(px_per_frame: int = 9, size: tuple[int, int] = SIZE) -> FrameFn:
    """A camera panning fast over one scene: a wide, many-coloured periodic panorama."""
    rng = np.random.default_rng(7)
    w, h = size
    tile = rng.integers(0, 256, (4, 4, 3)).repeat(8, 0).repeat(8, 1).astype(np.uint8)  # 32x32 blocks
    pano = np.tile(tile, (int(np.ceil(h / 32)) + 1, 40, 1))

    def fn(i: int, t: float) -> np.ndarray:
        x = (i * px_per_frame) % (pano.shape[1] - w)
        return pano[:h, x : x + w]

    return fn


def shots_at(cuts_s: list[float]) -> FrameFn:
    """Hard cuts between distinct textured shots at the given times."""
    shots = [_texture(10 + k) for k in range(len(cuts_s) + 1)]

    def fn(i: int, t: float) -> np.ndarray:
        return shots[sum(t >= c for c in cuts_s)](i)

    return fn


def make_rotated_clip(path: Path, *, degrees_ccw: int = 90, seconds: float = 1.0, fps: int = 25) -> Path:
    """A landscape-coded clip with a display matrix rotating it; the left half is white, right black."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.set_display_rotation(degrees_ccw)
        img = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        img[:, : SIZE[0] // 2] = 255
        for _ in range(round(seconds * fps)):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    return path


def make_vfr_clip(path: Path, *, gap_s: float = 1.0) -> Path:
    """25 frames at 25 fps, a gap of ``gap_s`` with no frames, 25 more frames (a new shot)."""
    a, b = _texture(20), _texture(21)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.time_base = Fraction(1, 1000)
        vs.codec_context.time_base = Fraction(1, 1000)
        pts = [k * 40 for k in range(25)] + [1000 + round(gap_s * 1000) + k * 40 for k in range(25)]
        for k, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(a(k) if k < 25 else b(k), format="rgb24")
            frame.pts, frame.time_base = p, Fraction(1, 1000)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    return path


def make_hidden_frames_webm(path: Path, *, frames: int = 100, gop: int = 5) -> Path:
    """A VP8 WebM whose frame i is grey level 2 * i, with a copy of every keyframe marked not to be
    shown (show_frame 0) muxed before it at its timestamp: the layout of VP8 alt-ref frames that
    libvpx's own muxer writes as packets of their own."""
    coded = path.with_name(path.stem + "_coded.webm")
    with av.open(str(coded), "w") as out:
        vs = out.add_stream("libvpx", rate=25)
        vs.width, vs.height = SIZE
        vs.pix_fmt = "yuv420p"
        vs.codec_context.gop_size = gop
        for i in range(frames):
            for pkt in vs.encode(av.VideoFrame.from_ndarray(solid((2 * i,) * 3), format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
    with av.open(str(coded)) as src, av.open(str(path), "w") as out:
        ist = src.streams.video[0]
        ost = out.add_stream_from_template(ist)
        for pkt in src.demux(ist):
            if not pkt.size:
                continue
            if pkt.is_keyframe:
                hidden = bytearray(bytes(pkt))
                hidden[0] &= ~0x10  # the frame tag's show_frame bit
                copy = av.Packet(bytes(hidden))
                copy.pts, copy.dts, copy.time_base, copy.stream = pkt.pts, pkt.dts, pkt.time_base, ost
                out.mux(copy)
            pkt.stream = ost
            out.mux(pkt)
    coded.unlink()
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An .mp4 holding only an AAC track."""
    sr = 44100
    with av.open(str(path), "w") as out:
        st = out.add_stream("aac", rate=sr)
        st.layout = "mono"
        pcm = (0.2 * np.sin(2 * np.pi * 440 * np.arange(int(seconds * sr)) / sr)).astype(np.float32)
        for start in range(0, len(pcm), 1024):
            af = av.AudioFrame.from_ndarray(pcm[start : start + 1024][None, :], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = sr, start, Fraction(1, sr)
            for pkt in st.encode(af):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    return path
