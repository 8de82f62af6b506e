"""Probing: real clips, synthetic rotation and VFR, and what the probe reports."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pytest

from lvas.errors import VideoProbeError
from lvas.media.decode import iter_frames
from lvas.media.probe import decoder_threads, probe
from tests import storyboard_clips as sc
from tests.clips import make_clip, real_clip, solid


def test_real_clip_with_audio() -> None:
    info = probe(real_clip("bigbuckbunny.mp4"))
    assert (info.width, info.height, info.fps) == (1280, 720, 25.0)
    assert info.duration_s == pytest.approx(5.28, abs=0.05)
    assert info.frame_count == 132
    assert info.has_audio and info.audio_codec == "aac" and info.video_codec == "h264"
    assert info.rotation == 0 and not info.variable_frame_rate


def test_ntsc_rate_is_kept_exact() -> None:
    info = probe(real_clip("carphone_pristine.mp4"))
    assert info.fps == pytest.approx(30000 / 1001)
    assert (info.width, info.height, info.frame_count) == (176, 144, 120)


def test_rotation_swaps_display_size(tmp_path: Path) -> None:
    info = probe(sc.make_rotated_clip(tmp_path / "rot.mp4", degrees_ccw=90))
    assert info.rotation == 270  # 90 degrees counter-clockwise = 270 clockwise
    assert (info.width, info.height) == (48, 64)


def test_variable_frame_rate_detected(tmp_path: Path) -> None:
    info = probe(sc.make_vfr_clip(tmp_path / "vfr.mp4", gap_s=1.0))
    assert info.variable_frame_rate
    assert info.frame_count == 50
    assert info.duration_s == pytest.approx(3.0, abs=0.05)


def test_constant_rate_clip_is_not_vfr(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "c.mp4", lambda i, t: solid((i, 0, 0)), seconds=1.0))
    assert not info.variable_frame_rate and info.frame_count == 25 and info.fps == 25.0


def test_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "not a video.mp4"
    bad.write_text("hello")
    with pytest.raises(VideoProbeError, match=r"not a video\.mp4: not a readable video file"):
        probe(bad)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_decode_backends_agree_on_vfr_times(tmp_path: Path, backend: str) -> None:
    clip = sc.make_vfr_clip(tmp_path / "vfr.mp4", gap_s=1.0)
    info = probe(clip)
    chunks = list(iter_frames(clip, info, width=32, chunk=16, backend=backend))
    times = np.concatenate([c.times for c in chunks])
    assert [c.start for c in chunks] == [0, 16, 32, 48]
    assert chunks[0].frames.shape[1:] == (24, 32, 3)
    np.testing.assert_allclose(times[[0, 24, 25, 49]], [0.0, 0.96, 2.0, 2.96], atol=1e-3)


def test_frames_never_shown_do_not_shift_frame_numbers(tmp_path: Path) -> None:
    """decord numbers a WebM's hidden VP8 frames too: keyframes read back by the analysis' frame
    numbers must be those frames (sheets and keyframe JPEGs showed other pictures)."""
    from lvas.media.decode import read_frames

    clip = sc.make_hidden_frames_webm(tmp_path / "hidden.webm")
    info = probe(clip)
    wanted = [27, 58, 99]  # 6, 12 and 20 hidden frames before them
    got = read_frames(clip, info, wanted, width=64)
    assert sorted(got) == wanted
    for i in wanted:  # frame i is grey level 2 i, give or take the codec's rounding
        assert abs(float(got[i].mean()) / 2 - i) < 2.5, (i, got[i].mean())
    for backend in ("decord", "pyav"):
        times = np.concatenate([c.times for c in iter_frames(clip, info, width=32, backend=backend)])
        assert len(times) == 100 and np.all(np.diff(times) > 0), backend


def test_growing_chunks_hold_the_same_frames_in_fewer_chunks(tmp_path: Path) -> None:
    """After the first chunk, chunks of small frames grow (up to GROWN_CHUNK_FRAMES): the same
    frames and times, fewer chunks; larger frames keep the chunk size."""
    from lvas.media import decode

    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid((i * 9 % 256, 0, 0)), seconds=12.0)
    info = probe(clip)
    plain = list(iter_frames(clip, info, width=32, rgb=False))
    grown = list(iter_frames(clip, info, width=32, rgb=False, grow=True))
    assert [len(c.frames) for c in plain] == [64, 64, 64, 64, 44]
    assert [len(c.frames) for c in grown] == [64, decode.GROWN_CHUNK_FRAMES, 300 - 64 - decode.GROWN_CHUNK_FRAMES]
    np.testing.assert_array_equal(np.concatenate([c.frames for c in grown]), np.concatenate([c.frames for c in plain]))
    np.testing.assert_array_equal(np.concatenate([c.times for c in grown]), np.concatenate([c.times for c in plain]))
    assert [c.start for c in grown] == [0, 64, 64 + decode.GROWN_CHUNK_FRAMES]
    wide = make_clip(tmp_path / "w.mp4", lambda i, t: solid((i % 256, 0, 0), (640, 360)), seconds=6.0, size=(640, 360))
    assert {len(c.frames) for c in iter_frames(wide, probe(wide), width=160, rgb=False, grow=True)} == {64, 22}


def test_rotated_frames_are_upright(tmp_path: Path) -> None:
    clip = sc.make_rotated_clip(tmp_path / "rot.mp4", degrees_ccw=90)
    frame = next(iter(iter_frames(clip, probe(clip), width=48))).frames[0]
    assert frame.shape == (64, 48, 3)
    assert frame[40:].mean() > 200 and frame[:24].mean() < 60  # coded left half now at the bottom


def test_analysis_frames_sampled_from_planes_match_the_picture(tmp_path: Path) -> None:
    """A 4x larger frame is sampled from the Y'CbCr planes (no swscale); colours survive the trip."""
    colours = [(200, 30, 40), (20, 180, 90), (60, 70, 220), (128, 128, 128)]
    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid(colours[i // 5], (640, 360)), seconds=0.8,
                     size=(640, 360))
    info = probe(clip)
    native = list(iter_frames(clip, info, width=160, rgb=False))
    assert native[0].colour.startswith("yuv") and native[0].frames.shape[1:] == (90, 160, 3)
    rgb = np.concatenate([c.frames for c in iter_frames(clip, info, width=160)])
    for k, colour in enumerate(colours):
        assert np.abs(rgb[5 * k + 2].reshape(-1, 3).mean(0) - colour).max() < 6, (k, rgb[5 * k + 2, 0, 0])
    small = next(iter(iter_frames(clip, info, width=320, rgb=False)))  # only 2x: still sampled
    assert small.colour.startswith("yuv")
    tiny = make_clip(tmp_path / "t.mp4", lambda i, t: solid((9, 9, 9)), seconds=0.2)
    assert next(iter(iter_frames(tiny, probe(tiny), width=160, rgb=False))).colour.startswith("yuv")  # sampled too


@pytest.mark.parametrize("space", ["yuv601", "yuv709", "yuvj601", "yuvj709"])
def test_rgb5_codes_equal_quantised_conversion(space: str) -> None:
    from lvas.media.colour import rgb5_codes, to_rgb
    from lvas.media.shots import quantise

    yuv = np.random.default_rng(0).integers(0, 256, (8, 60, 80, 3), dtype=np.uint8)
    exact = quantise(to_rgb(yuv, space)).reshape(-1)
    got = rgb5_codes(yuv, space).reshape(-1)
    np.testing.assert_array_equal(got >> 10, exact >> 10)  # red: exact table over (Y, Cr)
    np.testing.assert_array_equal(got & 31, exact & 31)  # blue: exact table over (Y, Cb)
    assert (got == exact).mean() > 0.995  # green: fixed point, off by one step only at a step's edge
    assert np.abs(((got >> 5) & 31).astype(int) - ((exact >> 5) & 31)).max() <= 1


@pytest.mark.parametrize("space", ["yuv601", "yuv709", "yuvj601", "yuvj709"])
def test_yuv5_cells_of_greys_are_grey_and_near_the_exact_colour(space: str) -> None:
    """Neutral chroma (128) is a cell's centre: every grey, near black too, looks up a grey (a cell
    taken at 132 made dark greys saturated magenta); any colour's cell is within a step of its own."""
    from lvas.media.colour import rgb5_codes, rgb5_of_yuv5, yuv5_index

    greys = np.stack([np.arange(256), np.full(256, 128), np.full(256, 128)], -1).astype(np.uint8)
    code = rgb5_of_yuv5(space)[yuv5_index(greys)].astype(int)
    assert ((code >> 10) == (code & 31)).all() and (((code >> 5) & 31) == (code & 31)).all()
    yuv = np.random.default_rng(1).integers(0, 256, (20000, 3), dtype=np.uint8)
    cell, exact = rgb5_of_yuv5(space)[yuv5_index(yuv)].astype(int), rgb5_codes(yuv, space).astype(int)
    for shift in (10, 5, 0):  # half a cell of Y, Cb and Cr moves a 5-bit channel about a step
        assert np.median(np.abs(((cell >> shift) & 31) - ((exact >> shift) & 31))) <= 1


def test_yuv5_index_is_each_components_nearest_cell_however_the_samples_lie() -> None:
    """Every (Y, Cb, Cr) maps to its cells ``min((c + 4) >> 3, 31)``, read as one (Cb, Cr) pair
    where the components lie side by side, one at a time where they do not."""
    from lvas.media.colour import yuv5_index

    v = np.arange(256)
    yuv = np.stack(np.meshgrid(v, v, v[::-1], indexing="ij"), -1).astype(np.uint8)  # every triple
    cell = np.minimum((yuv.astype(int) + 4) >> 3, 31)
    expected = (cell[..., 0] << 10) | (cell[..., 1] << 5) | cell[..., 2]
    np.testing.assert_array_equal(yuv5_index(yuv), expected)
    apart = np.asfortranarray(yuv[:4])  # components not adjacent in memory
    assert apart.strides[-1] != 1
    np.testing.assert_array_equal(yuv5_index(apart), expected[:4])
    np.testing.assert_array_equal(yuv5_index(yuv[:, ::3, 1::2]), expected[:, ::3, 1::2])


def test_read_ahead_yields_the_same_chunks_and_surfaces_errors(tmp_path: Path) -> None:
    from lvas.media import decode

    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid((i * 9 % 256, 0, 0)), seconds=2.0)
    info = probe(clip)
    ahead = list(iter_frames(clip, info, width=32, chunk=8))
    inline = list(iter_frames(clip, info, width=32, chunk=8, read_ahead=0))
    assert [c.start for c in ahead] == [c.start for c in inline] == list(range(0, 50, 8))
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(ahead, inline, strict=True))
    it = iter_frames(clip, info, width=32, chunk=8)
    next(it)
    it.close()  # abandoned after one chunk: the decode thread stops, nothing hangs
    assert not [t for t in decode.threading.enumerate() if t.name == "lvas-decode"]

    def broken():
        yield ahead[0]
        raise decode.DecodeError("c.mp4: decoding failed after frame 8")

    got = decode._read_ahead(broken(), 2)
    assert next(got).start == 0
    with pytest.raises(decode.DecodeError, match="after frame 8"):
        next(got)


