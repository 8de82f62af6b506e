"""``lvas shots`` from the console script: the same answer as through lvas.cli, without pydantic."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lvas.console import main
from lvas.media.probe import MediaInfo, probe, probe_media
from lvas.media.shots import ShotSettings
from lvas.models import VideoInfo
from lvas.settings import StoryboardSettings
from lvas.shots_cli import shot_settings
from tests.clips import real_clip


def test_shot_settings_are_the_storyboard_defaults() -> None:
    fields = [f.name for f in dataclasses.fields(ShotSettings)]
    assert fields and set(fields) <= set(StoryboardSettings.model_fields)
    assert {f: getattr(ShotSettings(), f) for f in fields} == {f: getattr(StoryboardSettings(), f) for f in fields}


def test_media_info_is_video_info() -> None:
    assert [f.name for f in dataclasses.fields(MediaInfo)] == list(VideoInfo.model_fields)
    clip = real_clip("bikes.mp4")
    assert probe(clip) == VideoInfo(**dataclasses.asdict(probe_media(clip)))


def test_storyboard_variables_go_through_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVAS_STORYBOARD__MIN_SHOT_S", raising=False)
    assert isinstance(shot_settings(), ShotSettings)
    monkeypatch.setenv("LVAS_STORYBOARD__MIN_SHOT_S", "0.5")
    s = shot_settings()
    assert isinstance(s, StoryboardSettings) and s.min_shot_s == 0.5


def test_console_shots_matches_cli(capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.cli import main as cli_main

    clip = str(real_clip("bikes.mp4"))
    assert main(["shots", clip, "--json"]) == 0
    lean = json.loads(capsys.readouterr().out)
    assert cli_main(["shots", clip, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == lean
    assert len(lean["bikes.mp4"]["cuts_s"]) >= 1


def test_console_shots_imports_no_pydantic(tmp_path: Path) -> None:
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    code = (
        "import sys; from lvas.console import main; rc = main(['shots', sys.argv[1], '--json']);"
        "print(rc, sorted(m for m in sys.modules if m == 'lvas.cli' or m.split('.')[0].startswith('pydantic')))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(real_clip("bikes.mp4"))], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    assert out == "0 []"
    err = subprocess.run([sys.executable, "-c", code, str(bad)], capture_output=True, text=True).stderr
    assert "empty.mp4" in err


def test_console_script_shots_exits_with_its_output(tmp_path: Path) -> None:
    # As the console script runs it (no argv): the process ends itself after flushing its output.
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    clip = str(real_clip("bikes.mp4"))
    run = [sys.executable, "-m", "lvas.console", "shots"]
    ok = subprocess.run([*run, clip, "--json"], capture_output=True, text=True)
    assert ok.returncode == 0 and len(json.loads(ok.stdout)["bikes.mp4"]["cuts_s"]) >= 1
    failed = subprocess.run([*run, clip, str(bad), "--json"], capture_output=True, text=True)
    assert failed.returncode == 1 and "empty.mp4" in failed.stderr and "bikes.mp4" in json.loads(failed.stdout)


def _three_colour_clip(path: Path) -> Path:
    """Textured shots, reddish, bluish, then greenish, cut at 1.2 s and 2.4 s, 160x90."""
    from tests.clips import make_clip

    rng = np.random.default_rng(4)
    tints = ([170, 40, 40], [40, 40, 170], [40, 170, 40])
    shots = [np.array(c) + rng.integers(0, 80, (9, 16, 1)).repeat(10, 0).repeat(10, 1) for c in tints]

    def fn(i: int, t: float) -> np.ndarray:
        return np.clip(shots[int(t >= 1.2) + int(t >= 2.4)], 0, 255).astype(np.uint8)

    return make_clip(path, fn, seconds=3.6, size=(160, 90))


def _tint(img: np.ndarray) -> int:
    """Which channel dominates a region of the sheet: 0 red, 1 green, 2 blue."""
    return int(np.argmax(img.reshape(-1, 3).mean(0)))


def test_sheet_shows_the_frames_either_side_of_each_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from lvas.media.sheet import GAP, INNER, LABEL_H

    clip = _three_colour_clip(tmp_path / "three.mp4")
    assert main(["shots", str(clip), "--json", "--sheet", str(tmp_path / "sheets")]) == 0
    entry = json.loads(capsys.readouterr().out)["three.mp4"]
    assert entry["cuts_s"] == [1.2, 2.4]
    assert entry["boundaries"] == [{"at_s": t, "kind": "cut", "from_s": t, "to_s": t} for t in (1.2, 2.4)]
    sheet = tmp_path / "sheets" / "three.mp4.shots.png"
    assert entry["sheets"] == [str(sheet)] and list(sheet.parent.iterdir()) == [sheet]
    img = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
    w = (img.shape[1] - GAP - 2 * INNER) // 4  # two pairs in one row: before | after, before | after
    h = img.shape[0] - LABEL_H
    assert (w, h) == (160, 90)  # the frames at their size (160 px wide: never upscaled)
    pair = 2 * w + INNER + GAP
    regions = [img[:h, x : x + w] for x in (0, w + INNER, pair, pair + w + INNER)]
    assert [_tint(r) for r in regions] == [0, 2, 2, 1]  # red | blue, then blue | green


def test_sheet_of_a_fade_shows_the_shots_it_joins_not_its_black_middle(tmp_path: Path) -> None:
    """A fade's boundary is its black middle: the sheet shows the frames either side of the fade."""
    from PIL import Image

    from lvas.media.analysis import analyze
    from lvas.media.sheet import INNER, LABEL_H, boundary_sheets, shown_frames
    from tests.clips import make_clip

    rng = np.random.default_rng(5)
    texture = rng.integers(0, 80, (2, 9, 16, 3)).repeat(10, 1).repeat(10, 2)
    red, blue = np.array([170, 40, 40]) + texture[0], np.array([40, 40, 170]) + texture[1]

    def fn(i: int, t: float) -> np.ndarray:
        gain = min(abs(t - 1.6) / 0.4, 1.0)  # red fades out, black at 1.6 s, blue fades in
        return np.clip((red if t < 1.6 else blue) * gain, 0, 255).astype(np.uint8)

    clip = make_clip(tmp_path / "fade.mp4", fn, seconds=3.2, size=(160, 90))
    a = analyze(clip, ShotSettings())
    assert len(a.cut_frames) == 1 and abs(a.cuts_s[0] - 1.6) <= 0.1
    [fade] = a.boundaries
    assert fade.kind == "fade" and abs(fade.start - 30) <= 2 and abs(fade.end - 50) <= 2  # 1.2-2.0 s at 25 fps
    [(before, after)] = shown_frames(a.boundaries, len(a.stats))
    assert (before, after) == (fade.start - 1, fade.end)
    [sheet] = boundary_sheets(clip, a.info, a.cut_frames, a.cuts_s, tmp_path / "s.png",
                              shown=shown_frames(a.boundaries, len(a.stats)), kinds=["fade"])
    img = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
    w, h = (img.shape[1] - INNER) // 2, img.shape[0] - LABEL_H
    left, right = img[:h, :w], img[:h, w + INNER :]
    assert min(left.mean(), right.mean()) > 60  # pictures, not the black middle
    assert [_tint(left), _tint(right)] == [0, 2]  # red before, blue after
    plain = boundary_sheets(clip, a.info, a.cut_frames, a.cuts_s, tmp_path / "p.png")[0]
    assert np.asarray(Image.open(plain).convert("RGB"))[:h].mean() < 30  # the frames at the middle: black


