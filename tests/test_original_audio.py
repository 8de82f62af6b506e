"""--original-audio clean: the input's own track decoded, denoised, and the new sound ducked under it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from lvas.audio.original import clean_track, decode_track, duck_under

SR = 16000


def test_the_new_sound_is_ducked_where_the_original_is_active() -> None:
    n = 4 * SR
    rng = np.random.default_rng(0)
    new = (0.05 * rng.standard_normal((n, 1))).astype(np.float32)
    original = np.zeros((n, 1), np.float32)
    t = np.arange(SR) / SR
    original[2 * SR: 3 * SR, 0] = 0.2 * np.sin(2 * np.pi * 200 * t)  # "dialogue" in the third second
    out = duck_under(new, original, SR, -10.0, -23.0, -1.0)
    quiet = slice(SR // 2, SR + SR // 2)  # the original is silent here: out = G * new
    gain = float(np.sqrt(np.mean(out[quiet] ** 2) / np.mean(new[quiet] ** 2)))
    active = slice(2 * SR + SR // 4, 3 * SR - SR // 4)
    residual = out[active] / gain - original[active]
    ducked_db = 10 * np.log10(np.mean(residual**2) / np.mean(new[active] ** 2))
    assert ducked_db == pytest.approx(-10.0, abs=1.0)
    assert out.shape == new.shape


def test_cleaning_lowers_the_noise_of_a_track() -> None:
    rng = np.random.default_rng(1)
    n = 3 * SR
    on = np.zeros(n, bool)
    on[SR: 2 * SR] = True
    track = (0.2 * np.sin(2 * np.pi * 300 * np.arange(n) / SR) * on + 0.02 * rng.standard_normal(n))
    cleaned = clean_track(track.astype(np.float32)[:, None], SR)[:, 0]
    noise_db = 10 * np.log10(np.mean(track[~on] ** 2) / np.mean(cleaned[~on] ** 2))
    assert noise_db > 6.0


def test_decode_track_reads_the_video_s_own_audio(tmp_path: Path) -> None:
    from tests.clips import colour_cuts, make_clip

    with_audio = make_clip(tmp_path / "a.mp4", colour_cuts([1.0]), seconds=2.0, audio_hz=440.0)
    silent = make_clip(tmp_path / "b.mp4", colour_cuts([1.0]), seconds=2.0)
    audio = decode_track(with_audio, SR, 1)
    assert audio is not None and audio.shape[1] == 1 and abs(len(audio) / SR - 2.0) < 0.1
    spec = np.abs(np.fft.rfft(audio[:, 0]))
    assert np.fft.rfftfreq(len(audio), 1 / SR)[np.argmax(spec)] == pytest.approx(440, abs=5)
    assert decode_track(silent, SR, 1) is None


def test_clean_mixes_the_original_into_the_dub(tmp_path: Path) -> None:
    from lvas.models import VideoRef
    from lvas.pipeline import dub_video_direct
    from lvas.settings import MixSettings, ReflectSettings, Settings, SynthSettings
    from lvas.storage.layout import Layout
    from tests.clips import colour_cuts, make_clip

    clip = make_clip(tmp_path / "clip.mp4", colour_cuts([1.0]), seconds=2.0, audio_hz=440.0)
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip")
    mixes = {}
    for mode in ("drop", "clean"):
        s = Settings(synth=SynthSettings(sample_rate=16000, channels=1), mix=MixSettings(original_audio=mode),
                     reflect=ReflectSettings(enabled=False))
        layout = Layout(tmp_path / mode)
        dub_video_direct(layout, video, s)
        mixes[mode], _ = sf.read(str(layout.mix("clip")))
        assert layout.dubbed("clip").stat().st_size > 0

    def tone_share(x: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / SR)
        return float(spec[(f > 430) & (f < 450)].sum() / (spec.sum() + 1e-12))

    assert tone_share(mixes["clean"]) > 0.5 > 0.1 > tone_share(mixes["drop"])
