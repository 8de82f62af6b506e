"""Timed events: the timeline rules, the design loop's checks, placement, render and mix per event."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lvas.agents.captions import load_sidecar
from lvas.agents.design import design_refine
from lvas.agents.events import (
    SceneTiming,
    TimedCue,
    check_items,
    fit_items,
    join_continuing,
    max_concurrent,
    motion_timing,
    place_items,
    scene_events,
)
from lvas.agents.llm_agents import LLMAgents
from lvas.agents.offline import OfflineAgents
from lvas.audio.loudness import db_to_gain
from lvas.audio.mix import mix_events
from lvas.models import Caption, RenderedLayer, Scene, Script, SoundDesign, SoundEvent, SoundItem, Verdict, VideoRef
from lvas.render import event_key, event_specs, render_events
from lvas.settings import AgentSettings, MixSettings, SynthSettings
from lvas.storage.layout import Layout
from lvas.timeline import label_sets
from tests.fake_llm_server import FakeLLMServer, as_reply, role_of, user_texts

RULES = AgentSettings()


def item(desc: str, start: float | None, end: float | None, label: str | None = None, **kw: object) -> SoundItem:
    return SoundItem(description=desc, label=label, start_s=start, end_s=end, **kw)


def scene_script(caption: Caption, start: float = 6.0, end: float = 10.0) -> tuple[Scene, Script]:
    scene = Scene(index=3, start_s=start, end_s=end, shot_indices=[4], caption=caption)
    return scene, Script(video_id="vid", global_description="g", shot_captions=[caption], decisions=[],
                         scenes=[scene])


# --------------------------------------------------------------------------- rules


def test_check_names_every_broken_rule() -> None:
    design = SoundDesign(
        audio=[item("door slam", 3.5, 4.5), item("click", 1.0, 1.05), item("steps", 0.0, 2.0, label="Made up"),
               item("voice", 0.5, 1.5, label="man speaking")],
        background=[item("rain", 0.0, 3.0), item("wind", 0.0, 2.5)],
    )
    problems = check_items(design, 4.0, RULES, known={"rain"}, excluded={"man speaking"})
    text = " | ".join(problems)
    assert "'door slam': 3.5-4.5 s is outside the scene (0-4 s)" in text
    assert "'click': 1-1.05 s is shorter than 0.1 s" in text
    assert "label 'Made up' is not in the sound library" in text
    assert "label 'man speaking' is speech or music" in text
    assert "5 events sound at once at 1 s; at most 3" in text
    assert "no background event reaches the end of the scene (4 s)" in text
    good = SoundDesign(audio=[item("door slam", 1.0, 1.5)], background=[item("rain", None, None)])
    assert check_items(good, 4.0, RULES, known={"rain"}) == []


def test_fit_repairs_any_design_into_the_rules() -> None:
    design = SoundDesign(
        audio=[item("a", -1.0, 2.0, primary=True), item("b", 0.5, 3.0, primary=False),
               item("c", 1.0, 1.04), item("d", 1.0, 2.0, primary=False, label="man speaking")],
        background=[item("rain", 0.0, 2.0), item("wind", 0.2, 1.5, primary=False)],
    )
    fitted = fit_items(design, 4.0, RULES, excluded={"man speaking"})
    assert check_items(fitted, 4.0, RULES, excluded={"man speaking"}) == []
    assert [i.description for i in fitted.audio] == ["a"]  # c too short, d excluded, b the least important
    assert fitted.audio[0].start_s == 0.0 and fitted.audio[0].end_s == 2.0
    assert [(i.description, i.end_s) for i in fitted.background] == [("rain", 4.0), ("wind", 1.5)]
    assert all(i.gain_db is not None for i in (*fitted.audio, *fitted.background))


def test_max_concurrent_counts_touching_events_as_one_after_another() -> None:
    assert max_concurrent([(0, 1), (1, 2), (2, 3)]) == (1, 0)
    assert max_concurrent([(0, 2), (1, 3), (1.5, 2.5)]) == (3, 1.5)


def test_scene_events_are_on_the_video_timeline_with_the_foreground_level() -> None:
    scene, _ = scene_script(Caption())
    design = SoundDesign(audio=[item("knock", 1.0, 1.5, label="door knock", gain_db=-6.0)],
                         background=[item("rain", None, None, label="rain")], volume=0.5)
    fg, bg = scene_events(scene, design, RULES)
    assert (fg.start_s, fg.end_s, fg.label, fg.layer) == (7.0, 7.5, "door knock", "foreground")
    assert fg.gain_db == pytest.approx(-6.0 + 20 * np.log10(0.5), abs=1e-3)
    assert (bg.start_s, bg.end_s, bg.gain_db) == (6.0, 10.0, 0.0)


def test_a_bed_continuing_across_cuts_is_one_event() -> None:
    scenes = [Scene(index=i, start_s=2.0 * i, end_s=2.0 * i + 2, shot_indices=[i], caption=Caption()) for i in range(3)]

    def bed(i: int, label: str) -> SoundEvent:
        return SoundEvent(scene_index=i, index=1, layer="background", label=label, prompt=label,
                          start_s=2.0 * i, end_s=2.0 * i + 2, scenes=(i,))

    hit = SoundEvent(scene_index=1, index=0, layer="foreground", label="rain", prompt="rain", start_s=2.0, end_s=4.0)
    joined = join_continuing([bed(0, "rain"), hit, bed(1, "rain"), bed(2, "wind")], scenes)
    beds = [e for e in joined if e.layer == "background"]
    assert [(e.label, e.start_s, e.end_s, e.scenes) for e in beds] == [("rain", 0.0, 4.0, (0, 1)),
                                                                     ("wind", 4.0, 6.0, (2,))]
    assert hit in joined  # a foreground event of the same label is not a continuation


# --------------------------------------------------------------------------- offline placement


def test_motion_timing_finds_onsets_and_sustained_segments() -> None:
    t = np.arange(0, 4, 0.04)
    motion = np.where((t > 1.0) & (t < 2.0), 5.0, 0.1) + np.where(np.abs(t - 3.0) < 0.05, 5.0, 0.0)
    onsets, active = motion_timing(t, motion, 4.0)
    assert onsets[0] == pytest.approx(1.04, abs=0.05) and onsets[1] == pytest.approx(2.96, abs=0.05)
    assert len(active) == 1 and active[0][0] == pytest.approx(1.04, abs=0.05)
    assert active[0][1] == pytest.approx(2.0, abs=0.05)  # the 3 s blip is an onset, not a segment


def test_place_items_uses_cues_motion_and_sidecar_events() -> None:
    timing = SceneTiming(
        duration=6.0, onsets=(1.0, 4.0), active=((1.0, 2.5),),
        cues=(TimedCue(3.0, 5.0, "a dog barks at the gate"),),
        events=(TimedCue(0.5, 0.9, "door slam", "foreground", -3.0), TimedCue(0.0, 6.0, "rain", "background")),
    )
    design = SoundDesign(audio=[item("dog barking", None, None), item("footsteps", None, None),
                                item("planned", 0.2, 0.8)],
                         background=[item("wind", None, None), item("rain", None, None)])
    placed = place_items(design, timing)
    spans = {i.description: (i.start_s, i.end_s) for i in (*placed.audio, *placed.background)}
    assert spans["dog barking"] == (3.0, 5.0)  # the caption cue that names it
    assert spans["footsteps"] == (1.0, 2.5)  # first onset to the end of sustained motion
    assert spans["planned"] == (0.2, 0.8)  # a model's times stay
    assert spans["wind"] == (0.0, 6.0) and spans["door slam"] == (0.5, 0.9)
    assert [i.description for i in placed.background] == ["wind", "rain"]  # not added twice
    assert next(i for i in placed.audio if i.description == "door slam").gain_db == -3.0


def test_sidecar_events_format(tmp_path: Path) -> None:
    path = tmp_path / "clip.captions.json"
    path.write_text(json.dumps({"segments": [], "events": [
        {"start": 1.0, "end": 1.4, "sound": "door slam", "gain_db": -3},
        {"start": 0.0, "end": 5.0, "sound": "rain", "layer": "background"}]}))
    side = load_sidecar(path)
    assert [(e.sound, e.layer, e.gain_db) for e in side.events] == [("door slam", "foreground", -3.0),
                                                                   ("rain", "background", None)]
    path.write_text(json.dumps({"segments": [], "events": [{"start": 2.0, "end": 1.0, "sound": "x"}]}))
    with pytest.raises(Exception, match=r"clip.captions.json: events.0: .*not after start"):
        load_sidecar(path)


# --------------------------------------------------------------------------- the design loop


def test_llm_designer_hears_times_outside_the_scene(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that answers nonsense times: the round is REVISE with the reason, the reason reaches
    the Designer's next request, and the final design obeys the rules."""
    monkeypatch.setenv("LVAS_TEST_KEY", "k")

    def responder(body: dict) -> object:
        role = role_of(body)
        if role == "design":
            revising = any("<<DATA review_feedback>>" in t for t in user_texts(body))
            slam = {"description": "door slam", "start_s": 1.0, "end_s": 1.5 if revising else 9.0, "gain_db": -3}
            return as_reply({"reasoning": "r", "audio": [slam],
                             "background": [{"description": "rain", "start_s": 0, "end_s": 4}], "volume": 0.8})
        if role == "map":
            return as_reply({"mapping": [{"description": "door slam", "label": "door slam"},
                                         {"description": "rain", "label": "rain"}]})
        return as_reply({"verdict": "final", "feedback": ""})

    scene, script = scene_script(Caption(entity="a door", action="slams shut"))

    def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:
        return {t: ["door slam", "rain"] for t in texts}

    with FakeLLMServer(responder=responder) as srv:
        settings = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY")
        result = design_refine(scene, script, LLMAgents(settings), retrieve, max_rounds=3, settings=settings,
                               known={"door slam", "rain"})
    first, second = result.rounds
    assert first.verdict == Verdict.REVISE and "'door slam': 1-9 s is outside the scene (0-4 s)" in first.feedback
    revision = [b for b in srv.requests if role_of(b) == "design"][1]
    assert any("outside the scene" in t for t in user_texts(revision))
    assert second.verdict == Verdict.FINAL
    (slam,) = result.final.audio
    assert (slam.start_s, slam.end_s, slam.gain_db, slam.label) == (1.0, 1.5, -3.0, "door slam")


