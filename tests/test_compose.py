"""``lvas compose``: jobs and bad input, the offline and LLM planners, continuation, exact length, the flow."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lvas.compose import (
    ComposeJob,
    compose_direct,
    make_job,
    match_labels,
    plan_llm,
    plan_offline,
    read_manifest,
    recorded_jobs,
    story_events,
)
from lvas.errors import InputError
from lvas.kb.labels import labels_by_name, load_labels
from lvas.settings import AgentSettings, ComposeSettings, Settings, SynthSettings
from lvas.storage.atomic import read_parquet
from lvas.storage.layout import Layout
from tests.fake_llm_server import FakeLLMServer, as_reply, user_texts

STORM = ("a thunderstorm rolls in over a harbour at night, rain grows heavier, a ship's horn, "
         "then the storm passes at dawn with birds")
CS = ComposeSettings()


@pytest.mark.parametrize(
    ("instruction", "duration", "message"),
    [
        pytest.param("   ", 10, "instruction 1: the instruction is empty", id="empty"),
        pytest.param(None, 10, "instruction 1: the instruction is empty", id="not-text"),
        pytest.param("x" * 2001, 10, "instruction 1: the instruction has 2001 characters; at most 2000", id="long"),
        pytest.param("rain", 0, "instruction 1: duration 0 s is outside (0, 1800]", id="zero"),
        pytest.param("rain", -5, "instruction 1: duration -5 s is outside", id="negative"),
        pytest.param("rain", 1801, "instruction 1: duration 1801 s is outside (0, 1800]", id="too-long"),
        pytest.param("rain", "abc", "instruction 1: duration 'abc' is not a number", id="not-a-number"),
        pytest.param("rain", float("nan"), "instruction 1: duration nan s is outside", id="nan"),
    ],
)
def test_bad_jobs_are_refused_by_name(instruction: object, duration: object, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        make_job(instruction, duration, CS, "instruction 1")


def test_job_ids_are_stable_and_distinct() -> None:
    a, b = make_job(STORM, 120, CS, "cli"), make_job(STORM + "!", 120, CS, "cli")
    assert a.job_id == make_job(STORM, 60, CS, "other").job_id and a.job_id != b.job_id
    assert a.job_id.startswith("a-thunderstorm-rolls-in-over-")


def test_a_manifest_keeps_its_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"instruction": "rain on a tin roof", "duration_s": 20},
        {"instruction": "", "duration_s": 20},
        {"instruction": "birds at dawn"},
        {"instruction": "waves", "duration_s": 99999}]))
    jobs, problems = read_manifest(path, 30.0, CS)
    assert [(j.instruction, j.duration_s) for j in jobs] == [("rain on a tin roof", 20.0), ("birds at dawn", 30.0)]
    assert problems == [f"{path} row 2: the instruction is empty",
                        f"{path} row 4: duration 99999 s is outside (0, 1800] (compose.max_duration_s)"]
    (tmp_path / "bad.csv").write_text("prompt\nrain\n")
    with pytest.raises(InputError, match=r"bad\.csv: every row needs an 'instruction' column"):
        read_manifest(tmp_path / "bad.csv", 30.0, CS)


def test_labels_are_named_by_the_words() -> None:
    labels = load_labels()
    assert [x.label for x in match_labels("a ship's horn", labels)] == ["foghorn"]
    assert [x.label for x in match_labels("rain grows heavier", labels)] == ["rain"]  # not "train passing"
    assert [x.label for x in match_labels("the storm passes at dawn with birds", labels)] == ["songbirds"]
    assert match_labels("a sense of hope", labels) == []


def test_offline_plan_covers_the_duration_and_carries_beds_until_they_end() -> None:
    segments = plan_offline(STORM, 120.0, CS)
    assert [(g.start_s, g.end_s) for g in segments] == [(0, 30), (30, 60), (60, 90), (90, 120)]
    assert [g.detail for g in segments][2] == "a ship's horn"
    beds = [[i.label for i in g.design.background] for g in segments]
    assert beds == [[], ["rain"], ["rain"], ["songbirds"]]  # rain carried on; "passes" ends it
    events = story_events(segments, Settings())
    rain = [e for e in events if e.label == "rain"]
    assert len(rain) == 1 and (rain[0].start_s, rain[0].end_s, rain[0].scenes) == (30.0, 90.0, (1, 2))
    horn = next(e for e in events if e.label == "foghorn")
    assert 60 < horn.start_s < horn.end_s <= 90 and horn.layer == "foreground"
    assert all(0 <= e.start_s < e.end_s <= 120 for e in events)
    # a short composition gets fewer, longer segments
    assert len(plan_offline(STORM, 12.0, CS)) == 2


def test_speech_and_music_stay_out_of_a_composition_unless_asked() -> None:
    text = "a man speaking, then a guitar and a piano, then rain"
    voice = {k for k, v in labels_by_name().items() if v.family in ("voice", "instrument")}
    from lvas.timeline import label_sets

    _, excluded = label_sets(AgentSettings())
    plan = plan_offline(text, 30.0, CS, excluded)
    used = {i.label for g in plan for i in (*g.design.audio, *g.design.background)}
    assert used and not used & voice
    _, none_excluded = label_sets(AgentSettings(allow_speech=True, allow_music=True))
    allowed = {i.label for g in plan_offline(text, 30.0, CS, none_excluded) for i in (*g.design.audio,
                                                                                      *g.design.background)}
    assert allowed & voice


def test_composition_has_exactly_the_requested_length_and_reruns_from_cache(tmp_path: Path) -> None:
    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    job = make_job("rain on a tin roof, then thunder, then birds at dawn", 17.3, s.compose, "test")
    marker = compose_direct(Layout(tmp_path), job, s)
    audio, sr = sf.read(marker["outputs"]["mix"])
    assert len(audio) == round(17.3 * 16000) and sr == 16000
    cue = read_parquet(marker["outputs"]["events"])
    assert {r["label"] for r in cue} >= {"rain", "thunder", "songbirds"}
    fg, _ = sf.read(marker["outputs"]["stem_foreground"])
    bg, _ = sf.read(marker["outputs"]["stem_background"])
    assert len(fg) == len(bg) == len(audio) and np.abs(bg).max() > 0
    assert Path(marker["outputs"]["report"]).read_text().count("<tr>") >= 1 + len(cue)
    again = compose_direct(Layout(tmp_path), job, s)
    assert again["cached"] and again["outputs"] == marker["outputs"]


def test_llm_planner_gets_its_gap_back_and_maps_sounds_to_labels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LVAS_TEST_KEY", "k")
    answers = iter([
        {"segments": [{"start_s": 0, "end_s": 10, "detail": "rain starts", "background": [{"description": "rain"}]},
                      {"start_s": 12, "end_s": 20, "detail": "a horn", "audio": [
                          {"description": "ship horn", "start_s": 1, "end_s": 3}]}]},
        {"segments": [{"start_s": 0, "end_s": 10, "detail": "rain starts", "background": [{"description": "rain"}]},
                      {"start_s": 10, "end_s": 20, "detail": "a horn",
                       "audio": [{"description": "ship horn", "start_s": 1, "end_s": 3, "gain_db": -4},
                                 {"description": "a man singing", "start_s": 4, "end_s": 8}],
                       "background": [{"description": "rain"}]}]},
    ])
    seen: list[dict] = []

    def responder(body: dict) -> object:
        seen.append(body)
        return as_reply(next(answers))

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        table = {"rain": ["rain"], "ship horn": ["vehicle horn", "foghorn"]}
        return {layer: {t: table.get(t, []) for t in ts} for layer, ts in texts.items()}

    with FakeLLMServer(responder=responder) as srv:
        s = Settings(agents=AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY"))
        segments = plan_llm("rain, then a ship's horn", 20.0, s, retrieve)
    assert any("segment 1 starts at 12 s but segment 0 ends at 10 s" in t for t in user_texts(seen[1]))
    assert [(g.start_s, g.end_s) for g in segments] == [(0, 10), (10, 20)]
    (horn,) = segments[1].design.audio  # no singing: speech is not asked for
    assert (horn.label, horn.start_s, horn.end_s, horn.gain_db) == ("vehicle horn", 1, 3, -4)
    events = story_events(segments, s)
    assert [(e.label, e.start_s, e.end_s) for e in events if e.layer == "background"] == [("rain", 0, 20)]


@pytest.mark.slow
def test_compose_flow_on_dask(prefect_dask: str, tmp_path: Path) -> None:
    from lvas.flows.compose import compose_dataset
    from lvas.flows.runtime import task_runner
    from lvas.storage.status import collect, rollup

    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    jobs = [make_job("rain, then thunder", 8.0, s.compose, "a"), make_job("birds at dawn", 6.0, s.compose, "b")]
    flow = compose_dataset.with_options(task_runner=task_runner(prefect_dask))
    state = flow(jobs, str(tmp_path), s, return_state=True)
    assert state.is_completed() and "2 of 2 compositions done" in state.message
    states = rollup(collect(Layout(tmp_path)), "mix")
    assert {v: x.state for v, x in states.items()} == {j.job_id: "completed" for j in jobs}
    for job in jobs:
        audio, _ = sf.read(Layout(tmp_path).mix(job.job_id))
        assert len(audio) == round(job.duration_s * 16000)
    again = flow(jobs, str(tmp_path), s, return_state=True)
    assert again.is_completed() and "2 of 2 compositions done" in again.message
    assert [j.job_id for j in recorded_jobs(Layout(tmp_path))] == [j.job_id for j in jobs]

    # `lvas rerun` on the folder: a damaged mix is found, marked failed and redone, nothing else
    from lvas.cli import main

    layout = Layout(tmp_path)
    kept = layout.mix(jobs[1].job_id).stat().st_mtime_ns
    layout.mix(jobs[0].job_id).unlink()
    assert main(["status", str(tmp_path), "--verify"]) == 0
    assert rollup(collect(layout), "mix")[jobs[0].job_id].state == "failed"
    assert main(["rerun", str(tmp_path), "--dask-address", prefect_dask]) == 0
    audio, _ = sf.read(layout.mix(jobs[0].job_id))
    assert len(audio) == round(jobs[0].duration_s * 16000)
    assert layout.mix(jobs[1].job_id).stat().st_mtime_ns == kept
    assert {v: x.state for v, x in rollup(collect(layout), "mix").items()} == {j.job_id: "completed" for j in jobs}


def test_job_ref_is_what_the_status_table_keys() -> None:
    job = ComposeJob(job_id="x-1", instruction="rain", duration_s=3.0, source="cli")
    ref = job.ref()
    assert (ref.video_id, ref.source, ref.path) == ("x-1", "cli", "")
