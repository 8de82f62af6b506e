"""The `lvas` command: help, shots JSON, status JSON, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lvas.cli import main
from lvas.storage.layout import Layout
from lvas.storage.status import StatusRecord, record
from tests.clips import BIKES_CUTS, real_clip


def test_help_teaches(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in ("dub", "rerun", "status", "show", "shots", "kb", "LVAS_AGENTS__BASE_URL", "examples"):
        assert word in out


def test_shots_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shots", str(real_clip("bikes.mp4")), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    entry = data["bikes.mp4"]
    assert set(entry) == {"cuts_s", "boundaries", "shots", "fps", "duration_s"}
    assert [b["at_s"] for b in entry["boundaries"]] == entry["cuts_s"]
    assert {b["kind"] for b in entry["boundaries"]} == {"cut"}  # bikes.mp4 has hard cuts only
    assert entry["fps"] == pytest.approx(25.0)
    assert entry["duration_s"] == pytest.approx(10.0, abs=0.05)
    for cut in BIKES_CUTS:
        assert min(abs(cut - c) for c in entry["cuts_s"]) <= 0.1
    assert entry["shots"][0][0] == 0.0 and entry["shots"][-1][1] == pytest.approx(entry["duration_s"])


def test_shots_bad_file_exits_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "empty.mp4"
    bad.write_bytes(b"")
    assert main(["shots", str(bad)]) == 1
    assert "empty.mp4" in capsys.readouterr().err


def test_status_json_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = Layout(tmp_path)
    record(layout, StatusRecord("a-1", "storyboard", "failed", source="a.mp4", error="a.mp4: truncated",
                                error_type="VideoProbeError", started_at=1.0, finished_at=2.0))
    record(layout, StatusRecord("b-2", "mix", "completed", source="b.mp4", started_at=1.0, finished_at=3.0,
                                outputs={"mix": "m.wav", "dubbed": "d.mp4", "report": "r.html"}))
    assert main(["status", str(tmp_path), "--json"]) == 0
    rows = {r["video_id"]: r for r in json.loads(capsys.readouterr().out)}
    for r in rows.values():
        assert {"source", "video_id", "stage", "state", "error"} <= set(r)
    assert rows["a-1"]["state"] == "failed" and "truncated" in rows["a-1"]["error"]
    assert rows["b-2"]["outputs"]["dubbed"] == "d.mp4"
    assert main(["status", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "top errors" in text and "VideoProbeError" in text


def test_status_of_empty_folder_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", str(tmp_path)]) == 2
    assert "no lvas status here" in capsys.readouterr().err


def test_rerun_keeps_what_the_run_computed_but_not_where_it_ran(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun must not wait on the old run's Dask scheduler, which may be gone (it then hung 60 s
    and failed with a traceback): it runs on a local cluster unless told otherwise."""
    from lvas.cli import saved_settings
    from lvas.settings import Settings

    monkeypatch.delenv("LVAS_RUN__DASK_ADDRESS", raising=False)
    assert saved_settings(tmp_path) is None
    old = Settings().model_dump(mode="json")
    old["run"]["dask_address"] = "tcp://127.0.0.1:1"
    old["mix"]["target_lufs"] = -20.0
    (tmp_path / "settings.json").write_text(json.dumps(old))
    s = saved_settings(tmp_path)
    assert s.run.dask_address is None and s.mix.target_lufs == -20.0
    monkeypatch.setenv("LVAS_RUN__DASK_ADDRESS", "tcp://127.0.0.1:2")
    s = saved_settings(tmp_path)
    assert s.run.dask_address == "tcp://127.0.0.1:2" and s.mix.target_lufs == -20.0


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, never listened on: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("where", ["prefect", "dask"])
def test_dub_against_a_server_that_is_not_there_says_so_at_once(where: str, tmp_path: Path) -> None:
    """A stale PREFECT_API_URL or a mistyped --dask-address: a one-line error naming the address and
    what to do, within seconds (it was a traceback, after 60 s of retries for the scheduler)."""
    import os
    import subprocess
    import sys
    import time

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(real_clip("bikes.mp4").read_bytes())
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "lvas.cli", "dub", str(src), "--out", str(tmp_path / "out")]
    if where == "prefect":
        env["PREFECT_API_URL"] = address = f"http://127.0.0.1:{port}/api"
        named = "PREFECT_API_URL"
    else:
        cmd += ["--dask-address", address := f"tcp://127.0.0.1:{port}"]
        named = "--dask-address"
    start = time.monotonic()
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert run.returncode == 2, run.stdout + run.stderr
    (line,) = [ln for ln in run.stderr.splitlines() if ln.startswith("lvas: error:")]
    assert address in line and named in line and "Traceback" not in run.stderr
    assert took < 30, f"{took:.0f} s"
    assert not (tmp_path / "out" / "videos").exists()  # nothing was started


