"""Colour spaces of decoded frames: RGB, or 8-bit Y'CbCr as the decoder stored it.

Shot analysis reads frames sampled straight from the decoder's Y/U/V planes and needs only each
pixel's 5-bit RGB code: ``rgb5_codes`` gives it from lookup tables over (Y, Cr) for red, (Y, Cb) for
blue and (Cb, Cr) plus Y for green, built once per space, so no pixel is converted in floating point
(0.2 ms a frame less at 160x90). ``to_rgb`` converts frames for everything else, with the matrices
swscale uses.

A space is ``"rgb"`` or ``"yuv601"``, ``"yuv709"`` (limited range, 16-235) or ``"yuvj601"``,
``"yuvj709"`` (full range, 0-255).
"""

from __future__ import annotations

import functools

import numpy as np

SPACES = ("rgb", "yuv601", "yuv709", "yuvj601", "yuvj709")
_KR_KB = {"601": (0.299, 0.114), "709": (0.2126, 0.0722)}


def space_of(full_range: bool, bt709: bool) -> str:
    return f"yuv{'j' if full_range else ''}{'709' if bt709 else '601'}"


@functools.cache
def yuv_matrix(space: str) -> tuple[np.ndarray, np.ndarray]:
    """(M, offset) with ``rgb = yuv @ M + offset`` for 8-bit Y'CbCr samples in ``space``."""
    if space not in SPACES[1:]:
        raise ValueError(f"not a Y'CbCr space: {space!r} (one of {', '.join(SPACES[1:])})")
    kr, kb = _KR_KB[space[-3:]]
    kg = 1.0 - kr - kb
    full = space.startswith("yuvj")
    ys, cs, y0 = (1.0, 1.0, 0.0) if full else (255.0 / 219.0, 255.0 / 224.0, 16.0)
    # rows: Y, Cb, Cr; columns: R, G, B
    m = np.array([
        [ys, ys, ys],
        [0.0, -cs * 2 * (1 - kb) * kb / kg, cs * 2 * (1 - kb)],
        [cs * 2 * (1 - kr), -cs * 2 * (1 - kr) * kr / kg, 0.0],
    ], np.float32)
    return m, -(np.array([y0, 128.0, 128.0], np.float32) @ m)


def to_rgb(frames: np.ndarray, space: str) -> np.ndarray:
    """Frames (..., 3) uint8 in ``space`` as uint8 RGB (rounded, clipped)."""
    if space == "rgb":
        return frames
    m, off = yuv_matrix(space)
    rgb = frames.reshape(-1, 3).astype(np.float32) @ m
    rgb += off + 0.5
    return np.clip(rgb, 0, 255, out=rgb).astype(np.uint8).reshape(frames.shape)


_FIX = 64  # green is summed in fixed point: 1/64 of a level, so a code differs from exact only
_BIAS = 512  # when green lands that close to a 5-bit step (measured: 0.07% of pixels)


@functools.cache
def _code_tables(space: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    m, off = yuv_matrix(space)
    v = np.arange(256, dtype=np.float64)
    y, c = np.meshgrid(v, v, indexing="ij")  # index (first << 8) | second

    def five(x: np.ndarray) -> np.ndarray:
        return (np.clip(x + 0.5, 0, 255).astype(np.uint8) >> 3).astype(np.uint16)

    red = (five(y * m[0, 0] + c * m[2, 0] + off[0]) << 10).reshape(-1)  # (Y, Cr)
    blue = five(y * m[0, 2] + c * m[1, 2] + off[2]).reshape(-1)  # (Y, Cb)
    green_y = np.round((v * m[0, 1] + off[1] + 0.5 + _BIAS) * _FIX).astype(np.int32)
    green_c = np.round((y * m[1, 1] + c * m[2, 1]) * _FIX).astype(np.int32).reshape(-1)  # (Cb, Cr)
    levels = np.arange((2 * _BIAS + 256) * _FIX) // _FIX - _BIAS
    green = (np.clip(levels, 0, 255).astype(np.uint8) >> 3).astype(np.uint16) << 5
    return red, blue, green_y, green_c, green


def rgb5_codes(frames: np.ndarray, space: str) -> np.ndarray:
    """``(R >> 3) << 10 | (G >> 3) << 5 | (B >> 3)`` of Y'CbCr ``frames`` (..., 3) in ``space``, as uint16."""
    red, blue, green_y, green_c, green = _code_tables(space)
    y, cb, cr = frames[..., 0], frames[..., 1], frames[..., 2]
    hi = y.astype(np.uint16) << 8
    code = red.take(hi | cr)
    code |= blue.take(hi | cb)
    g = green_y.take(y)
    g += green_c.take((cb.astype(np.uint16) << 8) | cr)
    code |= green.take(g)
    return code


# 5-bit cells centred on multiples of 8 (the top one wider): neutral chroma, 128, is a cell's
# centre, so a grey's cell converts to a grey, not to a dark magenta near black
_CELL = np.minimum((np.arange(256) + 4) >> 3, 31).astype(np.uint16)
# each component's cell already shifted to its place in the index
_Y5, _CB5, _CR5 = _CELL << 10, _CELL << 5, _CELL
# Cb5 << 5 | Cr5 of each adjacent (Cb, Cr) byte pair read as one uint16 (either byte order)
_PAIRS = np.arange(1 << 16, dtype=np.uint16).view(np.uint8).reshape(-1, 2)
_CBCR5 = _CB5[_PAIRS[:, 0]] | _CR5[_PAIRS[:, 1]]


def yuv5_index(frames: np.ndarray) -> np.ndarray:
    """``Y5 << 10 | Cb5 << 5 | Cr5`` of 8-bit Y'CbCr ``frames`` (..., 3), as uint16, where a
    component's 5-bit cell is the multiple of 8 nearest it (``min((c + 4) >> 3, 31)``)."""
    index = _Y5.take(frames[..., 0])
    if frames.strides[-1] == 1:  # Cb and Cr side by side: one lookup of both
        index |= _CBCR5.take(frames[..., 1:].view(np.uint16)[..., 0])
    else:
        index |= _CB5.take(frames[..., 1])
        index |= _CR5.take(frames[..., 2])
    return index


@functools.cache
def rgb5_of_yuv5(space: str) -> np.ndarray:
    """The 5-bit RGB code (as ``rgb5_codes``) of the centre of each 5-bit Y'CbCr cell in ``space``.

    Indexed by :func:`yuv5_index`: one lookup per pixel instead of a conversion. A cell spans 8
    levels of each component, the same resolution the 5-bit RGB codes keep.
    """
    v = np.arange(32, dtype=np.uint8) * 8
    cells = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    rgb = to_rgb(cells, space).astype(np.uint16) >> 3
    return (rgb[:, 0] << 10) | (rgb[:, 1] << 5) | rgb[:, 2]
