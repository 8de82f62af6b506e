"""lvas eval: each measure on constructed signals with a known answer, the av-benchmark contract,
the evaluation manifest, and the baseline and ablation switches."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

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
        i = int(round(t * SR))
        x[i:i + 200] = 0.8 * np.hanning(200)
    return x


def motion_track(fps: int = 25, seconds: float = 10.0) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, seconds, 1 / fps)
    m = np.zeros_like(t)
    for x in TIMES:
        m[int(round(x * fps))] = 0.5
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
