"""``lvas shots`` from the console script: the same answer as through lvas.cli, without pydantic."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

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