def _data_block(texts: list[str], name: str) -> object:
    """The JSON value of the named DATA block in a request's user text (None when absent)."""
    head = f"<<DATA {name}>>\n"
    for text in texts:
        if head in text:
            return json.loads(text.split(head, 1)[1].split("\n<<END DATA>>", 1)[0])
    return None


def test_llm_designer_is_shown_the_measured_motion_of_its_scene(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model Designer gets the scene's measured onsets and sustained-motion segments (seconds
    from the scene start, rounded, capped) in every round's request, as the offline path uses them."""
    monkeypatch.setenv("LVAS_TEST_KEY", "k")

    def responder(body: dict) -> object:
        role = role_of(body)
        if role == "design":
            return as_reply({"reasoning": "r", "audio": [{"description": "door slam", "start_s": 1.04,
                                                          "end_s": 1.5}],
                             "background": [{"description": "rain", "start_s": 0, "end_s": 4}], "volume": 0.8})
        if role == "map":
            return as_reply({"mapping": [{"description": "door slam", "label": "door slam"},
                                         {"description": "rain", "label": "rain"}]})
        revising = sum(role_of(b) == "review" for b in srv.requests) == 1
        return as_reply({"verdict": "revise" if revising else "final", "feedback": "louder"})

    scene, script = scene_script(Caption(entity="a door", action="slams shut"))
    timing = SceneTiming(duration=4.0, onsets=(2.9634, 1.0412), active=((1.0412, 2.00049),))
    many = SceneTiming(duration=4.0, onsets=tuple(k * 0.0371 for k in range(100)))

    def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:
        return {t: ["door slam", "rain"] for t in texts}

    with FakeLLMServer(responder=responder) as srv:
        settings = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY")
        result = design_refine(scene, script, LLMAgents(settings), retrieve, max_rounds=3, settings=settings,
                               timing=timing, known={"door slam", "rain"})
        designs = [b for b in srv.requests if role_of(b) == "design"]
        assert len(designs) == len(result.rounds) == 2
        for body in designs:  # the first request and the revision alike
            assert _data_block(user_texts(body), "measured_motion") == {
                "onsets_s": [1.04, 2.96], "sustained_motion_s": [[1.04, 2.0]]}
        LLMAgents(settings).design(scene, script, timing=many)
        capped = _data_block(user_texts(srv.requests[-1]), "measured_motion")
        LLMAgents(settings).design(scene, script)
        assert _data_block(user_texts(srv.requests[-1]), "measured_motion") is None
    assert capped == {"onsets_s": [round(k * 0.0371, 2) for k in np.linspace(0, 99, 20).round().astype(int)]}
    assert capped["onsets_s"][0] == 0.0 and capped["onsets_s"][-1] == round(99 * 0.0371, 2)


