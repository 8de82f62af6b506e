"""The procedural synthesizer and the render stage: every family sounds, seeds are deterministic,
events land on motion peaks, and designs become the right layer specs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from lvas.backends.procedural import FAMILIES, ProceduralSynth, families_for, family_of, render_family
from lvas.backends.synth import get_synth
from lvas.models import Caption, LayerSpec, Scene, SoundDesign, SoundItem, VideoRef
from lvas.render import layers_for, render_layer
from lvas.settings import SynthSettings
from lvas.storage.layout import Layout

SR = 16000


def spec(
    labels: list[str],
    *,
    kind: str = "foreground",
    start: float = 0.0,
    end: float = 3.0,
    seed: int = 1,
    video_id: str = "vid",
    prompt: str = "",
) -> LayerSpec:
    return LayerSpec(
        video_id=video_id,
        video_path="/nonexistent.mp4",
        scene_index=0,
        kind=kind,
        start_s=start,
        end_s=end,
        labels=labels,
        prompt=prompt or ", ".join(labels),
        seed=seed,
    )


def write_frames(
    layout: Layout, video_id: str, peaks_s: list[float], duration: float, fps: float = 25.0
) -> None:
    """A frames.parquet whose motion has sharp peaks at ``peaks_s`` over a low, noisy floor."""
    t = np.arange(0, duration, 1 / fps)
    rng = np.random.default_rng(0)
    motion = 0.02 + 0.01 * rng.random(len(t))
    for p in peaks_s:
        motion += np.exp(-0.5 * ((t - p) / 0.04) ** 2)
    zeros = np.zeros(len(t))
    table = pa.table(
        {
            "frame": np.arange(len(t)),
            "t_s": t,
            "shot": np.zeros(len(t), np.int64),
            "motion": motion,
            "hsv_dist": zeros,
            "brightness": zeros,
            "saturation": zeros,
            "hue_deg": zeros,
        }
    )
    path = layout.frames(video_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def onset_times(audio: np.ndarray, sr: int) -> np.ndarray:
    """Times where the 5 ms energy envelope jumps up sharply (a simple onset detector)."""
    hop = round(0.005 * sr)
    x = audio if audio.ndim == 1 else audio.mean(axis=1)
    frames = len(x) // hop
    energy = np.sqrt((x[: frames * hop].reshape(frames, hop) ** 2).mean(axis=1)) + 1e-9
    rise = np.diff(20 * np.log10(energy), prepend=-180)
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(rise, height=12, distance=round(0.15 / 0.005))
    return peaks * hop / sr


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_renders_audible_audio(family: str) -> None:
    t = np.arange(0, 3, 0.04)
    motion = (t, np.exp(-0.5 * ((t - 1.0) / 0.05) ** 2) + np.exp(-0.5 * ((t - 2.2) / 0.05) ** 2))
    audio = render_family(family, 3 * SR, SR, seed=5, motion=motion, channels=2)
    assert audio.shape == (3 * SR, 2)
    assert np.all(np.isfinite(audio))
    rms = float(np.sqrt(np.mean(audio.astype(np.float64) ** 2)))
    assert rms > 1e-3, f"{family} is (nearly) silent: rms {rms}"
    # Not a constant or a DC offset: there is real signal in the audible band.
    assert float(np.std(np.diff(audio[:, 0]))) > 1e-4


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path: Path) -> None:
    synth = ProceduralSynth()
    paths = []
    for i, seed in enumerate((7, 7, 8)):
        out = tmp_path / f"l{i}.wav"
        synth.render(spec(["rain", "dog barking"], seed=seed), out, sample_rate=SR, channels=2)
        paths.append(out)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


def test_events_follow_motion_peaks(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    scene_start = 2.0
    peaks_abs = [2.6, 3.9, 5.3]  # absolute video times: the scene runs 2.0-6.0 s
    write_frames(layout, "vid", peaks_abs, duration=8.0)
    out = tmp_path / "impact.wav"
    ProceduralSynth().render(
        spec(["impact"], start=scene_start, end=6.0), out, sample_rate=SR, channels=1, layout=layout
    )
    audio, sr = sf.read(out)
    onsets = onset_times(audio, sr)
    expected = np.array(peaks_abs) - scene_start
    assert len(onsets) == len(expected), f"onsets {onsets} vs motion peaks {expected}"
    assert np.max(np.abs(onsets - expected)) < 0.04


def test_without_motion_data_events_still_happen(tmp_path: Path) -> None:
    out = tmp_path / "knock.wav"
    ProceduralSynth().render(
        spec(["door knock"], end=4.0), out, sample_rate=SR, channels=1, layout=Layout(tmp_path)
    )
    audio, sr = sf.read(out)
    assert len(onset_times(audio, sr)) >= 2


@pytest.mark.parametrize(
    ("text", "family"),
    [
        pytest.param("a small dog barking loudly", "animal_call", id="dog"),
        pytest.param("car horn honking twice", "horn", id="horn-beats-car"),
        pytest.param("heavy rain on a tin roof", "rain", id="rain"),
        pytest.param("thunder rolling in the distance", "thunder", id="thunder"),
        pytest.param("footsteps on gravel", "footsteps", id="steps"),
        pytest.param("keyboard typing", "typing", id="typing"),
    ],
)
def test_free_text_maps_to_a_family(text: str, family: str) -> None:
    assert family_of(text) == family


def test_unrecognised_layers_fall_back_by_kind() -> None:
    assert families_for(spec(["zzz"], kind="background", prompt="qqq")) == ["room_tone"]
    assert families_for(spec(["zzz"], prompt="qqq")) == ["impact"]
    assert families_for(spec(["zzz"], prompt="wind and birds")) == ["wind", "bird"]


# --------------------------------------------------------------------------- render stage


def test_layers_for_builds_foreground_and_background() -> None:
    video = VideoRef(source="a.mp4", path="/data/a.mp4", video_id="a-1")
    scene = Scene(index=3, start_s=1.0, end_s=4.5, shot_indices=[3, 4], caption=Caption(summary="x"))
    design = SoundDesign(
        audio=[
            SoundItem(description="steps", label="footsteps on wood", primary=False, volume=0.5),
            SoundItem(description="a door slams", label="door slam", volume=0.9),
        ],
        background=[SoundItem(description="quiet room", label=None, volume=0.6)],
        volume=0.8,
    )
    settings = SynthSettings()
    fg, bg = layers_for(video, scene, design, settings)
    assert (fg.kind, bg.kind) == ("foreground", "background")
    assert fg.labels == ["door slam", "footsteps on wood"]  # primary first
    assert bg.labels == ["quiet room"]  # unmapped: the description
    assert fg.prompt == "door slam, footsteps on wood"
    assert (fg.start_s, fg.end_s, fg.scene_index, fg.video_path) == (1.0, 4.5, 3, "/data/a.mp4")
    assert fg.volume == pytest.approx(0.72) and bg.volume == pytest.approx(0.6)
    assert fg.negative_prompt == settings.negative_prompt
    assert fg.seed != bg.seed
    assert layers_for(video, scene, design, settings)[0].seed == fg.seed  # stable
    assert layers_for(video, scene, SoundDesign(audio=[], background=[]), settings) == []


def test_render_layer_writes_the_layout_path(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    settings = SynthSettings(sample_rate=16000, channels=1)
    layer = render_layer(spec(["wind"], video_id="v1", end=1.5), layout, settings)
    assert Path(layer.wav_path) == layout.layer("v1", 0, "foreground")
    audio, sr = sf.read(layer.wav_path)
    assert (sr, audio.shape) == (16000, (24000,))
    assert layer.backend == "procedural" and layer.sample_rate == 16000
    assert not list(Path(layer.wav_path).parent.glob("*.part-*"))
    assert get_synth(settings).name == "procedural"


def test_kb_labels_use_their_kb_family() -> None:
    """Every KB label renders as the family the KB gives it, not as a keyword guess."""
    from lvas.kb.labels import load_labels

    labels = load_labels()
    assert labels, "the knowledge base has no labels"
    wrong = [(x.label, x.family, family_of(x.label)) for x in labels if family_of(x.label) != x.family]
    assert not wrong


def test_footsteps_walk_through_the_scene_and_land_on_peaks(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_frames(layout, "walk", [1.0, 2.6], duration=4.0)
    out = tmp_path / "steps.wav"
    ProceduralSynth().render(
        spec(["footsteps"], video_id="walk", end=4.0), out, sample_rate=SR, channels=1, layout=layout
    )
    audio, sr = sf.read(out)
    onsets = onset_times(audio, sr)
    assert len(onsets) >= 6  # a walker, not two isolated thumps
    gaps = np.diff(onsets)
    assert gaps.min() > 0.3 and gaps.max() < 0.8
    for peak in (1.0, 2.6):
        assert np.min(np.abs(onsets - peak)) < 0.04
