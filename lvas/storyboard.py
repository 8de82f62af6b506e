"""The Storyboarder: probe, shot cuts, keyframes and per-frame statistics of one video.

``analyze`` (lvas.media.analysis) is pure: a file in, an :class:`Analysis` out; ``run_storyboard``
adds the artifacts:
keyframe JPEGs, ``frames.parquet`` (one row per analysed frame, read later for sound timing) and
``shots.parquet``, written last so that its presence means the stage finished.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lvas.media.analysis import Analysis, analyze, shots_summary
from lvas.media.keyframes import choose_keyframes, save_keyframes
from lvas.models import Shot, ShotBoundary, Storyboard, VideoInfo, VideoRef
from lvas.settings import StoryboardSettings
from lvas.storage.atomic import write_parquet
from lvas.storage.layout import Layout

__all__ = [
    "FRAME_COLUMNS",
    "Analysis",
    "analyze",
    "keyframe_path",
    "load_frame_stats",
    "load_storyboard",
    "run_storyboard",
    "shots_summary",
]

FRAME_COLUMNS = ("frame", "t_s", "shot", "motion", "hsv_dist", "brightness", "saturation", "hue_deg")


def run_storyboard(video: VideoRef, layout: Layout, settings: StoryboardSettings) -> Storyboard:
    """Analyse one video and write its storyboard artifacts atomically.

    Writes the keyframe JPEGs under ``layout.keyframes_dir``, then ``layout.frames`` and last
    ``layout.shots`` (shot index, times, frames, keyframe paths relative to the video folder).

    Arguments:
        video: the video to analyse.
        layout: the output layout.
        settings: the storyboard settings.

    Returns:
        The Storyboard record (also readable later with :func:`load_storyboard`).

    Raises:
        VideoProbeError, DecodeError: see :func:`analyze`.
    """
    a = analyze(video.path, settings)
    vid = video.video_id
    kdir = layout.keyframes_dir(vid)
    rel = kdir.relative_to(layout.video_dir(vid)).as_posix()
    wanted: dict[str, int] = {}
    per_shot: list[list[str]] = []
    for i, ((s, e), (t0, t1)) in enumerate(zip(a.shots, a.shot_times, strict=True)):
        picks = choose_keyframes(a.stats.sample_frames, a.stats.sample_features, s, e, t1 - t0, settings)
        names = [f"shot{i:04d}_k{j}.jpg" for j in range(len(picks))]
        wanted.update(zip(names, picks, strict=True))
        per_shot.append(names)
    written = save_keyframes(video.path, a.info, wanted, kdir, settings.keyframe_width)
    for stale in kdir.glob("*.jpg"):  # keyframes of an earlier run with other settings
        if stale.name not in written:
            stale.unlink(missing_ok=True)
    shots = [
        Shot(
            index=i, start_s=t0, end_s=t1, start_frame=s, end_frame=e,
            keyframes=[f"{rel}/{n}" for n in names if n in written],
            keyframe_frames=[written[n] for n in names if n in written],
        )
        for i, ((s, e), (t0, t1), names) in enumerate(zip(a.shots, a.shot_times, per_shot, strict=True))
    ]
    write_parquet(layout.frames(vid), _frames_table(a))
    boundaries = [ShotBoundary(at_s=at, kind=kind, from_s=start, to_s=end)
                  for at, kind, start, end in a.boundary_times()]
    board = Storyboard(video_id=vid, info=VideoInfo(**asdict(a.info)), cuts_s=a.cuts_s, shots=shots,
                       boundaries=boundaries)
    write_parquet(layout.shots(vid), _shots_table(board))
    return board


def _frames_table(a: Analysis) -> pa.Table:
    st = a.stats
    n = len(st)
    shot_of = np.zeros(n, np.int32)
    for i, (s, e) in enumerate(a.shots):
        shot_of[s:e] = i
    f32 = np.float32
    return pa.table({
        "frame": np.arange(n, dtype=np.int32), "t_s": st.t_s.astype(np.float64), "shot": shot_of,
        "motion": st.motion.astype(f32), "hsv_dist": st.d1.astype(f32),
        "brightness": st.brightness.astype(f32), "saturation": st.saturation.astype(f32),
        "hue_deg": st.hue_deg.astype(f32),
    })


def _shots_table(board: Storyboard) -> pa.Table:
    rows = [
        {"shot": s.index, "start_s": s.start_s, "end_s": s.end_s, "start_frame": s.start_frame,
         "end_frame": s.end_frame, "keyframes": s.keyframes, "keyframe_frames": s.keyframe_frames}
        for s in board.shots
    ]
    schema = pa.schema([
        ("shot", pa.int32()), ("start_s", pa.float64()), ("end_s", pa.float64()),
        ("start_frame", pa.int64()), ("end_frame", pa.int64()),
        ("keyframes", pa.list_(pa.string())), ("keyframe_frames", pa.list_(pa.int64())),
    ])
    meta = {
        b"lvas.info": board.info.model_dump_json().encode(),
        b"lvas.cuts_s": json.dumps(board.cuts_s).encode(),
        b"lvas.boundaries": json.dumps([b.model_dump() for b in board.boundaries]).encode(),
    }
    return pa.Table.from_pylist(rows, schema=schema).replace_schema_metadata(meta)


def load_storyboard(layout: Layout, video_id: str) -> Storyboard:
    """Read back what :func:`run_storyboard` wrote.

    Raises:
        FileNotFoundError: the storyboard stage has not run for this video.
    """
    table = pq.read_table(layout.shots(video_id))
    meta = table.schema.metadata or {}
    info = VideoInfo.model_validate_json(meta[b"lvas.info"])
    shots = [
        Shot(index=r["shot"], start_s=r["start_s"], end_s=r["end_s"], start_frame=r["start_frame"],
             end_frame=r["end_frame"], keyframes=r["keyframes"], keyframe_frames=r["keyframe_frames"])
        for r in table.to_pylist()
    ]
    boundaries = [ShotBoundary(**b) for b in json.loads(meta.get(b"lvas.boundaries", b"[]"))]
    return Storyboard(video_id=video_id, info=info, cuts_s=json.loads(meta[b"lvas.cuts_s"]), shots=shots,
                      boundaries=boundaries)


def load_frame_stats(
    layout: Layout, video_id: str, start_s: float | None = None, end_s: float | None = None
) -> dict[str, np.ndarray]:
    """Per-frame statistics (columns of ``frames.parquet``), optionally of [start_s, end_s) only.

    Returns:
        Column name -> array: frame, t_s, shot, motion, hsv_dist, brightness, saturation, hue_deg.
    """
    table = pq.read_table(layout.frames(video_id))
    cols = {name: table.column(name).to_numpy() for name in FRAME_COLUMNS}
    keep = np.ones(len(cols["t_s"]), bool)
    if start_s is not None:
        keep &= cols["t_s"] >= start_s
    if end_s is not None:
        keep &= cols["t_s"] < end_s
    return {k: v[keep] for k, v in cols.items()}


def keyframe_path(layout: Layout, video_id: str, relative: str) -> Path:
    """Absolute path of a keyframe listed in a Shot (paths there are relative to the video folder)."""
    return layout.video_dir(video_id) / relative