def test_sheet_frames_stay_within_the_shots_either_side_of_each_cut(tmp_path: Path) -> None:
    """Still title cards 0.6 s apart are cut, not mixed: the two frames at each cut. A dissolve's
    frames are those either side of its mix, but never past the neighbouring cuts."""
    from lvas.media.analysis import analyze
    from lvas.media.sheet import shown_frames
    from lvas.media.shots import Boundary
    from tests.clips import make_clip
    from tests.test_shots import _card, _noisy

    cards = [_card((12 + 9 * k, 40 + 7 * k)) for k in range(5)]
    clip = make_clip(tmp_path / "cards.mp4", lambda i, t: _noisy(cards[min(i // 15, 4)].astype(np.uint8), i),
                     seconds=3.0, size=(160, 90))
    a = analyze(clip, ShotSettings())
    assert a.cut_frames == [15, 30, 45, 60] and {b.kind for b in a.boundaries} == {"cut"}
    assert shown_frames(a.boundaries, len(a.stats)) == [(14, 15), (29, 30), (44, 45), (59, 60)]
    mixed = [Boundary(10, "cut", 10, 10), Boundary(20, "dissolve", 8, 33), Boundary(30, "fade", 26, 34)]
    assert shown_frames(mixed, 40) == [(9, 10), (10, 29), (25, 34)]


def test_sheets_page_many_cuts_and_one_shot_gets_its_first_frame(tmp_path: Path) -> None:
    from PIL import Image

    from lvas.media.analysis import analyze
    from lvas.media.decode import scaled_size
    from lvas.media.sheet import INNER, LABEL_H, THUMB_W, boundary_sheets

    a = analyze(_three_colour_clip(tmp_path / "three.mp4"), ShotSettings())
    pages = boundary_sheets(tmp_path / "three.mp4", a.info, a.cut_frames, a.cuts_s, tmp_path / "s.png", per_page=1)
    assert pages == [tmp_path / "s-1.png", tmp_path / "s-2.png"]
    first, second = (np.asarray(Image.open(p).convert("RGB")).astype(int) for p in pages)
    assert [_tint(first[:90, :160]), _tint(second[:90, :160])] == [0, 2]  # each page's cut, in order
    one = analyze(real_clip("carphone_pristine.mp4"), ShotSettings())
    assert one.cut_frames == []
    [only] = boundary_sheets(real_clip("carphone_pristine.mp4"), one.info, [], [], tmp_path / "one.png")
    w, h = scaled_size(one.info, THUMB_W)
    assert Image.open(only).size == (2 * w + INNER, h + LABEL_H)  # one cell: the first frame, half empty


def test_a_sheet_that_cannot_be_written_leaves_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bikes, carphone = str(real_clip("bikes.mp4")), str(real_clip("carphone_pristine.mp4"))
    (tmp_path / "bikes.mp4.shots.png").mkdir()  # a folder where the sheet would go
    assert main(["shots", bikes, carphone, "--json", "--sheet", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert "bikes.mp4: contact sheet not written" in err and "sheets" not in result["bikes.mp4"]
    assert result["bikes.mp4"]["cuts_s"] and result["carphone_pristine.mp4"]["sheets"]
    assert main(["shots", carphone, "--json"]) == 0 and "sheets" not in json.loads(capsys.readouterr().out)[
        "carphone_pristine.mp4"]
    taken = tmp_path / "file"
    taken.write_text("x")
    assert main(["shots", carphone, "--sheet", str(taken)]) == 2
    assert f"--sheet {taken}: not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("through_cli", [False, True])
def test_shots_help_teaches(through_cli: bool, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.cli import main as cli_main

    with pytest.raises(SystemExit):
        (cli_main if through_cli else main)(["shots", "--help"])
    out = capsys.readouterr().out
    for words in ("--sheet DIR", "examples:", "--json > cuts.json", "LVAS_STORYBOARD__MIN_SHOT_S", "exit status 1"):
        assert words in out


def test_the_listing_says_which_shots_begin_with_a_dissolve(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from tests import storyboard_clips as sc
    from tests.clips import make_clip

    mixed = make_clip(tmp_path / "mixed.mp4", sc.dissolve(2.0, 1.0), seconds=4.0)
    cut = _three_colour_clip(tmp_path / "cut.mp4")
    assert main(["shots", str(mixed), str(cut)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].endswith("0.00 -     2.00 s")  # the first shot begins the video
    assert out[2].endswith("2.00 -     4.00 s  after a dissolve 1.52 - 2.48 s")
    assert [line for line in out if "after a" in line] == [out[2]]  # the hard cuts' shots say nothing more
    assert main(["shots", str(mixed), "--json"]) == 0
    (b,) = json.loads(capsys.readouterr().out)["mixed.mp4"]["boundaries"]
    assert (b["kind"], b["from_s"], b["to_s"]) == ("dissolve", 1.52, 2.48)
