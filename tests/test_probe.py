"""Probing: real clips, synthetic rotation and VFR, and what the probe reports."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lvas.errors import VideoProbeError
from lvas.media.decode import iter_frames
from lvas.media.probe import probe
from tests import storyboard_clips as sc
from tests.clips import make_clip, real_clip, solid


def test_real_clip_with_audio() -> None:
    info = probe(real_clip("bigbuckbunny.mp4"))
    assert (info.width, info.height, info.fps) == (1280, 720, 25.0)
    assert info.duration_s == pytest.approx(5.28, abs=0.05)
    assert info.frame_count == 132
    assert info.has_audio and info.audio_codec == "aac" and info.video_codec == "h264"
    assert info.rotation == 0 and not info.variable_frame_rate


def test_ntsc_rate_is_kept_exact() -> None:
    info = probe(real_clip("carphone_pristine.mp4"))
    assert info.fps == pytest.approx(30000 / 1001)
    assert (info.width, info.height, info.frame_count) == (176, 144, 120)


def test_rotation_swaps_display_size(tmp_path: Path) -> None:
    info = probe(sc.make_rotated_clip(tmp_path / "rot.mp4", degrees_ccw=90))
    assert info.rotation == 270  # 90 degrees counter-clockwise = 270 clockwise
    assert (info.width, info.height) == (48, 64)


def test_variable_frame_rate_detected(tmp_path: Path) -> None:
    info = probe(sc.make_vfr_clip(tmp_path / "vfr.mp4", gap_s=1.0))
    assert info.variable_frame_rate
    assert info.frame_count == 50
    assert info.duration_s == pytest.approx(3.0, abs=0.05)


def test_constant_rate_clip_is_not_vfr(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "c.mp4", lambda i, t: solid((i, 0, 0)), seconds=1.0))
    assert not info.variable_frame_rate and info.frame_count == 25 and info.fps == 25.0


def test_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "not a video.mp4"
    bad.write_text("hello")
    with pytest.raises(VideoProbeError, match=r"not a video\.mp4: not a readable video file"):
        probe(bad)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decode_backends_agree_on_vfr_times(tmp_path: Path, backend: str) -> None:
    clip = sc.make_vfr_clip(tmp_path / "vfr.mp4", gap_s=1.0)
    info = probe(clip)
    chunks = list(iter_frames(clip, info, width=32, chunk=16, backend=backend))
    times = np.concatenate([c.times for c in chunks])
    assert [c.start for c in chunks] == [0, 16, 32, 48]
    assert chunks[0].frames.shape[1:] == (24, 32, 3)
    np.testing.assert_allclose(times[[0, 24, 25, 49]], [0.0, 0.96, 2.0, 2.96], atol=1e-3)


def test_rotated_frames_are_upright(tmp_path: Path) -> None:
    clip = sc.make_rotated_clip(tmp_path / "rot.mp4", degrees_ccw=90)
    frame = next(iter(iter_frames(clip, probe(clip), width=48))).frames[0]
    assert frame.shape == (64, 48, 3)
    assert frame[40:].mean() > 200 and frame[:24].mean() < 60  # coded left half now at the bottom
