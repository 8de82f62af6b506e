"""Each reflection action changes the signal the way it claims, measured; bad plans are refused."""

from __future__ import annotations

import numpy as np
import pytest

from lvas.audio.actions import ACTIONS, Action, apply_action, parse_actions

SR = 16000
T = np.arange(2 * SR) / SR


def noisy_tone(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    clean = (0.3 * np.sin(2 * np.pi * 220 * T)).astype(np.float32)
    noise = (0.05 * np.random.default_rng(seed).standard_normal(len(T))).astype(np.float32)
    return clean, clean + noise


def gated_noisy_tone() -> tuple[np.ndarray, np.ndarray]:
    """A 440 Hz tone sounding in three bursts over white noise 20 dB under it; where the tone sounds."""
    on = np.zeros(len(T), dtype=bool)
    for a, b in ((0.1, 0.5), (0.8, 1.1), (1.4, 1.9)):
        on[round(a * SR): round(b * SR)] = True
    tone = 0.3 * np.sin(2 * np.pi * 440 * T) * on
    noise = 0.03 * np.random.default_rng(0).standard_normal(len(T))
    return on, (tone + noise).astype(np.float32)


def db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spec)])


@pytest.mark.parametrize("name", ["spectral_subtraction", "wiener", "wavelet_denoise", "spectral_gate"])
def test_denoisers_reduce_the_noise_on_a_noisy_tone(name: str) -> None:
    on, noisy = gated_noisy_tone()
    out = apply_action(noisy, SR, Action(name=name))
    noise_reduced_db = db(noisy[~on]) - db(out[~on])
    tone_change_db = db(out[on]) - db(noisy[on])
    assert noise_reduced_db > 8.0, (name, noise_reduced_db)
    assert abs(tone_change_db) < 3.0, (name, tone_change_db)
    assert out.shape == noisy.shape and out.dtype == np.float32


def test_pitch_shift_moves_the_pitch_by_the_semitones_asked() -> None:
    tone = (0.3 * np.sin(2 * np.pi * 440 * T)).astype(np.float32)
    for semitones in (3.0, -5.0):
        out = apply_action(tone, SR, Action(name="pitch_shift", params={"semitones": semitones}))
        measured = 12 * np.log2(peak_hz(out[SR // 4: -SR // 4]) / 440.0)
        assert measured == pytest.approx(semitones, abs=0.15)
        assert len(out) == len(tone)


def test_speed_changes_the_tempo_not_the_pitch() -> None:
    x = np.zeros(2 * SR, dtype=np.float32)
    for t in (0.2, 0.9, 1.6):
        i = round(t * SR)
        x[i: i + 2400] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(2400) / SR)
    out = apply_action(x, SR, Action(name="speed", params={"rate": 1.25}))
    env = np.convolve(np.abs(out), np.ones(400) / 400, mode="same")
    onsets = np.flatnonzero(np.diff((env > 0.1).astype(int)) == 1) / SR
    assert len(onsets) == 3
    assert onsets[-1] - onsets[0] == pytest.approx(1.4 / 1.25, abs=0.06)
    assert peak_hz(out) == pytest.approx(1000, abs=30)
    assert len(out) == len(x)


def test_volume_changes_the_level_by_the_decibels_asked() -> None:
    _, noisy = noisy_tone()
    out = apply_action(noisy, SR, Action(name="volume", params={"gain_db": -9.0}))
    assert db(out) - db(noisy) == pytest.approx(-9.0, abs=0.01)


def test_fill_blanks_fills_a_silent_stretch_and_keeps_the_rest() -> None:
    _, noisy = noisy_tone()
    gapped = noisy.copy()
    gapped[SR // 2: SR] = 0.0
    out = apply_action(gapped, SR, Action(name="fill_blanks", params={"min_gap_s": 0.2}))
    assert db(out[SR // 2 + 400: SR - 400]) > db(noisy) - 3.0
    np.testing.assert_array_equal(out[: SR // 2], gapped[: SR // 2])


def test_stereo_is_edited_per_channel() -> None:
    _, noisy = noisy_tone()
    stereo = np.stack([noisy, noisy * 0.5], axis=1)
    out = apply_action(stereo, SR, Action(name="volume", params={"gain_db": 6.0}))
    assert out.shape == stereo.shape
    np.testing.assert_allclose(out[:, 1], out[:, 0] * 0.5, rtol=1e-5)


def test_defaults_fill_missing_parameters() -> None:
    assert Action(name="wiener").params == {"size": ACTIONS["wiener"]["size"][2]}


@pytest.mark.parametrize(("plan", "reason"), [
    ({"actions": [{"name": "reverse"}]}, "unknown action 'reverse'"),
    ({"actions": [{"name": "volume", "params": {"gain_db": 80}}]}, "outside"),
    ({"actions": [{"name": "volume", "params": {"gian_db": 3}}]}, "unknown parameter 'gian_db'"),
    ({"actions": [{"name": "volume", "params": {"gain_db": float("nan")}}]}, "outside"),
    ({"actions": []}, "at least 1"),
    ({"actions": [{"name": "volume"}] * 3}, "at most 2"),
    ("__import__('os')", "not str"),
    ({"actions": [{"name": "volume", "code": "x"}]}, "Extra inputs"),
])
def test_bad_plans_are_refused_with_the_reason(plan: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_actions(plan)


def test_a_good_plan_parses() -> None:
    acts = parse_actions([{"name": "pitch_shift", "params": {"semitones": -2}}, {"name": "volume"}])
    assert [a.name for a in acts] == ["pitch_shift", "volume"] and acts[0].params["semitones"] == -2.0