def test_offline_designer_times_its_foreground_on_the_measured_motion() -> None:
    scene, script = scene_script(Caption(entity="a dog", action="runs and barks"))
    timing = SceneTiming(duration=4.0, onsets=(1.2, 3.0), active=((1.2, 2.6),),
                         events=(TimedCue(0.5, 0.9, "door slam", "foreground", -3.0),))
    alone = OfflineAgents().design(scene, script)
    timed = OfflineAgents().design(scene, script, timing=timing)
    assert alone.audio and all(i.start_s is None for i in alone.audio)
    assert [(i.start_s, i.end_s) for i in timed.audio] == [(1.2, 2.6)] * len(alone.audio)
    assert all((i.start_s, i.end_s) == (0.0, 4.0) for i in timed.background)
    assert "door slam" not in {i.description for i in timed.audio}  # a sidecar event joins in the loop

    def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:
        return {t: [] for t in texts}

    result = design_refine(scene, script, OfflineAgents(), retrieve, max_rounds=2, timing=timing)
    spans = [(i.description, i.start_s, i.end_s) for i in result.final.audio]
    assert spans == [(i.description, 1.2, 2.6) for i in alone.audio] + [("door slam", 0.5, 0.9)]


@pytest.mark.parametrize("allow", [False, True], ids=["default", "allowed"])
def test_no_speech_or_music_label_reaches_a_render_call(allow: bool) -> None:
    settings = AgentSettings(allow_speech=allow, allow_music=allow)
    known, excluded = label_sets(settings)
    from lvas.kb.labels import labels_by_name

    voice = sorted(k for k, v in labels_by_name().items() if v.family == "voice")
    music = sorted(k for k, v in labels_by_name().items() if v.family == "instrument")
    assert voice and music and (set(voice + music) <= excluded) is not allow

    def retrieve(texts: list[str], layer: str) -> dict[str, list[str]]:  # speech and music ranked first
        return {t: [voice[0], music[0], "rain"] for t in texts}

    scene, script = scene_script(Caption(action="a man is talking and playing the guitar in the rain"))
    result = design_refine(scene, script, OfflineAgents(settings), retrieve, max_rounds=3, settings=settings,
                           known=known, excluded=excluded)
    specs = event_specs(VideoRef(source="v", path="v.mp4", video_id="vid"),
                        scene_events(scene, result.final, settings, excluded), SynthSettings())
    rendered = {label for s in specs for label in s.labels}
    assert rendered  # something is rendered
    if not allow:
        assert not rendered & set(voice + music)
        assert all(not set(c) & excluded for r in result.rounds for c in r.candidates.values())
    # a stored design that carries them (an earlier run's) is cleaned at render time too
    stored = SoundDesign(audio=[item("talk", 0, 1, label=voice[0]), item("strum", 1, 2, label=music[0])],
                         background=[item("rain", None, None, label="rain")])
    labels = {e.label for e in scene_events(scene, stored, settings, excluded)}
    assert (voice[0] in labels) is allow and (music[0] in labels) is allow


