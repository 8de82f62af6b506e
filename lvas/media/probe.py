"""Probe a video file with PyAV: duration, frame rate, size, rotation and streams.

Probing reads the container header and decodes the first video frame only: the first frame is
where FFmpeg exposes the display matrix (rotation), and a file whose first frame cannot be decoded
is not worth analysing. Every failure is a :class:`VideoProbeError` whose message starts with the
file name, so a dataset status table says which file and what is wrong with it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av

from lvas.errors import VideoProbeError
from lvas.keys import not_a_regular_file

if TYPE_CHECKING:
    from lvas.models import VideoInfo

# Average and nominal frame rates further apart than this (relative) mean variable frame rate.
VFR_TOLERANCE = 0.01
# From 720p, frame threads, one per usable core: most encoders write one slice per frame, which
# slice threads cannot split (bench/RESULTS.md); below it they cost more than they save.
FRAME_THREADS_MIN_PX = 1280 * 720
MAX_FRAME_THREADS = 16  # FFmpeg's own cap on its automatic count: each thread holds a frame in flight
# deblocking off where no other frame refers to the picture: see lvas.media.decode's notes
ANALYSIS_CODEC_OPTIONS = {"skip_loop_filter": "noref"}


@dataclass(frozen=True)
class MediaInfo:
    """What probing tells, as a plain record with the fields of :class:`lvas.models.VideoInfo`.

    The shot analysis reads only these fields; a plain record spares ``lvas shots`` the import
    of pydantic, part of what a user waits for on every short clip.
    """

    path: str
    duration_s: float
    fps: float  # average frame rate
    frame_count: int
    width: int  # display width, after rotation
    height: int  # display height, after rotation
    rotation: int = 0  # degrees clockwise the player rotates by
    variable_frame_rate: bool = False
    has_audio: bool = False
    video_codec: str = ""
    audio_codec: str | None = None


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Describe a video file without decoding more than its first frame.

    Arguments:
        path: the video file.

    Returns:
        VideoInfo with the display size (after rotation), average fps, duration, frame count,
        rotation (degrees clockwise), whether the frame rate is variable, and the audio stream.

    Raises:
        VideoProbeError: the path is missing, a directory or empty; the file is not a media
            file, is truncated, has no video stream (audio-only) or no decodable frame.
    """
    from lvas.models import VideoInfo  # pydantic, imported only by callers that want the model

    return VideoInfo(**asdict(probe_media(path)))


def probe_media(path: str | os.PathLike[str]) -> MediaInfo:
    """:func:`probe` as a plain :class:`MediaInfo` (no pydantic import).

    Raises:
        VideoProbeError: as :func:`probe`.
    """
    info, container, _ = open_video(path)
    container.close()
    return info


def analysis_decoder(stream: av.video.stream.VideoStream) -> None:
    """Prepare a video stream's decoder for the analysis path (lvas.media.decode), before its first
    frame: threads as its frame size asks, in-loop deblocking skipped on frames nothing refers to."""
    decoder_threads(stream)
    stream.codec_context.options = dict(ANALYSIS_CODEC_OPTIONS)


def decoder_threads(stream: av.video.stream.VideoStream) -> None:
    """Frame threads for large frames, one per core this process may use up to FFmpeg's own cap of
    16 (its automatic count has one more, which the analysis thread beside it pays for); slice
    threads below FRAME_THREADS_MIN_PX."""
    large = (stream.codec_context.width or 0) * (stream.codec_context.height or 0) >= FRAME_THREADS_MIN_PX
    stream.thread_type = "AUTO" if large else "SLICE"
    if large:
        usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
        stream.thread_count = min(len(usable), MAX_FRAME_THREADS)


def open_video(
    path: str | os.PathLike[str], configure: Callable[[av.video.stream.VideoStream], None] | None = None
) -> tuple[MediaInfo, av.container.InputContainer, list[av.VideoFrame]]:
    """Probe a video and leave it open, decoded up to its first frame, for a caller that goes on to
    decode all of it: the file is opened, and its decoder started, once.

    Arguments:
        path: the video file.
        configure: called with the video stream before anything is decoded (threads, codec options).

    Returns:
        (what :func:`probe_media` returns, the open container, which the caller closes, the frames
        decoded so far, the first frame first).

    Raises:
        VideoProbeError: as :func:`probe`.
    """
    p = Path(path)
    _check_file(p)
    try:
        container = av.open(str(p))
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        raise VideoProbeError(f"{p}: not a readable video file ({_reason(exc)})") from exc
    try:
        info, first = _describe(p, container, configure)
    except BaseException:
        container.close()
        raise
    return info, container, first


