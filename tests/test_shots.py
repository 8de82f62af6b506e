"""Shot detection: a real clip's known cuts and synthetic transitions with ground truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lvas.media.shots import FrameAnalyzer, adaptive_threshold, detect_cuts
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze, shots_summary
from tests import storyboard_clips as sc
from tests.clips import BIKES_CUTS, make_clip, real_clip

TOLERANCE_S = 0.1


@dataclass(frozen=True)
class ShotCase:
    """A synthetic clip and the boundaries a correct detector reports (seconds)."""

    make: sc.FrameFn
    seconds: float
    cuts_s: tuple[float, ...]


CASES = [
    pytest.param(ShotCase(sc.shots_at([1.0, 2.2]), 3.4, (1.0, 2.2)), id="hard-cuts"),
    pytest.param(ShotCase(sc.shots_at([1.2, 1.5]), 2.8, (1.2, 1.5)), id="two-cuts-0.3s-apart"),
    pytest.param(ShotCase(sc.dissolve(1.5, 1.0), 3.0, (1.5,)), id="dissolve-once"),
    pytest.param(ShotCase(sc.fade_through_black(1.5, 0.4), 3.0, (1.5,)), id="fade-through-black-once"),
    pytest.param(ShotCase(sc.flash(1.2), 2.4, ()), id="flash-no-cut"),
    pytest.param(ShotCase(sc.fast_pan(), 2.4, ()), id="fast-pan-no-cut"),
]


def assert_cuts(found: list[float], expected: tuple[float, ...] | list[float]) -> None:
    assert len(found) == len(expected), f"found {found}, expected {list(expected)}"
    for f, e in zip(found, expected, strict=True):
        assert abs(f - e) <= TOLERANCE_S, f"cut at {f:.2f}s, expected {e:.2f}s (found {found})"


@pytest.mark.parametrize("case", CASES)
def test_synthetic_transitions(tmp_path: Path, case: ShotCase) -> None:
    clip = make_clip(tmp_path / "clip.mp4", case.make, seconds=case.seconds)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, case.cuts_s)


def test_bikes_known_cuts() -> None:
    a = analyze(real_clip("bikes.mp4"), StoryboardSettings())
    assert_cuts(a.cuts_s, BIKES_CUTS)
    assert len(a.shots) == len(BIKES_CUTS) + 1
    assert a.shots[0][0] == 0 and a.shots[-1][1] == len(a.stats) == 250


def test_single_shot_real_clip_has_no_cut() -> None:
    assert analyze(real_clip("carphone_pristine.mp4"), StoryboardSettings()).cuts_s == []


def test_min_shot_length_merges_closer_cuts(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", sc.shots_at([1.2, 1.5]), seconds=2.8)
    a = analyze(clip, StoryboardSettings(min_shot_s=0.5))
    assert len(a.cuts_s) == 1  # the 0.3 s shot is shorter than the minimum: one boundary kept


def test_fixed_threshold_overrides_adaptive() -> None:
    d1 = np.array([0.0, 0.01, 0.02, 0.5, 0.01])
    assert adaptive_threshold(d1, StoryboardSettings(threshold=0.3)) == 0.3
    assert adaptive_threshold(d1, StoryboardSettings(min_threshold=0.2)) == 0.2


def test_detector_sees_only_stats() -> None:
    """The analyser and detector work on arrays: a chunked feed equals a single feed."""
    fn = sc.shots_at([0.6])
    frames = np.stack([fn(i, i / 25) for i in range(30)])
    times = np.arange(30) / 25
    st = StoryboardSettings()
    whole, parts = FrameAnalyzer(25.0, st), FrameAnalyzer(25.0, st)
    whole.update(frames, times)
    for k in range(0, 30, 7):
        parts.update(frames[k : k + 7], times[k : k + 7])
    a, b = whole.finish(), parts.finish()
    for name in ("d1", "dw", "dl", "motion", "brightness"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-6)
    assert detect_cuts(a, 25.0, st) == detect_cuts(b, 25.0, st) == [15]


def test_shots_summary_shape() -> None:
    a = analyze(real_clip("bikes.mp4"), StoryboardSettings())
    s = shots_summary(a)
    assert set(s) == {"cuts_s", "shots", "fps", "duration_s"}
    assert s["fps"] == 25.0 and s["duration_s"] == pytest.approx(10.0, abs=0.05)
    assert [b for _, b in s["shots"][:-1]] == s["cuts_s"] == [a for a, _ in s["shots"][1:]]