# --------------------------------------------------------------------------- render and mix


def _event(scene: int, index: int, layer: str, label: str, start: float, end: float, gain: float = 0.0) -> SoundEvent:
    return SoundEvent(scene_index=scene, index=index, layer=layer, label=label, prompt=label, start_s=start,
                      end_s=end, gain_db=gain, scenes=(scene,))


def test_each_event_starts_where_it_is_planned_in_the_mix(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    video = VideoRef(source="v", path=str(tmp_path / "v.mp4"), video_id="vid")
    planned = [("door slam", 0.7), ("cap gun", 2.3), ("hammering", 3.9), ("firecrackers", 5.25)]
    events = [_event(0, k, "foreground", label, start, start + 0.6, gain=-2.0 * k)
              for k, (label, start) in enumerate(planned)]
    synth = SynthSettings(sample_rate=16000, channels=1)
    specs = event_specs(video, events, synth)
    files = render_events(specs, layout, synth, "test")
    rendered = [RenderedLayer(spec=s, wav_path=f, sample_rate=16000, backend="procedural")
                for s, f in zip(specs, files.values(), strict=True)]
    stems = {k: tmp_path / f"{k}.wav" for k in ("foreground", "background")}
    # sparse impulses at -23 LUFS peak above the ceiling; a quieter master leaves the limiter out
    loud = mix_events(rendered, [], 7.0, MixSettings(), 16000, 1, tmp_path / "loud.wav")
    assert loud.limited and 0 < loud.limited_fraction < 0.05  # it engaged, on a few peaks only
    report = mix_events(rendered, [], 7.0, MixSettings(target_lufs=-36.0), 16000, 1, tmp_path / "mix.wav", stems)
    audio, sr = sf.read(tmp_path / "mix.wav")
    assert len(audio) == 7 * 16000 and report.events == 4
    env = np.sqrt(np.convolve(audio**2, np.ones(80) / 80, mode="same"))  # 5 ms RMS
    threshold = 0.1 * env.max()
    for label, start in planned:
        a = round((start - 0.3) * sr)
        onset = (a + int(np.argmax(env[a:] > threshold))) / sr
        assert abs(onset - start) <= 0.05, f"{label}: heard at {onset:.3f} s, planned {start} s"
    # the stems are full length and sum to the mix before its master gain
    fg, _ = sf.read(stems["foreground"])
    bg, _ = sf.read(stems["background"])
    assert len(fg) == len(bg) == len(audio) and not bg.any()
    assert not report.limited
    np.testing.assert_allclose((fg + bg) * db_to_gain(report.master_gain_db), audio, atol=1e-4)


def test_changing_one_event_renders_that_event_only(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    video = VideoRef(source="v", path=str(tmp_path / "v.mp4"), video_id="vid")
    synth = SynthSettings(sample_rate=16000, channels=1)
    events = [_event(0, 0, "foreground", "door knock", 0.5, 1.0), _event(0, 1, "background", "rain", 0.0, 3.0)]
    first = render_events(event_specs(video, events, synth), layout, synth, "v1")
    stamps = {p: Path(p).stat().st_mtime_ns for p in first.values()}
    moved = [events[0].model_copy(update={"start_s": 1.5, "end_s": 2.0}), events[1]]
    second = render_events(event_specs(video, moved, synth), layout, synth, "v1")
    new = set(second.values()) - set(first.values())
    assert len(new) == 1 and second["scene0000_e01"] == first["scene0000_e01"]
    assert Path(first["scene0000_e01"]).stat().st_mtime_ns == stamps[first["scene0000_e01"]]
    # a gain change is a mix matter: the render's key does not move
    louder = [events[0].model_copy(update={"gain_db": -6.0}), events[1]]
    spec = event_specs(video, louder, synth)[0]
    assert event_key(spec, synth, "v1") == event_key(event_specs(video, events, synth)[0], synth, "v1")


# --------------------------------------------------------------------------- the dub pipeline


def test_sidecar_events_reach_the_cue_sheet_and_bad_ones_are_named(tmp_path: Path) -> None:
    from lvas.errors import InputError
    from lvas.pipeline import dub_video_direct
    from lvas.settings import Settings
    from tests.clips import colour_cuts, make_clip

    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = tmp_path / "clip.captions.json"
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 3, "caption": "a quiet street"}],
                                "events": [{"start": 0.5, "end": 0.9, "sound": "door slam", "gain_db": -2}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    marker = dub_video_direct(Layout(tmp_path / "out"), video, s)
    from lvas.storage.atomic import read_parquet

    cue = read_parquet(marker["outputs"]["events"])
    slam = [r for r in cue if r["start_s"] == 0.5]
    assert len(slam) == 1 and slam[0]["end_s"] == 0.9 and slam[0]["layer"] == "foreground"
    assert slam[0]["label"] == "door slam"
    assert all(Path(marker["outputs"]["events"]).parent.joinpath("events", r["file"]).exists() for r in cue)

    side.write_text(json.dumps({"segments": [], "events": [{"start": 7.0, "end": 8.0, "sound": "door slam"}]}))
    with pytest.raises(InputError, match=r"event 0 \('door slam'\) starts at 7 s, at or after the video's end \(3 s\)"):
        dub_video_direct(Layout(tmp_path / "out2"), video, s)


def test_the_dub_crossfades_a_scene_cut_over_the_dissolve_it_is_on(tmp_path: Path, monkeypatch) -> None:
    from lvas.audio import mix
    from lvas.pipeline import dub_video_direct
    from lvas.settings import Settings
    from lvas.storyboard import load_storyboard
    from tests import storyboard_clips as sc
    from tests.clips import make_clip

    clip = make_clip(tmp_path / "clip.mp4", sc.dissolve(3.0, 1.0), seconds=6.0)
    side = tmp_path / "clip.captions.json"
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 3, "caption": "rain on a quiet street"},
                                             {"start": 3, "end": 6, "caption": "wind over a stormy harbour"}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    asked = []
    real = mix.mix_events

    def spy(events, cuts_s, *args, **kwargs):  # what the mix stage asks of the mixer
        asked.append((list(cuts_s), args[6] if len(args) > 6 else kwargs.get("crossfades_s")))
        return real(events, cuts_s, *args, **kwargs)

    monkeypatch.setattr(mix, "mix_events", spy)
    layout = Layout(tmp_path / "out")
    dub_video_direct(layout, video, Settings(synth=SynthSettings(sample_rate=16000, channels=1)))
    (dissolve,) = load_storyboard(layout, "clip").boundaries
    assert dissolve.kind == "dissolve"
    (cuts, crossfades), = asked
    assert cuts == [dissolve.at_s] and crossfades == [pytest.approx(dissolve.to_s - dissolve.from_s)]
    assert 0.8 <= crossfades[0] <= 1.2


