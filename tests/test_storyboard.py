"""run_storyboard artifacts: keyframes, shots.parquet, frames.parquet, and reading them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from lvas.media.keyframes import choose_keyframes, keyframe_count
from lvas.models import ShotBoundary, Storyboard, VideoInfo, VideoRef
from lvas.settings import StoryboardSettings
from lvas.storage.atomic import PART
from lvas.storage.layout import Layout, video_id_for
from lvas.storyboard import FRAME_COLUMNS, load_frame_stats, load_storyboard, run_storyboard
from tests import storyboard_clips as sc
from tests.clips import make_clip

SETTINGS = StoryboardSettings(keyframe_every_s=1.0, keyframes_min=1, keyframes_max=3, keyframe_width=48)


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Layout, VideoRef]:
    d = tmp_path_factory.mktemp("sb")
    clip = make_clip(d / "two shots.mp4", sc.shots_at([0.8]), seconds=4.0)  # shots of 0.8 s and 3.2 s
    layout = Layout(d / "out")
    ref = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip))
    run_storyboard(ref, layout, SETTINGS)
    return layout, ref


def test_keyframe_count_grows_with_shot_length() -> None:
    assert [keyframe_count(s, SETTINGS) for s in (0.3, 0.8, 1.5, 2.2, 10.0)] == [1, 1, 2, 3, 3]


def test_keyframes_per_shot_and_jpegs(board_dir: tuple[Layout, VideoRef]) -> None:
    layout, ref = board_dir
    board = load_storyboard(layout, ref.video_id)
    assert [len(s.keyframes) for s in board.shots] == [1, 3]
    for shot in board.shots:
        assert shot.keyframe_frames == sorted(shot.keyframe_frames)
        assert all(shot.start_frame <= f < shot.end_frame for f in shot.keyframe_frames)
        for rel in shot.keyframes:
            assert not Path(rel).is_absolute() and rel.startswith("keyframes/")
            img = Image.open(layout.video_dir(ref.video_id) / rel)
            assert img.format == "JPEG" and img.size == (48, 36)
    assert not list(layout.video_dir(ref.video_id).rglob(f"*{PART}*"))


def test_storyboard_round_trip(board_dir: tuple[Layout, VideoRef]) -> None:
    layout, ref = board_dir
    again = run_storyboard(ref, layout, SETTINGS)
    assert load_storyboard(layout, ref.video_id) == again
    assert again.cuts_s == pytest.approx([0.8], abs=0.05)
    s0, s1 = again.shots
    assert (s0.start_s, s0.end_frame, s1.start_frame) == (0.0, 20, 20)
    assert s1.end_s == pytest.approx(4.0, abs=0.05) and again.info.frame_count == 100
    assert again.boundaries == [ShotBoundary(at_s=again.cuts_s[0], kind="cut", from_s=again.cuts_s[0],
                                             to_s=again.cuts_s[0])]
    table = pq.read_table(layout.shots(ref.video_id))
    assert table.column_names == ["shot", "start_s", "end_s", "start_frame", "end_frame", "keyframes",
                                  "keyframe_frames"]


def test_a_storyboard_written_before_boundaries_reads_back(board_dir: tuple[Layout, VideoRef],
                                                           tmp_path: Path) -> None:
    layout, ref = board_dir
    table = pq.read_table(layout.shots(ref.video_id))
    meta = {k: v for k, v in table.schema.metadata.items() if k != b"lvas.boundaries"}
    old = Layout(tmp_path / "out")
    old.shots(ref.video_id).parent.mkdir(parents=True)
    pq.write_table(table.replace_schema_metadata(meta), old.shots(ref.video_id))
    board = load_storyboard(old, ref.video_id)
    assert board.boundaries == [] and board.cuts_s == load_storyboard(layout, ref.video_id).cuts_s
    assert board.crossfade_s(board.cuts_s[0], 0.15) == 0.15


def test_a_dissolve_sets_the_crossfade_at_its_cut(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "dissolve.mp4", sc.dissolve(2.0, 1.0), seconds=4.0)
    layout = Layout(tmp_path / "out")
    ref = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip))
    board = run_storyboard(ref, layout, SETTINGS)
    assert load_storyboard(layout, ref.video_id).boundaries == board.boundaries
    (mix,) = board.boundaries
    assert mix.kind == "dissolve" and mix.at_s == pytest.approx(2.0, abs=0.1)
    assert mix.from_s == pytest.approx(1.5, abs=0.15) and mix.to_s == pytest.approx(2.5, abs=0.15)
    assert board.crossfade_s(mix.at_s, 0.15) == pytest.approx(mix.to_s - mix.from_s)
    assert board.crossfade_s(mix.at_s, 2.0) == 2.0  # never shorter than asked
    assert board.crossfade_s(1.0, 0.15) == 0.15  # no boundary there


def test_a_hard_cut_keeps_the_set_crossfade() -> None:
    info = VideoInfo(path="v.mp4", duration_s=4.0, fps=25.0, frame_count=100, width=64, height=48)
    board = Storyboard(video_id="v", info=info, cuts_s=[1.0, 2.0], shots=[], boundaries=[
        ShotBoundary(at_s=1.0, kind="cut", from_s=1.0, to_s=1.0),
        ShotBoundary(at_s=2.0, kind="fade", from_s=1.6, to_s=2.6)])
    assert board.crossfade_s(1.0, 0.15) == 0.15
    assert board.crossfade_s(2.01, 0.15) == pytest.approx(1.0)  # within half a frame
    assert board.crossfade_s(2.03, 0.15) == 0.15


def test_frame_stats(board_dir: tuple[Layout, VideoRef]) -> None:
    layout, ref = board_dir
    st = load_frame_stats(layout, ref.video_id)
    assert tuple(st) == FRAME_COLUMNS and len(st["frame"]) == 100
    assert np.array_equal(st["shot"], np.repeat([0, 1], [20, 80]))
    for col in ("motion", "brightness", "saturation", "hsv_dist"):
        assert ((st[col] >= 0) & (st[col] <= 1)).all(), col
    assert ((st["hue_deg"] >= 0) & (st["hue_deg"] < 360)).all()
    assert st["hsv_dist"].argmax() == 20  # the cut
    part = load_frame_stats(layout, ref.video_id, start_s=1.0, end_s=2.0)
    assert len(part["t_s"]) == 25 and part["t_s"].min() >= 1.0 and part["t_s"].max() < 2.0


def test_motion_and_colour_stats_measure_the_picture(tmp_path: Path) -> None:
    """A still red frame, then a frame moving every step: the stats say so."""

    def fn(i: int, t: float) -> np.ndarray:
        img = np.zeros((48, 64, 3), np.uint8)
        img[..., 0] = 200
        if t >= 1.0:
            img[:, (i * 5) % 64 :, :] = 255  # a moving white band
        return img

    clip = make_clip(tmp_path / "red.mp4", fn, seconds=2.0)
    layout = Layout(tmp_path / "out")
    ref = VideoRef(source=str(clip), path=str(clip), video_id="red")
    run_storyboard(ref, layout, StoryboardSettings())
    st = load_frame_stats(layout, "red")
    still, moving = st["motion"][2:24], st["motion"][27:]
    assert still.max() < 0.01 < moving.mean()
    hue = st["hue_deg"][:20]
    assert ((hue < 10) | (hue > 350)).all()  # red
    assert st["saturation"][:20].mean() > 0.9
    assert st["brightness"][:20].mean() == pytest.approx(0.78, abs=0.03)


def test_stale_keyframes_are_removed(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", sc.shots_at([1.0]), seconds=3.0)
    layout = Layout(tmp_path / "out")
    ref = VideoRef(source=str(clip), path=str(clip), video_id="c")
    run_storyboard(ref, layout, StoryboardSettings(keyframes_max=4, keyframe_every_s=0.5))
    board = run_storyboard(ref, layout, StoryboardSettings(keyframes_max=1))
    on_disk = sorted(p.name for p in layout.keyframes_dir("c").glob("*.jpg"))
    assert on_disk == sorted(Path(k).name for s in board.shots for k in s.keyframes)
    assert len(on_disk) == 2


def test_keyframes_of_a_real_shot_are_distinct_frames() -> None:
    rng = np.random.default_rng(0)
    frames = np.arange(0, 100, 3)
    feats = np.repeat(rng.random((3, 8)), [11, 11, 12], axis=0)  # three looks within the shot
    picks = choose_keyframes(frames, feats, 0, 100, 7.5, StoryboardSettings(keyframes_max=3))
    assert len(picks) == 3 and len({f // 33 for f in picks}) == 3  # one frame from each look