def test_dub_with_nothing_to_dub_or_nowhere_to_write_says_so_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An empty folder, a glob that matches nothing, an output folder that cannot be made: one line
    naming each problem, exit 2, before Prefect and Dask start (it was "0 of 0 videos done" and a
    status error, or a worker's traceback)."""
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "notes.txt").write_text("not a video")
    assert main(["dub", str(empty), str(tmp_path / "*.mkv"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: folder holds no video files" in err and "*.mkv: pattern matches no files" in err
    assert "starting Prefect" not in err and not (tmp_path / "out").exists()

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(b"")  # any video file will do: the check stops before reading it
    assert main(["dub", str(src), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert f"{blocker / 'out'}: cannot write the output folder here" in err and "starting Prefect" not in err


@pytest.mark.parametrize("swallowed", ["sigterm", "ctrl-c"])
def test_a_stop_signal_swallowed_where_it_landed_is_delivered_again(swallowed: str) -> None:
    """A signal's exception raised inside a garbage-collector callback or a ``__del__`` (the lvas
    process runs Dask's GC diagnostics) is dropped by Python, and the run went on to the end (seen
    once, with SIGTERM). lvas sends the signal again, so the run still stops."""
    import time

    from lvas.stopping import Terminated, stop_signals_stop_the_run

    stop = Terminated if swallowed == "sigterm" else KeyboardInterrupt

    class StoppedInDel:
        def __del__(self) -> None:
            raise stop  # where Python drops it (sys.unraisablehook)

    with pytest.raises(stop), stop_signals_stop_the_run():
        StoppedInDel()
        time.sleep(2)  # the signal sent again is raised here, in the main thread


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` as a process's own program with this checkout's lvas: stop signals and exit
    statuses are a whole process's matter."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def _after_a_ctrl_c(rest: str) -> str:
    """A program whose ``run`` sends itself a Ctrl-C; ``rest`` goes on from its ``except
    KeyboardInterrupt:`` (indented for it) to the program's end."""
    return (
        "import signal, sys, time\n"
        "from lvas.stopping import exit_status\n"
        "def run():\n"
        "    try:\n"
        "        signal.raise_signal(signal.SIGINT)\n"
        "        time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
    ) + rest


@pytest.mark.parametrize("stop", ["KeyboardInterrupt", "Terminated"])
def test_a_stop_signal_after_the_handled_stop_keeps_the_exit_status(stop: str) -> None:
    """Once the command has handled a stop, a second stop signal (one sent again and still in flight)
    must not kill the process: it ends with 130 or 143, as the handled stop said (it ended killed by
    SIGINT, status -2, once in a full test run)."""
    code = (
        "import os, signal, sys\n"
        "from lvas.stopping import Terminated, exit_status\n"
        f"def run():\n    raise {stop}\n"
        "status = exit_status(run)\n"
        "os.kill(os.getpid(), signal.SIGINT)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "sys.exit(status)\n"
    )
    proc = _python(code)
    assert proc.returncode == (143 if stop == "Terminated" else 130), proc.stderr


def test_stop_signals_while_the_command_stops_do_not_cut_its_stopping_short() -> None:
    """A Ctrl-C stops the run; a second Ctrl-C and a SIGTERM while it stops its server (a signal sent
    again, a user pressing twice) are ignored: the stopping runs to its end and the status is 130.
    Before, the second raised KeyboardInterrupt in the middle of the stopping, or, landing after the
    command's handling, killed the process by SIGINT (status -2, seen in full test runs)."""
    proc = _python(_after_a_ctrl_c(
        "        signal.raise_signal(signal.SIGINT)\n"
        "        signal.raise_signal(signal.SIGTERM)\n"
        "        time.sleep(0.2)\n"
        "        print('stopped cleanly')\n"
        "        return 130\n"
        "    return 0\n"
        "status = exit_status(run)\n"
        "signal.raise_signal(signal.SIGINT)\n"
        "sys.exit(status)\n"
    ))
    assert proc.returncode == 130, proc.stderr
    assert proc.stdout.strip() == "stopped cleanly", proc.stderr


def test_a_person_pressing_ctrl_c_again_and_again_gets_out() -> None:
    """If something caught the first Ctrl-C and the command goes on, pressing again still stops it:
    two more are taken as stray, the next raises."""
    proc = _python(_after_a_ctrl_c(
        "        pass  # caught and dropped: the command goes on\n"
        "    for _ in range(3):\n"
        "        signal.raise_signal(signal.SIGINT)\n"
        "        time.sleep(0.1)\n"
        "    print('went on to the end')\n"
        "    return 0\n"
        "sys.exit(exit_status(run))\n"
    ))
    assert proc.returncode == 130 and "went on" not in proc.stdout, (proc.returncode, proc.stderr)


@pytest.mark.parametrize("after", ["goes on", "ends"])
def test_a_ctrl_c_caught_inside_a_flow_run_still_stops_the_command(after: str) -> None:
    """Prefect's engine can catch a Ctrl-C's exception inside a flow run and go on (a run went on to
    its end and exited 0, once in a full test run). A run block whose stop was caught is stopped
    anyway: sent again a grace time later if the block goes on, raised as it ends if it ends."""
    went_on = "        time.sleep(5)\n" if after == "goes on" else ""
    code = (
        "import signal, sys, time\n"
        "from lvas.stopping import exit_status, stops_are_not_swallowed\n"
        "def run():\n"
        "    with stops_are_not_swallowed(0.3):\n"
        "        try:\n"
        "            signal.raise_signal(signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "        except KeyboardInterrupt:\n"
        "            pass  # caught on the way, as by a library\n"
        f"{went_on}"
        "        print('went on to the end')\n"
        "    return 0\n"
        "t0 = time.monotonic()\n"
        "status = exit_status(run)\n"
        "print(f'after {time.monotonic() - t0:.1f} s')\n"
        "sys.exit(status)\n"
    )
    proc = _python(code)
    assert proc.returncode == 130, (proc.returncode, proc.stdout, proc.stderr)
    assert ("went on" in proc.stdout) == (after == "ends"), proc.stdout
    assert float(proc.stdout.split("after ")[1].split()[0]) < 3.0, proc.stdout


def test_a_ctrl_c_leaving_a_flow_run_is_not_sent_again_while_the_command_stops() -> None:
    """The stop's exception left the run block: the stopping after it (the server and cluster
    going down) outlasts the grace time and is not cut short by a second KeyboardInterrupt."""
    proc = _python(
        "import signal, sys, time\n"
        "from lvas.stopping import exit_status, stops_are_not_swallowed\n"
        "def run():\n"
        "    try:\n"
        "        with stops_are_not_swallowed(0.2):\n"
        "            signal.raise_signal(signal.SIGINT)\n"
        "            time.sleep(5)\n"
        "    except KeyboardInterrupt:\n"
        "        time.sleep(0.8)\n"
        "        print('stopped cleanly')\n"
        "        return 130\n"
        "    return 0\n"
        "sys.exit(exit_status(run))\n"
    )
    assert proc.returncode == 130 and proc.stdout.strip() == "stopped cleanly", (proc.returncode, proc.stderr)


def test_status_verify_finds_a_damaged_artifact_and_rerun_failed_takes_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.models import VideoRef
    from lvas.settings import Settings
    from lvas.storage.layout import Layout
    from lvas.storage.rerun import plan_rerun
    from lvas.storage.runs import prepare_run
    from lvas.storage.units import run_unit

    layout = Layout(tmp_path / "out")
    prepare_run(layout, [VideoRef(source="a.mp4", path=str(tmp_path / "a.mp4"), video_id="a-1")], Settings())
    art = layout.mix("a-1")

    def work():
        art.parent.mkdir(parents=True, exist_ok=True)
        art.write_bytes(b"RIFF....")
        return {"mix": str(art)}, {}

    run_unit(layout, video_id="a-1", source="a.mp4", stage="mix", key="k", work=work)
    assert main(["status", str(layout.root), "--verify"]) == 0
    assert "every finished artifact matches" in capsys.readouterr().err
    art.write_bytes(b"RIFF!!!!")  # same size, other bytes
    assert main(["status", str(layout.root), "--verify"]) == 0
    out, err = capsys.readouterr()
    assert "lvas: damaged: a-1 mix: mix: " in err and "1 unit(s) to redo" in err
    assert "failed" in out and "artifact no longer matches" in out
    assert layout.done("a-1", "mix", "k") is None
    assert plan_rerun(layout, failed=True, videos=[], scenes=[]) == ["a-1"]


def test_an_error_naming_a_prefect_url_with_credentials_is_shown_redacted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://admin:pw-CANARY-1234@127.0.0.1:9/api")  # nothing listens
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"\0")
    assert main(["dub", str(clip), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "nothing answers at the Prefect API" in err and "127.0.0.1:9" in err
    assert "pw-CANARY-1234" not in err


@pytest.fixture
def no_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the command starts a Prefect server or a Dask cluster."""
    import lvas.flows.runtime as runtime

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a server or cluster was started")

    monkeypatch.setattr(runtime.LocalPrefectServer, "launch", refuse)
    monkeypatch.setattr(runtime, "dask_cluster", refuse)


def test_a_finished_folder_starts_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch, no_start: None) -> None:
    import lvas.pipeline

    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.mp4", "b.mp4"):
        (src / name).write_bytes(b"")
    monkeypatch.setattr(lvas.pipeline, "is_finished", lambda layout, video, settings: True)
    assert main(["dub", str(src), "--out", str(tmp_path / "out")]) == 0
    assert "lvas: 2 videos already done, nothing to do" in capsys.readouterr().out


def test_a_missing_input_is_named_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  no_start: None) -> None:
    typo = tmp_path / "clisp" / "a.mp4"
    assert main(["dub", str(typo), "--out", str(tmp_path / "out")]) == 2
    assert f"nothing to dub: {typo}: no such file" in capsys.readouterr().err


def test_a_locked_folder_is_refused_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    no_start: None) -> None:
    from lvas.storage.lock import RunLock

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(b"")
    with RunLock(Layout(tmp_path / "out").lock()):
        assert main(["dub", str(src), "--out", str(tmp_path / "out")]) == 2
    assert "another lvas run is writing to this folder" in capsys.readouterr().err


def test_rerun_of_a_missing_folder_or_scene_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        no_start: None) -> None:
    from lvas.settings import Settings
    from lvas.storage.runs import prepare_run

    assert main(["rerun", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no lvas run here (nothing to rerun)" in capsys.readouterr().err

    layout = Layout(tmp_path / "out")
    src = tmp_path / "a.mp4"
    src.write_bytes(b"")
    from lvas.discover import discover

    video = discover([str(src)]).videos[0]
    prepare_run(layout, [video], Settings(), run_id="r1")
    (layout.root / "settings.json").write_text(Settings().model_dump_json())
    marker = layout.marker(video.video_id, "script")
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"key": "k", "scenes": 4, "outputs": {}}))
    assert main(["rerun", str(layout.root), "--video", video.video_id, "--scene", "9"]) == 2
    assert f"{video.video_id} has 4 scenes (0-3): no scene 9 to rerun" in capsys.readouterr().err


def test_dub_with_an_empty_sound_library_says_so_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, no_start: None) -> None:
    monkeypatch.setenv("LVAS_SYNTH__LIBRARY_INDEX", str(tmp_path / "no-index"))
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.mp4").write_bytes(b"")
    assert main(["dub", str(src), "--out", str(tmp_path / "out"), "--synth", "library"]) == 2
    assert "lvas library index" in capsys.readouterr().err


def compose_folder(root: Path, done: int, recorded: int) -> tuple[Layout, list]:
    """``recorded`` compositions recorded as `lvas compose` records them, the first ``done`` of them
    composed; the others never started."""
    from lvas.compose import compose_direct, make_job
    from lvas.settings import Settings, SynthSettings
    from lvas.storage.runs import record_compositions

    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    layout = Layout(root)
    jobs = [make_job(text, 6.0, s.compose, f"instruction {n}")
            for n, text in enumerate(["rain, then thunder", "birds at dawn", "a ship's horn"][:recorded], 1)]
    record_compositions(layout, [j.model_dump() for j in jobs], s)
    for job in jobs[:done]:
        compose_direct(layout, job, s)
    return layout, jobs


def test_rerun_of_a_composition_folder_checks_before_starting(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                              no_start: None) -> None:
    from lvas.storage.lock import RunLock

    layout, (job,) = compose_folder(tmp_path, done=1, recorded=1)
    marker = layout.marker(job.job_id, "mix").read_bytes()
    assert main(["rerun", str(tmp_path)]) == 0
    assert "nothing to rerun (every composition is done)" in capsys.readouterr().out
    assert main(["rerun", str(tmp_path), "--video", "nope-1"]) == 2
    assert "unknown composition id(s) nope-1" in capsys.readouterr().err
    assert main(["rerun", str(tmp_path), "--video", job.job_id, "--scene", "1"]) == 2
    assert "--scene names a scene of a dubbed video" in capsys.readouterr().err
    with RunLock(layout.lock()):
        assert main(["rerun", str(tmp_path), "--video", job.job_id]) == 2
    assert "another lvas run is writing to this folder" in capsys.readouterr().err
    assert layout.marker(job.job_id, "mix").read_bytes() == marker  # refused: nothing was changed
    layout.compositions().unlink()  # a folder composed before lvas recorded its compositions
    assert main(["rerun", str(tmp_path)]) == 2
    assert "run the same `lvas compose` command again" in capsys.readouterr().err


def test_rerun_plans_the_failed_and_unfinished_compositions(tmp_path: Path) -> None:
    from lvas.storage.rerun import plan_compose_rerun

    layout, (a, b, c) = compose_folder(tmp_path, done=2, recorded=3)
    record(layout, StatusRecord(b.job_id, "mix", "failed", source="instruction 2", error="disk full",
                                started_at=5.0, finished_at=6.0))
    assert plan_compose_rerun(layout, failed=True, ids=[]) == [b.job_id, c.job_id]  # c: never started
    assert layout.marker(a.job_id, "plan").exists()
    assert plan_compose_rerun(layout, failed=False, ids=[a.job_id]) == [a.job_id]  # on purpose
    assert not list((layout.video_dir(a.job_id) / ".done").glob("*.json"))
    assert layout.marker(b.job_id, "plan").exists()  # the others keep their finished units


def test_rerun_of_a_folder_with_videos_and_compositions(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        no_start: None) -> None:
    from lvas.discover import discover
    from lvas.settings import Settings
    from lvas.storage.runs import prepare_run

    layout, (job, never) = compose_folder(tmp_path, done=1, recorded=2)
    src = tmp_path / "a.mp4"
    src.write_bytes(b"")
    video = discover([str(src)]).videos[0]
    prepare_run(layout, [video], Settings(), run_id="r1")
    record(layout, StatusRecord(video.video_id, "mix", "completed", source=str(src), started_at=1.0,
                                finished_at=2.0))
    assert main(["rerun", str(tmp_path)]) == 0  # the videos' rerun: nothing failed among them
    out, err = capsys.readouterr()
    assert "nothing to rerun (no failed units)" in out
    assert f"1 composition(s) here not done, not rerun with the videos: {never.job_id}" in err  # said, not lost
    assert main(["rerun", str(tmp_path), "--video", "nope-1"]) == 2  # a video named: only videos
    err = capsys.readouterr().err
    assert "unknown video id(s) nope-1" in err and "composition(s) here not done" not in err
    assert main(["rerun", str(tmp_path), "--video", job.job_id, "--video", video.video_id]) == 2
    assert "compositions and videos are rerun apart" in capsys.readouterr().err


def test_rerun_of_a_composition_without_its_sound_library_changes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], no_start: None) -> None:
    layout, (job,) = compose_folder(tmp_path / "out", done=1, recorded=1)
    saved = json.loads(layout.compose_settings().read_text())
    saved["synth"] |= {"backend": "library", "library_index": str(tmp_path / "no-index")}
    layout.compose_settings().write_text(json.dumps(saved))
    markers = sorted((layout.video_dir(job.job_id) / ".done").glob("*.json"))
    assert markers
    assert main(["rerun", str(layout.root), "--video", job.job_id]) == 2
    assert "lvas library index" in capsys.readouterr().err
    assert sorted((layout.video_dir(job.job_id) / ".done").glob("*.json")) == markers  # refused: none cleared


def test_checks_before_start_do_not_load_the_heavy_libraries() -> None:
    """What plan_run needs (keys of every stage, the reflect key included) loads no model library:
    a finished folder answers at once."""
    import subprocess
    import sys

    code = ("import sys, lvas.cli, lvas.pipeline, lvas.reflection, lvas.backends.library_state; "
            "print(sorted(m for m in ('torch', 'librosa', 'noisereduce', 'chromadb', 'prefect', 'dask') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
