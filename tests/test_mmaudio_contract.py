"""The MMAudio backend's contract, without a GPU or the real package: a fake ``mmaudio`` module
records what ``generate`` receives (frames, text, duration, cfg), and the window plan, batching,
crossfade join and error messages are checked directly."""

from __future__ import annotations

import itertools
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from lvas.backends import mmaudio_backend as mb
from lvas.backends.synth import get_synth, join_windows, plan_windows
from lvas.errors import BackendUnavailable
from lvas.models import LayerSpec, VideoRef
from lvas.settings import SynthSettings
from tests.clips import make_clip

FAKE_SR = 16000

# --------------------------------------------------------------------------- window plan


@pytest.mark.parametrize(
    ("duration", "window", "overlap", "expected"),
    [
        pytest.param(3.0, 8.0, 1.0, [(0.0, 3.0)], id="shorter-than-window"),
        pytest.param(8.0, 8.0, 1.0, [(0.0, 8.0)], id="exactly-one-window"),
        pytest.param(15.0, 8.0, 1.0, [(0.0, 8.0), (7.0, 15.0)], id="two-exact"),
        pytest.param(10.0, 8.0, 1.0, [(0.0, 8.0), (2.0, 10.0)], id="two-spread"),
        pytest.param(22.0, 8.0, 1.0, [(0.0, 8.0), (7.0, 15.0), (14.0, 22.0)], id="three-exact"),
    ],
)
def test_plan_windows(duration: float, window: float, overlap: float, expected: list) -> None:
    assert plan_windows(duration, window, overlap) == expected


@pytest.mark.parametrize("duration", [8.01, 9.3, 15.5, 31.7, 61.0, 600.0])
def test_plan_windows_invariants(duration: float) -> None:
    plan = plan_windows(duration, 8.0, 1.0)
    assert plan[0][0] == 0.0 and plan[-1][1] == pytest.approx(duration)
    assert all(e - s == pytest.approx(8.0, abs=1e-5) for s, e in plan)  # all batchable together
    assert all(b[0] <= a[1] - 1.0 + 1e-6 for a, b in itertools.pairwise(plan))  # overlap kept
    assert all(b[0] > a[0] for a, b in itertools.pairwise(plan))
    # The fewest windows: one fewer could not keep the overlap.
    assert len(plan) - 1 < (duration - 1.0) / 7.0 + 1


def test_plan_windows_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="overlap"):
        plan_windows(10, 8, 8)
    with pytest.raises(ValueError, match="positive"):
        plan_windows(0, 8, 1)


def test_batching_groups_equal_durations() -> None:
    windows = [(0.0, 8.0), (7.0, 15.0), (14.0, 22.0), (22.0, 25.5)]
    assert mb.batch_windows(windows) == {8.0: [0, 1, 2], 3.5: [3]}


def test_join_is_equal_power_and_exact_length() -> None:
    sr = 1000
    windows = plan_windows(15.5, 8.0, 1.0)  # three windows with uneven overlaps
    n = round(8.0 * sr)
    chunks = [np.zeros((n, len(windows))) for _ in windows]
    for i, chunk in enumerate(chunks):
        chunk[:, i] = 1.0  # each window on its own channel: the output shows the gains themselves
    out = join_windows(chunks, windows, sr)
    assert out.shape == (round(15.5 * sr), len(windows))
    np.testing.assert_allclose((out.astype(np.float64) ** 2).sum(axis=1), 1.0, atol=1e-5)
    assert out[0, 0] == pytest.approx(1.0) and out[-1, -1] == pytest.approx(1.0)
    # Gains move smoothly: no step larger than a sample's worth of a 1 s quarter-sine.
    assert np.abs(np.diff(out, axis=0)).max() < 0.01


