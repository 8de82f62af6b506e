"""The MMAudio backend's contract, without a GPU or the real package: a fake ``mmaudio`` module
records what ``generate`` receives (frames, text, duration, cfg), and the window plan, batching,
crossfade join and error messages are checked directly."""

from __future__ import annotations

import itertools
import math
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

from lvas import pipeline
from lvas.agents.artifacts import save_designs, save_script
from lvas.backends import mmaudio_backend as mb
from lvas.backends.synth import MIN_WINDOW_S, get_synth, join_windows, plan_calls, plan_windows, run_calls
from lvas.errors import BackendUnavailable
from lvas.models import (
    Caption,
    DesignRound,
    LayerSpec,
    Scene,
    SceneDesign,
    Script,
    SoundDesign,
    SoundItem,
    VideoRef,
)
from lvas.settings import Settings, SynthSettings
from lvas.storage.layout import Layout
from lvas.storage.status import collect
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


def test_calls_group_equal_windows_of_several_layers() -> None:
    plans = [
        (True, [(0.0, 8.0), (7.0, 15.0), (14.0, 22.0)]),  # a 22 s foreground layer
        (True, [(0.0, 3.5)]),
        (False, [(0.0, 3.5)]),  # text-only: never batched with video-conditioned windows
        (True, [(0.0, 8.0), (2.0, 10.0)]),
        (True, [(0.0, 3.5004)]),  # equal to 1 ms
    ]
    calls = plan_calls(plans, most=4)
    assert [(c.conditioned, c.duration, c.windows) for c in calls] == [
        (True, 8.0, ((0, 0), (0, 1), (0, 2), (3, 0))),
        (True, 8.0, ((3, 1),)),
        (True, 3.5, ((1, 0), (4, 0))),
        (False, 3.5, ((2, 0),)),
    ]


def test_run_calls_isolates_failures_and_finishes_each_job_once() -> None:
    """A window that cannot be prepared fails its job; a failed call fails the jobs it served; the
    other jobs are finished once, with their windows in order."""
    plans = [(True, [(0.0, 8.0), (7.0, 15.0)]), (True, [(0.0, 2.0)]), (False, [(0.0, 2.0)]), (True, [(0.0, 8.0)]),
             (False, [(0.0, 8.0)])]
    calls = plan_calls(plans, most=8)

    def prepare(j: int, w: int) -> str:
        if j == 3:
            raise ValueError("cannot decode")
        return f"{j}.{w}"

    def generate(call, inputs: list) -> list:
        if not call.conditioned and call.duration == 2.0:
            raise RuntimeError("out of memory")
        return [f"audio of {x}" for x in inputs]

    finished: list[int] = []

    def finish(j: int, chunks: list) -> list:
        finished.append(j)
        return chunks

    results = run_calls(calls, [len(w) for _, w in plans], prepare=prepare, generate=generate, finish=finish)
    assert results[0] == ["audio of 0.0", "audio of 0.1"] and results[1] == ["audio of 1.0"]
    assert isinstance(results[2], RuntimeError) and isinstance(results[3], ValueError)
    assert results[4] == ["audio of 4.0"]
    assert sorted(finished) == [0, 1, 4]


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
    """MMAudio's SequenceConfig as it computes its lengths (mmaudio/model/sequence_config.py): 16 kHz
    audio at 256 samples per spectrogram frame and 2 frames per latent; Synchformer sees segments of
    16 frames at 25 fps every 8 frames, each giving 8 tokens."""

    duration: float = 8.0
    sampling_rate: int = FAKE_SR
    spectrogram_frame_rate: int = 256
    latent_downsample_rate: int = 2

    @property
    def latent_seq_len(self) -> int:
        return math.ceil(self.duration * self.sampling_rate / self.spectrogram_frame_rate
                         / self.latent_downsample_rate)

    @property
    def clip_seq_len(self) -> int:
        return int(self.duration * 8)

    @property
    def sync_seq_len(self) -> int:
        segments = (self.duration * 25 - 16) // 8 + 1
        return int(segments * 16 / 2)


@pytest.mark.parametrize(("duration", "sync_len"), [(2.0, 40), (5.0, 112), (8.0, 192)])
def test_fake_sequence_lengths_are_mmaudios(duration: float, sync_len: int) -> None:
    """The figures MMAudio's SequenceConfig gives (its own self-check asserts 250 / 64 / 192 at 8 s)."""
    cfg = FakeSeqCfg(duration=duration)
    assert cfg.sync_seq_len == sync_len
    assert cfg.clip_seq_len == int(duration * 8)
    assert FakeSeqCfg().latent_seq_len == 250


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
        # Each window's tone depends on its own inputs only (its prompt, and its frames' brightness
        # when conditioned), never on its place in the batch: batching must not change a layer.
        tones = []
        for b, prompt in enumerate(text):
            hz = 200 + 50 * (sum(map(ord, prompt)) % 9)
            level = 0.2 + (0.0 if clip_video is None else 0.2 * float(clip_video[b].mean()))
            tones.append(level * torch.sin(2 * torch.pi * hz * t))
        return torch.stack(tones)[:, None, :]

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
    assert fake_mmaudio.seq_lengths[-1] == (63, 16, 40)
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
    assert call["duration"] == pytest.approx(MIN_WINDOW_S)
    assert tuple(call["sync"].shape[:2]) == (1, 25)  # past the video's end: the last frame is held
    audio, _ = sf.read(out)
    assert audio.shape == (round(0.3 * 16000),)


