"""The reflection loop: edits the original each cycle, keeps only improvements, records every cycle;
the planners; and the reflect stage in the direct pipeline (a kept edit reaches the mix)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pyarrow.parquet as pq
import pytest

from lvas.audio.actions import Action, ActionPlan
from lvas.audio.reflect import Cycle, cycle_rows, llm_plan, offline_plan, reflect
from lvas.audio.scores import SceneClip, Scores
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, user_texts

SR = 8000


def level_scorer(target_db: float, seen: list[np.ndarray]):
    """Overall score 1 at ``target_db`` RMS, falling 0.05 per dB away; records what it scored."""

    def score(take: list[np.ndarray]) -> Scores:
        seen.append(take[0].copy())
        db = 10 * np.log10(np.mean(take[0].astype(np.float64) ** 2))
        return Scores({"level": max(0.0, 1.0 - 0.05 * abs(db - target_db))}, {"rms_db": db})

    return score


def volume_planner(gains: list[float]):
    def plan(scores: Scores, cycle: int, history: list[Cycle]) -> tuple[list[Action], str]:
        return [Action(name="volume", params={"gain_db": gains[cycle - 1]})], "test|scripted"

    return plan


def tone() -> np.ndarray:
    return (0.1 * np.sin(2 * np.pi * 300 * np.arange(SR) / SR)).astype(np.float32)  # -23 dB RMS


def test_each_cycle_edits_the_original_and_only_improvements_are_kept() -> None:
    original = tone()
    before = original.copy()
    seen: list[np.ndarray] = []
    # target -17 dB: +3 improves, -6 worsens, +6 is best; each applies to the original, not the last kept
    result = reflect([original], level_scorer(-17.0, seen), volume_planner([3.0, -6.0, 6.0]), threshold=0.99,
                     max_cycles=3, sample_rate=SR)
    np.testing.assert_array_equal(original, before)  # never modified in place
    assert [c.kept for c in result.cycles] == [True, False, True]
    rms = [10 * np.log10(np.mean(x.astype(np.float64) ** 2)) for x in seen]
    # scored: the original, then original+3, original-6, original+6 (not +3-6 or +3+6)
    assert rms[1] - rms[0] == pytest.approx(3.0, abs=0.01)
    assert rms[2] - rms[0] == pytest.approx(-6.0, abs=0.01)
    assert rms[3] - rms[0] == pytest.approx(6.0, abs=0.01)
    assert result.best.overall == pytest.approx(1.0, abs=1e-3) and result.edited
    np.testing.assert_allclose(result.take[0], original * 10 ** (6 / 20), rtol=1e-5)
    assert result.cycles[1].before.overall == result.cycles[0].after.overall  # the best so far


def test_nothing_kept_leaves_the_original_and_the_loop_stops_at_the_threshold() -> None:
    original = tone()
    seen: list[np.ndarray] = []
    worse = reflect([original], level_scorer(-23.0, seen), volume_planner([6.0, -6.0]), threshold=1.01,
                    max_cycles=2, sample_rate=SR)
    assert not worse.edited and worse.take[0] is original and len(worse.cycles) == 2
    good = reflect([original], level_scorer(-23.0, []), volume_planner([6.0]), threshold=0.9, max_cycles=5,
                   sample_rate=SR)
    assert good.cycles == [] and cycle_rows("v", 0, good)[0]["note"] == "at or above the threshold"


def test_a_failed_edit_is_recorded_and_the_loop_goes_on() -> None:
    def plan(scores: Scores, cycle: int, history: list[Cycle]) -> tuple[list[Action], str]:
        return ([Action(name="rerender")] if cycle == 1 else [Action(name="volume", params={"gain_db": 3})]), "t|x"

    result = reflect([tone()], level_scorer(-20.0, []), plan, threshold=0.99, max_cycles=2, sample_rate=SR)
    assert result.cycles[0].after is None and "rerender is not available" in result.cycles[0].note
    assert result.cycles[1].kept
    rows = cycle_rows("v", 2, result)
    assert [r["kept"] for r in rows] == [False, True]
    assert json.loads(rows[1]["actions"]) == [{"name": "volume", "params": {"gain_db": 3.0}}]
    assert rows[1]["after_overall"] > rows[1]["before_overall"]


@pytest.mark.parametrize(("values", "details", "expected"), [
    ({"level": 0.2, "sync": 1, "coverage": 1, "leak": 0}, {"clip_frac": 0.01}, ["volume"]),
    ({"level": 0.5, "sync": 1, "coverage": 1, "leak": 0}, {"loudness_lufs": -50.0}, ["volume"]),
    ({"level": 1, "sync": 1, "coverage": 1, "leak": 0.9}, {}, ["rerender"]),
    ({"level": 1, "sync": 1, "coverage": 0.4, "leak": 0}, {"silent_motion_frac": 0.6}, ["fill_blanks"]),
    ({"level": 1, "sync": 0.2, "coverage": 1, "leak": 0}, {"lag_strength": 0.1}, ["spectral_gate"]),
    ({"level": 1, "sync": 0.3, "coverage": 0.5, "leak": 0}, {"lag_strength": 0.1, "silent_motion_frac": 0.5},
     ["spectral_gate", "fill_blanks"]),
    ({"desync": 0.6}, {"offset_s": 1.2}, ["rerender"]),  # Synchformer: the sound is offset
    ({"av_similarity": 0.55}, {"cosine": 0.1}, ["rerender"]),  # ImageBind: the sound does not match the picture
])
def test_offline_planner_remedies_the_lowest_scores(values: dict, details: dict, expected: list[str]) -> None:
    actions, reason = offline_plan(Scores(values, details), 1, [])
    assert [a.name for a in actions] == expected and reason.startswith("offline|")


def test_offline_planner_names_a_low_score_it_has_no_rule_for() -> None:
    actions, reason = offline_plan(Scores({"clarity": 0.2}), 1, [])
    assert [a.name for a in actions] == ["spectral_gate"] and reason == "offline|no rule for clarity 0.20"
    assert offline_plan(Scores({"av_similarity": 0.5}), 2, [])[0][0].name == "next_label"


def test_offline_planner_tries_another_denoiser_each_cycle() -> None:
    s = Scores({"sync": 0.2}, {"lag_strength": 0.1})
    names = [offline_plan(s, c, [])[0][0].name for c in (1, 2, 3, 4)]
    assert len(set(names)) == 4
    up = offline_plan(Scores({"level": 0.4}, {"loudness_lufs": -50.0}), 1, [])[0][0]
    assert up.params["gain_db"] == pytest.approx(24.0)


class FakeBackend:
    def __init__(self, answer: object) -> None:
        self.answer, self.prompts = answer, []

    def complete(self, role: str, model: str, messages: list, schema: type, context: dict | None = None) -> object:
        self.prompts.append(messages[0])
        if isinstance(self.answer, Exception):
            raise self.answer
        return schema.model_validate(self.answer)


def test_llm_planner_answer_is_validated_data() -> None:
    good = FakeBackend({"actions": [{"name": "wiener", "params": {"size": 9}}], "reason": "hiss"})
    actions, reason = llm_plan(good, "m", str)(Scores({"sync": 0.3}, {"lag_s": 0.1}), 1, [])
    assert actions == [Action(name="wiener", params={"size": 9})] and reason == "llm|hiss"
    assert "sync" in good.prompts[0] and "spectral_subtraction" in good.prompts[0]
    bad = FakeBackend({"actions": [{"name": "os.system", "params": {}}]})
    actions, reason = llm_plan(bad, "m", str)(Scores({"sync": 0.3}, {"lag_strength": 0.1}), 1, [])
    assert reason.startswith("offline (llm refused:") and "unknown action 'os.system'" in reason
    assert [a.name for a in actions] == ["spectral_gate"]
    assert ActionPlan.model_json_schema()["properties"]["actions"]["maxItems"] == 2


# --------------------------------------------------------------------------- the stage, direct


def test_reflect_stage_keeps_an_edit_and_the_mix_uses_it(tmp_path: Path) -> None:
    from lvas.models import VideoRef
    from lvas.pipeline import dub_video_direct, is_finished, reflect_path, scores_path
    from lvas.settings import ReflectSettings, Settings, SynthSettings
    from lvas.storage.layout import Layout
    from tests.clips import colour_cuts, make_clip

    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = tmp_path / "clip.captions.json"  # a door slam 12 dB over its layer: it clips, level sanity low
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 1.5, "caption": "a door"},
                                             {"start": 1.5, "end": 3, "caption": "a street"}],
                                "events": [{"start": 1.8, "end": 2.6, "sound": "door slam", "gain_db": 12}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1), reflect=ReflectSettings(max_cycles=2))
    layout = Layout(tmp_path / "out")
    marker = dub_video_direct(layout, video, s)
    cycles = pq.read_table(reflect_path(layout, "clip")).to_pylist()
    kept = [c for c in cycles if c["kept"]]
    assert kept, cycles
    assert all(c["after_overall"] > c["before_overall"] for c in kept)
    cue = pq.read_table(marker["outputs"]["events"]).to_pylist()
    edited = [layout.video_dir("clip") / "reflect" / r["file"] for r in cue if r["scene"] == kept[0]["scene"]]
    assert edited and all(p.exists() for p in edited)
    plain = Layout(tmp_path / "plain")  # the same video without the reflect stage: another mix
    off = Settings(synth=SynthSettings(sample_rate=16000, channels=1), reflect=ReflectSettings(enabled=False))
    dub_video_direct(plain, video, off)
    assert plain.mix("clip").read_bytes() != layout.mix("clip").read_bytes()
    assert not (plain.video_dir("clip") / "reflect.parquet").exists()
    scores = pq.read_table(scores_path(layout, "clip")).to_pylist()
    assert len(scores) == len({r["scene"] for r in scores}) >= 1 and all(0 <= r["overall"] <= 1 for r in scores)
    assert "<h2>Scores</h2>" in Path(marker["outputs"]["report"]).read_text()
    assert is_finished(layout, video, s)
    assert not is_finished(layout, video, off)  # the mix without the edits is another mix


@pytest.mark.slow
def test_the_dataset_flow_reflects_between_render_and_mix(prefect_dask: str, tmp_path: Path) -> None:
    from lvas.settings import Settings, SynthSettings
    from lvas.storage.layout import Layout
    from lvas.storage.status import collect
    from tests.clips import colour_cuts, make_clip
    from tests.harness import run_dub

    clip = make_clip(tmp_path / "in" / "clip.mp4", colour_cuts([1.0]), seconds=2.0)
    out = tmp_path / "out"
    state = run_dub(prefect_dask, [clip], out, Settings(synth=SynthSettings(sample_rate=16000, channels=1)))
    assert state.is_completed(), state.message
    records = collect(Layout(out))
    reflected = [r for r in records if r.stage == "reflect"]
    rendered = [r for r in records if r.stage == "render"]
    assert reflected and {r.scene for r in reflected} == {r.scene for r in rendered}
    assert all(r.state == "completed" for r in reflected)
    vid = reflected[0].video_id
    assert (Layout(out).video_dir(vid) / "reflect.parquet").exists()
    assert (Layout(out).video_dir(vid) / "scores.parquet").exists()


def test_scenes_go_in_lockstep() -> None:
    from lvas.audio.reflect import SceneLoop, run_lockstep

    order: list[tuple[str, int]] = []

    def planner(name: str):
        def plan(scores: Scores, cycle: int, history: list[Cycle]) -> tuple[list[Action], str]:
            order.append((name, cycle))
            return [Action(name="volume", params={"gain_db": -1.0})], "t|x"
        return plan

    loops = [SceneLoop([tone()], level_scorer(-40.0, []), planner(n), 1.01, cycles, SR)
             for n, cycles in (("a", 3), ("b", 2))]
    results = run_lockstep(loops)
    assert order == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3)]
    assert [len(r.cycles) for r in results] == [3, 2]


def test_content_remedies_alternate_seed_and_next_label() -> None:
    from lvas.reflection import next_label

    leak = Scores({"leak": 0.9})
    plans = [offline_plan(leak, c, [])[0][0] for c in (1, 2, 3, 4)]
    assert [(a.name, a.params) for a in plans] == [
        ("rerender", {"offset": 1.0}), ("next_label", {"step": 1.0}),
        ("rerender", {"offset": 3.0}), ("next_label", {"step": 2.0})]
    candidates = [["wind", "rain", "speech", "hail", "thunder"], ["dog barking"]]
    excluded = frozenset({"speech"})
    assert next_label("rain", candidates, 1, excluded) == "hail"  # speech is excluded
    assert next_label("rain", candidates, 2, excluded) == "hail"  # thunder is another family: not a rain
    assert next_label("rain", candidates, 5, excluded) == "hail"  # the last of its family there is
    # a retrieval neighbour of another kind is never a replacement, however it scores
    assert next_label("car engine starting", [["car engine starting", "ice cream truck"]], 1, excluded) == \
        "car engine starting"
    assert next_label("dog barking", candidates, 1, excluded) == "dog barking"  # nothing after it
    assert next_label("owl", candidates, 1, excluded) == "owl"


# --------------------------------------------------------------------------- beds continuing across a cut


def test_a_bed_is_as_good_as_the_worst_scene_it_spans() -> None:
    from lvas.reflection import worst_scene

    a, b, c = Scores({"level": 0.9}, {"x": 1.0}), Scores({"level": 0.4}, {"x": 2.0}), Scores({"level": 0.4})
    low = worst_scene([(3, a), (4, b), (5, c)])
    assert low.overall == pytest.approx(0.4) and low.details == {"x": 2.0, "worst_scene": 4.0}  # first on a tie
    with pytest.raises(ValueError, match="spans no scene"):
        worst_scene([])


@dataclass
class QuietScorer:
    """A test scorer that likes quiet scenes: ``level`` is 1 at -60 dBFS RMS and below, 0 at 0 dBFS;
    every clip it scores is recorded (its span and level)."""

    name: str = "quiet"
    calls: ClassVar[list[tuple[float, float | None, float]]] = []

    def score(self, clip: SceneClip) -> Scores:
        rms = 10 * np.log10(np.mean(np.asarray(clip.audio, np.float64) ** 2) + 1e-12)
        QuietScorer.calls.append((clip.start_s, clip.end_s, float(rms)))
        return Scores({"level": float(np.clip(-rms / 60, 0, 1))}, {"rms_db": float(rms)}, self.name)


def test_a_bed_across_a_cut_is_edited_once_for_every_scene_it_spans(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from lvas.audio.scores import SCORERS
    from lvas.models import VideoRef
    from lvas.pipeline import bed_scenes, dub_video_direct, reflect_path
    from lvas.reflection import kept_edits
    from lvas.settings import ReflectSettings, Settings, SynthSettings
    from lvas.storage.layout import Layout
    from lvas.storage.status import collect
    from tests.clips import colour_cuts, make_clip

    monkeypatch.setitem(SCORERS, "quiet", QuietScorer)  # the registry's own plug-in point
    QuietScorer.calls.clear()
    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = tmp_path / "clip.captions.json"  # rain over the whole video: one bed across the cut
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 1.5, "caption": "rain on a street"},
                                             {"start": 1.5, "end": 3, "caption": "rain on a roof"}],
                                "events": [{"start": 0, "end": 3, "sound": "rain", "layer": "background"}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1),
                 reflect=ReflectSettings(max_cycles=2, threshold=0.99, scorer="quiet"))
    layout = Layout(tmp_path / "out")
    marker = dub_video_direct(layout, video, s)
    (bed,) = [r for r in pq.read_table(marker["outputs"]["events"]).to_pylist() if r["scenes"] == "0,1"]
    rows = pq.read_table(reflect_path(layout, "clip")).to_pylist()
    bed_rows = [r for r in rows if r["target"] == "bed"]
    assert bed_rows and all(r["scene"] == 0 and r["scenes"] == "0,1" and r["event"] == bed["file"] for r in bed_rows)
    assert {r["scenes"] for r in rows if r["target"] == "scene"} == {"0", "1"}
    kept = [r for r in bed_rows if r["kept"]]
    assert kept and all(r["after_overall"] > r["before_overall"] for r in kept)
    # scene 1 has nothing of its own: scored once by its loop, then with the bed's original and each edit
    reflected = QuietScorer.calls[:-2]  # the last two: the final mix, scene by scene
    tried = sum(1 for r in bed_rows if r["after_overall"] == r["after_overall"])  # not NaN
    assert sum(1 for a, _, _ in reflected if a > 1.0) == 2 + tried
    # the kept bed replaces the render in the mix; the render itself stays as it was
    edits = kept_edits(layout, "clip", 0)
    assert bed["file"] in edits and Path(edits[bed["file"]][0]).parent.name == "reflect"
    assert layout.done("clip", "render", layout.read_marker("clip", "render", 0)["key"], 0, verify=True)
    assert bed_scenes(layout, "clip", 0) == [1] and bed_scenes(layout, "clip", 1) == []
    # a rerun re-edits nothing
    before = {p: p.read_bytes() for p in sorted((layout.video_dir("clip") / "reflect").iterdir())}
    QuietScorer.calls.clear()
    dub_video_direct(layout, video, s)
    assert QuietScorer.calls == []
    assert {r.scene: r.state for r in collect(layout, ["clip"]) if r.stage == "reflect"} == {0: "cached", 1: "cached"}
    assert {p: p.read_bytes() for p in sorted((layout.video_dir("clip") / "reflect").iterdir())} == before


# --------------------------------------------------------------------------- the LLM planner over HTTP


def planner_over_http(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch):
    """The LLM planner as ``LVAS_REFLECT__PLANNER=llm`` builds it: the OpenAI-compatible backend."""
    from lvas.backends.llm import OpenAIBackend, user_message
    from lvas.settings import AgentSettings

    monkeypatch.setenv("LVAS_TEST_KEY", "sk-test")
    agents = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY", timeout_s=5.0,
                           max_retries=0)
    return llm_plan(OpenAIBackend(agents), agents.model, user_message)


def test_a_valid_plan_over_http_is_parsed_and_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    original = tone()
    plan = {"actions": [{"name": "volume", "params": {"gain_db": 6}}], "reason": "the scene is too quiet"}
    with FakeLLMServer([as_reply(plan)]) as srv:
        result = reflect([original], level_scorer(-17.0, []), planner_over_http(srv, monkeypatch), threshold=0.99,
                         max_cycles=1, sample_rate=SR)
        sent = user_texts(srv.requests[0])[0]
    (cycle,) = result.cycles
    assert cycle.actions == (Action(name="volume", params={"gain_db": 6.0}),)
    assert (cycle.planner, cycle.note, cycle.kept) == ("llm", "the scene is too quiet", True)
    np.testing.assert_allclose(result.take[0], original * 10 ** (6 / 20), rtol=1e-5)
    assert '"level": 0.699' in sent and '"rms_db": -23.01' in sent  # what was measured
    assert "volume: gain_db [-24.0, 24.0, -6.0]" in sent  # what may be chosen


@pytest.mark.parametrize(("answer", "reason"), [
    pytest.param({"actions": [{"name": "os.system", "params": {}}]}, "unknown action 'os.system'", id="unknown-action"),
    pytest.param({"actions": [{"name": "volume", "params": {"gain_db": 90}}]}, "gain_db=90.0 is outside",
                 id="out-of-range"),
    pytest.param({"actions": [{"name": "volume", "params": {"gain_db": -3, "cmd": 1}}]}, "unknown parameter 'cmd'",
                 id="unknown-parameter"),
    pytest.param({"actions": [{"name": "wiener"}] * 3}, "at most 2 items", id="three-actions"),
    pytest.param("Sure! I would turn the volume up a little.", "no JSON object", id="prose"),
])
def test_a_plan_outside_the_schema_over_http_is_refused_with_the_reason(
        answer: object, reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = tone()
    before = original.copy()
    reply = Reply(answer) if isinstance(answer, str) else as_reply(answer)
    with FakeLLMServer([reply, reply]) as srv:  # the answer and the one repair round
        result = reflect([original], level_scorer(-17.0, []), planner_over_http(srv, monkeypatch), threshold=0.99,
                         max_cycles=1, sample_rate=SR)
        repair = user_texts(srv.requests[1])[-1]
    (cycle,) = result.cycles
    assert cycle.planner.startswith("offline (llm refused:") and reason in cycle.planner
    assert reason in repair  # the model was told what was wrong once
    # nothing of the answer was applied: the cycle did what the offline rule does for these scores
    assert list(cycle.actions) == offline_plan(result.original, 1, [])[0]
    np.testing.assert_array_equal(original, before)


def test_the_reflect_stage_asks_the_configured_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``reflect.planner = llm``: every cycle of the stage, beds included, is planned over HTTP."""
    from lvas.models import VideoRef
    from lvas.pipeline import dub_video_direct, reflect_path
    from lvas.settings import AgentSettings, ReflectSettings, Settings, SynthSettings
    from lvas.storage.layout import Layout
    from tests.clips import colour_cuts, make_clip

    monkeypatch.setenv("LVAS_TEST_KEY", "sk-test")
    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = tmp_path / "clip.captions.json"
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 1.5, "caption": "rain on a street"},
                                             {"start": 1.5, "end": 3, "caption": "rain on a roof"}],
                                "events": [{"start": 0, "end": 3, "sound": "rain", "layer": "background"},
                                           {"start": 1.8, "end": 2.4, "sound": "door slam"}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    plan = {"actions": [{"name": "volume", "params": {"gain_db": -3}}], "reason": "scripted"}
    with FakeLLMServer(responder=lambda body: as_reply(plan)) as srv:
        # the agents stay offline for the script and design; only the planner asks the endpoint
        s = Settings(synth=SynthSettings(sample_rate=16000, channels=1),
                     agents=AgentSettings(base_url=srv.base_url, api_key_env="LVAS_TEST_KEY", max_retries=0),
                     reflect=ReflectSettings(planner="llm", threshold=0.999, max_cycles=1))
        dub_video_direct(layout := Layout(tmp_path / "out"), video, s)
        asked = [user_texts(body)[0] for body in srv.requests]
    cycles = [r for r in pq.read_table(reflect_path(layout, "clip")).to_pylist() if r["cycle"]]
    assert {r["target"] for r in cycles} == {"scene", "bed"} and len(asked) == len(cycles)
    assert all(r["planner"] == "llm" and r["note"] == "scripted" for r in cycles)
    assert all(json.loads(r["actions"]) == [{"name": "volume", "params": {"gain_db": -3.0}}] for r in cycles)
    assert all(text.startswith("You repair the soundtrack of one video scene") for text in asked)
