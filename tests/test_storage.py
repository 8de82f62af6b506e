"""Storage: ids, atomic writes, completion markers, unit runner, status roll-up, run lock."""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing as mp
import os
from pathlib import Path

import pytest

from lvas.errors import RunLocked, VideoProbeError
from lvas.storage.atomic import PART, atomic_path, sweep_partials, write_json
from lvas.storage.layout import Layout, video_id_for
from lvas.storage.lock import RunLock
from lvas.storage.status import StatusRecord, collect, record, rollup, top_errors
from lvas.storage.units import run_scene_units, run_unit


@pytest.mark.parametrize(
    "name",
    [pytest.param("clip.mp4", id="plain"), pytest.param("my clip (1).mp4", id="spaces"),
     pytest.param("Café Nöel 北京.mp4", id="unicode"), pytest.param("..hidden.mp4", id="leading-dots"),
     pytest.param("....mp4", id="only-dots")],
)
def test_video_id_is_folder_safe_and_stable(tmp_path: Path, name: str) -> None:
    vid = video_id_for(tmp_path / name)
    assert vid == video_id_for(tmp_path / name)
    assert vid and all(c.isascii() and (c.isalnum() or c == "-") for c in vid)
    assert not vid.startswith(".") and "/" not in vid


def test_video_id_differs_for_same_name_in_other_folder(tmp_path: Path) -> None:
    assert video_id_for(tmp_path / "a" / "clip.mp4") != video_id_for(tmp_path / "b" / "clip.mp4")


def test_atomic_path_leaves_nothing_on_error(tmp_path: Path) -> None:
    target = tmp_path / "x" / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"v": 1}
    assert not [p for p in target.parent.iterdir() if PART in p.name]


def test_sweep_partials_removes_leftovers(tmp_path: Path) -> None:
    (tmp_path / f"mix{PART}abcd.wav").write_bytes(b"x")
    (tmp_path / "mix.wav").write_bytes(b"y")
    assert sweep_partials(tmp_path) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["mix.wav"]


def test_run_sweep_covers_status_and_artifacts(tmp_path: Path) -> None:
    """A worker killed while writing a status record leaves its temporary file in status/, not videos/."""
    from lvas.storage.runs import sweep_run_partials

    layout = Layout(tmp_path)
    left = [layout.status_dir("v0") / f"script{PART}e2fa943c.json", layout.video_dir("v0") / f"mix{PART}0001.wav"]
    keep = layout.status_dir("v0") / "script.json"
    for p in [*left, keep]:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    assert sweep_run_partials(layout) == 2
    assert not any(p.exists() for p in left) and keep.exists()


def _work(path: Path, calls: list[int]):
    def work():
        calls.append(1)
        path.write_text("done")
        return {"out": str(path)}, {"scenes": 3}
    return work


def test_run_unit_skips_when_key_matches_and_reruns_when_key_or_output_changes(tmp_path: Path) -> None:
    layout, calls, art = Layout(tmp_path), [], tmp_path / "art.txt"
    kw = dict(video_id="v-1", source="v.mp4", stage="script")
    m1 = run_unit(layout, key="k1", work=_work(art, calls), **kw)
    m2 = run_unit(layout, key="k1", work=_work(art, calls), **kw)
    assert (m1["cached"], m2["cached"], m2["scenes"], len(calls)) == (False, True, 3, 1)
    run_unit(layout, key="k2", work=_work(art, calls), **kw)
    assert len(calls) == 2
    art.unlink()
    run_unit(layout, key="k2", work=_work(art, calls), **kw)
    assert len(calls) == 3
    assert collect(layout)[0].state == "completed"


def test_run_unit_records_failure_and_attempts(tmp_path: Path) -> None:
    layout = Layout(tmp_path)

    def boom():
        raise VideoProbeError("/x/broken.mp4: truncated")

    for _ in range(2):
        with pytest.raises(VideoProbeError):
            run_unit(layout, video_id="v-2", source="/x/broken.mp4", stage="storyboard", key="k", work=boom)
    (rec,) = collect(layout)
    assert (rec.state, rec.error_type, rec.attempts) == ("failed", "VideoProbeError", 2)
    assert "broken.mp4: truncated" in rec.error
    assert layout.done("v-2", "storyboard", "k") is None
    assert top_errors([rec]) == [("storyboard: VideoProbeError: /x/broken.mp4: truncated", 1)]