def open_video_ahead(
    path: str | os.PathLike[str], configure: Callable[[av.video.stream.VideoStream], None] | None = None
) -> Callable[[], tuple[MediaInfo, av.container.InputContainer, list[av.VideoFrame]]]:
    """:func:`open_video` started in a thread now; the returned function waits for it and returns
    its result or raises its error. FFmpeg probes and decodes the first frames without holding the
    GIL, so the caller can import what it needs meanwhile (numpy takes as long as opening a 720p
    file: lvas shots on a short clip waited for both in turn)."""
    out: list = []

    def run() -> None:
        try:
            out.append(open_video(path, configure))
        except BaseException as exc:  # raised in the caller's thread by the function returned
            out.append(exc)

    thread = threading.Thread(target=run, name="lvas-open", daemon=True)
    thread.start()

    def result() -> tuple[MediaInfo, av.container.InputContainer, list[av.VideoFrame]]:
        thread.join()
        if isinstance(out[0], BaseException):
            raise out[0]
        return out[0]

    return result


def _describe(
    p: Path, container: av.container.InputContainer, configure: Callable[[av.video.stream.VideoStream], None] | None
) -> tuple[MediaInfo, list[av.VideoFrame]]:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        what = "audio-only file" if kinds == ["audio"] else f"streams: {', '.join(kinds) or 'none'}"
        raise VideoProbeError(f"{p}: no video stream ({what})")
    stream = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    fps = _frame_rate(stream)
    if fps is None:
        raise VideoProbeError(f"{p}: the video stream declares no frame rate")
    duration = _duration(container, stream)
    if configure is not None:
        configure(stream)
    first = _first_frames(p, container, stream)
    rotation = (-int(first[0].rotation)) % 360 or _rotate_tag(stream)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation in (90, 270):
        width, height = height, width
    frame_count = int(stream.frames) or max(1, round(duration * float(fps)))
    if duration <= 0:
        duration = frame_count / float(fps)
    info = MediaInfo(
        path=str(p.absolute()),
        duration_s=duration,
        fps=float(fps),
        frame_count=frame_count,
        width=width,
        height=height,
        rotation=rotation,
        variable_frame_rate=_is_vfr(stream, fps),
        has_audio=audio is not None,
        video_codec=stream.codec_context.name,
        audio_codec=audio.codec_context.name if audio is not None else None,
    )
    return info, first


def _check_file(p: Path) -> None:
    problem = not_a_regular_file(p)  # by stat: a FIFO is never opened (that would block)
    if problem is not None:
        raise VideoProbeError(f"{p}: {problem}")
    if p.stat().st_size == 0:
        raise VideoProbeError(f"{p}: empty file (0 bytes)")


def _reason(exc: BaseException) -> str:
    # FFmpeg messages repeat the path; keep the part that says what is wrong.
    msg = getattr(exc, "strerror", None) or str(exc)
    return msg.split(":")[0].strip() if isinstance(msg, str) and msg else type(exc).__name__


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _is_vfr(stream: av.video.stream.VideoStream, fps: Fraction) -> bool:
    """Variable frame rate: the average rate differs from the nominal (r_frame_rate) one."""
    nominal = stream.base_rate or stream.guessed_rate
    if not nominal or nominal <= 0:
        return False
    return abs(float(fps) - float(nominal)) / float(nominal) > VFR_TOLERANCE


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    # The video stream's own duration: the container's includes a possibly longer audio track.
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _first_frames(p: Path, container: av.container.InputContainer, stream) -> list[av.VideoFrame]:
    """Decode up to the first frame (all the frames its packet gave): proves the stream decodes, and
    the first frame carries the display matrix."""
    try:
        for packet in container.demux(stream):
            frames = packet.decode()
            if frames:
                return list(frames)
    except (av.FFmpegError, ValueError) as exc:
        raise VideoProbeError(f"{p}: the first video frame cannot be decoded ({_reason(exc)})") from exc
    raise VideoProbeError(f"{p}: the video stream has no decodable frame (truncated or corrupt file)")


def _rotate_tag(stream: av.video.stream.VideoStream) -> int:
    """The legacy ``rotate`` metadata tag (clockwise degrees), used when no display matrix exists."""
    try:
        return int(stream.metadata.get("rotate", "0")) % 360
    except ValueError:
        return 0
