"""The dataset flow on Dask under prefect_test_harness: partial failure, cached reruns, reruns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lvas.settings import RunSettings, Settings, StoryboardSettings
from lvas.storage.layout import Layout
from lvas.storage.status import collect, rollup
from tests.clips import colour_cuts, make_clip
from tests.harness import run_dub

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("in")
    good1 = make_clip(d / "good one.mp4", colour_cuts([1.0]), seconds=2.0)
    good2 = make_clip(d / "good2.mp4", colour_cuts([0.6, 1.4], seed=3), seconds=2.0)
    text = d / "notes.mp4"
    text.write_text("this is not a video")
    return {"good1": good1, "good2": good2, "text": text, "missing": d / "missing.mp4"}


def test_storyboard_flow_fails_alone_and_reruns_from_cache(prefect_dask: str, inputs, tmp_path: Path) -> None:
    s = Settings(run=RunSettings(stages=("storyboard",)))
    state = run_dub(prefect_dask, list(inputs.values()), tmp_path, s)
    assert state.is_failed()
    assert "2 of 4 videos done, 2 failed" in state.message
    states = rollup(collect(Layout(tmp_path)), "storyboard")
    by_source = {Path(v.source).name: v for v in states.values()}
    assert by_source["good one.mp4"].state == by_source["good2.mp4"].state == "completed"
    assert "not a readable video" in by_source["notes.mp4"].error or "notes.mp4" in by_source["notes.mp4"].error
    assert "no such file" in by_source["missing.mp4"].error
    shots = Layout(tmp_path).shots(by_source["good2.mp4"].video_id)
    before = shots.read_bytes()

    # same command again: finished videos are left out before any task runs, artifacts untouched
    vid2 = by_source["good2.mp4"].video_id
    first_done = {r.video_id: r.finished_at for r in collect(Layout(tmp_path))}
    state = run_dub(prefect_dask, [inputs["good1"], inputs["good2"]], tmp_path, s)
    assert state.is_completed() and "0 of 0 videos" in state.message
    assert {r.video_id: r.finished_at for r in collect(Layout(tmp_path))} == first_done
    assert shots.read_bytes() == before

    # a changed storyboard setting recomputes that stage
    s2 = Settings(run=RunSettings(stages=("storyboard",)), storyboard=StoryboardSettings(keyframes_max=2))
    run_dub(prefect_dask, [inputs["good2"]], tmp_path, s2)
    rec = {r.video_id: r for r in collect(Layout(tmp_path))}[vid2]
    assert rec.state == "completed" and rec.finished_at > first_done[vid2]
    run_dirs = list((tmp_path / "runs").iterdir())
    assert len(run_dirs) == 3 and all((d / "manifest.parquet").exists() for d in run_dirs)
    assert json.loads((tmp_path / "settings.json").read_text())["storyboard"]["keyframes_max"] == 2