@pytest.mark.parametrize("seconds", [0.1, 0.15])
def test_the_shortest_events_render_in_every_family(seconds: float) -> None:
    from lvas.backends.procedural import FAMILIES, render_family

    n = round(seconds * 16000)
    for family in FAMILIES:
        audio = render_family(family, n, 16000, seed=5, channels=1, starts_at_onset=True)
        assert audio.shape == (n, 1) and np.isfinite(audio).all(), family


def _beds(tmp_path: Path, spans: list[tuple[float, float, float]], sr: int) -> list[RenderedLayer]:
    """One background event per (start, end, tone Hz), each scene its own, rendered as a sine."""
    video = VideoRef(source="v", path=str(tmp_path / "v.mp4"), video_id="vid")
    specs = event_specs(video, [_event(k, 0, "background", f"bed{k}", a, b) for k, (a, b, _) in enumerate(spans)],
                        SynthSettings(sample_rate=sr, channels=1))
    t = np.arange(6 * sr) / sr
    out = []
    for spec, (_, _, hz) in zip(specs, spans, strict=True):
        path = tmp_path / f"{hz:.0f}.wav"
        sf.write(path, 0.1 * np.sin(2 * np.pi * hz * t), sr)
        out.append(RenderedLayer(spec=spec, wav_path=str(path), sample_rate=sr, backend="procedural"))
    return out


