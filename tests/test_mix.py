"""Loudness, true peak, exact length and click-free scene seams of the mix, measured."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf

from lvas.audio.loudness import integrated_loudness, limit, sample_true_peaks, true_peak_dbtp
from lvas.audio.mix import mix_video
from lvas.backends.procedural import ProceduralSynth
from lvas.models import Caption, LayerSpec, RenderedLayer, Scene
from lvas.settings import MixSettings


def scene(index: int, start: float, end: float) -> Scene:
    return Scene(index=index, start_s=start, end_s=end, shot_indices=[index], caption=Caption())


def wav_layer(
    path: Path, audio: np.ndarray, sr: int, sc: Scene, kind: str = "foreground", volume: float = 1.0
) -> RenderedLayer:
    sf.write(path, audio.astype(np.float32), sr, subtype="FLOAT")
    spec = LayerSpec(
        video_id="v",
        video_path="v.mp4",
        scene_index=sc.index,
        kind=kind,
        start_s=sc.start_s,
        end_s=sc.end_s,
        labels=["x"],
        prompt="x",
        volume=volume,
    )
    return RenderedLayer(spec=spec, wav_path=str(path), sample_rate=sr, backend="test")


def sine(freq: float, seconds: float, sr: int, amp: float = 0.5, phase: float = 0.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(round(seconds * sr)) / sr + phase)


# --------------------------------------------------------------------------- loudness


def test_short_clip_loudness_matches_the_long_measurement() -> None:
    sr = 44100
    tone = sine(1000, 0.2, sr, amp=0.1)  # 1 kHz at -20 dBFS peak reads -23.0 LUFS (BS.1770 reference)
    assert integrated_loudness(tone, sr) == pytest.approx(-23.0, abs=0.3)
    long = sine(1000, 3.0, sr, amp=0.1)
    assert pyloudnorm.Meter(sr).integrated_loudness(long) == pytest.approx(-23.0, abs=0.3)
    assert integrated_loudness(np.zeros(1000), sr) == -np.inf


@pytest.mark.parametrize("sr", [44100, 16000, 48000])
def test_integrated_loudness_is_pyloudnorms(sr: int) -> None:
    """The vectorised meter gives pyloudnorm's integrated loudness on signals whose gates matter:
    loud and quiet passages (the relative gate), stretches of silence (the absolute gate), odd
    lengths (pyloudnorm's block bounds), mono and stereo."""
    rng = np.random.default_rng(sr)
    for trial in range(12):
        n = int(rng.integers(int(0.41 * sr), 9 * sr))
        x = rng.standard_normal((n, 1 + trial % 2)) * 10 ** rng.uniform(-3, -0.5)
        a, b = sorted(rng.integers(0, n, 2))
        x[a:b] *= 10 ** rng.uniform(-4, 0)  # a quieter passage, sometimes under the gates
        x[int(rng.integers(0, n)):] *= [0.0, 1.0, 1e-3][trial % 3]
        with np.errstate(divide="ignore"):
            expected = pyloudnorm.Meter(sr, block_size=0.4).integrated_loudness(x)
        got = integrated_loudness(x, sr)
        if expected > -70:
            assert got == pytest.approx(expected, abs=1e-6)
        else:
            assert got == -np.inf


def test_true_peak_sees_intersample_peaks() -> None:
    sr = 44100
    x = sine(sr / 4, 1.0, sr, amp=1.0, phase=np.pi / 4)  # samples at +-0.707, real peak 1.0
    assert np.abs(x).max() == pytest.approx(0.7071, abs=1e-3)
    assert true_peak_dbtp(x) == pytest.approx(0.0, abs=0.3)


def test_true_peaks_per_sample_take_the_loudest_channel() -> None:
    sr = 44100
    left = sine(sr / 4, 1.0, sr, amp=1.0, phase=np.pi / 4)
    right = 0.5 * np.random.default_rng(2).standard_normal(sr)
    both = sample_true_peaks(np.stack([left, right], axis=1))
    np.testing.assert_array_equal(both, np.maximum(sample_true_peaks(left), sample_true_peaks(right)))
    assert both.max() == pytest.approx(max(10 ** (true_peak_dbtp(left) / 20), 10 ** (true_peak_dbtp(right) / 20)))


def test_limiter_holds_the_ceiling_without_touching_quiet_parts() -> None:
    sr = 44100
    rng = np.random.default_rng(1)
    x = 0.05 * rng.standard_normal(sr * 2)
    x[sr : sr + 50] += 0.9  # a loud click
    y = limit(x, sr, -1.0)
    assert true_peak_dbtp(y) <= -1.0 + 0.05
    np.testing.assert_allclose(y[: sr // 2], x[: sr // 2])  # far from the click: untouched


# --------------------------------------------------------------------------- mix


@pytest.mark.parametrize(("sr", "channels"), [(44100, 2), (16000, 1)])
def test_mix_meets_loudness_peak_and_length(tmp_path: Path, sr: int, channels: int) -> None:
    scenes = [scene(0, 0.0, 2.3), scene(1, 2.3, 5.0), scene(2, 5.0, 7.13)]
    synth = ProceduralSynth()
    layers = []
    for sc, (fg, bg) in zip(
        scenes, [("gunshot", "rain"), ("engine", "crowd"), ("bird", "wind")], strict=True
    ):
        for kind, label in (("foreground", fg), ("background", bg)):
            spec = LayerSpec(
                video_id="v",
                video_path="v.mp4",
                scene_index=sc.index,
                kind=kind,
                start_s=sc.start_s,
                end_s=sc.end_s,
                labels=[label],
                prompt=label,
                seed=sc.index,
            )
            layers.append(
                synth.render(spec, tmp_path / f"{sc.index}{kind}.wav", sample_rate=sr, channels=channels)
            )
    duration = 7.137  # a little longer than the last scene: the tail is silence, not missing samples
    settings = MixSettings()
    report = mix_video(layers, scenes, duration, settings, sr, channels, tmp_path / "mix.wav")
    audio, rate = sf.read(tmp_path / "mix.wav", always_2d=True)
    assert rate == sr
    assert audio.shape == (round(duration * sr), channels)
    assert report.samples == len(audio)
    measured = pyloudnorm.Meter(sr).integrated_loudness(audio)
    assert measured == pytest.approx(settings.target_lufs, abs=0.5)
    assert true_peak_dbtp(audio) <= settings.true_peak_dbtp + 0.05
    assert report.integrated_lufs == pytest.approx(measured, abs=0.1)
    assert not report.silent


def test_peaky_mix_is_limited_not_clipped(tmp_path: Path) -> None:
    sr = 44100
    sc = scene(0, 0.0, 4.0)
    x = 0.002 * np.random.default_rng(0).standard_normal(4 * sr)
    x[:: sr // 2] = 0.9  # clicks twice a second over a near-silent floor: loud peaks, low loudness
    report = mix_video(
        [wav_layer(tmp_path / "c.wav", x, sr, sc)], [sc], 4.0, MixSettings(), sr, 1, tmp_path / "mix.wav"
    )
    audio, _ = sf.read(tmp_path / "mix.wav")
    assert report.limited
    assert true_peak_dbtp(audio) <= -1.0 + 0.05
    assert integrated_loudness(audio, sr) == pytest.approx(-23.0, abs=0.5)


def max_jump_ratio(audio: np.ndarray, seam: int, sr: int) -> float:
    """Largest sample-to-sample step within 10 ms of ``seam`` over the 99th percentile step elsewhere."""
    steps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    near = slice(seam - round(0.01 * sr), seam + round(0.01 * sr))
    mask = np.ones(len(steps), bool)
    mask[near] = False
    return float(steps[near].max() / np.percentile(steps[mask], 99))


def test_scene_seams_do_not_click(tmp_path: Path) -> None:
    sr = 44100
    a, b = scene(0, 0.0, 1.5), scene(1, 1.5, 3.0)
    # A hard cut here would jump by the full amplitude: scene A ends at a zero crossing (110 Hz x 1.5 s
    # is a whole number of periods) and scene B starts at its negative peak.
    xa = sine(110, 1.5, sr, amp=0.5)
    xb = sine(110, 1.5, sr, amp=0.5, phase=-np.pi / 2)
    layers = [wav_layer(tmp_path / "a.wav", xa, sr, a), wav_layer(tmp_path / "b.wav", xb, sr, b)]
    mix_video(layers, [a, b], 3.0, MixSettings(), sr, 1, tmp_path / "mix.wav")
    audio, _ = sf.read(tmp_path / "mix.wav", always_2d=True)
    seam = round(1.5 * sr)
    assert max_jump_ratio(audio, seam, sr) < 1.5
    # The measure does catch a click: the naive concatenation fails it.
    naive = np.concatenate([xa, xb])[:, None]
    assert max_jump_ratio(naive, seam, sr) > 3


def test_background_sits_under_foreground(tmp_path: Path) -> None:
    sr = 16000
    sc = scene(0, 0.0, 3.0)
    rng = np.random.default_rng(2)
    fg = wav_layer(tmp_path / "f.wav", 0.3 * sine(440, 3.0, sr), sr, sc, "foreground", volume=1.0)
    bg = wav_layer(tmp_path / "b.wav", 0.01 * rng.standard_normal(3 * sr), sr, sc, "background", volume=1.0)
    settings = MixSettings(background_gain_db=-8.0)
    mix_video([fg, bg], [sc], 3.0, settings, sr, 1, tmp_path / "mix.wav")
    audio, _ = sf.read(tmp_path / "mix.wav")
    # Separate the parts: the tone is a narrow line; everything else is the background's noise.
    spectrum = np.abs(np.fft.rfft(audio)) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    tone = spectrum[np.abs(freqs - 440) < 5].sum()
    noise = spectrum[np.abs(freqs - 440) >= 5].sum()
    # Both were normalised to the same loudness, then the background went 8 dB down: at least 6 dB apart.
    assert 10 * np.log10(tone / noise) > 6


def test_silent_video_gives_silence_of_the_right_length(tmp_path: Path) -> None:
    report = mix_video([], [scene(0, 0.0, 2.0)], 2.5, MixSettings(), 16000, 2, tmp_path / "mix.wav")
    audio, _ = sf.read(tmp_path / "mix.wav", always_2d=True)
    assert audio.shape == (40000, 2)
    assert not audio.any()
    assert report.silent and report.integrated_lufs is None


def test_layers_at_another_rate_are_resampled(tmp_path: Path) -> None:
    sc = scene(0, 0.0, 2.0)
    layer = wav_layer(tmp_path / "l.wav", sine(300, 2.0, 16000), 16000, sc)
    mix_video([layer], [sc], 2.0, MixSettings(), 44100, 2, tmp_path / "mix.wav")
    audio, sr = sf.read(tmp_path / "mix.wav", always_2d=True)
    assert (sr, audio.shape) == (44100, (88200, 2))
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    assert np.fft.rfftfreq(len(audio), 1 / sr)[spectrum.argmax()] == pytest.approx(300, abs=1)