# Run in a fresh interpreter: the test process holds other tests' threads (a Dask cluster, Prefect),
# where decoding apart is refused, and a fork there could copy them mid-work.
APART_CHECKS = """
import multiprocessing, os, sys, threading
import numpy as np
from lvas.errors import DecodeError
from lvas.media import analysis, decode
from lvas.media.decode import analysis_decoder, iter_frames
from lvas.media.probe import open_video, probe
from lvas.media.shots import ShotSettings

clip, cut = sys.argv[1], sys.argv[2]
assert decode.can_decode_apart()
forks = []
fork = decode._decode_apart
decode._decode_apart = lambda make, path: (forks.append(path), fork(make, path))[1]

def decoding():
    return [p for p in multiprocessing.active_children() if p.name == "lvas-decode"]

def same(got, want):
    assert [c.start for c in got] == [c.start for c in want] == list(range(0, 50, 8))
    for a, b in zip(got, want, strict=True):
        assert a.colour == b.colour and a.frames.flags.writeable
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.times, b.times)

info = probe(clip)
inline = list(iter_frames(clip, info, width=32, chunk=8, rgb=False, read_ahead=0))
_, container, first = open_video(clip, analysis_decoder)
same(list(iter_frames(clip, info, width=32, chunk=8, rgb=False, opened=(container, first), apart=True)), inline)
assert len(forks) == 1
it = iter_frames(clip, info, width=32, chunk=8, rgb=False, apart=True)
next(it)
it.close()  # abandoned after one chunk: the process is ended, nothing hangs
assert len(forks) == 2 and not decoding()

def broken():
    yield inline[0]
    raise DecodeError("c.mp4: decoding failed after frame 8")

def unpicklable():
    yield inline[0]
    raise RuntimeError(lambda: None)

def killed():
    yield inline[0]
    os._exit(3)

for make, text in ((broken, "c.mp4: decoding failed after frame 8"),
                   (unpicklable, "c.mp4: decoding failed (RuntimeError: <function"),
                   (killed, "c.mp4: the decoding process ended early (exit code 3)")):
    got = fork(make, "c.mp4")
    assert next(got).start == 0
    try:
        next(got)
        raise AssertionError("no error")
    except DecodeError as exc:
        assert str(exc).startswith(text), exc
assert not decoding()

# lvas shots (latency): a long video of small frames is decoded apart, and analysed the same
analysis.APART_MIN_FRAMES = 40
waiting = analysis.analyze(cut, ShotSettings(), latency=True)
assert forks[-1] == cut and len(forks) == 3
batch = analysis.analyze(cut, ShotSettings())
assert len(forks) == 3 and waiting.cut_frames == batch.cut_frames == [25]
np.testing.assert_array_equal(waiting.stats.e1, batch.stats.e1)

# another thread running: no fork, a thread instead
done = threading.Event()
other = threading.Thread(target=done.wait)
other.start()
assert not decode.can_decode_apart()
same(list(iter_frames(clip, info, width=32, chunk=8, rgb=False, apart=True)), inline)
assert len(forks) == 3
done.set()
other.join()
print("ok")
"""


