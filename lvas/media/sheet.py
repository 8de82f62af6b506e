"""Contact sheets of a video's shot boundaries: for each cut, the last frame before it and the
first frame after it, side by side, with the time and kind; a person checks the cuts at a glance.
A dissolve's or fade's boundary is its middle, whose neighbours look alike (half mixed, or both
black): for those, the last frame before the mix and the first after it are shown, within the
shots it joins (:func:`shown_frames`).

Only the frames either side of the cuts are decoded again (lvas.media.decode.read_frames), a page
of cuts at a time, so memory stays bounded however many cuts a film has.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from lvas.media.decode import read_frames, scaled_size
from lvas.media.probe import MediaInfo
from lvas.media.shots import Boundary
from lvas.storage.atomic import atomic_path

THUMB_W = 192  # width of each frame on the sheet
PAIRS_PER_ROW = 3  # cuts side by side in a row of the sheet
PAIRS_PER_PAGE = 60  # cuts on one sheet; more go on further pages (a few thousand pixels tall each)
LABEL_H = 16  # height of the caption under each pair
GAP = 12  # pixels between pairs
INNER = 2  # pixels between the frames of a pair


def shown_frames(boundaries: list[Boundary], n: int) -> list[tuple[int, int]]:
    """Per boundary of a video of ``n`` frames, the frames to show before and after it: the two
    frames at a cut; the last frame before a dissolve or fade and the first after it, never beyond
    the shots either side: they show the shots it joins."""
    bounds = [0, *(b.frame for b in boundaries), n]
    shown = []
    for k, b in enumerate(boundaries):
        if b.end > b.start:
            shown.append((max(b.start - 1, bounds[k]), min(b.end, bounds[k + 2] - 1)))
        else:
            shown.append((b.frame - 1, b.frame))
    return shown


def boundary_sheets(
    path: str | os.PathLike[str], info: MediaInfo, cuts: list[int], cuts_s: list[float],
    out: str | os.PathLike[str], per_page: int = PAIRS_PER_PAGE, shown: list[tuple[int, int]] | None = None,
    kinds: list[str] | None = None,
) -> list[Path]:
    """Write PNGs of every cut's frame pair (before | after), in reading order.

    Arguments:
        path: the video.
        info: its probe result (frame size, rotation, fps).
        cuts: the new shots' first frames, as :func:`lvas.media.shots.detect_cuts` numbers them.
        cuts_s: their times in seconds, for the captions.
        out: the PNG to write; with more than ``per_page`` cuts, ``<stem>-1.png``, ``<stem>-2.png``...
            beside it instead. Each is written atomically: a failed run leaves no half-written file.
        per_page: cuts per sheet.
        shown: per cut, the frames to show (:func:`shown_frames`); None: the two at each cut.
        kinds: per cut, its kind for the caption ("cut", "dissolve", "fade"); None: "cut".

    Returns:
        The PNGs written. A video without cuts gets its first frame, captioned as one shot.
    """
    out = Path(out)
    shown = shown if shown is not None else [(c - 1, c) for c in cuts]
    kinds = kinds if kinds is not None else ["cut"] * len(cuts)
    pairs = [(k + 1, before, after, s, kind)
             for k, ((before, after), s, kind) in enumerate(zip(shown, cuts_s, kinds, strict=True))]
    pages = [pairs[i : i + per_page] for i in range(0, len(pairs), per_page)] or [[]]
    names = [out] if len(pages) == 1 else [out.with_name(f"{out.stem}-{p + 1}{out.suffix}") for p in range(len(pages))]
    for page, name in zip(pages, names, strict=True):
        _write_page(path, info, page, name)
    return names


def _write_page(path: str | os.PathLike[str], info: MediaInfo, pairs: list[tuple[int, int, int, float, str]],
                out: Path) -> None:
    """One sheet: ``pairs`` of (cut number, frame before, frame after, time, kind); none: the first
    frame."""
    frames = read_frames(path, info, [i for _, before, after, _, _ in pairs for i in (before, after)] or [0],
                         width=THUMB_W)
    w, h = scaled_size(info, THUMB_W)
    cell_w, cell_h = 2 * w + INNER, h + LABEL_H
    cols = max(1, min(PAIRS_PER_ROW, len(pairs)))
    rows = max(1, -(-len(pairs) // cols))
    sheet = Image.new("RGB", (cols * cell_w + (cols - 1) * GAP, rows * (cell_h + GAP) - GAP), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    if not pairs:
        sheet.paste(_picture(frames.get(0), w, h), (0, 0))
        draw.text((2, h + 2), "one shot", fill=(230, 230, 230))
    for k, (number, before, after, t, kind) in enumerate(pairs):
        x, y = (k % cols) * (cell_w + GAP), (k // cols) * (cell_h + GAP)
        sheet.paste(_picture(frames.get(before), w, h), (x, y))
        sheet.paste(_picture(frames.get(after), w, h), (x + w + INNER, y))
        which = f"frame {after}" if after == before + 1 else f"frames {before} | {after}"
        draw.text((x + 2, y + h + 2), f"{number}: {kind} at {t:.2f} s ({which})", fill=(230, 230, 230))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")


def _picture(frame: np.ndarray | None, w: int, h: int) -> Image.Image:
    """The frame at the sheet's size; a grey placeholder where it could not be decoded."""
    if frame is None:
        return Image.new("RGB", (w, h), (90, 90, 90))
    img = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    return img if img.size == (w, h) else img.resize((w, h))
