"""The embedded scorer on constructed signals, and the scorer registry's contract with fakes."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from lvas.audio import scores as sc
from lvas.audio.scores import SceneClip, Scorer, ScorerUnavailable, ScoringError, make_scorer, score_scene

SR = 16000
FPS = 25.0
DURATION = 10.0
EVENT_TIMES = [0.9, 2.3, 3.1, 4.8, 6.2, 7.0, 8.6]  # irregular, so no shifted copy lines up again


def motion_with_peaks(times: list[float] = EVENT_TIMES) -> np.ndarray:
    m = np.full(int(DURATION * FPS), 0.002)
    for t in times:
        m[round(t * FPS)] = 0.2
    return m


def clicks(times: list[float], shift_s: float = 0.0, noise: float = 1e-3) -> np.ndarray:
    rng = np.random.default_rng(0)
    x = noise * rng.standard_normal(int(DURATION * SR))
    for t in times:
        i = round((t + shift_s) * SR)
        burst = 0.5 * rng.standard_normal(400) * np.exp(-np.arange(400) / 80)
        x[i: i + 400] += burst[: len(x) - i]
    return x


def test_clicks_in_sync_give_lag_zero_and_shifted_give_the_shift() -> None:
    motion = motion_with_peaks()
    in_sync = score_scene(motion, FPS, clicks(EVENT_TIMES), SR)
    late = score_scene(motion, FPS, clicks(EVENT_TIMES, 0.2), SR)
    assert abs(in_sync.details["lag_s"]) <= 0.04
    assert late.details["lag_s"] == pytest.approx(0.2, abs=0.04)
    early = score_scene(motion, FPS, clicks(EVENT_TIMES, -0.2), SR)
    assert early.details["lag_s"] == pytest.approx(-0.2, abs=0.04)
    assert in_sync.details["lag_strength"] > 0.5
    assert in_sync["sync"] > late["sync"]
    assert in_sync.details["sync_measured"] == 1.0


def test_still_picture_has_nothing_to_be_out_of_sync_with() -> None:
    s = score_scene(np.zeros(250), FPS, clicks(EVENT_TIMES), SR)
    assert s["sync"] == 1.0 and s.details["sync_measured"] == 0.0


def test_silence_under_motion_lowers_coverage() -> None:
    motion = np.full(int(DURATION * FPS), 0.002)
    motion[: len(motion) // 2] = 0.1 + 0.02 * np.sin(np.arange(len(motion) // 2))  # moving first half
    rng = np.random.default_rng(1)
    sound = 0.1 * rng.standard_normal(int(DURATION * SR))
    covered = score_scene(motion, FPS, sound, SR)
    gap = sound.copy()
    gap[: len(gap) // 2] = 0.0
    silent = score_scene(motion, FPS, gap, SR)
    assert silent.details["silent_motion_frac"] > 0.4
    assert covered.details["silent_motion_frac"] == 0.0
    assert silent["coverage"] < covered["coverage"] - 0.3


def test_loud_event_on_a_still_picture_lowers_coverage() -> None:
    motion = np.full(int(DURATION * FPS), 0.002)
    quiet = clicks([], noise=3e-3)
    bang = quiet.copy()
    bang[5 * SR: 5 * SR + 4000] += 0.8 * np.random.default_rng(2).standard_normal(4000)
    assert score_scene(motion, FPS, bang, SR).details["loud_still_frac"] > 0
    assert score_scene(motion, FPS, bang, SR)["coverage"] < score_scene(motion, FPS, quiet, SR)["coverage"]


def test_clipping_lowers_level_sanity() -> None:
    rng = np.random.default_rng(3)
    clean = 0.1 * rng.standard_normal(int(DURATION * SR))
    clipped = np.clip(clean * 20.0, -1.0, 1.0)
    motion = motion_with_peaks()
    good, bad = score_scene(motion, FPS, clean, SR), score_scene(motion, FPS, clipped, SR)
    assert bad.details["clip_frac"] > 0.1 and good.details["clip_frac"] == 0.0
    assert bad["level"] < 0.1 < 0.9 < good["level"]


def test_silence_scores_no_level() -> None:
    assert score_scene(motion_with_peaks(), FPS, np.zeros(SR * 10), SR)["level"] == 0.0


def test_sustained_harmonic_tone_raises_the_leak_indicator() -> None:
    t = np.arange(int(DURATION * SR)) / SR
    tone = sum(0.1 / k * np.sin(2 * np.pi * 220 * k * t) for k in range(1, 5))
    noise = 0.1 * np.random.default_rng(4).standard_normal(len(t))
    motion = motion_with_peaks()
    s_tone, s_noise = score_scene(motion, FPS, tone, SR), score_scene(motion, FPS, noise, SR)
    assert s_tone["leak"] > 0.8 and s_tone.details["harmonic_frac"] > 0.9
    assert s_noise["leak"] < 0.1
    assert s_tone.overall < s_noise.overall or s_tone["leak"] > s_noise["leak"]


def test_stereo_and_other_rates_are_accepted() -> None:
    x = clicks(EVENT_TIMES)
    x48 = np.repeat(x, 3)
    stereo = np.stack([x48, x48], axis=1)
    s = score_scene(motion_with_peaks(), FPS, stereo, 48000)
    assert abs(s.details["lag_s"]) <= 0.04
    assert set(s.values) == set(sc.SCORE_NAMES)
    assert all(0.0 <= v <= 1.0 for v in s.values.values())


def test_bad_input_is_refused_with_the_reason() -> None:
    with pytest.raises(ScoringError, match="empty"):
        score_scene(np.zeros(10), FPS, np.zeros(0), SR)
    with pytest.raises(ScoringError, match="motion"):
        score_scene(np.zeros(0), FPS, np.zeros(100), SR)
    with pytest.raises(ScoringError, match="positive"):
        score_scene(np.zeros(10), 0.0, np.zeros(100), SR)


def test_overall_counts_leak_as_lower_is_better() -> None:
    s = sc.Scores({"sync": 1.0, "coverage": 1.0, "level": 1.0, "leak": 1.0})
    assert s.overall == pytest.approx(0.75)
    row = sc.Scores({"sync": 0.5}, {"lag_s": 0.1}).as_row("before_")
    assert row == {"before_overall": 0.5, "before_scorer": "embedded", "before_sync": 0.5,
                   "before_detail_lag_s": 0.1}


# --------------------------------------------------------------------------- registry and real scorers


def test_make_scorer_by_name_and_options() -> None:
    s = make_scorer("embedded", max_lag_s=0.5)
    assert isinstance(s, Scorer) and s.max_lag_s == 0.5
    with pytest.raises(ValueError, match="unknown scorer 'nope'"):
        make_scorer("nope")
    with pytest.raises(ValueError, match="bad options"):
        make_scorer("embedded", colour="red")


def test_real_scorers_fail_clearly_without_code_or_weights(tmp_path: Path) -> None:
    with pytest.raises(ScorerUnavailable, match="imagebind"):
        make_scorer("imagebind", weights=tmp_path / "none.pth")
    with pytest.raises(ScorerUnavailable, match="cannot import 'no_such_synchformer'"):
        make_scorer("synchformer", weights=tmp_path / "x.pt", entry="no_such_synchformer:load")


@pytest.fixture
def fake_synchformer(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    calls: list[tuple] = []
    module = types.ModuleType("fake_synchformer")

    def load(weights: str, device: str):
        calls.append(("load", Path(weights).name, device))

        def predict(video: str, start: float, end: float, audio: np.ndarray, sr: int) -> float:
            calls.append(("predict", Path(video).name, start, end, sr))
            return -0.4

        return predict

    module.load = load
    monkeypatch.setitem(sys.modules, "fake_synchformer", module)
    return calls


def test_synchformer_contract_with_a_fake(tmp_path: Path, fake_synchformer: list[tuple]) -> None:
    with pytest.raises(ScorerUnavailable, match="weights file"):
        make_scorer("synchformer", weights=tmp_path / "missing.pt", entry="fake_synchformer:load")
    weights = tmp_path / "synchformer.pt"
    weights.write_bytes(b"x")
    scorer = make_scorer("synchformer", weights=weights, entry="fake_synchformer:load")
    clip = SceneClip(np.zeros(10), FPS, np.zeros(SR), SR, video_path=tmp_path / "v.mp4", start_s=3.0)
    s = scorer.score(clip)
    assert s.values == {"desync": pytest.approx(0.2)} and s.details["offset_s"] == -0.4
    assert s.overall == pytest.approx(0.8)
    assert fake_synchformer == [("load", "synchformer.pt", "cpu"), ("predict", "v.mp4", 3.0, 4.0, SR)]
    with pytest.raises(ScoringError, match="video file"):
        scorer.score(SceneClip(np.zeros(10), FPS, np.zeros(SR), SR))


@pytest.fixture
def fake_imagebind(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """ImageBind's public API as its repository lays it out, answering fixed embeddings; records
    how long the video it was given lasts."""
    import torch

    from lvas.media.probe import probe

    calls: list[tuple] = []
    data = types.ModuleType("imagebind.data")
    model_module = types.ModuleType("imagebind.models.imagebind_model")
    model_module.ModalityType = types.SimpleNamespace(VISION="vision", AUDIO="audio")

    def video(paths: list[str], device: str) -> torch.Tensor:
        calls.append(("video", probe(paths[0]).duration_s, device))
        return torch.zeros(1)

    def audio(paths: list[str], device: str) -> torch.Tensor:
        calls.append(("audio", Path(paths[0]).suffix))
        return torch.zeros(1)

    class Model(torch.nn.Module):
        def forward(self, inputs: dict) -> dict:
            return {"vision": torch.tensor([[1.0, 0.0]]), "audio": torch.tensor([[0.6, 0.8]])}  # cosine 0.6

    data.load_and_transform_video_data, data.load_and_transform_audio_data = video, audio
    model_module.imagebind_huge = lambda pretrained: Model()
    for name, module in (("imagebind", types.ModuleType("imagebind")), ("imagebind.data", data),
                         ("imagebind.models", types.ModuleType("imagebind.models")),
                         ("imagebind.models.imagebind_model", model_module)):
        monkeypatch.setitem(sys.modules, name, module)
    return calls


def test_imagebind_contract_with_a_fake_sees_the_scene_only(tmp_path: Path, fake_imagebind: list[tuple]) -> None:
    import torch

    from tests.clips import colour_cuts, make_clip

    weights = tmp_path / "imagebind_huge.pth"
    torch.save({}, weights)
    video = make_clip(tmp_path / "v.mp4", colour_cuts([1.0]), seconds=4.0)
    scorer = make_scorer("imagebind", weights=weights)
    s = scorer.score(SceneClip(np.zeros(10), FPS, np.zeros(SR), SR, video_path=video, start_s=1.0, end_s=2.2))
    assert s.values == {"av_similarity": pytest.approx(0.8)} and s.details["cosine"] == pytest.approx(0.6)
    (kind, seconds, device), audio = fake_imagebind
    assert (kind, device, audio) == ("video", "cpu", ("audio", ".wav"))
    assert seconds == pytest.approx(1.2, abs=1 / FPS)  # the scene's span, not the 4 s video
    with pytest.raises(ScoringError, match="no frame in 5-6 s"):
        scorer.score(SceneClip(np.zeros(10), FPS, np.zeros(SR), SR, video_path=video, start_s=5.0, end_s=6.0))


def test_cut_video_of_a_stream_without_timestamps_keeps_the_span(tmp_path: Path) -> None:
    """A raw H.264 stream's frames carry no time: they are timed by their count at the stream's rate."""
    import av

    from lvas.media.probe import probe

    raw = tmp_path / "v.h264"
    with av.open(str(raw), "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(75):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), k * 3, np.uint8), format="rgb24")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    with av.open(str(raw)) as check:
        assert next(check.decode(video=0)).time is None  # what the test is about
    cut = sc.cut_video(raw, 1.0, 2.0, tmp_path / "cut.mp4")
    assert probe(cut).duration_s == pytest.approx(1.0, abs=2 / 25)
