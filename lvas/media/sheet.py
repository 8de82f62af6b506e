"""A contact sheet of a video's shot boundaries: for each cut, the last frame before it and the
first frame after it, side by side, with the time; a person checks the cuts at a glance.

Only the frames either side of the cuts are decoded again (lvas.media.decode.read_frames).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lvas.media.decode import read_frames, scaled_size
from lvas.media.probe import MediaInfo
from lvas.storage.atomic import atomic_path

THUMB_W = 192  # width of each frame on the sheet
PAIRS_PER_ROW = 3  # cuts side by side in a row of the sheet
LABEL_H = 16  # height of the caption under each pair
GAP = 12  # pixels between pairs
INNER = 2  # pixels between the frames of a pair


def boundary_sheet(
    path: str | os.PathLike[str], info: MediaInfo, cuts: list[int], cuts_s: list[float],
    out: str | os.PathLike[str],
) -> Path:
    """Write a PNG of every cut's frame pair (before | after), in reading order, to ``out``.

    Arguments:
        path: the video.
        info: its probe result (frame size, rotation, fps).
        cuts: the new shots' first frames, as :func:`lvas.media.shots.detect_cuts` numbers them.
        cuts_s: their times in seconds, for the captions.
        out: the PNG to write (atomically: a failed run leaves no half-written file).

    Returns:
        ``out``. A video without cuts gets its first frame, captioned as one shot.
    """
    pairs = [(c - 1, c) for c in cuts] or [(0, None)]
    wanted = [i for pair in pairs for i in pair if i is not None]
    frames = read_frames(path, info, wanted, width=THUMB_W)
    w, h = scaled_size(info, THUMB_W)
    cell_w, cell_h = 2 * w + INNER, h + LABEL_H
    cols = min(PAIRS_PER_ROW, len(pairs))
    rows = -(-len(pairs) // cols)
    sheet = Image.new("RGB", (cols * cell_w + (cols - 1) * GAP, rows * (cell_h + GAP) - GAP), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for k, (before, after) in enumerate(pairs):
        x, y = (k % cols) * (cell_w + GAP), (k // cols) * (cell_h + GAP)
        for j, index in enumerate((before, after)):
            if index is not None:
                sheet.paste(_picture(frames.get(index), w, h), (x + j * (w + INNER), y))
        caption = f"cut {k + 1} at {cuts_s[k]:.2f} s (frame {after})" if after is not None else "one shot"
        draw.text((x + 2, y + h + 2), caption, fill=(230, 230, 230))
    final = Path(out)
    with atomic_path(final) as tmp:
        sheet.save(tmp, format="PNG")
    return final


def _picture(frame: np.ndarray | None, w: int, h: int) -> Image.Image:
    """The frame at the sheet's size; a grey placeholder where it could not be decoded."""
    if frame is None:
        return Image.new("RGB", (w, h), (90, 90, 90))
    img = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    return img if img.size == (w, h) else img.resize((w, h))
