"""Stream decoded frames in small chunks at a reduced size, with PyAV (or decord).

The analysis path is PyAV with three shortcuts, measured on the 60 s 720p H.264 benchmark clip
(1550 frames, 2 cores; bench/RESULTS.md has the whole scan against PySceneDetect):

- the in-loop deblocking filter is skipped on frames no other frame refers to
  (``skip_loop_filter=noref``): it changes their pixels by a few levels near block edges. Skipping
  it on reference frames too (``all``) saves more, but then every frame predicted from them drifts
  from what the encoder saw until the next keyframe, and a keyframe showed as a jump of colour (a
  false cut) on a scroll of fine text (bench/RESULTS.md, eleventh round).
- the analysis-size frame is sampled straight from the decoder's Y/U/V planes (one pixel per cell,
  a strided view) instead of asking swscale for a scaled RGB copy (1-3 ms a frame at 720p), at
  every frame size: where the frame is not much larger than the analysis grid, subsampled chroma
  is repeated rather than interpolated, which the shot analysis does not notice. The samples go
  straight into one buffer per plane and chunk (a small frame's planes are copied whole and
  sampled once per chunk), so a frame costs a few copies and no array of its own. Pixel formats
  other than 8-bit planar Y'CbCr still go through swscale. ``rgb=False`` hands the samples on as
  Y'CbCr (the shot analysis turns them into RGB codes by table, lvas.media.colour); otherwise
  they are converted.
- decoding runs in a thread up to two chunks ahead of the caller, or, for a long video of small
  frames where a person waits, in a forked process of its own (``apart``): there PyAV's per-frame
  work holds the GIL about as long as the caller's analysis does, and a thread barely overlaps.

decord remains for random access to a few frames (keyframes at report size) and as an optional
streaming backend. Rotation is applied here on PyAV frames (decord 0.6 returns a 4-channel, wrongly
shaped frame for a display-matrix rotation, measured on a 64x48 clip rotated by 90 degrees).

Every chunk carries per-frame presentation times, never ``i / fps`` (variable frame rate: measured
on a clip with a 1 s gap, both backends return the true times). At most a few chunks of frames are
alive at a time, so memory does not grow with the video's length.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import queue
import signal
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import av
import numpy as np

from lvas.errors import DecodeError
from lvas.media.colour import space_of, to_rgb
from lvas.media.probe import analysis_decoder, decoder_threads

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    import decord

    from lvas.media.probe import MediaInfo
    from lvas.models import VideoInfo

logger = logging.getLogger(__name__)

CHUNK_FRAMES = 64
# Growing chunks (``iter_frames(grow=True)``): after the first, chunks of frames under 160x90 grow
# until they hold what 64 frames at 160x90 do, up to GROWN_CHUNK_FRAMES frames (per-chunk overhead
# amortised on small frames); larger frames keep the chunk size asked for
CHUNK_SAMPLES = CHUNK_FRAMES * 160 * 90
GROWN_CHUNK_FRAMES = 2 * CHUNK_FRAMES
# Decoding in a thread ahead of the caller saves wall time for its CPU cost from READ_AHEAD_MIN_PX;
# below it, only where a person waits (lvas shots). The decoder's own threads and options are set
# by lvas.media.probe.analysis_decoder (kept there, without numpy, so that a file can be opened
# while numpy is still being imported).
READ_AHEAD_MIN_PX = 640 * 360
# Below it, a video of at least this many frames is decoded in a forked process (``apart``): a
# shorter one does not pay back the process's start; larger frames are FFmpeg's own threads' work.
APART_MIN_FRAMES = 1500
APART_JOIN_S = 2.0  # a decoding process ended is waited for this long, then killed


@dataclass(frozen=True)
class FrameChunk:
    """Consecutive decoded frames: ``frames[k]`` is frame ``start + k`` shown at ``times[k]`` seconds."""

    start: int
    frames: np.ndarray  # (N, H, W, 3) uint8, upright: RGB, or Y'CbCr samples if ``colour`` says so
    times: np.ndarray  # (N,) float64 seconds
    colour: str = "rgb"  # a space of lvas.media.colour


def scaled_size(info: VideoInfo | MediaInfo, width: int) -> tuple[int, int]:
    """Display size scaled to ``width`` (never upscaled), both sides even and at least 2."""
    w = min(width, info.width)
    h = round(info.height * w / info.width)
    return max(2, w - w % 2), max(2, h - h % 2)


def _decord_usable(info: VideoInfo | MediaInfo) -> bool:
    """decord for random access unless the file needs PyAV (rotation) or decord is not importable."""
    if info.rotation:
        return False
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def iter_frames(
    path: str | os.PathLike[str], info: VideoInfo | MediaInfo, *, width: int, chunk: int = CHUNK_FRAMES,
    backend: str = "pyav", rgb: bool = True, read_ahead: int = 2,
    opened: tuple[av.container.InputContainer, list[av.VideoFrame]] | None = None, grow: bool = False,
    apart: bool = False,
) -> Iterator[FrameChunk]:
    """Yield the whole video as upright chunks scaled to ``width``, for analysis.

    Arguments:
        path: the video file (already probed into ``info``).
        info: its probe result (rotation, size, fps).
        width: analysis width in pixels; height follows the display aspect ratio.
        chunk: at most this many frames per chunk.
        backend: 'pyav' (sampled planes, deblocking skipped; see the module notes) or 'decord'
            (swscale-scaled RGB; PyAV takes over from the frame where decord fails).
        rgb: False lets chunks carry Y'CbCr samples where the pixel format allows (``chunk.colour``
            names the space), which skips a per-pixel conversion the shot analysis does not need.
        read_ahead: decode up to this many chunks ahead in a thread while the caller works on the
            current one (FFmpeg releases the GIL while decoding); 0 decodes in the caller's thread.
        opened: the container and first frames of ``lvas.media.probe.open_video(path,
            analysis_decoder)``, to go on from instead of opening the file again (PyAV only); the
            container is closed when the iterator ends.
        grow: after the first chunk (``chunk`` frames, so that a short clip's work starts early),
            chunks of small frames hold up to CHUNK_SAMPLES samples, at most GROWN_CHUNK_FRAMES
            (PyAV only): a caller's per-chunk work costs less on long videos of small frames.
        apart: decode in a forked process instead of a thread, where :func:`can_decode_apart`
            (``read_ahead`` is then ignored; ``opened`` is closed and the file opened again there).

    Returns:
        An iterator of FrameChunk; frame indices are consecutive from 0.

    Raises:
        DecodeError: no frame at all could be decoded.
    """
    size = scaled_size(info, width)
    if apart and can_decode_apart():
        if opened is not None:
            opened[0].close()  # its decoder's threads would not exist in the forked process
        return _decode_apart(lambda: _frames(path, info, size, chunk, backend, rgb, None, grow), path)
    frames = _frames(path, info, size, chunk, backend, rgb, opened, grow)
    return _read_ahead(frames, read_ahead) if read_ahead > 0 else frames


def can_decode_apart() -> bool:
    """Whether decoding can run in a forked process here: on Linux (forking is unsafe on macOS's
    system libraries), with no other Python thread in this process for the fork to copy in the
    middle of its work (native threads, an idle BLAS pool, are not seen)."""
    import multiprocessing  # here: its import is a cost to every short clip's lvas shots

    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and threading.active_count() == 1)


def _decode_apart(make: Callable[[], Iterator[FrameChunk]], path: str | os.PathLike[str]) -> Iterator[FrameChunk]:
    """The chunks of ``make()``, decoded in a forked process and sent back over a pipe (the
    pipe's buffer keeps it about a chunk ahead); its errors surface in the caller as DecodeError,
    and a caller that stops early, or is interrupted, ends it."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_send_chunks, args=(make, send, receive, path), name="lvas-decode", daemon=True)
    child.start()
    send.close()
    try:
        while (head := receive.recv()) is not None:
            if isinstance(head, BaseException):
                raise head
            start, shape, times, colour = head
            frames = np.empty(shape, np.uint8)
            receive.recv_bytes_into(memoryview(frames).cast("B"))
            yield FrameChunk(start, frames, times, colour)
    except EOFError:
        child.join(APART_JOIN_S)
        raise DecodeError(f"{path}: the decoding process ended early (exit code {child.exitcode})") from None
    finally:
        receive.close()  # the child's next send fails: it stops
        if child.is_alive():
            child.terminate()
            child.join(APART_JOIN_S)
        if child.is_alive():
            child.kill()
            child.join()


def _send_chunks(
    make: Callable[[], Iterator[FrameChunk]], conn: Connection, other_end: Connection, path: str | os.PathLike[str]
) -> None:
    """In the decoding process: each chunk as a small header and its frames' bytes, then None;
    an error instead of what is left, as a DecodeError (its text where it is not one)."""
    other_end.close()  # the parent's end: closed there, the pipe breaks and this process stops
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends this
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handlers: terminate() ends it
    try:
        for c in make():
            conn.send((c.start, c.frames.shape, c.times, c.colour))
            conn.send_bytes(memoryview(np.ascontiguousarray(c.frames)).cast("B"))
        conn.send(None)
    except BrokenPipeError:
        pass  # the caller stopped reading
    except BaseException as exc:
        text = f"{path}: decoding failed ({type(exc).__name__}: {exc})"
        error = exc if isinstance(exc, DecodeError) else DecodeError(text)
        with contextlib.suppress(OSError):  # the caller has gone too
            conn.send(error)
    finally:
        conn.close()


def _read_ahead(chunks: Generator[FrameChunk, None, None], depth: int) -> Iterator[FrameChunk]:
    """Run ``chunks`` in a thread, at most ``depth`` chunks ahead; errors surface in the caller.

    Measured on the 60 s 720p clip: the scan took 5.3-6.5 s with it against 5.8-7.8 s without on a
    noisy 2-core machine (decoding and analysis now overlap instead of taking turns).
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def offer(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for c in chunks:
                if not offer(c):
                    return
            offer(end)
        except BaseException as exc:  # handed to the caller's thread, raised there
            offer(exc)
        finally:
            chunks.close()  # the decoder's file is closed in this thread, also when abandoned

    thread = threading.Thread(target=produce, name="lvas-decode", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not end:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _frames(
    path: str | os.PathLike[str], info: VideoInfo | MediaInfo, size: tuple[int, int], chunk: int, backend: str,
    rgb: bool, opened: tuple[av.container.InputContainer, list[av.VideoFrame]] | None = None, grow: bool = False,
) -> Generator[FrameChunk, None, None]:
    done = 0
    if backend == "decord" and opened is None and _decord_usable(info):
        try:
            for c in _iter_decord(path, size, chunk):
                done += len(c.frames)
                yield c
            if done:
                return
        except Exception as exc:  # decord raises its own DECORDError and plain RuntimeErrors
            logger.warning("%s: decord failed after %d frames (%s); continuing with PyAV", path, done, exc)
    for c in _iter_pyav(path, info, size, chunk, skip=done, analysis=True, rgb=rgb, opened=opened, grow=grow):
        done += len(c.frames)
        yield c
    if not done:
        raise DecodeError(f"{path}: no video frame could be decoded")


def _decord_reader(path: str | os.PathLike[str], size: tuple[int, int]) -> decord.VideoReader | None:
    """A decord VideoReader at ``size``, or None where its frame numbers are not the shown frames'.

    decord numbers packets: a WebM whose VP8/VP9 alt-ref frames are packets of their own (decoded,
    never shown; they share the next frame's timestamp) gets extra numbers, so index i is another
    frame than PyAV's i-th. Timestamps that do not rise at every frame give that away.
    """
    import decord

    w, h = size
    vr = decord.VideoReader(str(path), ctx=decord.cpu(0), width=w, height=h)
    times = vr.get_frame_timestamp(list(range(len(vr))))[:, 0]
    if len(times) > 1 and not bool(np.all(np.diff(times) > 0)):
        logger.debug("%s: decord's frames repeat timestamps (frames not shown); using PyAV", path)
        return None
    return vr


def _iter_decord(path: str | os.PathLike[str], size: tuple[int, int], chunk: int) -> Iterator[FrameChunk]:
    vr = _decord_reader(path, size)
    if vr is None:
        return
    n = len(vr)
    for start in range(0, n, chunk):
        idx = list(range(start, min(start + chunk, n)))
        frames = vr.get_batch(idx).asnumpy()
        times = vr.get_frame_timestamp(idx)[:, 0].astype(np.float64)
        yield FrameChunk(start, frames[..., :3], times)


def _iter_pyav(
    path: str | os.PathLike[str], info: VideoInfo | MediaInfo, size: tuple[int, int], chunk: int, skip: int = 0,
    analysis: bool = False, rgb: bool = True,
    opened: tuple[av.container.InputContainer, list[av.VideoFrame]] | None = None, grow: bool = False,
) -> Iterator[FrameChunk]:
    """PyAV decode. ``analysis``: deblocking skipped and frames sampled from the Y/U/V planes
    (converted to RGB unless ``rgb`` is False); otherwise scaled by swscale, at full quality.
    ``opened``: an open container (its decoder prepared by :func:`analysis_decoder`) and the
    frames decoded from it already, to go on from; closed here."""
    # Frames are scaled before they are rotated, so ask for the size in the stored orientation.
    w, h = size[::-1] if info.rotation in (90, 270) else size
    later = max(chunk, min(GROWN_CHUNK_FRAMES, CHUNK_SAMPLES // max(1, h * w))) if grow else chunk
    gather = _Gather(skip, chunk, h, w, info.rotation, later)
    i = -1
    try:
        container, first = opened if opened is not None else (av.open(str(path)), [])
        with container:
            stream = container.streams.video[0]
            if opened is None:
                (analysis_decoder if analysis else decoder_threads)(stream)
            for i, frame in enumerate(itertools.chain(first, _decode_tolerant(container, stream))):
                if i < skip:
                    continue
                t = frame.time
                ready = gather.add(frame, analysis, float(t) if t is not None else i / info.fps)
                if ready is not None:
                    yield _converted(ready, rgb)
    except av.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding failed after frame {i} ({exc})") from exc
    if gather.count:
        yield _converted(gather.flush(), rgb)


def _converted(c: FrameChunk, rgb: bool) -> FrameChunk:
    return FrameChunk(c.start, to_rgb(c.frames, c.colour), c.times) if rgb and c.colour != "rgb" else c


# 8-bit planar Y'CbCr, the formats of nearly every H.264/HEVC/VP9 file; the "j" ones are full range.
_PLANAR_YUV = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"}
WHOLE_PLANES_MAX = 8  # planes holding at most this many times the samples kept are copied whole


def _space(frame: av.VideoFrame) -> str:
    """The Y'CbCr space of a frame from its tags (BT.709 when tagged so, else BT.601)."""
    full = frame.format.name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2  # AVCOL_RANGE_JPEG
    return space_of(full, bt709=getattr(frame, "colorspace", 0) == 1)  # AVCOL_SPC_BT709


class _Gather:
    """Decoded frames collected into one chunk of (N, h, w, 3) samples at a time.

    Planar Y'CbCr frames go into one buffer per plane, without a per-frame array: small frames'
    planes are copied whole (one copy each) and sampled once per chunk; larger frames give only
    the samples, gathered by precomputed offsets. Other formats are scaled by swscale to RGB. A
    chunk ends at ``chunk`` frames (``later`` after the first) or where the kind of frame changes
    (space, layout, format).
    """

    def __init__(self, start: int, chunk: int, h: int, w: int, rotation: int, later: int) -> None:
        self.start, self.size, self.h, self.w, self.rotation = start, chunk, h, w, rotation
        self.later = later  # the size of the chunks after the first
        self.count = 0
        self.kind: tuple[str, _PlaneLayout | None] | None = None
        self.planes: list[np.ndarray] = []
        self.rgb: list[np.ndarray] = []
        self.times: list[float] = []
        self.key: tuple | None = None  # the last planar frame's geometry and tags, and its kind
        self.key_kind: tuple[str, _PlaneLayout | None] = ("rgb", None)

    def add(self, frame: av.VideoFrame, sample: bool, t: float) -> FrameChunk | None:
        """Add one frame shown at ``t`` s (``sample``: from its planes where it can); returns the
        chunk completed before it, if any."""
        planes = frame.planes
        fmt = frame.format.name
        if sample and fmt in _PLANAR_YUV:
            # What the layout and space depend on, read once a frame; both are worked out again
            # only when it changes (working them out per frame is a cost on long videos).
            key = (fmt, frame.width, frame.height, frame.color_range, frame.colorspace,
                   *(p.line_size for p in planes[:3]))
            if key != self.key:
                layout = _plane_layout(frame.height, frame.width,
                                       tuple((p.height, p.width, p.line_size) for p in planes[:3]), self.h, self.w)
                self.key, self.key_kind = key, (_space(frame), layout)
            kind: tuple[str, _PlaneLayout | None] = self.key_kind
            layout = kind[1]
        else:
            layout, kind = None, ("rgb", None)
        done = self.flush() if self.count and (kind != self.kind or self.count == self.size) else None
        if not self.count:
            self.kind = kind
            if layout is not None:
                self.planes = [np.empty((self.size, n), np.uint8) for n in layout.row_bytes]
        k = self.count
        if layout is None:
            self.rgb.append(frame.to_ndarray(width=self.w, height=self.h, format="rgb24"))
        elif layout.whole:
            for buf, p in zip(self.planes, planes, strict=False):
                buf[k] = np.frombuffer(p, np.uint8)
        else:
            for buf, p, at in zip(self.planes, planes, layout.index, strict=False):
                np.frombuffer(p, np.uint8).take(at, out=buf[k])
        self.times.append(t)
        self.count += 1
        return done

    def flush(self) -> FrameChunk:
        """The frames gathered so far, as one chunk; the next frame starts a new one."""
        n = self.count
        space, layout = self.kind or ("rgb", None)
        if layout is None:
            frames = np.stack(self.rgb)
        else:
            # Each plane's samples straight into their place in the interleaved chunk, cheaper than
            # np.stack on the last axis (bench/RESULTS.md, "Shot detection on real footage").
            frames = np.empty((n, self.h, self.w, 3), np.uint8)
            for k, (b, (rows, cols), lines) in enumerate(zip(self.planes, layout.grid, layout.lines, strict=True)):
                if layout.whole:  # whole rows picked first, then columns: no per-sample offsets
                    frames[..., k] = b[:n].reshape(n, -1, lines)[:, rows][:, :, cols]
                else:
                    frames[..., k] = b[:n].reshape(n, self.h, self.w)
        if self.rotation:
            frames = np.ascontiguousarray(np.rot90(frames, k=-(self.rotation // 90), axes=(1, 2)))
        out = FrameChunk(self.start, frames, np.asarray(self.times), space)
        self.start += n
        self.size = self.later
        self.count, self.planes, self.rgb, self.times = 0, [], [], []
        return out


@dataclass(frozen=True, eq=False)
class _PlaneLayout:
    """Where the samples of an h x w grid lie in a frame's three planes (one layout per frame
    geometry, cached: frames compare their layouts by identity)."""

    index: tuple[np.ndarray, ...]  # per plane: offsets of the samples into its buffer, (h * w,)
    row_bytes: tuple[int, ...]  # per plane: what one frame takes in the chunk buffer
    whole: bool  # the planes are copied whole and sampled per chunk
    grid: tuple[tuple[slice | np.ndarray, slice | np.ndarray], ...]  # per plane: sampled rows, columns
    lines: tuple[int, ...]  # per plane: bytes per row (line size)


@functools.lru_cache(maxsize=64)
def _plane_layout(fh: int, fw: int, planes: tuple[tuple[int, int, int], ...], h: int, w: int) -> _PlaneLayout:
    """The layout of a fh x fw frame whose planes are (height, width, line size) each."""
    index, grid = [], []
    for ph, pw, line in planes:
        rows, cols = _grid_index(fh, fw, ph, pw, h, w)
        grid.append((rows, cols))
        index.append((np.arange(ph)[rows][:, None] * line + np.arange(pw)[cols]).reshape(-1).astype(np.intp))
    sizes = [ph * line for ph, _, line in planes]
    whole = sum(sizes) <= WHOLE_PLANES_MAX * 3 * h * w
    return _PlaneLayout(tuple(index), tuple(sizes) if whole else (h * w,) * 3, whole, tuple(grid),
                        tuple(line for _, _, line in planes))


@functools.lru_cache(maxsize=64)
def _grid_index(fh: int, fw: int, ph: int, pw: int, h: int, w: int) -> tuple[slice | np.ndarray, ...]:
    """Rows and columns of a plane (ph x pw, of a fh x fw frame) at the centres of an h x w grid.

    Slices when the samples are evenly spaced (a strided view copies 8x faster than a gather).
    """
    out: list[slice | np.ndarray] = []
    for n, full, size in ((h, fh, ph), (w, fw, pw)):
        idx = ((np.arange(n) * full + full // 2) // n) * size // full
        step = int(idx[1] - idx[0]) if n > 1 else 1
        even = step > 0 and np.array_equal(idx, idx[0] + step * np.arange(n))
        out.append(slice(int(idx[0]), int(idx[0]) + step * n, step) if even else idx)
    return tuple(out)


def _decode_tolerant(container: av.container.InputContainer, stream) -> Iterator[av.VideoFrame]:
    """Decode packet by packet, skipping packets FFmpeg rejects (a file corrupted in the middle)."""
    bad = 0
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.InvalidDataError:
            bad += 1
            if bad > 1000:
                raise
    if bad:
        logger.warning("%s: skipped %d undecodable packets", container.name, bad)


def read_frames(
    path: str | os.PathLike[str], info: VideoInfo | MediaInfo, indices: list[int], *, width: int
) -> dict[int, np.ndarray]:
    """Decode a few frames (by index) at ``width``: the keyframes, after analysis chose them.

    Arguments:
        path: the video file.
        info: its probe result.
        indices: frame indices as numbered by :func:`iter_frames`.
        width: output width; height follows the display aspect ratio.

    Returns:
        index -> upright RGB array, for every index that could be decoded.
    """
    wanted = sorted(set(indices))
    if not wanted:
        return {}
    size = scaled_size(info, width)
    if _decord_usable(info):
        try:
            vr = _decord_reader(path, size)
            if vr is not None and wanted[-1] < len(vr):
                frames = vr.get_batch(wanted).asnumpy()[..., :3]
                return {i: frames[k] for k, i in enumerate(wanted)}
        except Exception as exc:
            logger.warning("%s: decord could not read keyframes (%s); using PyAV", path, exc)
    out: dict[int, np.ndarray] = {}
    last = wanted[-1]
    want = set(wanted)
    for c in _iter_pyav(path, info, size, CHUNK_FRAMES):
        for k in range(len(c.frames)):
            if c.start + k in want:
                out[c.start + k] = c.frames[k]
        if c.start + len(c.frames) > last:
            break
    return out

