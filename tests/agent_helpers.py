"""Hand-built storyboards with synthetic keyframes for the agent tests (no storyboard code needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lvas.models import Shot, Storyboard, VideoInfo

SKY = (70, 130, 230)
GRASS = (40, 160, 50)
NIGHT = (12, 10, 20)
INDOOR = (150, 60, 40)
SEA = (30, 90, 200)
SAND = (220, 200, 150)


def write_image(path: Path, top: tuple[int, int, int], bottom: tuple[int, int, int], seed: int = 0) -> Path:
    """A 160x90 JPEG: ``top`` colour over the upper half, ``bottom`` below, a little noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((90, 160, 3), dtype=np.float32)
    img[:45] = top
    img[45:] = bottom
    img += rng.normal(0, 4, img.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def make_storyboard(
    video_dir: Path,
    looks: list[tuple[tuple[int, int, int], tuple[int, int, int]]],
    shot_s: float = 2.0,
    video_id: str = "clip-0123456789",
    keyframes_per_shot: int = 2,
) -> Storyboard:
    """One shot per ``looks`` entry (top colour, bottom colour), ``keyframes_per_shot`` JPEGs each."""
    fps = 25.0
    shots = []
    for i, (top, bottom) in enumerate(looks):
        rel = []
        for k in range(keyframes_per_shot):
            name = f"keyframes/shot{i:04d}_k{k}.jpg"
            write_image(video_dir / name, top, bottom, seed=i * 10 + k)
            rel.append(name)
        start = i * shot_s
        shots.append(
            Shot(
                index=i,
                start_s=start,
                end_s=start + shot_s,
                start_frame=int(start * fps),
                end_frame=int((start + shot_s) * fps),
                keyframes=rel,
                keyframe_frames=[
                    int((start + (k + 0.5) * shot_s / keyframes_per_shot) * fps)
                    for k in range(keyframes_per_shot)
                ],
            )
        )
    duration = shot_s * len(looks)
    info = VideoInfo(
        path=str(video_dir / "clip.mp4"),
        duration_s=duration,
        fps=fps,
        frame_count=int(duration * fps),
        width=160,
        height=90,
    )
    return Storyboard(video_id=video_id, info=info, cuts_s=[s.start_s for s in shots[1:]], shots=shots)
