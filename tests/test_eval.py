"""lvas eval: each measure on constructed signals with a known answer, the av-benchmark contract,
the evaluation manifest, and the baseline and ablation switches."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lvas.eval import signals
from lvas.eval.avbench import (
    METRICS,
    AvBenchConfig,
    AvBenchUnavailable,
    Item,
    Layout,
    commands,
    parse_metrics,
    run,
    write_layout,
)

SR = 16000
TIMES = np.array([0.7, 1.9, 3.1, 4.0, 5.5, 6.2, 7.8, 9.0])


def clicks(shift_s: float = 0.0, seconds: float = 10.0) -> np.ndarray:
    x = np.zeros(int(SR * seconds))
    for t in TIMES + shift_s:
        i = round(t * SR)
        x[i:i + 200] = 0.8 * np.hanning(200)
    return x


def motion_track(fps: int = 25, seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, seconds, 1 / fps)
    m = np.zeros_like(t)
    for x in TIMES:
        m[round(x * fps)] = 0.5
    return t, m


# --------------------------------------------------------------------------- measures


@pytest.mark.parametrize("shift", [0.0, 0.2, -0.2])
def test_an_impulse_train_shifted_gives_its_lag(shift: float) -> None:
    t, m = motion_track()
    got = signals.video_scores(t, m, clicks(shift), SR)
    assert got.details["lag_s"] == pytest.approx(shift, abs=0.02)
    assert got.details["lag_strength"] > 0.3


def test_in_sync_scores_higher_than_shifted() -> None:
    t, m = motion_track()
    assert signals.video_scores(t, m, clicks(0.0), SR)["sync"] > signals.video_scores(t, m, clicks(0.2), SR)["sync"]


def test_a_reference_equal_to_the_output_gives_onset_acc_and_ap_1() -> None:
    times, strength = signals.pick_onsets(signals.onset_envelope(clicks(), SR))
    assert len(times) == len(TIMES)
    match = signals.onset_match(times, strength, times)
    assert (match.acc, match.ap) == (1.0, 1.0)


def test_onsets_200_ms_off_are_misses_and_a_missing_onset_fails_acc() -> None:
    ref, _ = signals.pick_onsets(signals.onset_envelope(clicks(), SR))
    late, s = signals.pick_onsets(signals.onset_envelope(clicks(0.2), SR))
    assert signals.onset_match(late, s, ref).ap == 0.0
    fewer = signals.onset_match(ref[:-1], np.ones(len(ref) - 1), ref)
    assert fewer.acc == 0.0
    assert fewer.ap == pytest.approx((len(ref) - 1) / len(ref))


def test_loudness_of_a_calibrated_tone() -> None:
    # a 997 Hz sine peaking at -20 dBFS in one channel reads -23.0 LUFS (BS.1770: -3.01 dB for a sine)
    tone = 0.1 * np.sin(2 * np.pi * 997 * np.arange(SR * 5) / SR)
    lufs, tp = signals.level(tone, SR)
    assert lufs == pytest.approx(-23.0, abs=0.15)
    assert tp == pytest.approx(-20.0, abs=0.1)


def test_sound_share_counts_the_silent_part() -> None:
    x = np.concatenate([0.1 * np.ones(SR * 3), np.zeros(SR)])
    assert signals.sound_share(x, SR) == pytest.approx(0.75, abs=0.03)


# --------------------------------------------------------------------------- av-benchmark


RECORDED = {"FD-VGG": 1.2345, "FD-PANN": 7.5, "FD-PASST": 101.25, "KL-PANNS-softmax": 1.61,
            "KL-PASST-softmax": 1.47, "ISC-PANNS-mean": 9.8, "ISC-PANNS-std": 0.4, "ISC-PASST-mean": 11.2,
            "ISC-PASST-std": 0.5, "IB-Score": 28.7, "DeSync": 0.48}


def test_parsing_a_recorded_output(tmp_path: Path) -> None:
    (tmp_path / "output_metrics.json").write_text(json.dumps(RECORDED, indent=4))
    got = parse_metrics(tmp_path / "output_metrics.json")
    assert got == {METRICS[k]: v for k, v in RECORDED.items() if k in METRICS}
    (tmp_path / "bad.json").write_text('{"FD-VGG": "NaN-ish"}')
    with pytest.raises(AvBenchUnavailable, match="none of"):
        parse_metrics(tmp_path / "bad.json")
    with pytest.raises(AvBenchUnavailable, match="wrote no"):
        parse_metrics(tmp_path / "missing.json")


def _items(tmp_path: Path) -> tuple[list[Item], dict[str, dict[str, Path]]]:
    for name in ("a.mp4", "b.mp4", "a.wav", "b.wav", "sa.wav", "sb.wav"):
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(b"x")
    src = tmp_path / "src"
    items = [Item("a", src / "a.mp4", src / "a.wav"), Item("b", src / "b.mp4", src / "b.wav")]
    return items, {"full": {"a": src / "sa.wav", "b": src / "sb.wav"}, "base": {"a": src / "sa.wav"}}


def test_layout_puts_audio_and_video_of_an_item_under_one_stem(tmp_path: Path) -> None:
    items, audio = _items(tmp_path)
    lay = Layout(tmp_path / "avb")
    write_layout(lay, items, audio)
    assert sorted(p.name for p in lay.videos.iterdir()) == ["a.mp4", "b.mp4"]
    assert sorted(p.name for p in lay.gt_audio.iterdir()) == ["a.wav", "b.wav"]
    assert sorted(p.name for p in lay.audio("full").iterdir()) == ["a.wav", "b.wav"]
    assert [p.name for p in lay.audio("base").iterdir()] == ["a.wav"]
    cmds = commands(lay, AvBenchConfig(tmp_path), ["full", "base"], 9.2)
    assert cmds[0][1] == "extract_video.py" and cmds[0][cmds[0].index("--audio_length") + 1] == "10"
    assert [c[1] for c in cmds[1:]] == ["evaluate.py", "evaluate.py"]
    assert cmds[2][cmds[2].index("--pred_audio") + 1] == str(lay.audio("base").resolve())


FAKE = """#!/bin/sh
# a stand-in for av-benchmark's interpreter: records its call, writes a recorded output
echo "$PWD $TORCH_HOME $HF_HUB_OFFLINE $*" >> "$FAKE_LOG"
if [ "$1" = evaluate.py ]; then
  while [ $# -gt 0 ]; do [ "$1" = --pred_cache ] && cache="$2"; shift; done
  mkdir -p "$cache" && echo '%s' > "$cache/output_metrics.json"
fi
"""


def test_invocation_with_a_fake_executable_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    items, audio = _items(tmp_path)
    repo = tmp_path / "av-benchmark"
    (repo / "weights").mkdir(parents=True)
    config = AvBenchConfig(repo, python="fake-avbench-python")
    problems = config.problems()
    assert any("not installed" in p for p in problems) and any("not on PATH" in p for p in problems)
    assert any("synchformer_state_dict.pth is missing" in p for p in problems)
    with pytest.raises(AvBenchUnavailable, match="not installed"):
        run(Layout(tmp_path / "avb"), config, ["full"], 10.0)

    for f in ("evaluate.py", "extract_video.py", "weights/synchformer_state_dict.pth"):
        (repo / f).write_text("")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "fake-avbench-python"
    exe.write_text(FAKE % json.dumps(RECORDED))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    lay = Layout(tmp_path / "avb")
    write_layout(lay, items, audio)
    got = run(lay, config, ["full", "base"], 10.0)
    assert got["full"]["desync"] == RECORDED["DeSync"] and got["base"]["fd_passt"] == RECORDED["FD-PASST"]
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert [c.split()[3] for c in calls] == ["extract_video.py", "evaluate.py", "evaluate.py"]
    assert all(c.startswith(f"{repo} {repo / 'weights' / 'torch'} 1 ") for c in calls)


# --------------------------------------------------------------------------- manifest


def test_manifest_items_bad_items_and_sidecars(tmp_path: Path) -> None:
    from lvas.agents.captions import load_sidecar
    from lvas.eval.dataset import read_manifest, write_sidecars

    (tmp_path / "v").mkdir()
    for n in ("a.mp4", "b.mp4", "a.wav"):
        (tmp_path / "v" / n).write_bytes(b"x")
    rows = [{"video": "v/a.mp4", "audio": "v/a.wav", "global": "a harbour at night",
             "annotations": [{"start": 0, "end": 4.5, "caption": "waves slap the pier"}]},
            {"video": "v/b.mp4", "audio": "v/missing.wav"},
            {"video": "v/c.mp4"},
            {"video": "v/a.mp4", "annotations": [{"start": 3, "end": 1, "caption": "backwards"}]}]
    (tmp_path / "m.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    items, problems = read_manifest(tmp_path / "m.jsonl")
    assert [i.stem for i in items] == ["a", "b"] and items[0].audio == str(tmp_path / "v" / "a.wav")
    assert items[1].audio is None
    assert any("item 2: reference audio" in p and "no such file" in p for p in problems)
    assert any("item 3: video" in p for p in problems)
    assert any("item 4: annotations.0" in p for p in problems)
    dub = write_sidecars(items, tmp_path / "prep")
    side = load_sidecar(tmp_path / "prep" / "a.captions.json")
    assert side.global_description == "a harbour at night"
    assert side.caption_for(0, 4).summary == "waves slap the pier"
    lines = dub.read_text().splitlines()
    assert lines[0] == "path,captions" and lines[2].endswith(",")  # b has no annotations: no sidecar


# --------------------------------------------------------------------------- baselines and ablations


@pytest.fixture(scope="module")
def storyboarded(tmp_path_factory: pytest.TempPathFactory):
    """A 12 s clip with cuts at 3, 6 and 9 s, storyboarded once; each test copies the output folder."""
    from lvas.models import VideoRef
    from lvas.pipeline import storyboard_stage
    from lvas.settings import Settings
    from lvas.storage.layout import Layout
    from tests.clips import colour_cuts, make_clip

    root = tmp_path_factory.mktemp("ablate")
    clip = make_clip(root / "clip.mp4", colour_cuts([3.0, 6.0, 9.0]), seconds=12.0)
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip")
    storyboard_stage(Layout(root / "out"), video, Settings())
    return root, video


def _script_and_designs(storyboarded, tmp_path: Path, agents: dict, retrieve=None):
    import shutil

    from lvas.agents.artifacts import load_designs, load_script
    from lvas.pipeline import design_batch, script_stage
    from lvas.settings import AgentSettings, Settings
    from lvas.storage.layout import Layout

    root, video = storyboarded
    shutil.copytree(root / "out", tmp_path / "out")
    layout = Layout(tmp_path / "out")
    s = Settings(agents=AgentSettings(**agents))
    script_stage(layout, video, s)
    script = load_script(layout.script(video.video_id))

    def fake(wanted: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return {layer: {t: ["fake label"] for t in texts} for layer, texts in wanted.items()}

    out = design_batch(layout, [(video, list(range(len(script.scenes))))], s, retrieve or fake)
    assert not [v for v in out.values() if isinstance(v, Exception)]
    designs = [load_designs(layout.scene_design(video.video_id, i))[0] for i in range(len(script.scenes))]
    calls = (layout.video_dir(video.video_id) / "llm_calls_script.parquet")
    from lvas.storage.atomic import read_parquet

    return script, designs, len(read_parquet(calls)) if calls.exists() else 0


def test_fixed_window_baseline_has_windows_one_generic_prompt_and_no_agent_call(storyboarded, tmp_path: Path) -> None:
    from lvas.agents.design import GENERIC_PROMPT

    script, designs, calls = _script_and_designs(storyboarded, tmp_path, {"baseline": "fixed-window"})
    assert [(sc.start_s, sc.end_s) for sc in script.scenes] == [(0.0, 10.0), (10.0, 12.0)]
    assert calls == 0 and script.global_description == ""
    for d, sc in zip(designs, script.scenes, strict=True):
        assert [(i.description, i.start_s, i.end_s) for i in d.final.audio] == [(GENERIC_PROMPT, 0.0, sc.duration_s)]
        assert d.final.background == []


def test_no_structure_cuts_windows_but_still_captions_them(storyboarded, tmp_path: Path) -> None:
    full, _, _ = _script_and_designs(storyboarded, tmp_path / "full", {})
    flat, _, calls = _script_and_designs(storyboarded, tmp_path / "flat", {"structure": False})
    assert [(sc.start_s, sc.end_s) for sc in flat.scenes] == [(0.0, 10.0), (10.0, 12.0)]
    assert flat.decisions == [] and full.decisions  # no merge discussion
    assert [sc.start_s for sc in full.scenes][1:] != [10.0]  # the full system follows the cuts
    assert all(sc.caption.summary for sc in flat.scenes) and calls > 0


def test_no_cot_designs_without_reasoning(storyboarded, tmp_path: Path) -> None:
    _, full, _ = _script_and_designs(storyboarded, tmp_path / "full", {})
    _, flat, _ = _script_and_designs(storyboarded, tmp_path / "nocot", {"cot": False})
    assert all(d.rounds[0].design.reasoning for d in full)
    assert all(d.rounds[0].design.reasoning == "" for d in flat)
    # without the reasoning steps the measured cues do not fill what the captions leave empty
    assert sum(len(d.rounds[0].design.audio) + len(d.rounds[0].design.background) for d in flat) < \
        sum(len(d.rounds[0].design.audio) + len(d.rounds[0].design.background) for d in full)


def test_no_rag_offers_every_label_instead_of_retrieval(storyboarded, tmp_path: Path) -> None:
    from lvas.kb.labels import load_labels

    _, with_rag, _ = _script_and_designs(storyboarded, tmp_path / "rag", {})
    _, without, _ = _script_and_designs(storyboarded, tmp_path / "norag", {"rag": False})
    assert {c for d in with_rag for r in d.rounds for cands in r.candidates.values() for c in cands} == {"fake label"}
    offered = [cands for d in without for r in d.rounds for cands in r.candidates.values()]
    allowed = [x for x in load_labels() if x.family not in ("voice", "instrument")]
    events = sorted(x.label for x in allowed if x.layer == "event")
    ambience = sorted(x.label for x in allowed if x.layer == "ambience")
    assert offered and all(c in (events, ambience) for c in offered)


def test_flags_go_into_the_settings_and_change_the_keys() -> None:
    from lvas.cli import build_parser, settings_from_args
    from lvas.settings import Settings

    args = build_parser().parse_args(["dub", "x.mp4", "--out", "o", "--baseline", "fixed-window", "--no-structure",
                                      "--no-cot", "--no-rag", "--no-reflect"])
    s = settings_from_args(args)
    assert (s.agents.baseline, s.agents.structure, s.agents.cot, s.agents.rag, s.reflect.enabled) == \
        ("fixed-window", False, False, False, False)
    assert s.agents.fingerprint() != Settings().agents.fingerprint()
    assert json.loads(s.to_json())["reflect"]["enabled"] is False
    plain = settings_from_args(build_parser().parse_args(["dub", "x.mp4", "--out", "o"]))
    assert plain.agents == Settings().agents and plain.reflect.enabled


# --------------------------------------------------------------------------- lvas eval end to end


def test_lvas_eval_scores_systems_side_by_side_and_names_each_problem(
        storyboarded, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from lvas.cli import main
    from lvas.eval.evaluate import read_audio
    from lvas.pipeline import dub_video_direct
    from lvas.settings import AgentSettings, Settings, SynthSettings
    from lvas.storage.atomic import read_parquet
    from lvas.storage.layout import Layout
    from lvas.storage.runs import prepare_run

    root, video = storyboarded
    synth = SynthSettings(sample_rate=16000, channels=1)
    for name, agents in (("full", AgentSettings()), ("fixed", AgentSettings(baseline="fixed-window"))):
        shutil.copytree(root / "out", tmp_path / name)
        s = Settings(agents=agents, synth=synth)
        prepare_run(Layout(tmp_path / name), [video], s)
        dub_video_direct(Layout(tmp_path / name), video, s)
    shutil.copytree(tmp_path / "full", tmp_path / "broken")
    Layout(tmp_path / "broken").dubbed("clip").unlink()
    other = tmp_path / "other"
    prepare_run(Layout(other), [video.model_copy(update={"video_id": "another"})], Settings())
    refs = tmp_path / "refs"
    refs.mkdir()
    audio, rate = read_audio(Layout(tmp_path / "full").dubbed("clip"))
    sf.write(refs / "clip.wav", audio, rate)  # the reference is the full system's own soundtrack

    code = main(["eval", str(tmp_path / "full"), "--systems", str(tmp_path / "fixed"), str(tmp_path / "broken"),
                 str(other), "--reference", str(refs)])
    err = capsys.readouterr().err
    assert code == 0
    assert "broken: " in err and "no dubbed video" in err
    assert "other: dubbed other inputs than full" in err
    assert "model metrics (FD, KL, IS, ImageBind score, DeSync) not computed" in err
    rows = read_parquet(tmp_path / "full" / "eval" / "scores.parquet")
    by = {(r["system"], r["kind"]): r for r in rows}
    full, fixed = by[("full", "video")], by[("fixed", "video")]
    assert (full["onset_acc"], full["onset_ap"]) == (1.0, 1.0)
    assert full["duration_match"] == 1.0 and abs(full["duration_error_s"]) < 0.1
    assert fixed["events"] == 2 and full["events"] != fixed["events"]  # one generic event per window
    assert math.isfinite(full["sync"]) and math.isfinite(full["loudness_lufs"])
    assert ("broken", "video") not in by and by[("full", "system")]["videos"] == 1
    summary = json.loads((tmp_path / "full" / "eval" / "summary.json").read_text())
    assert [s["system"] for s in summary["systems"]] == ["full", "fixed"]
    assert (tmp_path / "full" / "eval" / "summary.md").read_text().startswith("| system | videos |")
    page = (tmp_path / "full" / "eval" / "index.html").read_text()
    assert "distributions.png" in page and (tmp_path / "full" / "eval" / "per_video.png").is_file()

    # the model metrics through a stand-in av-benchmark: its numbers reach the table per system
    repo = tmp_path / "av-benchmark"
    (repo / "weights").mkdir(parents=True)
    for f in ("evaluate.py", "extract_video.py", "weights/synchformer_state_dict.pth"):
        (repo / f).write_text("")
    exe = tmp_path / "bin" / "fake-avbench-python"
    exe.parent.mkdir()
    exe.write_text(FAKE % json.dumps(RECORDED))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "calls.log"))
    assert main(["eval", str(tmp_path / "full"), "--systems", str(tmp_path / "fixed"), "--reference", str(refs),
                 "--avbench", str(repo), "--avbench-python", "fake-avbench-python"]) == 0
    capsys.readouterr()
    summary = json.loads((tmp_path / "full" / "eval" / "summary.json").read_text())
    assert [s["desync"] for s in summary["systems"]] == [RECORDED["DeSync"]] * 2
    avb = tmp_path / "full" / "eval" / "avbench"
    assert (avb / "videos" / "clip.mp4").exists() and (avb / "gt_audio" / "clip.wav").exists()
    assert (avb / "systems" / "fixed" / "audio" / "clip.wav").exists()

    sf.write(refs / "clip.wav", audio[::2], rate // 2)  # a reference at the wrong rate is refused, said
    main(["eval", str(tmp_path / "full"), "--reference", str(refs)])
    assert "8000 Hz, the soundtrack is 16000 Hz" in capsys.readouterr().err
    sf.write(refs / "clip.wav", audio[: rate * 5], rate)  # so is one of the wrong length
    main(["eval", str(tmp_path / "full"), "--reference", str(refs)])
    assert "5.00 s long, its video 12.00 s" in capsys.readouterr().err


def test_no_cot_asks_the_model_designer_to_answer_without_reasoning() -> None:
    from lvas.agents.llm_agents import LLMAgents
    from lvas.agents.schemas import DesignAnswer
    from lvas.models import Caption, Scene, Script
    from lvas.settings import AgentSettings

    class Recording:
        def __init__(self) -> None:
            self.calls: list = []
            self.systems: list[str] = []

        def complete(self, role, model, messages, schema):
            self.systems.append(messages[0]["content"])
            return DesignAnswer(reasoning="", audio=[], background=[])

    scene = Scene(index=0, start_s=0.0, end_s=4.0, shot_indices=[0], caption=Caption(summary="a street"))
    script = Script(video_id="v", global_description="", shot_captions=[scene.caption], decisions=[], scenes=[scene])
    seen = {}
    for cot in (True, False):
        backend = Recording()
        LLMAgents(AgentSettings(cot=cot), backend=backend).design(scene, script)  # type: ignore[arg-type]
        seen[cot] = backend.systems[0]
    assert "Think step by step" in seen[True] and "Think step by step" not in seen[False]
    assert "without reasoning" in seen[False]


def test_lvas_dataset_writes_a_dub_manifest_that_lvas_dub_reads(tmp_path: Path) -> None:
    from lvas.cli import main
    from lvas.discover import discover

    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "a,b.mp4").write_bytes(b"x")  # a comma in the name is quoted in the CSV
    (tmp_path / "m.csv").write_text('video,global,annotations\n"v/a,b.mp4",a street,'
                                    '"[{""start"": 0, ""end"": 2, ""caption"": ""a bus passes""}]"\n')
    assert main(["dataset", str(tmp_path / "m.csv"), "--out", str(tmp_path / "prep")]) == 0
    found = discover([str(tmp_path / "prep" / "dub.csv")])
    assert [Path(v.path).name for v in found.videos] == ["a,b.mp4"]
    assert found.videos[0].captions_path == str((tmp_path / "prep" / "a,b.captions.json").resolve())
