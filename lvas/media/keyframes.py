"""Keyframes per shot: K-Means over frame features, the frame nearest each centroid.

The features (HSV histograms plus a coarse luminance layout) were sampled while streaming the
video for shot detection, a few per second, so choosing keyframes needs no second full decode:
only the chosen frames are decoded again, at the keyframe width, and saved as JPEG.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.cluster import KMeans

from lvas.media.decode import read_frames
from lvas.media.probe import MediaInfo
from lvas.models import VideoInfo
from lvas.settings import StoryboardSettings
from lvas.storage.atomic import atomic_path

JPEG_QUALITY = 90


def keyframe_count(duration_s: float, settings: StoryboardSettings) -> int:
    """k for a shot: one more per ``keyframe_every_s`` seconds, within [keyframes_min, keyframes_max]."""
    k = settings.keyframes_min + int(duration_s // settings.keyframe_every_s)
    return max(settings.keyframes_min, min(settings.keyframes_max, k))


def choose_keyframes(
    frames: np.ndarray, features: np.ndarray, start: int, end: int, duration_s: float,
    settings: StoryboardSettings,
) -> list[int]:
    """Pick the keyframes of the shot [start, end).

    Arguments:
        frames: indices of the frames whose features were sampled (sorted).
        features: their feature rows.
        start: first frame of the shot.
        end: one past its last frame.
        duration_s: shot duration (sets k).
        settings: keyframes_min, keyframes_max, keyframe_every_s.

    Returns:
        Sorted, distinct frame indices (at least one: the middle frame when no sample fell inside).
    """
    inside = (frames >= start) & (frames < end)
    cand, feats = frames[inside], features[inside]
    if len(cand) == 0:
        return [(start + end - 1) // 2]
    k = min(keyframe_count(duration_s, settings), len(np.unique(feats, axis=0)))
    if k <= 1:
        # one keyframe: the frame most typical of the shot (nearest the mean)
        return [int(cand[np.argmin(((feats - feats.mean(0)) ** 2).sum(1))])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning on near-identical frames
        km = KMeans(n_clusters=k, n_init=4, random_state=0).fit(feats)
    picks = {int(cand[np.argmin(((feats - c) ** 2).sum(1))]) for c in km.cluster_centers_}
    return sorted(picks)


def save_keyframes(
    path: str | os.PathLike[str], info: VideoInfo | MediaInfo, wanted: dict[str, int], out_dir: Path, width: int
) -> dict[str, int]:
    """Decode the chosen frames at ``width`` and write them as JPEG, atomically.

    Arguments:
        path: the video.
        info: its probe result.
        wanted: file name (e.g. ``shot0003_k1.jpg``) -> frame index.
        out_dir: the keyframes folder.
        width: JPEG width in pixels (never upscaled).

    Returns:
        The subset of ``wanted`` that was written (a frame that no longer decodes is left out).
    """
    frames = read_frames(path, info, list(wanted.values()), width=width)
    written = {}
    for name, idx in wanted.items():
        if idx not in frames:
            continue
        with atomic_path(out_dir / name) as tmp:
            Image.fromarray(frames[idx]).save(tmp, format="JPEG", quality=JPEG_QUALITY)
        written[name] = idx
    return written
