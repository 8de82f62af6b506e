"""Put the mix under the picture: video packets copied untouched, the mix encoded as AAC (PyAV).

No ffmpeg binary is needed. The video stream is never decoded or re-encoded, so the dubbed file's
picture is bit-identical to the input's. An existing audio track is replaced, or kept as a
second track (after the mix) when asked.

A mix of at least ``SPLIT_MIN_S`` is encoded as two halves at once (FFmpeg's AAC encoder is
single-threaded and releases the GIL): encoding a 180 s stereo mix took 2.2 s instead of 4.0 s on
this 2-core machine. Each half's encoder also sees ``SEAM_CONTEXT`` samples (4 frames) past the
seam, and only the packets on its own side of the seam are kept. An AAC-LC frame decodes without
data of other frames (unlike MP3's bit reservoir), and the two MDCT frames that overlap at the
seam were both computed from the same input, with four frames of context in which to settle
their window decisions; so their aliasing cancels as it does between any two frames and the
halves differ only in quantisation noise. tests/test_mux.py decodes a split encode with a
transient just after the seam and compares it with one encode (and fails without the context).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from lvas.errors import RenderError
from lvas.storage.atomic import atomic_path

AAC_BITRATE = 192_000
AAC_FRAME = 1024
AAC_OPTIONS = {"aac_coder": "fast"}  # 4x faster than the default twoloop coder; fine at 192 kb/s
SPLIT_MIN_S = 60.0  # mixes at least this long are encoded in two halves at once
SEAM_CONTEXT = 4 * AAC_FRAME  # samples each half's encoder sees past the seam


def mux(
    video_path: str | Path, mix_wav: str | Path, out_mp4: str | Path, keep_original_audio: bool = False
) -> Path:
    """Write ``out_mp4``: the video stream of ``video_path`` (copied) plus ``mix_wav`` as AAC.

    Arguments:
        video_path: the source video.
        mix_wav: the mix (any rate/channels soundfile reads; mono or stereo).
        out_mp4: destination, written atomically.
        keep_original_audio: keep the source's first audio track as a second track (stream-copied).

    Returns:
        ``out_mp4``.

    Raises:
        RenderError: the video or the mix cannot be read, or muxing failed.
    """
    try:
        audio, rate = sf.read(str(mix_wav), dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as exc:
        raise RenderError(f"cannot read the mix {mix_wav}: {exc}") from exc
    if audio.shape[1] > 2:
        audio = audio[:, :2]
    try:
        with (
            av.open(str(video_path)) as src,
            atomic_path(out_mp4) as tmp,
            av.open(str(tmp), "w", format="mp4") as dst,
        ):
            _mux(src, dst, audio, int(rate), keep_original_audio)
    except av.error.FFmpegError as exc:
        raise RenderError(f"muxing {video_path} with {mix_wav} into {out_mp4} failed: {exc}") from exc
    return Path(out_mp4)


def _mux(
    src: av.container.InputContainer,
    dst: av.container.OutputContainer,
    audio: np.ndarray,
    rate: int,
    keep: bool,
) -> None:
    if not src.streams.video:
        raise RenderError(f"{src.name} has no video stream to dub")
    v_in = src.streams.video[0]
    v_out = dst.add_stream_from_template(v_in)
    a_out = dst.add_stream("aac", rate=rate)
    _set_aac(a_out, audio.shape[1])
    a_out.metadata["title"] = "lvas mix"
    orig_in = src.streams.audio[0] if keep and src.streams.audio else None
    orig_out = dst.add_stream_from_template(orig_in) if orig_in is not None else None
    wanted = [v_in] + ([orig_in] if orig_in is not None else [])
    mix_packets = _encode(a_out, audio, rate)
    pending = next(mix_packets, None)
    for packet in src.demux(wanted):
        if packet.dts is None:  # the demuxer's flush packet
            continue
        # Interleave by time: everything of the mix that starts before this packet goes first.
        t = float(packet.dts * packet.time_base)
        while pending is not None and float(pending.dts * pending.time_base) <= t:
            dst.mux(pending)
            pending = next(mix_packets, None)
        packet.stream = v_out if packet.stream.index == v_in.index else orig_out
        dst.mux(packet)
    while pending is not None:
        dst.mux(pending)
        pending = next(mix_packets, None)


def _layout(channels: int) -> str:
    return "stereo" if channels == 2 else "mono"


def _set_aac(target: av.audio.stream.AudioStream | av.CodecContext, channels: int) -> None:
    """The AAC encoder's settings: the output stream's and the second half's encoder alike."""
    target.layout = _layout(channels)
    target.bit_rate = AAC_BITRATE
    target.options = dict(AAC_OPTIONS)


def _encode(stream: av.audio.stream.AudioStream, audio: np.ndarray, rate: int) -> Iterator[av.Packet]:
    """AAC packets of ``audio`` ``(samples, channels)`` in 1024-sample frames, in order; a long mix
    in two halves encoded at once (module notes)."""
    n = len(audio)
    if n < SPLIT_MIN_S * rate:
        yield from _frames_encoded(stream.encode, audio, rate, 0, n)
        return
    seam = n // 2 // AAC_FRAME * AAC_FRAME
    second = av.CodecContext.create("aac", "w")
    second.sample_rate, second.format, second.time_base = rate, "fltp", Fraction(1, rate)
    _set_aac(second, audio.shape[1])
    tail: list[av.Packet] = []
    failed: list[BaseException] = []

    def encode_second() -> None:
        try:
            tail.extend(p for p in _frames_encoded(second.encode, audio, rate, seam - SEAM_CONTEXT, n)
                        if p.pts >= seam)
        except BaseException as exc:  # raised in the caller's thread below
            failed.append(exc)

    worker = threading.Thread(target=encode_second, name="lvas-aac", daemon=True)
    worker.start()
    try:
        for packet in _frames_encoded(stream.encode, audio, rate, 0, min(n, seam + SEAM_CONTEXT)):
            if packet.pts < seam:
                yield packet
    finally:
        worker.join()
    if failed:
        raise failed[0]
    for packet in tail:
        packet.stream = stream  # packets of a bare codec context belong to no stream yet
        yield packet


def _frames_encoded(
    encode: Callable[[av.AudioFrame | None], list[av.Packet]], audio: np.ndarray, rate: int, start: int, end: int
) -> Iterator[av.Packet]:
    """``encode`` (a codec context's) over samples [start, end) in 1024-sample frames, then flushed.
    Frames are stamped with their sample position, so packets carry it too (less the encoder delay)."""
    layout = _layout(audio.shape[1])
    planar = np.ascontiguousarray(audio[start:end].T)
    for offset in range(0, planar.shape[1], AAC_FRAME):
        frame = av.AudioFrame.from_ndarray(planar[:, offset : offset + AAC_FRAME], format="fltp", layout=layout)
        frame.sample_rate = rate
        frame.pts = start + offset
        frame.time_base = Fraction(1, rate)
        yield from encode(frame)
    yield from encode(None)