def test_rollup_states(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    record(layout, StatusRecord("a", "mix", "completed", source="a.mp4", outputs={"mix": "m.wav"}))
    record(layout, StatusRecord("b", "design", "failed", source="b.mp4", scene=2, error="endpoint down"))
    record(layout, StatusRecord("b", "design", "completed", source="b.mp4", scene=1))
    record(layout, StatusRecord("c", "script", "running", source="c.mp4"))
    states = rollup(collect(layout))
    assert states["a"].state == "completed" and states["a"].outputs == {"mix": "m.wav"}
    assert states["b"].state == "failed" and states["b"].failed_scenes == [2]
    assert "scene 2: endpoint down" in states["b"].error
    assert states["c"].state == "running"


def _hold_lock(path: str, ready, release) -> None:  # pragma: no cover - runs in a child process
    with RunLock(path):
        ready.set()
        release.wait(10)


def test_run_lock_refuses_a_second_holder_and_frees_on_exit(tmp_path: Path) -> None:
    lock = tmp_path / "lvas.lock"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_lock, args=(str(lock), ready, release))
    child.start()
    try:
        assert ready.wait(20)
        with pytest.raises(RunLocked, match="another lvas run"), RunLock(lock):
            pass
    finally:
        release.set()
        child.join(10)
    with RunLock(lock):
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_collect_with_a_cache_rereads_only_changed_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress line's incremental read: same records as a full read, changed files re-read,
    removed ones gone, unchanged ones not parsed again."""
    import lvas.storage.status as status

    layout = Layout(tmp_path)
    for v in ("a", "b"):
        record(layout, StatusRecord(video_id=v, stage="storyboard", state="running", started_at=1.0))
    cache: dict = {}
    assert collect(layout, cache=cache) == collect(layout)
    parsed: list[Path] = []
    real = status.read_record
    monkeypatch.setattr(status, "read_record", lambda p: parsed.append(p) or real(p))
    assert [r.state for r in collect(layout, cache=cache)] == ["running", "running"]
    assert parsed == []
    record(layout, StatusRecord(video_id="b", stage="storyboard", state="completed", started_at=1.0))
    got = collect(layout, cache=cache)
    assert [(r.video_id, r.state) for r in got] == [("a", "running"), ("b", "completed")]
    assert [p.parent.name for p in parsed] == ["b"]
    layout.status_record("a", "storyboard", None).unlink()
    assert [r.video_id for r in collect(layout, cache=cache)] == ["b"] and len(cache) == 1


def test_progress_tally_forgets_finished_videos_but_not_their_counts(tmp_path: Path) -> None:
    from collections import Counter

    from lvas.storage.progress import Tally, _line, _units

    layout = Layout(tmp_path)
    tally = Tally(layout, "mix")

    def from_scratch() -> str:
        records = collect(layout)
        return _line(Counter(v.state for v in rollup(records, "mix").values()), _units(records))

    def rec(vid: str, stage: str, state: str, scene: int = -1) -> None:
        record(layout, StatusRecord(vid, stage, state, source=f"{vid}.mp4", scene=scene))

    assert tally.line() == from_scratch() == "videos: 0 done, 0 failed, 0 in progress | "
    for vid in ("a", "b", "c"):
        rec(vid, "storyboard", "completed")
    rec("a", "render", "completed", scene=0)
    rec("a", "mix", "running")
    rec("b", "storyboard", "failed")
    assert tally.line() == from_scratch()
    rec("a", "mix", "completed")
    rec("c", "script", "running")
    assert tally.line() == from_scratch() == \
        "videos: 1 done, 1 failed, 1 in progress | storyboard 2/3 script 0/1 render 1/1 mix 1/1"
    assert tally.finished == {"a"}
    rec("c", "script", "completed")
    rec("c", "mix", "cached")
    line = tally.line()
    assert line == from_scratch() and tally.finished == {"a", "c"}
    # only the unfinished video's records are held; the counts of the others are kept
    assert {p.parent.name for p in tally.cache} == {"b"}
    assert tally.line() == line


# --------------------------------------------------------------------------- hardening (issue 21)


def test_lock_probe_names_the_holder_without_taking_the_lock(tmp_path: Path) -> None:
    lock = tmp_path / "lvas.lock"
    assert RunLock.holder(lock) is None and not lock.exists()  # the probe creates nothing
    with RunLock(lock) as held:
        assert held.held
        who = RunLock.holder(lock)
        assert who is not None and who["pid"] == os.getpid() and who["started"]
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()}, started {who['started']}\); wait for it"):
            RunLock.check(lock)
    assert RunLock.holder(lock) is None
    RunLock.check(lock)


def test_dub_on_a_locked_folder_is_refused_before_anything_starts(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.cli import main

    out = tmp_path / "out"
    with RunLock(Layout(out).lock()):
        assert main(["dub", str(tmp_path / "missing.mp4"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "wait for it to finish" in err
    assert "starting Prefect" not in err


def _folder_with_one_video(tmp_path: Path) -> tuple[Layout, list[Path]]:
    from lvas.models import VideoRef
    from lvas.settings import Settings
    from lvas.storage.runs import prepare_run

    layout = Layout(tmp_path / "out")
    prepare_run(layout, [VideoRef(source="a.mp4", path=str(tmp_path / "a.mp4"), video_id="a-1")], Settings())
    markers = []
    for stage, scene in (("storyboard", None), ("script", None), ("design", 0), ("render", 0), ("mix", None)):
        art = layout.video_dir("a-1") / f"{stage}{scene or ''}.bin"
        art.parent.mkdir(parents=True, exist_ok=True)
        art.write_bytes(stage.encode())
        layout.mark_done("a-1", stage, "k", {"x": str(art)}, scene)
        markers.append(layout.marker("a-1", stage, scene))
    return layout, markers


def test_a_refused_rerun_changes_nothing(tmp_path: Path) -> None:
    from lvas.storage.rerun import plan_rerun

    layout, markers = _folder_with_one_video(tmp_path)
    with RunLock(layout.lock()):  # another run holds the folder
        with pytest.raises(RunLocked):
            plan_rerun(layout, failed=False, videos=["a-1"], scenes=[])
        assert all(m.exists() for m in markers)
        with pytest.raises(RunLocked):
            plan_rerun(layout, failed=False, videos=["a-1"], scenes=[0])
        assert all(m.exists() for m in markers)
    assert plan_rerun(layout, failed=False, videos=["a-1"], scenes=[]) == ["a-1"]
    assert not any(m.exists() for m in markers)


def test_each_key_depends_on_what_the_stage_before_produced(tmp_path: Path) -> None:
    """A stage redone with other output (a non-deterministic model) invalidates what followed it,
    though its own key is the same."""
    from lvas import pipeline
    from lvas.models import VideoRef
    from lvas.settings import Settings

    layout, s = Layout(tmp_path / "out"), Settings()
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"video")
    v = VideoRef(source=str(clip), path=str(clip), video_id="a-1")
    art = tmp_path / "artifact"

    def redo(stage: str, content: bytes, scene: int | None = None) -> None:
        art.write_bytes(content)
        layout.mark_done("a-1", stage, "same key", {"x": str(art)}, scene)

    def all_keys() -> list[str]:
        return [pipeline.script_key(layout, v, s), pipeline.design_key(layout, v, 0, s),
                pipeline.render_key(layout, v, 0, s), pipeline.mix_key(layout, v, 1, s)]

    for stage, scene in (("storyboard", None), ("script", None), ("design", 0), ("render", 0)):
        redo(stage, b"first", scene)
        before = all_keys()
        redo(stage, b"first", scene)
        assert all_keys() == before  # the same output: nothing downstream changes
        redo(stage, b"second", scene)
        after = all_keys()
        first = {"storyboard": 0, "script": 1, "design": 2, "render": 3}[stage]
        assert after[:first] == before[:first]
        assert all(a != b for a, b in zip(after[first:], before[first:], strict=True))


def test_markers_record_size_and_hash_and_a_damaged_artifact_is_redone(tmp_path: Path) -> None:
    from lvas.storage.rerun import invalidate_broken

    layout, calls, art = Layout(tmp_path), [], tmp_path / "art.txt"
    kw = dict(video_id="v-1", source="v.mp4", stage="script")
    run_unit(layout, key="k", work=_work(art, calls), **kw)
    marker = json.loads(layout.marker("v-1", "script").read_text())
    assert marker["files"] == {"out": {"size": 4, "sha256": hashlib.sha256(b"done").hexdigest()}}
    art.write_text("do")  # truncated later
    assert layout.done("v-1", "script", "k") is None
    run_unit(layout, key="k", work=_work(art, calls), **kw)
    assert len(calls) == 2 and art.read_text() == "done"
    art.write_text("DONE")  # same size, other content: found by a full check only
    assert layout.done("v-1", "script", "k") is not None and layout.done("v-1", "script", "k", verify=True) is None
    with RunLock(layout.lock()) as lock:
        (found,) = invalidate_broken(layout, lock)
    assert found.startswith("v-1 script: out: ") and "content changed" in found
    run_unit(layout, key="k", work=_work(art, calls), **kw)
    assert len(calls) == 3 and art.read_text() == "done"


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 2 MiB tmpfs (needs the right to mount: skipped elsewhere), unmounted after the test."""
    import subprocess

    where = tmp_path / "small"
    where.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    yield where
    subprocess.run(["umount", "--lazy", str(where)], check=False)