# --------------------------------------------------------------------------- hub cache, CPU device


def test_hub_cache_accepts_either_name_of_the_clip_model(fake_mmaudio: Recorder, tmp_path: Path) -> None:
    root = tmp_path / "w"
    for path in mb.required_files("small_16k", root).values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    settings = SynthSettings(backend="mmaudio", variant="small_16k", weights_dir=str(root))
    with pytest.raises(BackendUnavailable) as info:
        mb.MMAudioSynth(settings, device="cpu")
    assert "apple/DFN5B-CLIP-ViT-H-14-384 or apple/DFN5B-CLIP-ViT-H-14-378" in str(info.value)
    (root / "hf_hub" / "models--apple--DFN5B-CLIP-ViT-H-14-378" / "snapshots" / "abc").mkdir(parents=True)
    mb.MMAudioSynth(settings, device="cpu")
    assert mb.find_hub_models("small_16k", root) == {"clip": "apple/DFN5B-CLIP-ViT-H-14-378"}
    (root / "hf_hub" / "models--apple--DFN5B-CLIP-ViT-H-14-384" / "snapshots" / "abc").mkdir(parents=True)
    assert mb.find_hub_models("small_16k", root) == {"clip": "apple/DFN5B-CLIP-ViT-H-14-384"}


def test_cpu_device_is_a_setting_with_a_warning(
    fake_mmaudio: Recorder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_weights(tmp_path / "w", "small_16k")
    synth = get_synth(SynthSettings(backend="mmaudio", variant="small_16k", weights_dir=str(root), device="cpu"))
    assert isinstance(synth, mb.MMAudioSynth) and synth.device == "cpu"
    assert any("float32" in r.message and r.levelname == "WARNING" for r in caplog.records)
    assert SynthSettings().device == "cuda"


# --------------------------------------------------------------------------- scenes batched across videos


def designed_videos(root: Path, clip: Path, spans: list[list[tuple[float, float]]]) -> tuple[Layout, list[VideoRef]]:
    """A layout holding, per video (each the same clip), a script with ``spans`` as scenes and a
    design table with a foreground and a background item per scene (one event each, scene long)."""
    layout = Layout(root)
    videos = []
    for k, scenes in enumerate(spans):
        video = VideoRef(source=f"v{k}.mp4", path=str(clip), video_id=f"v{k}")
        videos.append(video)
        caption = Caption(summary="a dog in a park")
        script = Script(
            video_id=video.video_id, global_description="", shot_captions=[caption] * len(scenes), decisions=[],
            scenes=[Scene(index=i, start_s=a, end_s=b, shot_indices=[i], caption=caption)
                    for i, (a, b) in enumerate(scenes)],
        )
        layout.script(video.video_id).parent.mkdir(parents=True, exist_ok=True)
        save_script(layout.script(video.video_id), script)
        for i in range(len(scenes)):
            design = SoundDesign(audio=[SoundItem(description=f"dog barking {k}{i}", label=f"dog barking {k}{i}")],
                                 background=[SoundItem(description="wind", label=f"wind {i % 2}")])
            rounds = [DesignRound(round=1, design=design, verdict="final")]
            save_designs(layout.scene_design(video.video_id, i), [SceneDesign(video_id=video.video_id,
                                                                             scene_index=i, rounds=rounds)])
        pipeline.collect_designs(layout, video, len(scenes))
    return layout, videos


SPANS = [[(0.0, 2.0), (2.0, 4.0), (4.0, 5.5)], [(0.5, 2.5), (2.5, 4.0), (4.0, 6.0)]]


def group_settings(tmp_path: Path, **synth: Any) -> Settings:
    root = tmp_path / "w"
    if not root.exists():
        make_weights(root, "small_16k")
    return Settings(synth=SynthSettings(backend="mmaudio", variant="small_16k", weights_dir=str(root), device="cpu",
                                        sample_rate=16000, channels=1, **synth))


def rendered(layout: Layout, video: VideoRef, scene: int, settings: Settings) -> dict[str, np.ndarray]:
    """The event files a scene's render marker vouches for, read: {event name: audio}."""
    marker = layout.done(video.video_id, "render", pipeline.render_key(layout, video, scene, settings), scene)
    assert marker is not None, (video.video_id, scene)
    return {name: sf.read(path)[0] for name, path in marker["outputs"].items()}


def test_scenes_of_a_render_group_share_generate_calls(
    fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path
) -> None:
    settings = group_settings(tmp_path)
    alone, videos = designed_videos(tmp_path / "alone", ramp_video, SPANS)
    scenes = [(v, i) for v in videos for i in range(3)]
    for video, i in scenes:
        outputs, _ = pipeline.render_stage(alone, video, i, settings)
        alone.mark_done(video.video_id, "render", pipeline.render_key(alone, video, i, settings), outputs, i)
    single_calls = len(fake_mmaudio.generate)
    assert single_calls == 2 * len(scenes)  # one call per event, each scene shorter than the window

    fake_mmaudio.generate.clear()
    together, _ = designed_videos(tmp_path / "together", ramp_video, SPANS)
    assert pipeline.render_videos(together, scenes, settings) == {}
    calls = fake_mmaudio.generate
    # Windows of 2.0 s (4 scenes) and 1.5 s (2 scenes), video-conditioned or text-only: 4 calls.
    assert len(calls) == 4 < single_calls
    assert sorted((c["clip"] is None, c["duration"], len(c["text"])) for c in calls) == [
        (False, 1.5, 2), (False, 2.0, 4), (True, 1.5, 2), (True, 2.0, 4)]
    for c in calls:
        if c["clip"] is not None:  # one window length per batch: the frame tensors say it too
            assert tuple(c["clip"].shape[:2]) == (len(c["text"]), round(8 * c["duration"]))
    for video, i in scenes:
        a, b = rendered(alone, video, i, settings), rendered(together, video, i, settings)
        assert sorted(a) == sorted(b) == [f"scene{i:04d}_e00", f"scene{i:04d}_e01"]
        for name in a:
            assert np.array_equal(a[name], b[name]), (video.video_id, i, name)
    states = {(r.video_id, r.scene, r.state) for r in collect(together) if r.stage == "render"}
    assert states == {(v.video_id, i, "completed") for v, i in scenes}


def test_batch_size_is_bounded_by_the_setting(fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path) -> None:
    settings = group_settings(tmp_path, batch_windows=3)
    layout, videos = designed_videos(tmp_path / "out", ramp_video, SPANS)
    assert pipeline.render_videos(layout, [(v, i) for v in videos for i in range(3)], settings) == {}
    assert sorted(len(c["text"]) for c in fake_mmaudio.generate) == [1, 1, 2, 2, 3, 3]


def test_a_failing_scene_fails_alone_in_its_group(fake_mmaudio: Recorder, tmp_path: Path, ramp_video: Path) -> None:
    settings = group_settings(tmp_path)
    layout, videos = designed_videos(tmp_path / "out", ramp_video, [*SPANS, [(0.0, 2.0)]])
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    bad = videos[1].model_copy(update={"path": str(broken)})  # its frames cannot be decoded
    layout.design("v2").unlink()  # and this video has no design table
    scenes = [(videos[0], i) for i in range(3)] + [(bad, 1), (videos[2], 0)]
    failed = pipeline.render_videos(layout, scenes, settings)
    assert set(failed) == {("v1", 1), ("v2", 0)}
    assert "cannot decode" in str(failed[("v1", 1)])
    for i in range(3):
        audio = rendered(layout, videos[0], i, settings)
        assert sorted(len(x) for x in audio.values()) == [round((SPANS[0][i][1] - SPANS[0][i][0]) * 16000)] * 2
    # its background event was rendered, but a scene is done only with all its events
    assert layout.done("v1", "render", pipeline.render_key(layout, bad, 1, settings), 1) is None
    assert len(list((layout.video_dir("v1") / "events").glob("scene0001_*.wav"))) == 1
    states = {(r.video_id, r.scene): r.state for r in collect(layout) if r.stage == "render"}
    assert states == {("v0", 0): "completed", ("v0", 1): "completed", ("v0", 2): "completed",
                      ("v1", 1): "failed", ("v2", 0): "failed"}
    # A rerun skips the scenes done and the events rendered: nothing reaches the model this time.
    fake_mmaudio.generate.clear()
    assert set(pipeline.render_videos(layout, scenes, settings)) == {("v1", 1), ("v2", 0)}
    assert fake_mmaudio.generate == []


def test_simulated_gpu_batches_like_mmaudio_and_writes_the_procedural_audio(
    tmp_path: Path, ramp_video: Path
) -> None:
    from lvas.render import synth_for

    procedural = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    alone, videos = designed_videos(tmp_path / "alone", ramp_video, SPANS)
    scenes = [(v, i) for v in videos for i in range(3)]
    for video, i in scenes:
        outputs, _ = pipeline.render_stage(alone, video, i, procedural)
        alone.mark_done(video.video_id, "render", pipeline.render_key(alone, video, i, procedural), outputs, i)

    sim = Settings(synth=SynthSettings(backend="simulated-gpu", simulated_latency_s=0, sample_rate=16000,
                                       channels=1, batch_windows=3))
    together, _ = designed_videos(tmp_path / "together", ramp_video, SPANS)
    assert pipeline.render_videos(together, scenes, sim) == {}
    synth = synth_for(sim.synth)
    assert sorted(synth.calls) == [1, 1, 2, 2, 3, 3]  # 12 events in 6 calls of at most 3 windows
    for video, i in scenes:
        a, b = rendered(alone, video, i, procedural), rendered(together, video, i, sim)
        assert sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a), (video.video_id, i)