def _tone(bed: np.ndarray, hz: float, at_s: float, sr: int) -> float:
    """Amplitude of ``hz`` in the 50 ms from ``at_s``."""
    part = bed[round(at_s * sr):round((at_s + 0.05) * sr)]
    return float(np.abs(part @ np.exp(-2j * np.pi * hz * np.arange(len(part)) / sr)) * 2 / len(part))


def _background(tmp_path: Path, rendered: list[RenderedLayer], cuts: list[float], sr: int,
                crossfades: list[float] | None, name: str) -> np.ndarray:
    stems = {k: tmp_path / f"{name}_{k}.wav" for k in ("foreground", "background")}
    mix_events(rendered, cuts, 6.0, MixSettings(), sr, 1, tmp_path / f"{name}.wav", stems, crossfades)
    return sf.read(stems["background"])[0]


def test_an_ambience_crosses_a_dissolve_over_its_span(tmp_path: Path) -> None:
    """Two beds meeting at a scene cut at 3 s: over the setting's 0.15 s, or over a 1 s dissolve's span."""
    rendered = _beds(tmp_path, [(0.0, 3.0, 440.0), (3.0, 6.0, 1000.0)], 16000)
    beds = {name: _background(tmp_path, rendered, [3.0], 16000, crossfades, name)
            for name, crossfades in (("set", None), ("dissolve", [1.0]))}
    tone = functools.partial(_tone, sr=16000)
    # 0.3 s either side of the cut: only one bed over 0.15 s; both, each on its way out or in, over 1 s
    assert tone(beds["set"], 440.0, 3.3) < 1e-3 and tone(beds["set"], 1000.0, 2.65) < 1e-3
    assert tone(beds["dissolve"], 440.0, 3.3) > 0.01 and tone(beds["dissolve"], 1000.0, 2.65) > 0.01
    # outside the dissolve's span each bed is alone, at the same level as with the short crossfade
    assert tone(beds["dissolve"], 1000.0, 2.4) < 1e-3 and tone(beds["dissolve"], 440.0, 3.55) < 1e-3
    assert tone(beds["dissolve"], 440.0, 1.0) == pytest.approx(tone(beds["set"], 440.0, 1.0), rel=1e-3)
    with pytest.raises(ValueError, match="2 crossfade lengths for 1 cuts"):
        mix_events(rendered, [3.0], 6.0, MixSettings(), 16000, 1, tmp_path / "bad.wav", None, [1.0, 1.0])


