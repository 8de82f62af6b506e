"""Task granularity: batches of short videos, scene groups for render, and the per-item loop that
keeps one item's failure from the others (and still lets Prefect retry what may pass)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lvas import pipeline
from lvas.errors import BackendUnavailable, InputError
from lvas.models import SceneGroup, VideoBatch, VideoRef
from lvas.settings import RunSettings, Settings
from lvas.storage.layout import Layout
from lvas.storage.status import collect, rollup
from lvas.tasks.common import each
from tests.clips import colour_cuts, make_clip
from tests.harness import run_dub


def refs(n: int) -> list[VideoRef]:
    return [VideoRef(source=f"v{i}.mp4", path=f"/d/v{i}.mp4", video_id=f"v{i}") for i in range(n)]


@pytest.mark.parametrize(("n", "most", "slots", "sizes"), [
    (0, 8, 2, []),
    (4, 8, 2, [1, 1, 1, 1]),          # few videos: one per task, every slot busy
    (25, 8, 2, [4] * 6 + [1]),        # ceil(25 / (4 x 2)) = 4 per batch
    (100, 8, 2, [8] * 12 + [4]),      # capped at `most`
    (9, 8, 1, [3, 3, 3]),
])
def test_batches_group_short_clips_but_keep_four_batches_per_slot(n, most, slots, sizes) -> None:
    videos = refs(n)
    got = pipeline.batches(videos, most, slots)
    assert [len(b) for b in got] == sizes
    assert [v for b in got for v in b] == videos  # every video once, in order


def test_scene_groups_last_at_least_the_minimum_and_long_scenes_stand_alone() -> None:
    a, b = refs(2)
    timed = [(a, 0, 30.0), (a, 1, 2.0), (a, 2, 3.0), (b, 0, 16.0), (b, 1, 1.0)]
    groups = pipeline.scene_groups(timed, 20.0)
    assert groups == [[(a, 0)], [(a, 1), (a, 2), (b, 0)], [(b, 1)]]
    assert pipeline.scene_groups([], 20.0) == []


def test_labels_say_which_videos_and_scenes() -> None:
    a, b, c = refs(3)
    assert VideoBatch.of([a]).label == "v0"
    assert VideoBatch.of([a, b, c]).label == "v0 … v2 (3 videos)"
    assert SceneGroup.of([(a, 2)]).label == "v0 scene 2"
    assert SceneGroup.of([(a, 0), (a, 1), (a, 2)]).label == "v0 scenes 0-2"
    assert SceneGroup.of([(a, 1), (b, 0)]).label == "v0 … v1 (2 scenes)"


def test_each_goes_on_after_a_failure_outside_prefect() -> None:
    calls = []

    def work(x: int) -> int:
        calls.append(x)
        if x == 1:
            raise BackendUnavailable("endpoint down", transient=True)
        return 10 * x

    assert each([0, 1, 2], work, name=str) == {0: 0, 2: 20}
    assert calls == [0, 1, 2]


@pytest.mark.slow
def test_each_raises_what_may_pass_only_while_the_task_has_retries(prefect_dask: str) -> None:
    from prefect import flow, task

    attempts: dict[str, int] = {}

    def work(x: str) -> str:
        attempts[x] = attempts.get(x, 0) + 1
        if x == "flaky" and attempts[x] == 1:
            raise BackendUnavailable("timed out", transient=True)
        if x == "down":
            raise BackendUnavailable("still down", transient=True)
        if x == "bad":
            raise InputError("bad.mp4: not a video")
        return x.upper()

    @task(retries=1, retry_delay_seconds=0)
    def batch(items: list[str]) -> dict[int, str]:
        return each(items, work, name=str)

    @flow
    def probe(items: list[str]) -> dict[int, str]:
        return batch(items)

    # a failure that may pass: raised after the others, so Prefect retries the task, which succeeds
    assert probe(["ok", "flaky", "bad"]) == {0: "OK", 1: "FLAKY"}
    assert attempts == {"ok": 2, "flaky": 2, "bad": 2}
    # still failing on the last attempt: the survivors go on, the task completes
    attempts.clear()
    assert probe(["ok", "down"]) == {0: "OK"}
    assert attempts == {"ok": 2, "down": 2}


@pytest.mark.slow
def test_a_broken_video_fails_alone_inside_its_batch(prefect_dask: str, tmp_path: Path) -> None:
    d = tmp_path / "in"
    d.mkdir()
    for i in range(5):
        make_clip(d / f"c{i}.mp4", colour_cuts([0.5], seed=i), seconds=1.0)
    (d / "c2.mp4").write_text("not a video")
    out = tmp_path / "out"
    s = Settings(run=RunSettings(workers=1, task_retries=0, stages=("storyboard", "script")))
    state = run_dub(prefect_dask, [d], out, s)  # 5 videos on 1 slot: batches of 2, 2, 1
    assert state.is_failed() and "4 of 5 videos done, 1 failed" in state.message
    by_source = {Path(r.source).name: r for r in rollup(collect(Layout(out)), "script").values()}
    assert by_source["c2.mp4"].state == "failed" and by_source["c2.mp4"].stage == "storyboard"
    assert all(by_source[f"c{i}.mp4"].state == "completed" for i in (0, 1, 3, 4))  # c3 shares c2's batch



@pytest.mark.slow
def test_only_a_window_of_batches_is_in_flight(prefect_dask: str, tmp_path: Path, monkeypatch) -> None:
    """The flow starts a batch only when one of the first ``IN_FLIGHT_PER_SLOT x slots`` finished:
    what it holds in the scheduler does not grow with the dataset."""
    import lvas.flows.dub as dub

    d = tmp_path / "in"
    d.mkdir()
    for i in range(7):
        make_clip(d / f"c{i}.mp4", colour_cuts([0.5], seed=i), seconds=1.0)
    out = tmp_path / "out"
    log = tmp_path / "started.txt"  # a file, not a list: appends to a list captured here were lost (seen: the
    # submit below ran on copies of this object, each with its own list)
    real = dub.storyboard

    class CountingStoryboard:
        def submit(self, *args, **kwargs):
            finished = sum(r.stage == "script" and r.state == "completed" for r in collect(Layout(out)))
            with log.open("a") as f:
                f.write(f"{finished}\n")
            return real.submit(*args, **kwargs)

    monkeypatch.setattr(dub, "storyboard", CountingStoryboard())
    s = Settings(run=RunSettings(workers=1, batch_videos=1, task_retries=0, stages=("storyboard", "script")))
    assert run_dub(prefect_dask, [d], out, s).is_completed()  # 7 batches of 1 on 1 slot: 4 in flight
    finished_when_started = [int(x) for x in log.read_text().split()]
    window = dub.IN_FLIGHT_PER_SLOT
    assert len(finished_when_started) == 7
    assert finished_when_started[0] == 0  # nothing waits for the first batch
    assert all(done >= k - window + 1 for k, done in enumerate(finished_when_started))