def test_decoding_apart_yields_the_same_chunks_surfaces_errors_and_ends(tmp_path: Path) -> None:
    """Decoded in a forked process: the same chunks and analysis; its errors raised in the caller
    naming the file; no process left over; refused where another thread runs."""
    import subprocess
    import sys

    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid((i * 9 % 256, 40, 200 - i)), seconds=2.0)
    rng = np.random.default_rng(0)
    shots = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(2)]
    cut = make_clip(tmp_path / "cut.mp4", lambda i, t: shots[i >= 25], seconds=2.0)
    run = subprocess.run([sys.executable, "-c", APART_CHECKS, str(clip), str(cut)], capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]


def test_open_video_goes_on_from_the_probe(tmp_path: Path) -> None:
    """The analysis probes and decodes from one opening: the same frames and times as a fresh one."""
    from lvas.media.decode import analysis_decoder
    from lvas.media.probe import open_video, probe_media

    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid((i * 11 % 256, 40, 200 - i)), seconds=1.5)
    info, container, first = open_video(clip, analysis_decoder)
    container.close()
    assert info == probe_media(clip) and len(first) >= 1 and first[0].time == 0
    for ahead in (0, 2):
        info, container, first = open_video(clip, analysis_decoder)
        reused = list(iter_frames(clip, info, width=32, chunk=8, rgb=False, read_ahead=ahead,
                                  opened=(container, first)))
        fresh = list(iter_frames(clip, info, width=32, chunk=8, rgb=False, read_ahead=ahead))
        assert sum(len(c.frames) for c in reused) == sum(len(c.frames) for c in fresh) == info.frame_count
        for a, b in zip(reused, fresh, strict=True):
            assert a.start == b.start and a.colour == b.colour
            np.testing.assert_array_equal(a.frames, b.frames)
            np.testing.assert_array_equal(a.times, b.times)
    with pytest.raises(VideoProbeError, match="empty"):
        (tmp_path / "e.mp4").write_bytes(b"")
        open_video(tmp_path / "e.mp4")


