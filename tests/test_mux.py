"""The dubbed MP4: video packets bit-identical, the mix as AAC of matching length, original kept."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from lvas.errors import RenderError
from lvas.media.mux import mux
from tests.clips import colour_cuts, make_clip, real_clip


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def audio_packets(path: Path, index: int) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[index]) if p.size]


def decoded_lengths(path: Path) -> tuple[float, list[float]]:
    """Video duration (frames / fps) and each audio stream's decoded duration (samples / rate)."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        frames = sum(1 for _ in c.decode(v))
        video_s = frames / float(v.average_rate)
    audio_s = []
    with av.open(str(path)) as c:
        for stream in c.streams.audio:
            samples = sum(f.samples for f in c.decode(stream))
            audio_s.append(samples / stream.rate)
    return video_s, audio_s


def write_mix(path: Path, seconds: float, sr: int = 44100, channels: int = 2) -> Path:
    t = np.arange(round(seconds * sr)) / sr
    tone = 0.2 * np.sin(2 * np.pi * 330 * t)
    sf.write(path, np.repeat(tone[:, None], channels, axis=1).astype(np.float32), sr)
    return path


def test_mix_replaces_the_original_audio(tmp_path: Path) -> None:
    src = real_clip("bigbuckbunny.mp4")  # has an AAC track
    video_s, _ = decoded_lengths(src)
    out = mux(src, write_mix(tmp_path / "mix.wav", video_s), tmp_path / "dubbed.mp4")
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.name == "aac"
        assert c.streams.audio[0].channels == 2
    assert video_packets(out) == video_packets(src)  # copied, never re-encoded
    dub_video_s, (audio_s,) = decoded_lengths(out)
    assert dub_video_s == pytest.approx(video_s, abs=1e-6)
    assert abs(audio_s - video_s) <= 0.05
    # The decoded audio is the mix (a 330 Hz tone), not the original soundtrack.
    with av.open(str(out)) as c:
        pcm = np.concatenate([f.to_ndarray()[0] for f in c.decode(c.streams.audio[0])])
    spectrum = np.abs(np.fft.rfft(pcm))
    assert np.fft.rfftfreq(len(pcm), 1 / 44100)[spectrum.argmax()] == pytest.approx(330, abs=2)
    assert not list(tmp_path.glob("*.part-*"))


def test_keep_original_audio_adds_a_second_track(tmp_path: Path) -> None:
    src = real_clip("bigbuckbunny.mp4")
    out = mux(src, write_mix(tmp_path / "mix.wav", 5.28), tmp_path / "dubbed.mp4", keep_original_audio=True)
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "audio"]
    assert audio_packets(out, 1) == audio_packets(src, 0)  # the original, stream-copied
    assert video_packets(out) == video_packets(src)


def test_silent_video_gets_a_mono_16k_track(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "silent.mp4", colour_cuts([1.0]), seconds=2.0, fps=25)
    out = mux(src, write_mix(tmp_path / "mix.wav", 2.0, sr=16000, channels=1), tmp_path / "dubbed.mp4")
    video_s, (audio_s,) = decoded_lengths(out)
    assert abs(audio_s - video_s) <= 0.05
    with av.open(str(out)) as c:
        assert (c.streams.audio[0].rate, c.streams.audio[0].channels) == (16000, 1)
    assert video_packets(out) == video_packets(src)


def test_unreadable_mix_is_a_render_error(tmp_path: Path) -> None:
    bad = tmp_path / "mix.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(RenderError, match=r"mix\.wav"):
        mux(real_clip("bigbuckbunny.mp4"), bad, tmp_path / "dubbed.mp4")
    assert not (tmp_path / "dubbed.mp4").exists()


def test_display_rotation_survives(tmp_path: Path) -> None:
    """A phone video's display matrix is stream data too: the dub must play upright like the source."""
    src = tmp_path / "rotated.mp4"
    with av.open(str(src), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.set_display_rotation(90)
        for i in range(25):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    dubbed = mux(src, write_mix(tmp_path / "mix.wav", 1.0, sr=16000, channels=1), tmp_path / "dubbed.mp4")
    for path in (src, dubbed):
        with av.open(str(path)) as c:
            assert next(c.decode(video=0)).rotation == 90


def _seam_errors(out: Path, mix: np.ndarray, seam: int, sr: int) -> tuple[float, float]:
    with av.open(str(out)) as c:
        pcm = np.concatenate([f.to_ndarray() for f in c.decode(c.streams.audio[0])], axis=1).T
    err = pcm[: len(mix)] - mix[: len(pcm)]
    near = err[seam - 2048 : seam + 2048]
    return float(np.sqrt((near**2).mean())), float(np.abs(near).max())


def test_a_long_mix_is_encoded_in_two_halves_without_a_seam(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lvas.media.mux as mux_module

    sr, seconds = 44100, 8.0
    src = make_clip(tmp_path / "v.mp4", colour_cuts([2.0]), seconds=seconds, fps=25)
    t = np.arange(round(seconds * sr)) / sr
    sig = 0.2 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    seam = len(t) // 2 // mux_module.AAC_FRAME * mux_module.AAC_FRAME
    sig[seam + 200 : seam + 400] += 0.6  # a transient just after the seam: the hardest case for the encoder
    mix = np.stack([sig, 0.5 * sig], axis=1).astype(np.float32)
    sf.write(tmp_path / "mix.wav", mix, sr)
    monkeypatch.setattr(mux_module, "SPLIT_MIN_S", 1e9)
    one = mux(src, tmp_path / "mix.wav", tmp_path / "one.mp4")
    monkeypatch.setattr(mux_module, "SPLIT_MIN_S", 1.0)
    two = mux(src, tmp_path / "mix.wav", tmp_path / "two.mp4")
    assert video_packets(two) == video_packets(src)
    assert len(audio_packets(two, 0)) == len(audio_packets(one, 0))
    assert decoded_lengths(two) == decoded_lengths(one)
    # The halves' encoders differ only in quantisation noise: around the seam the split encode is
    # as close to the mix as one encode is (measured: RMS 1.03x, peak 1.07x; no context: far worse).
    (rms1, peak1), (rms2, peak2) = _seam_errors(one, mix, seam, sr), _seam_errors(two, mix, seam, sr)
    assert rms2 <= 1.2 * rms1 and peak2 <= 1.3 * peak1, (rms1, rms2, peak1, peak2)


def test_a_split_encode_of_a_mono_16k_mix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import lvas.media.mux as mux_module

    monkeypatch.setattr(mux_module, "SPLIT_MIN_S", 1.0)
    src = make_clip(tmp_path / "v.mp4", colour_cuts([1.0]), seconds=4.0, fps=25)
    out = mux(src, write_mix(tmp_path / "mix.wav", 4.0, sr=16000, channels=1), tmp_path / "dubbed.mp4")
    with av.open(str(out)) as c:
        assert (c.streams.audio[0].channels, c.streams.audio[0].rate) == (1, 16000)
    video_s, (audio_s,) = decoded_lengths(out)
    assert abs(audio_s - video_s) <= 0.05
    assert video_packets(out) == video_packets(src)
