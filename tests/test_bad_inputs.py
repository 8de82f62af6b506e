"""Bad and unusual inputs: each is processed correctly or fails with a clear LvasError naming the file."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lvas.errors import LvasError, VideoProbeError
from lvas.models import VideoRef
from lvas.settings import StoryboardSettings
from lvas.storage.layout import Layout, video_id_for
from lvas.storyboard import analyze, load_storyboard, run_storyboard
from tests import storyboard_clips as sc
from tests.clips import make_clip


def _good(path: Path, seconds: float = 2.0, size: tuple[int, int] = (64, 48)) -> Path:
    return make_clip(path, sc.shots_at([1.0]) if size == (64, 48) else lambda i, t: _noise(i, size),
                     seconds=seconds, size=size)


def _noise(i: int, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    return np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)


def missing(d: Path) -> Path:
    return d / "nope.mp4"


def text_file(d: Path) -> Path:
    p = d / "notes.mp4"
    p.write_text("this is not a video\n" * 20)
    return p


def zero_bytes(d: Path) -> Path:
    p = d / "empty.mp4"
    p.write_bytes(b"")
    return p


def truncated(d: Path) -> Path:
    data = _good(d / "src.mp4").read_bytes()
    p = d / "truncated.mp4"
    p.write_bytes(data[: len(data) // 2])  # the index (moov) is written last: it is lost
    return p


def corrupt_middle(d: Path) -> Path:
    data = bytearray(_good(d / "src.mp4", seconds=3.0).read_bytes())
    k = len(data) // 3
    data[k : k + 400] = b"\xff" * 400
    p = d / "corrupt.mp4"
    p.write_bytes(bytes(data))
    return p


def audio_only(d: Path) -> Path:
    return sc.make_audio_only(d / "audio.mp4")


def directory(d: Path) -> Path:
    (d / "folder.mp4").mkdir()
    return d / "folder.mp4"


@dataclass(frozen=True)
class Rejected:
    make: Callable[[Path], Path]
    message: str  # regex the error message must match after the file name


REJECTED = [
    pytest.param(Rejected(missing, "no such file"), id="missing-path"),
    pytest.param(Rejected(text_file, "not a readable video file"), id="text-named-mp4"),
    pytest.param(Rejected(zero_bytes, r"empty file \(0 bytes\)"), id="zero-bytes"),
    pytest.param(Rejected(truncated, "not a readable video file"), id="truncated"),
    pytest.param(Rejected(audio_only, r"no video stream \(audio-only file\)"), id="audio-only"),
    pytest.param(Rejected(directory, "not a regular file"), id="directory"),
]


@pytest.mark.parametrize("case", REJECTED)
def test_rejected_with_clear_error(tmp_path: Path, case: Rejected) -> None:
    path = case.make(tmp_path)
    with pytest.raises(VideoProbeError) as err:
        analyze(path, StoryboardSettings())
    assert isinstance(err.value, LvasError)
    assert str(err.value).startswith(f"{path}: ")
    assert re.search(case.message, str(err.value)), str(err.value)


def test_corrupt_middle_is_decoded_around_the_damage(tmp_path: Path) -> None:
    a = analyze(corrupt_middle(tmp_path), StoryboardSettings())
    assert 60 <= len(a.stats) <= 75  # 75 frames written; a few may be lost to the damage
    assert a.cuts_s and abs(a.cuts_s[0] - 1.0) <= 0.1
    assert len(a.cuts_s) <= 2  # concealment artefacts may add at most one boundary


def test_one_frame_video(tmp_path: Path) -> None:
    a = analyze(make_clip(tmp_path / "one.mp4", sc.shots_at([]), seconds=0.04), StoryboardSettings())
    assert len(a.stats) == 1 and a.cuts_s == [] and a.shots == [(0, 1)]


def test_tiny_16x16_video(tmp_path: Path) -> None:
    def two_greys(i: int, t: float) -> np.ndarray:
        return np.full((16, 16, 3), 40 if t < 1 else 220, np.uint8)

    clip = make_clip(tmp_path / "tiny.mp4", two_greys, seconds=2.0, size=(16, 16))
    a = analyze(clip, StoryboardSettings())
    assert (a.info.width, a.info.height) == (16, 16)
    assert len(a.cuts_s) == 1 and abs(a.cuts_s[0] - 1.0) <= 0.1


def test_vfr_gap_keeps_true_times(tmp_path: Path) -> None:
    a = analyze(sc.make_vfr_clip(tmp_path / "vfr.mp4", gap_s=1.0), StoryboardSettings())
    assert a.info.variable_frame_rate and len(a.stats) == 50
    assert np.diff(a.stats.t_s).max() == pytest.approx(1.04, abs=0.01)  # the gap, not 1/fps
    assert len(a.cuts_s) == 1 and a.cuts_s[0] == pytest.approx(2.0, abs=0.05)


def test_4k_clip(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "uhd.mp4", lambda i, t: _noise(i // 5, (3840, 2160)), seconds=0.4,
                     size=(3840, 2160))
    a = analyze(clip, StoryboardSettings())
    assert (a.info.width, a.info.height) == (3840, 2160) and len(a.stats) == 10
    assert a.stats.sample_features.shape[0] >= 1


def test_rotated_clip_is_analysed_upright(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "out")
    clip = sc.make_rotated_clip(tmp_path / "rot.mp4", degrees_ccw=90)
    ref = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip))
    board = run_storyboard(ref, layout, StoryboardSettings())
    img = np.asarray(Image.open(layout.video_dir(ref.video_id) / board.shots[0].keyframes[0]))
    assert img.shape[:2] == (64, 48)  # portrait, as a player shows it
    # coded left half white, rotated 90 degrees counter-clockwise: the bottom half is white
    assert img[40:].mean() > 200 and img[:24].mean() < 60


@pytest.mark.parametrize(
    "name", ["my clip.mp4", "café ñ 日本.mp4", "..leading.mp4"], ids=["spaces", "unicode", "dotdot"]
)
def test_awkward_file_names(tmp_path: Path, name: str) -> None:
    clip = _good(tmp_path / name)
    layout = Layout(tmp_path / "out")
    ref = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip))
    board = run_storyboard(ref, layout, StoryboardSettings())
    assert len(board.cuts_s) == 1
    assert load_storyboard(layout, ref.video_id) == board
    assert all((layout.video_dir(ref.video_id) / k).exists() for s in board.shots for k in s.keyframes)


# --------------------------------------------------------------------------- special files


def _in_thread(fn: Callable[[], object]) -> object:
    """``fn()`` in a daemon thread; fails the test if it is still blocked after 20 s (a FIFO
    opened for reading waits for a writer forever)."""
    import threading

    box: list[object] = []
    t = threading.Thread(target=lambda: box.append(_catch(fn)), daemon=True)
    t.start()
    t.join(timeout=20)
    assert not t.is_alive(), "blocked: a special file was opened"
    return box[0]


def _catch(fn: Callable[[], object]) -> object:
    try:
        return fn()
    except Exception as exc:
        return exc


def test_fifo_video_is_fingerprinted_without_opening_it_and_fails_alone(tmp_path: Path) -> None:
    import os

    from lvas import keys, pipeline
    from lvas.settings import Settings

    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    ref = VideoRef(source=str(fifo), path=str(fifo), video_id=video_id_for(fifo))
    fp = _in_thread(lambda: keys.content_fingerprint(fifo))
    assert fp == "unreadable:a FIFO (named pipe), not a regular file"
    assert not pipeline.is_finished(Layout(tmp_path / "out"), ref, Settings())  # the run's preparation
    err = _in_thread(lambda: analyze(fifo, StoryboardSettings()))
    assert isinstance(err, VideoProbeError) and "not a regular file" in str(err)


def test_fifo_captions_file_fails_its_video_with_the_reason(tmp_path: Path) -> None:
    import os

    from lvas import pipeline
    from lvas.agents.captions import load_sidecar
    from lvas.errors import InputError
    from lvas.settings import Settings

    clip, fifo = _good(tmp_path / "clip.mp4"), tmp_path / "caps.json"
    os.mkfifo(fifo)
    ref = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip), captions_path=str(fifo))
    assert isinstance(_in_thread(lambda: pipeline.script_key(Layout(tmp_path / "out"), ref, Settings())), str)
    err = _in_thread(lambda: load_sidecar(fifo))
    assert isinstance(err, InputError)
    assert str(err) == f"sidecar captions {fifo}: a FIFO (named pipe), not a regular file"