def test_open_video_ahead_is_open_video_in_a_thread(tmp_path: Path) -> None:
    """Opened in the background: the same probe and first frames, and errors raised in the caller."""
    from lvas.media.analysis import analyze
    from lvas.media.probe import analysis_decoder, open_video_ahead, probe_media
    from lvas.media.shots import ShotSettings

    clip = make_clip(tmp_path / "c.mp4", lambda i, t: solid((i * 11 % 256, 40, 200 - i)), seconds=1.5)
    info, container, first = open_video_ahead(clip, analysis_decoder)()
    container.close()
    assert info == probe_media(clip) and len(first) >= 1 and first[0].time == 0
    ahead = analyze(clip, ShotSettings(), opened=open_video_ahead(clip, analysis_decoder)())
    plain = analyze(clip, ShotSettings())
    assert ahead.cut_frames == plain.cut_frames and np.array_equal(ahead.stats.t_s, plain.stats.t_s)
    (tmp_path / "e.mp4").write_bytes(b"")
    result = open_video_ahead(tmp_path / "e.mp4", analysis_decoder)
    with pytest.raises(VideoProbeError, match="empty"):
        result()


def test_decoder_threads_by_frame_size() -> None:
    """From 720p, frame threads, one per usable core (one-slice frames); smaller, slice threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores = min(cores, 16)
    for path, kind, count in ((real_clip("bigbuckbunny.mp4"), "AUTO", cores), (real_clip("bikes.mp4"), "SLICE", None)):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            before = stream.thread_count
            decoder_threads(stream)
            assert stream.thread_type.name == kind, path.name
            assert stream.thread_count == (before if count is None else count), path.name


def test_analysis_decoding_keeps_reference_frames_exact(tmp_path: Path) -> None:
    """Deblocking is skipped only where no frame refers to the picture: I and P frames decode as the
    encoder saw them, so nothing drifts until the next keyframe (a false cut on fine text)."""
    from lvas.media.decode import analysis_decoder
    from lvas.media.probe import open_video

    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (96, 256, 3), dtype=np.uint8)
    clip = tmp_path / "fine.mp4"
    with av.open(str(clip), "w") as out:
        vs = out.add_stream("libx264", rate=25, options={"preset": "veryfast", "crf": "30", "bf": "2",
                                                          "x264-params": "b-pyramid=none"})
        vs.width, vs.height, vs.pix_fmt = 128, 96, "yuv420p"
        for i in range(40):
            picture = np.ascontiguousarray(texture[:, 2 * i : 2 * i + 128])
            for pkt in vs.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)

    def planes(container: av.container.InputContainer, first: list[av.VideoFrame]) -> list[tuple[str, np.ndarray]]:
        frames = [*first, *container.decode(video=0)]
        return [(av.video.frame.PictureType(f.pict_type).name, f.to_ndarray(format="gray")) for f in frames]

    with av.open(str(clip)) as plain:
        full = planes(plain, [])
    _, container, first = open_video(clip, analysis_decoder)
    with container:
        fast = planes(container, first)
    assert [k for k, _ in fast] == [k for k, _ in full] and {"I", "P", "B"} <= {k for k, _ in full}
    for (kind, a), (_, b) in zip(fast, full, strict=True):
        if kind in ("I", "P"):
            np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for (kind, a), (_, b) in zip(fast, full, strict=True) if kind == "B")
