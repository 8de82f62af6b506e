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


def composition_folder(root: Path) -> tuple[Layout, list]:
    """One composition composed (planned, rendered, mixed), one recorded and only planned."""
    from lvas.compose import compose_direct, make_job, plan_stage
    from lvas.settings import Settings, SynthSettings
    from lvas.storage.runs import record_compositions

    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    layout = Layout(root)
    jobs = [make_job("rain on a tin roof, then thunder, then birds at dawn", 18.0, s.compose, "instruction 1"),
            make_job("a ship's horn in the harbour", 8.0, s.compose, "instruction 2")]
    record_compositions(layout, [j.model_dump() for j in jobs], s)
    compose_direct(layout, jobs[0], s)
    plan_stage(layout, jobs[1], s)
    return layout, jobs


def test_show_lists_compositions_with_ids_states_and_instructions(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    _, (done, planned) = composition_folder(tmp_path)
    record(Layout(tmp_path), StatusRecord("v-1", "mix", "completed", source="clips/v.mp4", started_at=1.0,
                                          finished_at=2.0))  # a dubbed video in the same folder
    assert main(["show", str(tmp_path)]) == 0
    videos, compositions = capsys.readouterr().out.split("\n\n")
    assert videos.splitlines()[1].split() == ["v-1", "completed", "mix", "clips/v.mp4"]
    lines = compositions.splitlines()
    assert lines[1].split(maxsplit=4) == [done.job_id, "completed", "mix", "18.0", done.instruction]
    assert lines[2].split(maxsplit=3) == [planned.job_id, "pending", "8.0", planned.instruction]  # no stage yet
    assert "2 composition(s)" in compositions.splitlines()[-1]
    assert main(["show", str(tmp_path), "--json"]) == 0
    listed = {r["video_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["v-1"]["kind"] == "video"
    assert (listed[done.job_id]["kind"], listed[done.job_id]["state"], listed[done.job_id]["instruction"],
            listed[done.job_id]["duration_s"]) == ("composition", "completed", done.instruction, 18.0)


def test_show_of_a_composition_gives_its_segments_and_events(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.compose import load_plan, plan_path
    from lvas.storage.atomic import read_parquet

    layout, (done, planned) = composition_folder(tmp_path)
    assert main(["show", str(tmp_path), done.job_id, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    segments = load_plan(plan_path(layout, done))
    assert [(r["segment"], r["start_s"], r["end_s"], r["detail"]) for r in rows] == [
        (g.index, round(g.start_s, 3), round(g.end_s, 3), g.detail) for g in segments]
    cue = read_parquet(layout.events(done.job_id))
    shown = sorted((e["layer"], e["label"], e["start_s"], e["end_s"], e["gain_db"]) for r in rows for e in r["events"])
    assert shown == sorted((c["layer"], c["label"], round(c["start_s"], 3), round(c["end_s"], 3),
                            round(c["gain_db"], 3)) for c in cue)
    assert {"rain", "thunder", "songbirds"} <= {e[1] for e in shown}
    rain = next(e for r in rows for e in r["events"] if e["label"] == "rain")
    assert rain["segments"] == [0, 1, 2] and rain["end_s"] == 18.0  # a bed continuing over the segments
    assert main(["show", str(tmp_path), done.job_id]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{done.job_id}: composition of 18 s, 3 segments, {len(cue)} events (completed; "
                           "events as mixed)")
    assert done.instruction in text and "segment   1" in text and "thunder" in text
    # planned, not mixed: the plan's events, said so
    assert main(["show", str(tmp_path), planned.job_id]) == 0
    text = capsys.readouterr().out
    assert "(pending; events as planned, not mixed yet)" in text and "foreground foghorn" in text


def test_show_of_a_composition_without_a_plan_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.compose import make_job
    from lvas.settings import Settings
    from lvas.storage.runs import record_compositions

    job = make_job("birds at dawn", 5.0, Settings().compose, "instruction 1")
    record_compositions(Layout(tmp_path), [job.model_dump()], Settings())
    record(Layout(tmp_path), StatusRecord(job.job_id, "plan", "failed", source="instruction 1", error="boom",
                                          started_at=1.0, finished_at=2.0))
    assert main(["show", str(tmp_path), job.job_id]) == 2
    assert f"composition {job.job_id!r} has no plan yet" in capsys.readouterr().err


def test_show_lists_recorded_compositions_before_any_status(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A compose run recorded its compositions and stopped before any unit ran: they are pending."""
    from lvas.compose import make_job
    from lvas.settings import Settings
    from lvas.storage.runs import record_compositions

    job = make_job("birds at dawn", 5.0, Settings().compose, "instruction 1")
    record_compositions(Layout(tmp_path), [job.model_dump()], Settings())
    assert main(["show", str(tmp_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split(maxsplit=3) == [job.job_id, "pending", "5.0", "birds at dawn"]
    assert "1 composition(s)" in lines[-1]


def test_an_unreadable_compositions_table_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.compose import make_job
    from lvas.settings import Settings
    from lvas.storage.runs import record_compositions

    layout = Layout(tmp_path)
    record_compositions(layout, [make_job("birds at dawn", 5.0, Settings().compose, "i").model_dump()], Settings())
    layout.compositions().write_bytes(b"PAR1 cut short")
    for command in (["show", str(tmp_path)], ["rerun", str(tmp_path)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{layout.compositions()}: cannot read the table of compositions" in err and "Traceback" not in err
