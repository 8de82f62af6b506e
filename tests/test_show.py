"""`lvas show`: the videos of an output folder without an id; a clear message for an unknown id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lvas.cli import main
from lvas.storage.layout import Layout
from lvas.storage.status import StatusRecord, record


def folder_with_two_videos(root: Path) -> Layout:
    layout = Layout(root)
    record(layout, StatusRecord("a-1", "storyboard", "failed", source="clips/a.mp4", error="a.mp4: truncated",
                                started_at=1.0, finished_at=2.0))
    record(layout, StatusRecord("b-2", "mix", "completed", source="clips/b.mp4", started_at=1.0, finished_at=3.0))
    return layout


def test_show_without_an_id_lists_the_videos_with_ids_and_states(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    folder_with_two_videos(tmp_path)
    assert main(["show", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:-1]}
    assert rows == {"a-1": ["failed", "storyboard", "clips/a.mp4"], "b-2": ["completed", "mix", "clips/b.mp4"]}
    assert "2 video(s)" in lines[-1]
    assert main(["show", str(tmp_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(r["video_id"], r["state"]) for r in listed} == {("a-1", "failed"), ("b-2", "completed")}


def test_show_of_an_unknown_id_says_there_is_no_such_video(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    folder_with_two_videos(tmp_path)
    assert main(["show", str(tmp_path), "nope-0000"]) == 2
    assert f"no video nope-0000 in {tmp_path}" in capsys.readouterr().err
    assert main(["show", str(tmp_path), "a-1"]) == 2  # known, but its script was never written
    assert "has no script yet" in capsys.readouterr().err


def test_show_of_a_folder_without_runs_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(tmp_path)]) == 2
    assert "no lvas status here" in capsys.readouterr().err