@pytest.mark.parametrize("writer", ["soundfile", "sqlite"])
def test_a_full_disk_is_said_plainly_and_recorded(full_disk: Path, writer: str) -> None:
    import sqlite3

    import numpy as np
    import soundfile as sf

    from lvas.storage.atomic import atomic_path

    layout = Layout(full_disk / "out")

    def work():
        filler = full_disk / "filler"
        with open(filler, "wb") as fh, contextlib.suppress(OSError):
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        if writer == "sqlite":
            with sqlite3.connect(layout.root / "db.sqlite") as db:
                db.execute("create table t (x)")
                db.executemany("insert into t values (?)", [(b"\0" * 4096,)] * 100)
        with atomic_path(layout.mix("v-1")) as tmp:
            sf.write(tmp, np.zeros((44100 * 5, 2), np.float32), 44100)
        return {}, {}

    run_unit(layout, video_id="v-1", source="v.mp4", stage="mix", key="old", work=lambda: ({}, {}))
    with pytest.raises(Exception):  # noqa: B017 - whatever the library raises
        run_unit(layout, video_id="v-1", source="v.mp4", stage="mix", key="k", work=work)
    (rec,) = collect(layout)
    assert rec.state == "failed"
    assert rec.error.startswith(f"no space left on tmpfs (the file system at {full_disk} holding {layout.root}: ")