def test_join_of_independent_noise_keeps_its_level() -> None:
    sr = 8000
    windows = plan_windows(20.0, 8.0, 2.0)
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal((8 * sr, 1)) for _ in windows]
    out = join_windows(chunks, windows, sr)[:, 0]
    seg = round(0.25 * sr)
    rms = np.sqrt((out[: len(out) // seg * seg].reshape(-1, seg) ** 2).mean(axis=1))
    assert rms.min() > 0.85 and rms.max() < 1.15  # no dip or bump at the crossfades


# --------------------------------------------------------------------------- fake mmaudio


@dataclass
class FakeSeqCfg:
    duration: float = 8.0
    sampling_rate: int = FAKE_SR

    @property
    def latent_seq_len(self) -> int:
        return int(np.ceil(self.duration * self.sampling_rate / 512))

    @property
    def clip_seq_len(self) -> int:
        return int(self.duration * 8)

    @property
    def sync_seq_len(self) -> int:
        return int(self.duration * 24)


@dataclass
class FakeModelConfig:
    model_name: str
    model_path: Path
    vae_path: Path
    bigvgan_16k_path: Path | None
    mode: str
    synchformer_ckpt: Path = Path("./ext_weights/synchformer_state_dict.pth")

    @property
    def seq_cfg(self) -> FakeSeqCfg:
        return FakeSeqCfg()


@dataclass
class Recorder:
    generate: list[dict[str, Any]] = field(default_factory=list)
    seq_lengths: list[tuple[int, int, int]] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    flow: list[dict[str, Any]] = field(default_factory=list)


class FakeNet:
    def __init__(self, rec: Recorder) -> None:
        self.rec = rec

    def to(self, *args: Any) -> FakeNet:
        return self

    def eval(self) -> FakeNet:
        return self

    def load_weights(self, state: Any) -> None:
        self.rec.loaded.append("net")

    def update_seq_lengths(self, latent: int, clip: int, sync: int) -> None:
        self.rec.seq_lengths.append((latent, clip, sync))


class FakeFeatures(FakeNet):
    def __init__(self, rec: Recorder, **kwargs: Any) -> None:
        super().__init__(rec)
        rec.loaded.append(f"features:{kwargs['mode']}")


@pytest.fixture
def fake_mmaudio(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()

    def generate(
        clip_video,
        sync_video,
        text,
        *,
        negative_text=None,
        feature_utils,
        net,
        fm,
        rng,
        cfg_strength,
        **_: Any,
    ) -> torch.Tensor:
        duration = net.rec.seq_lengths[-1][1] / 8
        rec.generate.append(
            dict(
                clip=clip_video,
                sync=sync_video,
                text=text,
                negative_text=negative_text,
                cfg=cfg_strength,
                duration=duration,
                fm=fm,
                rng=rng,
            )
        )
        n = round(duration * FAKE_SR)
        t = torch.arange(n) / FAKE_SR
        tones = torch.stack([0.3 * torch.sin(2 * torch.pi * (200 + 100 * b) * t) for b in range(len(text))])
        return tones[:, None, :]

    class FlowMatching:
        def __init__(self, **kwargs: Any) -> None:
            rec.flow.append(kwargs)

    cfgs = {
        name: FakeModelConfig(
            name,
            Path(f"./weights/mmaudio_{name}.pth"),
            Path(f"./ext_weights/v1-{m}.pth"),
            Path("./ext_weights/best_netG.pt") if m == "16" else None,
            f"{m}k",
        )
        for name, m in (("small_16k", "16"), ("large_44k_v2", "44"))
    }
    modules = {
        "mmaudio": {},
        "mmaudio.eval_utils": {"generate": generate, "all_model_cfg": cfgs},
        "mmaudio.model": {},
        "mmaudio.model.networks": {"get_my_mmaudio": lambda name: FakeNet(rec)},
        "mmaudio.model.flow_matching": {"FlowMatching": FlowMatching},
        "mmaudio.model.utils": {},
        "mmaudio.model.utils.features_utils": {"FeaturesUtils": lambda **kw: FakeFeatures(rec, **kw)},
    }
    for name, attrs in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(mb, "_MODELS", {})
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return rec


def make_weights(root: Path, variant: str) -> Path:
    for path in mb.required_files(variant, root).values():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({}, path)
    for repo in mb._needed_hub_repos(variant):
        (root / "hf_hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc123").mkdir(parents=True)
    return root


@pytest.fixture
def ramp_video(tmp_path: Path) -> Path:
    """6 s at 25 fps whose grey level encodes time (40 levels per second), to check frame timing."""
    return make_clip(
        tmp_path / "ramp.mp4",
        lambda i, t: np.full((48, 64, 3), round(t * 40), np.uint8),
        seconds=6.0,
        size=(64, 48),
    )


def layer(kind: str, start: float, end: float, video: Path, seed: int = 3) -> LayerSpec:
    return LayerSpec(
        video_id="v",
        video_path=str(video),
        scene_index=0,
        kind=kind,
        start_s=start,
        end_s=end,
        labels=["dog barking"],
        prompt="dog barking",
        negative_prompt="",
        seed=seed,
    )


def test_foreground_windows_are_batched_with_the_scene_frames(
    fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path
) -> None:
    settings = SynthSettings(
        backend="mmaudio",
        variant="small_16k",
        weights_dir=str(make_weights(tmp_path / "w", "small_16k")),
        window_s=2.0,
        overlap_s=0.5,
        cfg_strength=3.5,
        num_steps=7,
    )
    synth = mb.MMAudioSynth(settings, device="cpu")
    out = tmp_path / "fg.wav"
    start, end = 1.0, 5.2
    result = synth.render(layer("foreground", start, end, ramp_video), out, sample_rate=44100, channels=2)

    windows = plan_windows(end - start, 2.0, 0.5)
    assert len(windows) == 3
    assert len(fake_mmaudio.generate) == 1, "equal windows must go in one generate call"
    call = fake_mmaudio.generate[0]
    assert call["duration"] == pytest.approx(2.0)
    assert tuple(call["clip"].shape) == (3, 16, 3, 384, 384)  # 8 fps x 2 s, 384 x 384
    assert tuple(call["sync"].shape) == (3, 50, 3, 224, 224)  # 25 fps x 2 s, 224 x 224
    assert float(call["clip"].min()) >= 0.0 and float(call["clip"].max()) <= 1.0
    assert float(call["sync"].min()) >= -1.0 and float(call["sync"].max()) <= 1.0
    # Frames come from the scene's own time span: grey level = 40 * t.
    for b, (ws, _) in enumerate(windows):
        for k in (0, 7, 15):
            t = start + ws + k / 8
            assert float(call["clip"][b, k].mean()) * 255 == pytest.approx(40 * t, abs=4)
        t = start + ws + 20 / 25
        assert (float(call["sync"][b, 20].mean()) * 0.5 + 0.5) * 255 == pytest.approx(40 * t, abs=4)
    assert call["text"] == ["dog barking"] * 3
    assert call["negative_text"] == [settings.negative_prompt] * 3  # spec had none: the default
    assert call["cfg"] == 3.5
    assert fake_mmaudio.flow == [{"min_sigma": 0, "inference_mode": "euler", "num_steps": 7}]
    assert fake_mmaudio.seq_lengths[-1] == (63, 16, 48)
    assert sorted(fake_mmaudio.loaded) == ["features:16k", "net"]

    audio, sr = sf.read(out, always_2d=True)
    assert (sr, audio.shape) == (44100, (round(4.2 * 44100), 2))
    assert result.backend == "mmaudio" and result.sample_rate == 44100
    assert np.sqrt((audio**2).mean()) > 0.1


def test_background_is_text_to_audio_and_models_load_once(
    fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path
) -> None:
    settings = SynthSettings(backend="mmaudio", weights_dir=str(make_weights(tmp_path / "w", "large_44k_v2")))
    synth = mb.MMAudioSynth(settings, device="cpu")
    for i in range(2):
        synth.render(
            layer("background", 0.5, 3.5, ramp_video), tmp_path / f"bg{i}.wav", sample_rate=16000, channels=1
        )
    assert [c["clip"] for c in fake_mmaudio.generate] == [None, None]
    assert [c["sync"] for c in fake_mmaudio.generate] == [None, None]
    assert fake_mmaudio.generate[0]["duration"] == pytest.approx(3.0)  # shorter than the window: one call
    assert fake_mmaudio.loaded.count("net") == 1  # cached per process
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["HF_HUB_CACHE"] == str(tmp_path / "w" / "hf_hub")
    audio, sr = sf.read(tmp_path / "bg0.wav")
    assert (sr, audio.shape) == (16000, (48000,))


def test_timed_events_render_their_own_span_and_compose_is_text_only(
    fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path
) -> None:
    """A foreground event is video-to-audio on its own frames; an event with no video (``lvas
    compose``) is text-to-audio even in the foreground layer."""
    from lvas.models import SoundEvent
    from lvas.render import event_specs

    settings = SynthSettings(backend="mmaudio", weights_dir=str(make_weights(tmp_path / "w", "large_44k_v2")))
    synth = mb.MMAudioSynth(settings, device="cpu")
    ev = SoundEvent(scene_index=0, index=0, layer="foreground", label="dog barking", prompt="dog barking",
                    start_s=2.0, end_s=3.5)
    video = VideoRef(source="v", path=str(ramp_video), video_id="v")
    (spec,) = event_specs(video, [ev], settings)
    synth.render(spec, tmp_path / "ev.wav", sample_rate=16000, channels=1)
    call = fake_mmaudio.generate[0]
    assert call["duration"] == pytest.approx(1.5) and call["text"] == ["dog barking"]
    assert float(call["clip"][0, 0].mean()) * 255 == pytest.approx(40 * 2.0, abs=4)  # the event's first frame
    (text_only,) = event_specs(VideoRef(source="c", path="", video_id="c"), [ev], settings)
    synth.render(text_only, tmp_path / "c.wav", sample_rate=16000, channels=1)
    assert fake_mmaudio.generate[1]["clip"] is None and fake_mmaudio.generate[1]["sync"] is None
    audio, _ = sf.read(tmp_path / "c.wav")
    assert audio.shape == (round(1.5 * 16000),)


# --------------------------------------------------------------------------- errors


def test_missing_package_weights_and_gpu_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mmaudio", None)  # import mmaudio -> ImportError
    with pytest.raises(BackendUnavailable) as info:
        get_synth(SynthSettings(backend="mmaudio"))
    message = str(info.value)
    assert "pip install git+https://github.com/hkchengrex/MMAudio" in message
    assert "LVAS_SYNTH__WEIGHTS_DIR" in message
    if not torch.cuda.is_available():
        assert "no CUDA device" in message


def test_missing_weight_files_are_listed(fake_mmaudio: Recorder, tmp_path: Path) -> None:
    root = make_weights(tmp_path / "w", "large_44k_v2")
    (root / "ext_weights" / "synchformer_state_dict.pth").unlink()
    settings = SynthSettings(backend="mmaudio", weights_dir=str(root))
    with pytest.raises(BackendUnavailable) as info:
        mb.MMAudioSynth(settings, device="cpu")
    message = str(info.value)
    assert str(root / "ext_weights" / "synchformer_state_dict.pth") in message
    assert "mmaudio_large_44k_v2.pth" not in message  # present files are not blamed
    assert fake_mmaudio.loaded == []


def test_missing_hub_models_are_named(fake_mmaudio: Recorder, tmp_path: Path) -> None:
    root = tmp_path / "w"
    for path in mb.required_files("large_44k_v2", root).values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    (root / "hf_hub").mkdir()
    with pytest.raises(BackendUnavailable, match="nvidia/bigvgan_v2_44khz_128band_512x"):
        mb.MMAudioSynth(SynthSettings(backend="mmaudio", weights_dir=str(root)), device="cpu")


def test_conditioning_frames_are_upright(tmp_path: Path) -> None:
    """A phone video stored sideways (display rotation 90) is seen the way a viewer sees it."""
    import av

    path = tmp_path / "rotated.mp4"
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = 255  # left half white
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)  # counter-clockwise: the left half ends up at the bottom
        for _ in range(25):
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    clip, sync = mb.decode_conditioning_frames(path, 0.0, 1.0)
    for frames in (clip, sync):
        half = frames.shape[1] // 2
        assert frames[0, half:].mean() > 200 and frames[0, :half].mean() < 50


@pytest.mark.gpu
@pytest.mark.skipif(
    not (torch.cuda.is_available() and os.environ.get("LVAS_SYNTH__WEIGHTS_DIR")),
    reason="needs CUDA, the mmaudio package and LVAS_SYNTH__WEIGHTS_DIR",
)
def test_real_mmaudio_renders_a_windowed_scene(tmp_path: Path, ramp_video: Path) -> None:
    pytest.importorskip("mmaudio")
    settings = SynthSettings(
        backend="mmaudio",
        weights_dir=os.environ["LVAS_SYNTH__WEIGHTS_DIR"],
        window_s=4.0,
        overlap_s=1.0,
        num_steps=10,
    )
    synth = get_synth(settings)
    out = tmp_path / "real.wav"
    synth.render(layer("foreground", 0.0, 6.0, ramp_video), out, sample_rate=44100, channels=2)
    audio, sr = sf.read(out, always_2d=True)
    assert (sr, audio.shape) == (44100, (6 * 44100, 2))
    assert np.all(np.isfinite(audio)) and np.sqrt((audio**2).mean()) > 1e-3


def test_very_short_scene_is_rendered_long_enough_then_trimmed(
    fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path
) -> None:
    settings = SynthSettings(
        backend="mmaudio", variant="small_16k", weights_dir=str(make_weights(tmp_path / "w", "small_16k"))
    )
    out = tmp_path / "short.wav"
    mb.MMAudioSynth(settings, device="cpu").render(
        layer("foreground", 5.7, 6.0, ramp_video), out, sample_rate=16000, channels=1
    )
    (call,) = fake_mmaudio.generate
    assert call["duration"] == pytest.approx(mb.MIN_WINDOW_S)
    assert tuple(call["sync"].shape[:2]) == (1, 25)  # past the video's end: the last frame is held
    audio, _ = sf.read(out)
    assert audio.shape == (round(0.3 * 16000),)
