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


def _two_colour_clip(path: Path) -> Path:
    """A reddish textured shot cut at 1.2 s to a bluish one, 160x90."""
    from tests.clips import make_clip

    rng = np.random.default_rng(4)
    cells = [rng.integers(0, 80, (9, 16, 1)).repeat(10, 0).repeat(10, 1) for _ in range(2)]
    red, blue = np.array([170, 40, 40]) + cells[0], np.array([40, 40, 170]) + cells[1]

    def fn(i: int, t: float) -> np.ndarray:
        return np.clip(red if t < 1.2 else blue, 0, 255).astype(np.uint8)

    return make_clip(path, fn, seconds=2.4, size=(160, 90))


def test_sheet_shows_the_frames_either_side_of_each_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    from lvas.media.sheet import INNER

    clip = _two_colour_clip(tmp_path / "two.mp4")
    assert main(["shots", str(clip), "--json", "--sheet", str(tmp_path / "sheets")]) == 0
    entry = json.loads(capsys.readouterr().out)["two.mp4"]
    assert entry["cuts_s"] == [1.2]
    sheet = Path(entry["sheet"])
    assert sheet == tmp_path / "sheets" / "two.mp4.shots.png" and list(sheet.parent.iterdir()) == [sheet]
    img = np.asarray(Image.open(sheet).convert("RGB")).astype(int)
    w = (img.shape[1] - INNER) // 2  # one cut: one pair, before | after
    before, after = img[:40, : w].reshape(-1, 3).mean(0), img[:40, w + INNER :].reshape(-1, 3).mean(0)
    assert before[0] > before[2] + 80 and after[2] > after[0] + 80  # red before the cut, blue after


def test_sheet_of_one_shot_and_a_sheet_path_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = str(real_clip("carphone_pristine.mp4"))
    assert main(["shots", clip, "--sheet", str(tmp_path)]) == 0
    assert f"contact sheet: {tmp_path / 'carphone_pristine.mp4.shots.png'}" in capsys.readouterr().out
    taken = tmp_path / "file"
    taken.write_text("x")
    assert main(["shots", clip, "--sheet", str(taken)]) == 2
    assert f"--sheet {taken}: not a folder" in capsys.readouterr().err


@pytest.mark.parametrize("through_cli", [False, True])
def test_shots_help_teaches(through_cli: bool, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.cli import main as cli_main

    with pytest.raises(SystemExit):
        (cli_main if through_cli else main)(["shots", "--help"])
    out = capsys.readouterr().out
    for words in ("--sheet DIR", "examples:", "--json > cuts.json", "LVAS_STORYBOARD__MIN_SHOT_S", "exit status 1"):
        assert words in out