def test_scene_units_fail_alone_and_unexpected_errors_keep_their_traceback(tmp_path: Path) -> None:
    layout = Layout(tmp_path)

    def work(todo: list[tuple[str, list[int]]]) -> dict:
        out: dict = {}
        for vid, scenes in todo:
            for i in scenes:
                try:
                    if i == 1:
                        {}["no such key"]  # an unexpected error, raised where it happens
                    (tmp_path / f"{vid}{i}").write_text("done")
                    outputs = {"x": str(tmp_path / f"{vid}{i}")}
                    out[(vid, i)] = (outputs, {"events": 3}) if i == 2 else outputs
                except KeyError as exc:
                    out[(vid, i)] = exc
        return out

    failed = run_scene_units(layout, stage="render", units=[("v", "v.mp4", {0: "k0", 1: "k1", 2: "k2"})],
                             work=work)
    assert list(failed) == [("v", 1)]
    recs = {r.scene: r for r in collect(layout)}
    assert recs[0].state == "completed" and layout.done("v", "render", "k0", 0) is not None
    assert recs[1].state == "failed" and recs[1].error_type == "KeyError"
    assert "in work" in recs[1].error  # the frame that raised it
    marker = layout.done("v", "render", "k2", 2)  # a stage's (outputs, extra): extra goes into the marker
    assert marker is not None and marker["events"] == 3 and recs[2].outputs == {"x": str(tmp_path / "v2")}