def test_a_cut_between_frames_of_29_97_fps_is_crossfaded_at_44_1_khz(tmp_path: Path) -> None:
    """Events are kept to 0.1 ms, which at 44.1 kHz is up to two samples off the cut's frame time."""
    cut = 67 * 1001 / 30000  # frame 67: 2.2355667 s; the events meet at 2.2356
    rendered = _beds(tmp_path, [(0.0, round(cut, 4), 440.0), (round(cut, 4), 6.0, 1000.0)], 44100)
    bed = _background(tmp_path, rendered, [cut], 44100, [1.0], "ntsc")
    assert _tone(bed, 440.0, cut + 0.3, 44100) > 0.01 and _tone(bed, 1000.0, cut - 0.35, 44100) > 0.01
    # and no dip at the cut: the two beds' power adds up to one bed's there
    level = np.sqrt(np.mean(bed[round((cut - 0.01) * 44100):round((cut + 0.01) * 44100)] ** 2))
    assert level == pytest.approx(np.sqrt(np.mean(bed[44100:2 * 44100] ** 2)), rel=0.2)


def test_both_beds_at_a_cut_fade_alike_where_one_is_short(tmp_path: Path) -> None:
    """A 1 s dissolve at 3 s into a 0.4 s scene: the crossfade shrinks to what the short bed allows,
    for the long bed too (it does not reach past the short one into the next scene)."""
    rendered = _beds(tmp_path, [(0.0, 3.0, 440.0), (3.0, 3.4, 1000.0), (3.4, 6.0, 700.0)], 16000)
    bed = _background(tmp_path, rendered, [3.0, 3.4], 16000, [1.0, 0.15], "short")
    assert _tone(bed, 440.0, 2.85, 16000) > 0.01  # within the shortened crossfade
    assert _tone(bed, 440.0, 3.25, 16000) < 1e-3 and _tone(bed, 440.0, 3.45, 16000) < 1e-3
    assert _tone(bed, 1000.0, 2.7, 16000) < 1e-3
