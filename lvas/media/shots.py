"""Shot boundaries from an HSV colour-space content distance, as in LVAS-Agent's Storyboarder.

Two parts, kept apart as in PySceneDetect: :class:`FrameAnalyzer` sees frames (streamed in chunks)
and keeps a few numbers per frame; :func:`detect_cuts` sees only those numbers and the frame rate.

Per frame the analyser computes HSV histograms (hue weighted by saturation, so grey pixels do not
vote for a random hue; saturation; value) and three distances, each to an earlier frame:

- ``d1``: to the previous frame -- a hard cut is a spike here;
- ``dw``: to the frame ``flash_window + 1`` back -- a change that reverts within the flash window
  (a flash, a muzzle blast, a passing headlight) leaves no difference across it, a cut does;
- ``dl``: to the frame one gradual window (1 s) back -- a dissolve or a fade spreads a cut's change
  over many small steps, but the frames either side of it still differ by a cut's amount.

Histograms ignore where colours are, so a fast pan over one scene changes them little -- and a cut
between two shots of the same colours (the same set, the same actor in a closer framing) changes
them little too. A second, structural cue sees that: ``e1``, the mean luminance difference of
40-pixel-wide thumbnails of consecutive frames, and ``ew``, the same across the flash window.

A cut renews the whole picture. Something swinging into the frame, or a light coming on, changes
a large part of it and keeps the rest: ``kept`` is the share of the thumbnails' lit pixels (bars
and black left out) that stay within 2% from one frame to the next (``kept_w``, ``kept_l``: across
the flash and gradual windows); where most of the picture is kept, a change is local, not a cut.
A light turned up or down keeps nothing as it was but all of it once the previous frame is scaled
to the new brightness (``relit``): not a cut either.

Neither cue alone tells a cut from fast motion (a handheld close-up, a dancer filling the frame):
both change a lot between every pair of frames. So a cut's change must also stand out against
the change around it (:func:`_context`): the threshold at a frame rises with the motion in the
frames a few tenths of a second before and after it.

A dissolve mixes two pictures, ``(1 - r) A + r B``, and a mix of two unrelated pictures holds
less detail than either: its edge energy (the mean squared luminance gradient, ``edges``) follows
``(1 - r)^2 E_A + r^2 E_B`` and dips in the middle, wherever the camera points in either shot. Its
luminance variance (``contrast``) follows the same curve, with a cross term no larger than
Cauchy-Schwarz allows. Motion blur also lowers edge energy, but not in that shape or not with the
picture changing; :func:`_blend_dips` fits the curve.

A spinning render, an interface building up, a light coming on over part of a set: every
number above can look like a cut's, yet the pictures either side are one scene moved about.
``found`` says so: the share of the new thumbnail's textured blocks that turn up again, a pixel
or two away and however relit, in the old one, less the share that turns up half a picture away
(how often pictures like these match by chance). A cut or dissolve whose pictures are one scene
by it, in hues shared out alike, joins no shots (:func:`_one_scene`).

Only a ring buffer of the last seconds of histograms and thumbnails is kept: memory grows with the
video by a few floats per frame and a thumbnail (a kilobyte or so) eight times a second.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from lvas.media.colour import rgb5_of_yuv5, yuv5_index

if TYPE_CHECKING:
    from lvas.settings import StoryboardSettings

H_BINS, S_BINS, V_BINS = 16, 16, 16
# A change of what this module finds is a new storyboard: bump lvas.pipeline.STORYBOARD_VERSION.
GRADUAL_WINDOW_S = 1.0  # dissolves and fades up to about this long are found as one transition
PERSIST = 0.6  # a cut's change must persist across the flash window at this fraction of the threshold
FLASH_BACK = 0.25  # colours back within this fraction of their jump across the flash window: a flash
DARK = 0.10  # mean value (0..1) under which a frame counts as black (the middle of a fade)...
BLACK_EDGES = 0.0015  # ...if it is also this featureless: a dark scene or a title card is a picture
BLACK_CENTRE = 0.001  # ...or this flat in its centre (luminance deviation 0..1), whatever a caption shows
BLACK_FLAT = 0.00075  # ...and black goes this featureless somewhere: a dim tinted picture keeps faint lines
FLAT = 0.005  # a brighter frame whose centre's luminance deviates less than this is the middle of a dip to white
SAME_LAYOUT = 0.02  # 4x4 layouts either side of a flat dip this close (mean, 0..1) are one shot's: a light
WHITE = 0.9  # a flat run this bright (mean value 0..1) faded into and out of is a dip to white, however long
KMEANS_SAMPLES_PER_S = 8.0  # frames per second whose features are kept for keyframe clustering
GRID = 4  # keyframe features also carry a GRID x GRID luminance layout
HIST_SUBSAMPLE_W = 128  # frames at least this wide are histogrammed from every other pixel
THUMB_W = 40  # width of the luminance thumbnails of the structural cue
LIT = 0.06  # pixels darker than this in both frames are left out of the kept share
KEPT = 0.02  # a thumbnail pixel that changes less than this (0..1) from one frame to the next is kept
LOCAL = 0.55  # a change that keeps this share of the lit pixels is local: an object, not a cut...
RIM = 0.08  # a card or inset growing over the middle of the picture keeps this much of each side...
RIM_KEPT = 0.9  # ...as it was, at least this share of it, where the whole picture keeps FAINT_LOCAL
PART = 0.3  # ...and so is one that goes on over three frames and keeps this share across the flash window
FAINT_LOCAL = 0.2  # ...and so is one standing out less than 2 * AMBIGUOUS times CONTRAST that keeps this share
SMEAR = 0.6  # ...and a change not standing out in colour that keeps that share, one neighbour changing this part of it
LIGHT = 2.0  # a light changes the picture's brightness at most this factor in a frame; more is a cut to or from black
STRUCTURE_MIN = 0.05  # a cut changes the thumbnail's luminance by at least this mean fraction
STILL = 0.002  # frames that change less than this around a frame are still pictures...
STILL_MIN = 0.02  # ...between which a cut changes the thumbnails by at least this mean fraction
RENEWED = 0.15  # ...and so does a cut that keeps less than this share of the lit picture (a dark one)...
QUIET = 4.0  # ...where it stands out this many times CONTRAST from the change on one side of it
CONTRAST = 2.0  # a cut's change is at least this many times the change around it...
CONTEXT_S = 0.3  # ...within this long before and after it (the frame next to it excluded)
PLATEAU = 0.75  # a step whose neighbours both change this part of it, in motion going on beyond them, is motion
COLOUR_CONTRAST = 3.2  # the same for a window's histogram distance, which saturates early
AMBIGUOUS = 0.75  # with a verifier: changes standing out 0.75-1.5x CONTRAST are asked
PATH_MAX = 4.0  # a dissolve's frame-to-frame steps add up to at most this times its whole change
MIX_WINDOW = 0.75  # a mix ramp is fitted to the sampled frames this many windows either side
MIX_WIDE = 2.0  # a found dissolve is placed by ramps fitted to the frames this many windows either side...
MIX_LONGEST = 3.0  # ...up to this many windows long
MIX_FIT = 0.8  # a ramp that explains this fraction of the layouts' variance places the dissolve
MIX_MIN = 0.5  # a structural candidate's ramp must explain at least this fraction...
MIX_SURE = 0.9  # ...and any candidate's this much where no shot either side is long enough to compare
MIX_KEPT = 0.3  # a window that keeps this share of its lit pixels within KEPT saw something move, not a mix
MIX_PAD = 0.2  # a mix's sampled frames are the pictures this part of a window either side of it mixed...
MIX_LEFT = 0.45  # ...what no mix of them explains, beyond the shots' own motion, under this part of their distance
BURST_REACH = 3  # a ramp ending this many frames from a burst of motion ran into it
SPLICE_COS = 0.9  # a dissolve cut short heads for the next shot's picture at most this far off its line...
SPLICE_PART = 0.25  # ...and has gone at least this part of the way when the cut comes
DIP_FIT = 0.85  # a mix's edge-energy curve explains this fraction of what a step leaves unexplained
DIP_RHO = 0.4  # the two pictures' edges correlate at most this much (either sign)
PATH_STILL = 2.0  # between still shots a mix's frame steps add up to at most this times the distance it spans
DIP_CHANGE = 2 * STRUCTURE_MIN  # a dissolve found by its dip changes the thumbnails at least this much
DIP_PAD = 0.3  # windows of pure frames this fraction of the gradual window either side of a mix
DIP_PLACE = 0.95  # a dip fitted this well places a dissolve found by the window distances
DIP_LENGTHS = (0.5, 0.75, 1.0)  # mix lengths tried, as fractions of the gradual window
EDGE_MIX = 0.75  # a dissolve's middle holds at most this of the edge energy two alike pictures keep
CUT_STEP = 0.3  # a picture this far from black to its level in one frame cut into or out of the black
SLOW_RISE = 0.45  # a fade's side whose level goes on rising this part of its ramp beyond a window is slow
FADE_MIN = 0.02  # a side of a fade whose brightness moves less than this is read from its edges
DIM = 0.25  # a mix whose middle sinks this fraction of the brighter side below a plain mix goes through dark
SUNK = 0.75  # ...a window moved onto such a dip must also sink this part of DIM below its darker side
SUNK_TOP = 0.25  # a mix through dark is placed at the centre of what sinks more than this part of its deepest
RELIT_CORR = 0.9  # pictures either side of a window whose 4x4 layouts correlate this much...
HUE_SAME = 0.25  # ...and whose hues are shared out this alike (half L1) are one picture in another light
COLOURLESS = 0.04  # ...where both hold colour: a mean saturation under this has no hues to compare
SAME_PICTURE = 0.5  # a frame step under this part of the thumbnails' luminance deviation keeps the picture
KEEPS = 0.8  # a colour change whose relit picture keeps this part of what its neighbours keep is no cut...
KEPT_SOME = 0.05  # ...where it keeps at least this much: a picture relit that keeps less keeps nothing...
CHANCE = 1.5  # ...and this many times what the shot keeps a window apart (unrelated pictures' share by chance)
LONG_WINDOWS = 3  # dissolves up to this many windows long are also looked for in the distance that far back
MOVE_REACH = 2  # a pan is looked for as a shift of less than half the picture over half the gradual window...
MOVE_GAIN = 0.7  # ...where it brings the row or column means' difference under this part of the unshifted one...
MOVED = 0.5  # ...and a change brought within this part of its distance so, or by a zoom, is motion
FOUND_BLOCK = 5  # the thumbnails' blocks (px) looked for in the other picture...
FOUND_REACH = 2  # ...up to this far (px) either way...
FOUND_MATCH = 0.8  # ...are found again where they correlate this much (zero-mean, normalised)
FOUND_TEXTURE = 3.0  # blocks whose luminance deviates less than this (0..255) are too flat to look for...
FOUND_CORNER = 0.1  # ...and so are those whose detail runs this much more one way than across (an edge)
FOUND_CUT = 0.35  # a cut whose picture's blocks are found this much more often near than far before it: one scene
FOUND_LIT = 0.6  # ...whatever its hues where this much (a burst of light clipping the picture shifts them)
FOUND_BATCH = 16  # pairs of thumbnails compared at a time (each holds 2 x 25 shifted copies of one)
WARP_BATCH = 64  # pairs of thumbnails warped at a time (each holds a copy of one per warp)
FOUND_MIX = 0.3  # the same for the pictures either side of a dissolve: one scene moving, not a mix
LIT_MIX = 1.4  # ...whatever their hues where FOUND_LIT and the light changed this factor either way
BURST_FADES = 0.05  # a burst of light has lost this part of its rise a flash window after its peak
ZOOMS_HALF = (1.2, 1.45, 1.75, 2.1, 2.5, 3.0)  # magnifications (and their inverses) tried over half a window: a zoom
ZOOMS_STEP = (1.07, 1.15, 1.23, 1.32, 1.41, 1.5, 1.62, 1.75, 1.9, 2.05)  # ...and from one frame to the next...
TURNS_STEP = (4.0, 8.0, 12.0, 17.0, 23.0, 30.0)  # ...as are turns (degrees, either way): a camera rolling
TURNS_HALF = tuple(float(d) for d in range(6, 181, 6))  # ...and over half a window (a roll at 1-15 degrees a frame)...
TURN_OVERLAP = 0.5  # ...where the turned picture still covers at least this part of the other
STEP_SHIFT = 0.1  # a step's zoom is also looked for moved up to this part of the width (a pan while it zooms)...
SHIFTED_ZOOMS = 4  # ...among the first of ZOOMS_STEP (up to 1.32x a frame, either way)


@dataclass(frozen=True)
class ShotSettings:
    """The storyboard settings that shot detection reads, at the defaults of
    :class:`lvas.settings.StoryboardSettings` (a test keeps the two equal).

    ``lvas shots`` uses these when no ``LVAS_STORYBOARD*`` variable overrides them, and so starts
    without importing pydantic; anything that takes a StoryboardSettings here takes these too.
    """

    analysis_width: int = 80
    threshold: float = 0.0
    adaptive_k: float = 6.0
    min_threshold: float = 0.07
    min_shot_s: float = 0.25
    flash_window_s: float = 0.25


def rgb_to_hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised RGB (uint8, any leading shape) to hue in [0, 1), saturation and value in [0, 1]."""
    x = rgb.astype(np.float32) * (1.0 / 255.0)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    delta = mx - mn
    s = np.where(mx > 0, delta / np.maximum(mx, 1e-6), 0.0)
    safe = np.maximum(delta, 1e-6)
    h = np.where(mx == r, (g - b) / safe, np.where(mx == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return h.astype(np.float32), s.astype(np.float32), mx


# Frames are quantised to 5 bits per channel and looked up in tables built once: computing HSV
# per pixel in numpy cost 6 ms a frame at 160x90, the whole analysis now costs about 1 ms. 5 bits keep
# 32 levels per channel, two per histogram bin, so no bin is favoured.
HUE_FINE = 64  # fine hue bins (for the circular mean); histograms use HUE_FINE // H_BINS of them each
COLOURS = 32 * 32 * 32
_Q = np.arange(32, dtype=np.float32) * (255.0 / 31.0)
_LUT_H, _LUT_S, _LUT_V = (
    c.reshape(-1) for c in rgb_to_hsv(np.stack(np.meshgrid(_Q, _Q, _Q, indexing="ij"), -1).astype(np.uint8))
)
LUT_HBIN = np.minimum((_LUT_H * HUE_FINE).astype(np.int64), HUE_FINE - 1).astype(np.uint8)
LUT_SBIN = np.minimum((_LUT_S * 32).astype(np.int64), 31).astype(np.uint8)
LUT_VBIN = np.minimum((_LUT_V * 32).astype(np.int64), 31).astype(np.uint8)
_R, _G, _B = (np.arange(COLOURS) >> 10) & 31, (np.arange(COLOURS) >> 5) & 31, np.arange(COLOURS) & 31
# luminance (Rec. 601) of each 5-bit colour, as int16 so frame differences do not wrap
LUT_LUMA = np.round((0.299 * _R + 0.587 * _G + 0.114 * _B) * (255.0 / 31.0)).astype(np.int16)
LUT_HS = (LUT_HBIN.astype(np.uint16) * 32 + LUT_SBIN).astype(np.uint16)
_HUE_CENTRES = (np.arange(HUE_FINE) + 0.5) / HUE_FINE * 2 * np.pi
_LEVELS = (np.arange(32) + 0.5) / 32


@functools.cache
def _tables(colour: str) -> tuple[np.ndarray, np.ndarray]:
    """(hue x saturation bin, value bin) per 5-bit code of frames in ``colour``."""
    if colour == "rgb":
        return LUT_HS, LUT_VBIN
    code = rgb5_of_yuv5(colour)
    return LUT_HS[code], LUT_VBIN[code]


@functools.cache
def _keys(colour: str) -> np.ndarray:
    """Both histogram keys per 5-bit code of frames in ``colour``, (COLOURS, 2) uint16: the hue x
    saturation bin, and HUE_FINE * 32 + the value bin (one count per frame gives both histograms)."""
    hs, v = _tables(colour)
    return np.stack([hs, v.astype(np.uint16) + HUE_FINE * 32], axis=1)


def quantise(rgb: np.ndarray) -> np.ndarray:
    """Index of each pixel's 5-bit colour into the lookup tables, shape (N, H, W)."""
    q = (rgb >> 3).astype(np.uint16)
    return (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]


def hsv_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in [0, 1] between histogram rows: mean of the three channels' half-L1 distances."""
    return 0.5 * np.abs(a - b).sum(axis=-1) / 3.0


@dataclass
class FrameStats:
    """Per-frame numbers of one video, all arrays of length n (frame order)."""

    t_s: np.ndarray
    d1: np.ndarray
    dw: np.ndarray
    dl: np.ndarray
    e1: np.ndarray  # structural distance to the previous frame
    kept: np.ndarray  # share of the thumbnails' lit pixels that change by less than KEPT from the previous frame
    kept_rim: np.ndarray  # the same on the thumbnails' rim (RIM of each side); NaN where under half of it is lit
    kept_w: np.ndarray  # the same from the frame flash_frames + 1 back
    kept_l: np.ndarray  # the same from the frame gradual_frames back
    relit: np.ndarray  # kept, the previous thumbnail first scaled to this one's mean (within LIGHT; else 0)
    ew: np.ndarray  # structural distance to the frame flash_frames + 1 back
    ef: np.ndarray  # structural distance to the likest of the frames 2 to flash_frames + 1 back (ew where e1 is small)
    ef_lag: np.ndarray  # how many frames back that likest frame is (flash_frames + 1 where e1 is small)
    el: np.ndarray  # structural distance to the frame gradual_frames back
    el_long: np.ndarray  # the same, LONG_WINDOWS times as far back
    eh: np.ndarray  # structural distance to the frame gradual_frames // 2 back
    eh_moved: np.ndarray  # the same, the older one first moved (a pan) or, after a zoom's step, magnified (a zoom)
    e1_warped: np.ndarray  # e1, the previous thumbnail magnified or turned to line it up (where e1 >= STRUCTURE_MIN)
    e1_moved: np.ndarray  # the least of that and e1 once it is magnified (MOVED_ZOOMS) and moved to line it up
    motion: np.ndarray
    edges: np.ndarray  # mean squared luminance difference of neighbouring pixels, both ways (0..2)
    contrast: np.ndarray  # luminance variance of the thumbnails (0..1 scale)
    centre_contrast: np.ndarray  # the same over their centre (the middle half of each side): no letterbox bars
    brightness: np.ndarray
    saturation: np.ndarray
    hue_deg: np.ndarray
    sample_frames: np.ndarray  # frames whose clustering features were kept
    sample_features: np.ndarray  # (len(sample_frames), D) float32
    sample_thumbs: np.ndarray  # (len(sample_frames), h, w) uint8: those frames' thumbnails
    # the thumbnail's blocks found in the previous one and the one a flash window back, the less of
    # the two (:func:`_found_share`); NaN where e1 < STRUCTURE_MIN
    found: np.ndarray
    hue_step: np.ndarray  # half-L1 distance of the hues' shares to the previous frame's (NaN: no colour)
    flash_frames: int = 1
    gradual_frames: int = 1

    def __len__(self) -> int:
        return len(self.t_s)


@dataclass
class FrameAnalyzer:
    """Streaming per-frame statistics. Feed chunks in order with :meth:`update`, then :meth:`finish`.

    Arguments:
        fps: the video's average frame rate (sets the flash and gradual windows in frames).
        settings: the storyboard settings (``flash_window_s``).
    """

    fps: float
    settings: StoryboardSettings | ShotSettings
    _cols: dict[str, list[np.ndarray]] = field(default_factory=dict)
    _tail: np.ndarray | None = None  # last histograms, for the lagged distances
    _thumbs: np.ndarray | None = None  # last thumbnails, likewise
    _warps: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # last frames that warped the one before
    _prev_luma: np.ndarray | None = None
    _n: int = 0
    # steps waiting for their zoomed-and-moved distance, (frames, thumbnails, ones before), batched
    # across chunks (a short chunk holds few); and the distances found, (frames, distances)
    _to_move: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    _moved: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.flash_frames = max(1, round(self.settings.flash_window_s * self.fps))
        self.gradual_frames = max(2, round(GRADUAL_WINDOW_S * self.fps))
        self.stride = max(1, round(self.fps / KMEANS_SAMPLES_PER_S))
        self._keep = max(self.flash_frames + 1, LONG_WINDOWS * self.gradual_frames)

    def update(self, frames: np.ndarray, times: np.ndarray, colour: str = "rgb") -> None:
        """Add a chunk of consecutive frames (N, H, W, 3) uint8 shown at ``times``.

        ``colour``: the frames' space (lvas.media.colour); Y'CbCr samples are quantised to 5 bits
        per component and looked up in tables of their cells' RGB colours, without converting each
        pixel.
        """
        n = len(frames)
        # Histograms from every other pixel and row of larger frames: thousands of pixels still.
        sampled = frames[:, ::2, ::2] if frames.shape[2] >= HIST_SUBSAMPLE_W else frames
        sub = (quantise(sampled) if colour == "rgb" else yuv5_index(sampled)).reshape(n, -1)
        hue_fine, sat, val = _fine_histograms(_keys(colour).take(sub, axis=0).reshape(n, -1), sub.shape[1])
        hist = np.concatenate([
            hue_fine.reshape(len(frames), H_BINS, -1).sum(2),
            sat.reshape(len(frames), S_BINS, -1).sum(2),
            val.reshape(len(frames), V_BINS, -1).sum(2),
        ], axis=1).astype(np.float32)
        luma = _luma(frames, colour)
        prev = luma[:1] if self._prev_luma is None else self._prev_luma[None]
        step = np.abs(np.diff(np.concatenate([prev, luma]), axis=0))
        motion = step.reshape(n, -1).sum(axis=1, dtype=np.int64) / (255.0 * luma[0].size)
        self._prev_luma = luma[-1]
        self._add("edges", _edge_energy(luma))
        thumbs = _thumbnails(luma)
        self._add("contrast", thumbs.reshape(n, -1).var(axis=1).astype(np.float64) * (1.0 / 255.0**2))
        th, tw = thumbs.shape[1:]
        centre = thumbs[:, th // 4 : th - th // 4, tw // 4 : tw - tw // 4].reshape(n, -1)
        self._add("centre_contrast", centre.var(axis=1).astype(np.float64) * (1.0 / 255.0**2))
        older = thumbs[:1] if self._thumbs is None else self._thumbs
        allt = np.concatenate([older, thumbs])
        at = np.arange(len(older), len(allt))
        lagged = {}
        long_ref = np.clip(at - LONG_WINDOWS * self.gradual_frames, 0, None)
        self._add("el_long", np.abs(allt[long_ref] - allt[at]).mean(axis=(1, 2)) * (1.0 / 255.0))
        for name, lag in (("e1", 1), ("ew", self.flash_frames + 1), ("el", self.gradual_frames)):
            ref = np.clip(at - lag, 0, None)
            diff = np.abs(allt[ref] - allt[at])
            lagged[name] = diff.mean(axis=(1, 2)) * (1.0 / 255.0)
            self._add(name, lagged[name])
            # letterbox bars and black stay black: only pixels lit in either frame count
            live = np.maximum(allt[ref], allt[at]) >= LIT * 255.0
            lit = np.maximum(live.sum(axis=(1, 2)), 1)
            same = (diff < KEPT * 255.0) & live
            self._add({"e1": "kept", "ew": "kept_w", "el": "kept_l"}[name], same.sum(axis=(1, 2)) / lit)
            if name == "e1":
                rim = _rim(*thumbs.shape[1:])
                lit_rim = (live & rim).sum(axis=(1, 2))
                kept_rim = (same & rim).sum(axis=(1, 2)) / np.maximum(lit_rim, 1)
                self._add("kept_rim", np.where(lit_rim >= 0.5 * rim.sum(), kept_rim, np.nan))
                before, now = allt[ref] * live, allt[at] * live
                gain = now.sum(axis=(1, 2)) / np.maximum(before.sum(axis=(1, 2)), 1e-6)
                relit = ((np.abs(before * gain[:, None, None] - now) < KEPT * 255.0) & live).sum(axis=(1, 2)) / lit
                self._add("relit", np.where(np.abs(np.log(np.maximum(gain, 1e-6))) <= np.log(LIGHT), relit, 0.0))
        # only frames that change this much can start a structural cut or be a zoom's or roll's step
        step, big = lagged["e1"], at[lagged["e1"] >= STRUCTURE_MIN]
        step_warped = step.copy()
        if len(big):
            at_big, now, before = big - len(older), allt[big], allt[big - 1]
            step_warped[at_big] = np.minimum(step[at_big], _warped_distance(now, before, STEP_WARPS))
            self._to_move.append((self._n + at_big, now, before))
            if sum(len(f) for f, _, _ in self._to_move) >= WARP_BATCH:
                self._move_steps()
        self._add("e1_warped", step_warped)
        # a cut blended over a few frames mixes both pictures in each: also across the flash window
        found = np.full(n, np.nan)
        if len(big):
            back = np.clip(big - self.flash_frames - 1, 0, None)
            both_ways = _found_share(np.concatenate([allt[big - 1], allt[back]]), np.concatenate([allt[big]] * 2))
            found[big - len(older)] = np.fmin(both_ways[: len(big)], both_ways[len(big) :])
        self._add("found", found)
        # half a window back, as it is and moved: a pan moves a picture less than half across
        # that; magnified only within it of a frame step that was magnified or turned (a zoom fast
        # enough to matter)
        k = self.gradual_frames // 2
        warps = np.concatenate([self._warps, _warp_steps(step, step_warped)])
        count = np.concatenate([[0], np.cumsum(warps)])
        ends = np.arange(len(self._warps), len(warps)) + 1
        plain, moved = _moved_distance(allt[at], allt[np.clip(at - k, 0, None)], HALF_WARPS,
                                       count[ends] > count[np.maximum(ends - k, 0)])
        self._warps = warps[-k:]
        self._add("eh", plain)
        self._add("eh_moved", moved)
        # A frame after a flash is like a frame before it, whatever the window: the likest of them.
        # Only frames that could start a structural cut need it; the others keep ew.
        ef, cand = lagged["ew"].copy(), big
        ef_lag = np.full(n, self.flash_frames + 1, np.int16)
        if len(cand):
            lags = range(2, self.flash_frames + 2)
            back = np.stack([np.abs(allt[np.clip(cand - lag, 0, None)] - allt[cand]).mean(axis=(1, 2)) for lag in lags])
            ef[cand - len(older)] = back.min(axis=0) * (1.0 / 255.0)
            ef_lag[cand - len(older)] = 2 + back.argmin(axis=0)
        self._add("ef", ef)
        self._add("ef_lag", ef_lag)
        self._thumbs = allt[-self._keep :]
        tail = hist[:1] if self._tail is None else self._tail
        both = np.concatenate([tail, hist])
        base = len(tail)
        idx = np.arange(base, len(both))
        for name, lag in (("d1", 1), ("dw", self.flash_frames + 1), ("dl", self.gradual_frames)):
            # Frames near the start compare with the oldest frame available (frame 0).
            ref = np.clip(idx - lag, 0, None)
            self._add(name, hsv_distance(both[ref], both[idx]))
        self._add("hue_step", _hue_distance(both[idx - 1, :H_BINS], both[idx, :H_BINS]))
        self._tail = both[-self._keep :]
        self._add("t_s", np.asarray(times, np.float64))
        self._add("motion", motion)
        self._add("brightness", val @ _LEVELS)
        self._add("saturation", hue_fine.sum(1))
        ang = np.arctan2(hue_fine @ np.sin(_HUE_CENTRES), hue_fine @ np.cos(_HUE_CENTRES))
        self._add("hue_deg", np.degrees(ang) % 360.0)
        frame_idx = self._n + np.arange(len(frames))
        keep = frame_idx % self.stride == 0
        if keep.any():
            self._add("sample_frames", frame_idx[keep])
            self._add("sample_features", np.concatenate([hist[keep], _grid(luma[keep] / 255.0)], axis=1))
            self._add("sample_thumbs", np.round(thumbs[keep]).astype(np.uint8))
        self._n += len(frames)

    def _move_steps(self) -> None:
        """The zoomed-and-moved distance of the steps waiting for it."""
        if self._to_move:
            frames, now, before = (np.concatenate(x) for x in zip(*self._to_move, strict=True))
            self._moved.append((frames, _zoomed_and_moved(now, before, MOVED_ZOOMS)))
            self._to_move = []

    def _add(self, name: str, values: np.ndarray) -> None:
        self._cols.setdefault(name, []).append(values)

    def finish(self) -> FrameStats:
        """The statistics of every frame fed so far."""
        if not self._n:
            raise ValueError("no frames were analysed")
        col = {k: np.concatenate(v) for k, v in self._cols.items()}
        for name in ("d1", "dw", "dl", "e1", "ew", "ef", "el", "el_long"):
            col[name][0] = 0.0
        self._move_steps()
        col["e1_moved"] = col["e1_warped"].copy()
        for frames, moved in self._moved:
            col["e1_moved"][frames] = np.minimum(col["e1_moved"][frames], moved)
        return FrameStats(
            t_s=col["t_s"], d1=col["d1"], dw=col["dw"], dl=col["dl"],
            e1=col["e1"], ew=col["ew"], ef=col["ef"], ef_lag=col["ef_lag"], el=col["el"], el_long=col["el_long"],
            eh=col["eh"], eh_moved=col["eh_moved"], e1_warped=col["e1_warped"],
            e1_moved=col["e1_moved"],
            kept=col["kept"], kept_rim=col["kept_rim"], kept_w=col["kept_w"], kept_l=col["kept_l"], relit=col["relit"],
            motion=col["motion"], edges=col["edges"], contrast=col["contrast"],
            centre_contrast=col["centre_contrast"],
            brightness=col["brightness"], saturation=col["saturation"], hue_deg=col["hue_deg"],
            sample_frames=col["sample_frames"], sample_features=col["sample_features"].astype(np.float32),
            sample_thumbs=col["sample_thumbs"], found=col["found"], hue_step=col["hue_step"],
            flash_frames=self.flash_frames, gradual_frames=self.gradual_frames,
        )


def _fine_histograms(keys: np.ndarray, px: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: hue (HUE_FINE bins, saturation-weighted), saturation and value (32 bins each),
    from each frame's ``px`` pixels' two keys of :func:`_keys`, (N, 2 * px).

    Each sums to 1 over a frame's pixels, except hue, which sums to the frame's mean saturation:
    grey pixels have no hue to vote for, and a grey frame against a colourful one still differs.
    Hue and saturation come from one joint count (hue bin x saturation bin), weighted afterwards
    by the saturation bins' centres: one lookup and one count per frame instead of five.
    """
    n = len(keys)
    joint_bins = HUE_FINE * 32
    # One small bincount per frame beats one big one over frame-offset keys (no int64 copy); as
    # floats, so the weighting below is one BLAS product
    counts = np.empty((n, joint_bins + 32))
    for i in range(n):
        counts[i] = np.bincount(keys[i], minlength=joint_bins + 32)
    joint = counts[:, :joint_bins].reshape(n, HUE_FINE, 32)
    return joint @ _LEVELS / px, joint.sum(axis=1) / px, counts[:, joint_bins:] / px


def _luma(frames: np.ndarray, colour: str) -> np.ndarray:
    """Luminance 0-255 of each pixel (N, H, W) as int16, so that differences do not wrap.

    Y'CbCr frames carry it as their first component (stretched from 16-235 when limited range).
    """
    if colour == "rgb":
        return LUT_LUMA.take(quantise(frames))
    return (_FULL_Y if colour.startswith("yuvj") else _LIMITED_Y).take(frames[..., 0])


_FULL_Y = np.arange(256, dtype=np.int16)
_LIMITED_Y = np.clip(np.round((np.arange(256) - 16) * (255.0 / 219.0)), 0, 255).astype(np.int16)


def _thumbnails(luma: np.ndarray) -> np.ndarray:
    """Frames' luminance (N, H, W) averaged over square blocks to about THUMB_W wide, float32."""
    _, hh, ww = luma.shape
    k = max(1, ww // THUMB_W)
    h, w = max(1, hh // k), max(1, ww // k)
    x = luma[:, : h * k, : w * k]
    if k > 1:
        # block sums as k + k strided additions: much faster than a reduction over two axes
        acc = np.int16 if k * k * 255 < 2**15 else np.int32
        rows = sum(x[:, i::k].astype(acc, copy=False) for i in range(k))
        x = sum(rows[:, :, j::k] for j in range(k))
    return x.astype(np.float32) * (1.0 / (k * k))


def _best_shift(a: np.ndarray, b: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of two (N, M) profiles, the shift s in (-reach, reach) minimising the mean of
    |a[j] - b[j + s]| over the overlap (0 where the best is at the reach: only there does the
    overlap shrink enough for unrelated pictures to meet by chance), and that mean as a part of the
    mean without a shift."""
    n, m = a.shape
    pad = np.zeros((n, m + 2 * reach), np.float32)
    pad[:, reach : reach + m] = b
    shifted = np.lib.stride_tricks.sliding_window_view(pad, m, axis=1)  # [:, k, j] = b[j + k - reach]
    s = np.arange(-reach, reach + 1)
    inside = (np.arange(m)[None, :] + s[:, None] >= 0) & (np.arange(m)[None, :] + s[:, None] < m)
    err = (np.abs(shifted - a[:, None, :]) * inside).sum(axis=2) / inside.sum(axis=1)
    best = err.argmin(axis=1)
    shift = np.where(np.abs(best - reach) < reach, best - reach, 0)
    return shift, err[np.arange(n), reach + shift] / np.maximum(err[:, reach], 1e-6)


def _moved_distance(
    a: np.ndarray, b: np.ndarray, warps: tuple[tuple[float, float], ...], zoom_where: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair of thumbnails (N, H, W), their mean distance (0..1), and where that is at least
    STRUCTURE_MIN, the least of it over the overlap once ``b`` is magnified about its centre by
    one of ``warps`` (a zoom; only where ``zoom_where``), or, where a
    shift lines up their row or column means (MOVE_GAIN), moved by the shifts that line up their
    row means and column means (each less than 1/MOVE_REACH of the picture), or by either alone
    (a scroll changes the column means as text lines pass): small where one is the other panned,
    scrolled or zoomed."""
    plain = np.abs(a - b).mean(axis=(1, 2)) * (1.0 / 255.0)
    moved = plain.copy()
    h, w = a.shape[1:]
    ry, rx = h // MOVE_REACH, w // MOVE_REACH  # 0 on a picture too small to move in
    some = np.flatnonzero(plain >= STRUCTURE_MIN)  # only a change that large can be a cut or a mix
    if not len(some):
        return plain, moved
    zoomed = some[zoom_where[some]]
    moved[zoomed] = np.minimum(plain[zoomed], _warped_distance(a[zoomed], b[zoomed], warps))
    a, b = a[some], b[some]
    dy, gy = _best_shift(a.mean(2), b.mean(2), ry)
    dx, gx = _best_shift(a.mean(1), b.mean(1), rx)
    lined = np.minimum(gy, gx) < MOVE_GAIN  # the others keep their plain distance
    some, a, b, dy, dx, n = some[lined], a[lined], b[lined], dy[lined], dx[lined], int(lined.sum())
    pad = np.zeros((n, h + 2 * ry, w + 2 * rx), np.float32)
    pad[:, ry : ry + h, rx : rx + w] = b
    frames, y, x = np.arange(n)[:, None, None], np.arange(h)[None, :, None], np.arange(w)[None, None, :]
    for sy, sx in ((dy, dx), (dy, 0 * dx), (0 * dy, dx)):
        sy, sx = sy[:, None, None], sx[:, None, None]
        b_moved = pad[frames, y + sy + ry, x + sx + rx]  # b[y + sy, x + sx], 0 off the picture
        inside = (y + sy >= 0) & (y + sy < h) & (x + sx >= 0) & (x + sx < w)
        dist = (np.abs(a - b_moved) * inside).sum(axis=(1, 2)) / inside.sum(axis=(1, 2))
        moved[some] = np.minimum(moved[some], dist * (1.0 / 255.0))
    return plain, moved


def _warped_distance(
    a: np.ndarray, b: np.ndarray, warps: tuple[tuple[float, float], ...], least_overlap: float = 0.0
) -> np.ndarray:
    """Per pair of thumbnails (N, H, W), the least mean distance (0..1) over the overlap once
    ``b`` is magnified and turned about its centre by one of ``warps`` ((zoom, degrees) each), of
    those whose overlap covers more than ``least_overlap`` of the picture: all in one gather.
    Infinite on a picture too small to move in (under MOVE_REACH pixels a side)."""
    n, h, w = a.shape
    if min(h, w) < MOVE_REACH:
        return np.full(n, np.inf)
    if n > WARP_BATCH:  # every warp of every picture is held at once: a few pairs at a time
        return _in_batches(_warped_distance, WARP_BATCH, a, b, warps, least_overlap)
    where, inside = _warp_index(h, w, warps)
    diff = np.abs(b.reshape(n, h * w)[:, where] - a.reshape(n, 1, h * w))  # (N, warps, H * W)
    overlap = inside.sum(axis=1)  # none for a strong zoom out of a tiny picture: not tried
    dist = np.einsum("nzp,zp->nz", diff, inside) / np.maximum(overlap, 1.0)
    return np.where(overlap > least_overlap * h * w, dist, np.inf).min(axis=1) * (1.0 / 255.0)


def _in_batches(
    search: Callable[..., np.ndarray], size: int, a: np.ndarray, b: np.ndarray, *args: object
) -> np.ndarray:
    """``search(a, b, *args)`` over the pairs ``size`` at a time, its per-pair results joined."""
    return np.concatenate([search(a[i : i + size], b[i : i + size], *args) for i in range(0, len(a), size)])


def _zoomed_and_moved(a: np.ndarray, b: np.ndarray, zooms: tuple[float, ...]) -> np.ndarray:
    """Per pair of thumbnails (N, H, W), the least mean distance (0..1) over the overlap once ``b``
    is magnified about its centre by one of ``zooms`` and then moved by the row and column shifts
    (up to STEP_SHIFT of the width) that line up its row and column means with ``a``'s: a zoom about
    a point off the centre, or while the camera pans. A zoom takes whole rows and columns, so each
    zoomed picture's row and column means are ``b``'s own, weighted by the columns and rows it
    takes: only the moved pictures are gathered. Infinite on a picture too small to move in."""
    n, h, w = a.shape
    if min(h, w) < MOVE_REACH:
        return np.full(n, np.inf)
    if n > WARP_BATCH:
        return _in_batches(_zoomed_and_moved, WARP_BATCH, a, b, zooms)
    z, reach = len(zooms), max(1, round(STEP_SHIFT * w))
    (ry, vy, row_weights), (rx, vx, col_weights) = _zoom_lines(h, zooms), _zoom_lines(w, zooms)
    # row means of each zoomed picture, over the columns it takes (0 off the picture); columns alike
    rows = np.take_along_axis(b @ col_weights, ry.T[None], axis=1).transpose(0, 2, 1) * vy
    cols = np.take_along_axis(np.einsum("nhw,hz->nwz", b, row_weights), rx.T[None], axis=1).transpose(0, 2, 1) * vx
    # (a side of a pixel or two has no room to move in)
    dy, _ = _best_shift(np.repeat(a.mean(axis=2), z, axis=0), rows.reshape(n * z, h), min(reach, h // MOVE_REACH))
    dx, _ = _best_shift(np.repeat(a.mean(axis=1), z, axis=0), cols.reshape(n * z, w), min(reach, w // MOVE_REACH))
    y, x = np.arange(h) + dy[:, None], np.arange(w) + dx[:, None]  # (N * Z, H), (N * Z, W)
    zoom = np.tile(np.arange(z), n)[:, None]
    src_y, src_x = ry[zoom, np.clip(y, 0, h - 1)], rx[zoom, np.clip(x, 0, w - 1)]
    on_y = (vy[zoom, np.clip(y, 0, h - 1)] & (y >= 0) & (y < h)).astype(np.float32)
    on_x = (vx[zoom, np.clip(x, 0, w - 1)] & (x >= 0) & (x < w)).astype(np.float32)
    moved = b[np.repeat(np.arange(n), z)[:, None, None], src_y[:, :, None], src_x[:, None, :]]  # (N * Z, H, W)
    diff = np.einsum("kyx,ky,kx->k", np.abs(moved - np.repeat(a, z, axis=0)), on_y, on_x)
    overlap = on_y.sum(axis=1) * on_x.sum(axis=1)
    return np.where(overlap > 0, diff / np.maximum(overlap, 1.0), np.inf).reshape(n, z).min(axis=1) * (1.0 / 255.0)


@functools.cache
def _zoom_lines(size: int, zooms: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per zoom about the middle of ``size`` pixels, each pixel's source (nearest, clipped) and
    whether it lies inside, (Z, size) each (:func:`_warp_index` for a zoom alone, one axis); and
    each source pixel's share of the pixels inside, (size, Z): what a row (column) mean of the
    zoomed picture weighs each column (row) by."""
    d = np.arange(size) - (size - 1) / 2
    src = np.round(d / np.array(zooms)[:, None] + (size - 1) / 2).astype(np.intp)
    inside = (src >= 0) & (src < size)
    src = np.clip(src, 0, size - 1)
    weights = np.zeros((size, len(zooms)), np.float32)
    for k in range(len(zooms)):
        np.add.at(weights[:, k], src[k][inside[k]], 1.0)
    return src, inside, weights / np.maximum(weights.sum(axis=0), 1.0)


def _both_ways(zooms: tuple[float, ...], turns: tuple[float, ...] = ()) -> tuple[tuple[float, float], ...]:
    """Warps (zoom, degrees): the magnifications and their inverses, and the turns either way."""
    return (*((z, 0.0) for z in zooms), *((1.0 / z, 0.0) for z in zooms),
            *((1.0, t) for t in turns), *((1.0, -t) for t in turns))


STEP_WARPS = _both_ways(ZOOMS_STEP, TURNS_STEP)
MOVED_ZOOMS = tuple(z for z, _ in _both_ways(ZOOMS_STEP[:SHIFTED_ZOOMS]))
HALF_WARPS = _both_ways(ZOOMS_HALF)
# a turned picture zoomed out further than 1/1.2 covers less than TURN_OVERLAP of the other
HALF_TURNS = tuple((z, sign * d) for z in (1.0 / ZOOMS_HALF[0], 1.0, *ZOOMS_HALF)
                   for d in TURNS_HALF for sign in (1, -1))


@functools.cache
def _warp_index(h: int, w: int, warps: tuple[tuple[float, float], ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per warp (zoom, degrees), the flat index of the pixel of an (h, w) picture that lands on each
    pixel when it is magnified and turned that much about its centre (nearest pixel), (Z, h * w);
    and where the result's pixels come from inside the picture, as a (Z, h * w) 0/1 matrix."""
    z = np.array([zoom for zoom, _ in warps])[:, None, None]
    turn = np.radians([deg for _, deg in warps])[:, None, None]
    dy = (np.arange(h) - (h - 1) / 2)[None, :, None]
    dx = (np.arange(w) - (w - 1) / 2)[None, None, :]
    y = np.round((np.cos(turn) * dy - np.sin(turn) * dx) / z + (h - 1) / 2).astype(np.intp)  # (Z, h, w)
    x = np.round((np.sin(turn) * dy + np.cos(turn) * dx) / z + (w - 1) / 2).astype(np.intp)
    inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
    where = (np.clip(y, 0, h - 1) * w + np.clip(x, 0, w - 1)).astype(np.int32)
    return where.reshape(len(warps), -1), inside.reshape(len(warps), -1).astype(np.float32)


@functools.cache
def _rim(h: int, w: int) -> np.ndarray:
    """An (h, w) mask of the picture's rim: RIM of its height and width on each side, at least a pixel."""
    dy, dx = max(1, round(RIM * h)), max(1, round(RIM * w))
    rim = np.ones((h, w), bool)
    rim[dy : h - dy, dx : w - dx] = False
    return rim


def _grid(luma: np.ndarray) -> np.ndarray:
    """A GRID x GRID layout of mean luminance per frame (any frame size, even smaller than GRID)."""
    _, hh, ww = luma.shape
    cells = [luma[:, r, c].mean(axis=(1, 2)) for r in _spans(hh) for c in _spans(ww)]
    return np.stack(cells, axis=1).astype(np.float32)


@functools.cache
def _spans(size: int) -> tuple[slice, ...]:
    """GRID slices splitting ``size`` pixels, none empty."""
    starts = [min(int(a), size - 1) for a in (np.arange(GRID) * size) // GRID]
    ends = [int(b) for b in (np.arange(1, GRID + 1) * size) // GRID]
    return tuple(slice(a, max(b, a + 1)) for a, b in zip(starts, ends, strict=True))


def _edge_energy(luma: np.ndarray) -> np.ndarray:
    """Per frame, the mean squared luminance difference between horizontal and vertical neighbours."""
    n = len(luma)
    gx, gy = np.diff(luma, axis=2).reshape(n, -1), np.diff(luma, axis=1).reshape(n, -1)
    sx = np.square(gx, dtype=np.int32).sum(axis=1, dtype=np.int64) / max(gx.shape[1], 1)
    sy = np.square(gy, dtype=np.int32).sum(axis=1, dtype=np.int64) / max(gy.shape[1], 1)
    return (sx + sy) * (1.0 / 255.0**2)


def adaptive_threshold(d1: np.ndarray, settings: StoryboardSettings | ShotSettings) -> float:
    """The hard-cut threshold: fixed if set, else median + k * MAD of the distances, floored.

    Median and MAD ignore the few cut spikes, so the threshold follows the video's ordinary
    frame-to-frame change (motion, noise, grain) rather than its cuts.
    """
    if settings.threshold > 0:
        return settings.threshold
    if len(d1) < 3:
        return settings.min_threshold
    x = d1[1:]
    med = float(_median(x))
    mad = 1.4826 * float(_median(np.abs(x - med)))
    return max(settings.min_threshold, med + settings.adaptive_k * mad)


@dataclass(frozen=True)
class Transition:
    frame: int  # first frame of the new shot
    kind: str  # "cut", "gradual", "fade", or "motion" (a burst of motion, never a boundary)
    strength: float
    span: tuple[int, int] | None = None  # a gradual one's frames [first mixed, first of the new picture alone)


def _mix_span(frame: int, length: float) -> tuple[int, int]:
    """The frames of a mix ``length`` frames long whose middle is ``frame``."""
    return round(frame - length / 2), max(round(frame + length / 2), frame + 1)


@dataclass(frozen=True)
class Boundary:
    """A shot boundary: where the new shot starts (``frame``), how (``kind``: "cut", "dissolve"
    or "fade", through black or a flat picture; "unknown" where a detector does not tell, as
    TransNetV2 alone) and the frames it spans, [start, end): the mix's for a dissolve or fade,
    within the shots either side; (frame, frame) for a cut."""

    frame: int
    kind: str
    start: int
    end: int


Verifier = Callable[[list[int]], list[bool]]
"""Given candidate boundaries (first frames of new shots), says which are real, in order."""


def detect_cuts(
    stats: FrameStats, fps: float, settings: StoryboardSettings | ShotSettings, verify: Verifier | None = None
) -> list[int]:
    """Shot boundaries as the index of each new shot's first frame (:func:`detect_boundaries`'
    frames)."""
    return [b.frame for b in detect_boundaries(stats, fps, settings, verify)]


def detect_boundaries(
    stats: FrameStats, fps: float, settings: StoryboardSettings | ShotSettings, verify: Verifier | None = None
) -> list[Boundary]:
    """Shot boundaries, each with its kind and span.

    Arguments:
        stats: per-frame statistics from :class:`FrameAnalyzer`.
        fps: average frame rate.
        settings: threshold, adaptive_k, min_threshold, min_shot_s, flash_window_s.
        verify: optional second opinion (a learned detector) on the ambiguous candidates: frame
            changes that stand out from the motion around them by between AMBIGUOUS and
            2 * AMBIGUOUS times CONTRAST (found or not by the thresholds alone). Clear candidates
            are kept without asking, and so are gradual transitions: the mix fits decide those
            (TransNetV2 rejected most of the real dissolves of bench/ground_truth).

    Returns:
        Boundaries in frame order; shot k spans frames [boundary k-1, boundary k).
    """
    n = len(stats)
    if n < 2:
        return []
    thr = adaptive_threshold(stats.d1, settings)
    lit = _lit_again(stats)
    hard, unsure, bursts = _hard_cuts(stats, thr, fps, AMBIGUOUS if verify else 1.0, lit)
    gradual = _gradual(stats, thr, sorted(hard + bursts, key=lambda t: t.frame))
    if verify is not None:
        if unsure:
            unsure = [t for t, ok in zip(unsure, verify([t.frame for t in unsure]), strict=True) if ok]
        hard += unsure
        # the windows spanning an accepted cut see that cut, as _gradual's windows do the sure ones
        L = stats.gradual_frames
        gradual = [t for t in gradual if not any(u.frame <= t.frame < u.frame + L for u in unsure)]
    # a fade's ramps stop at any hard cut, also one that ends a mix cut short
    cut_frames = [t.frame for t in hard if t.kind == "cut"]
    # a dissolve cut short is placed from its whole mix, of which the windows see only a part
    shortened = [_cut_short(stats, t, hard) for t in hard]
    spliced = [s for s, t in zip(shortened, hard, strict=True) if s is not t]
    hard = shortened
    gradual = [t for t in gradual if all(abs(t.frame - s.frame) > stats.gradual_frames for s in spliced)]
    # for placing fades: brightness, and which frames are black, smoothed over a flicker
    brightness = _running_median(stats.brightness, 3)
    edges = _running_median(stats.edges, 3)
    detail = np.sqrt(_running_median(stats.centre_contrast, 3))  # the centre's, clear of captions and bars
    black = _bridged(_black(brightness, edges, detail), stats.flash_frames)
    for s, e in _runs(black):
        if float(edges[s:e].min()) >= BLACK_FLAT and float(detail[s:e].min()) >= BLACK_CENTRE:
            black[s:e] = False
    fades, ends = _through_black(stats, brightness, black, cut_frames, np.sqrt(edges))
    # a dip to white or grey: the picture's detail, not its brightness, ramps down to a flat frame
    flat = (detail < FLAT) & ~black & (brightness >= DARK)
    fades += _through_flat(stats, detail, flat, cut_frames, black)
    # what the frames of a fade look like to the other cues (a cut into or out of the black, a
    # window's change) is that fade; so is a fade in as the video starts or out as it ends
    fades = [f for f in fades if not any(out - 1 <= f[0] <= back + 1 for out, back in ends)]
    # a mix under way as a fade's picture darkens or brightens (a picture sinking into the dark
    # as it changes, a fade-in through a dim picture) is that fade's slow side: one transition
    fades, gradual = _absorbed(fades, gradual)
    spans = [(out, back) for _, out, back in fades] + ends
    min_gap = max(1, round(settings.min_shot_s * fps))
    # a step within one scene (a light bursting on) must not take the place of a cut next to it as
    # they merge (the stronger is kept, then dropped as one scene); alone it merges, then goes
    relit = {t.frame for t in hard if t.kind == "cut" and _same_scene_step(stats, t.frame, lit)}
    hard = [t for t in hard if t.frame not in relit or not any(
        u.kind == "cut" and u.frame not in relit and abs(u.frame - t.frame) < min_gap for u in hard)]
    found = [t for t in hard + gradual if not any(out - 1 <= t.frame <= back + 1 for out, back in spans)]
    found += [Transition(middle, "fade", 1.0, (out, back)) for middle, out, back in fades]
    cuts = _merge(sorted(found, key=lambda t: t.frame), min_gap)
    cuts = [t for t in cuts if min_gap <= t.frame <= n - min_gap or (n <= 2 * min_gap and 0 < t.frame < n)]
    bounds = _spans_within(cuts, stats.gradual_frames, n)
    # a cut or dissolve whose pictures either side show one scene, moved about, joins no shots
    kept = [t for t, b in zip(cuts, bounds, strict=True) if not _one_scene(stats, b, lit)]
    return bounds if len(kept) == len(cuts) else _spans_within(kept, stats.gradual_frames, n)


def _absorbed(
    fades: list[tuple[int, int, int]], gradual: list[Transition]
) -> tuple[list[tuple[int, int, int]], list[Transition]]:
    """Fades (middle, out, back) spanning also the mixes placed outside them whose frames overlap
    theirs, on the side each lies (a mix's fitted span is centred on it, not on where it began),
    placed at the middle of the whole; and the mixes left. (A mix placed inside a fade is the
    fade itself, seen by the mix cues: dropped, it does not move the fade's own ramps.)"""
    out_fades, taken = [], set()
    for _, out, back in fades:
        lo, hi = out, back
        for k, t in enumerate(gradual):
            if t.span is not None and t.span[0] < back and t.span[1] > out and not out - 1 <= t.frame <= back + 1:
                taken.add(k)
                lo, hi = (min(lo, t.span[0]), hi) if t.frame < out else (lo, max(hi, t.span[1]))
        out_fades.append(((lo + hi + 1) // 2, lo, hi))
    return out_fades, [t for k, t in enumerate(gradual) if k not in taken]


def _spans_within(cuts: list[Transition], window: int, n: int) -> list[Boundary]:
    """The placed transitions as boundaries, each span within the shots either side (one whose
    length was not measured may reach past)."""
    frames = [0, *(t.frame for t in cuts), n]
    return [_boundary(t, window, frames[k], frames[k + 2]) for k, t in enumerate(cuts)]


def _one_scene(stats: FrameStats, b: Boundary, lit: np.ndarray | None = None) -> bool:
    """Whether the pictures either side of a cut or dissolve are one scene: the new one's textured
    blocks are found again, moved a little, in the old one far more often than by chance
    (FOUND_CUT, FOUND_MIX; a spinning render, a light pulse over a set, an interface building up),
    as two shots' pictures are not. A cut compares its two frames; a dissolve the sampled frames
    just outside its span. Their hues must be shared out alike too (HUE_SAME; grey pictures have
    none to compare): a mix between two colourings of one picture is a transition; but a cut
    whose blocks are nearly all found again (FOUND_LIT) is a burst of light, however it clipped
    the colours; and a cut must not be the picture before magnified (a cut-in to a closer framing
    finds the middle of the picture again). Fades are left alone (a dip to black may come back to
    the same place)."""
    if b.kind == "cut":
        return _same_scene_step(stats, b.frame, lit)
    if b.kind != "dissolve":
        return False
    frames = stats.sample_frames
    before = np.searchsorted(frames, min(b.start, b.frame), side="left") - 1
    after = np.searchsorted(frames, max(b.end, b.frame), side="left")
    if before < 0 or after >= len(frames):
        return False
    hues = _hue_distance(*stats.sample_features[[before, after], :H_BINS].astype(np.float64))
    share = _found_share(stats.sample_thumbs[before][None].astype(np.float32),
                         stats.sample_thumbs[after][None].astype(np.float32))[0]
    # a light dimming or rising muddles the hues of the pixels it darkens; a regrade keeps the light
    light = stats.brightness[frames[[before, after]]]
    relit = share >= FOUND_LIT and max(light) >= LIT_MIX * max(min(light), 1e-6)
    return bool(share >= FOUND_MIX) and (relit or not hues >= HUE_SAME)


def _same_scene_step(stats: FrameStats, i: int, lit: np.ndarray | None = None) -> bool:
    """Whether frame i shows the scene of frame i - 1 moved about or relit (:func:`_one_scene`),
    or is a burst of light over it coming on (``lit``: :func:`_lit_again`)."""
    # found is NaN where the change was too small to have been looked at: a cut; so is a
    # step that magnifies or turns the picture before it (a cut-in: the zoom rules told it from a zoom)
    warped = _warp_steps(stats.e1[i : i + 1], stats.e1_warped[i : i + 1])[0]
    lit_up = stats.found[i] >= FOUND_LIT  # a burst of light: clipping may have moved its hues
    found = bool(stats.found[i] >= FOUND_CUT) and (lit_up or not stats.hue_step[i] >= HUE_SAME) and not warped
    return found or bool(lit is not None and lit[i])


def _lit_again(stats: FrameStats) -> np.ndarray:
    """Per frame, whether its change is a burst of light coming on over one scene: the picture
    brightens LIT_MIX or more in the frame, the light fades after (BURST_FADES a flash window
    past its brightest, within three frames), and the sampled frame before it is found again
    (FOUND_CUT) in one sampled within the flash window from the frame on, both at one contrast,
    however the light clipped, tinted or washed out the frames between. So is each frame after it
    up to the brightest whose own samples find it again: a cut can come as the light rises."""
    level, frames, w = stats.brightness, stats.sample_frames, stats.flash_frames
    n = len(level)
    lit = np.zeros(n, bool)
    for i in np.flatnonzero(level[1:] >= LIT_MIX * np.maximum(level[:-1], 1e-6)) + 1:
        pre, top = float(level[i - 1]), int(i) + int(np.argmax(level[i : i + 3]))
        before = int(np.searchsorted(frames, i)) - 1
        if before < 0 or level[min(top + w, n - 1)] > level[top] - BURST_FADES * (level[top] - pre):
            continue
        # compared at one contrast: a wash or a glow flattens the picture it lights
        old = _standardised(stats.sample_thumbs[before][None])
        for j in range(int(i), top + 1):  # each frame of the rise, by the samples from it on
            lo, hi = np.searchsorted(frames, j), np.searchsorted(frames, j + w, side="right")
            if lo >= hi:
                break
            after = _standardised(stats.sample_thumbs[lo:hi])
            share = _found_share(np.repeat(old, len(after), axis=0), after)
            lit[j] = bool(np.nan_to_num(share, nan=-1.0).max() >= FOUND_CUT)
            if not lit[j]:
                break
    return lit


def _standardised(thumbs: np.ndarray) -> np.ndarray:
    """Thumbnails (N, H, W) each brought to mean 128 and deviation 50 (one grey level at least)."""
    t = thumbs.astype(np.float32)
    mean, dev = t.mean(axis=(1, 2), keepdims=True), np.maximum(t.std(axis=(1, 2), keepdims=True), 1.0)
    return (t - mean) / dev * 50.0 + 128.0


def _hue_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Half-L1 distance of saturation-weighted hue histograms (rows), each first made to sum to 1;
    NaN where either has almost no colour."""
    sa, sb = a.sum(axis=-1), b.sum(axis=-1)
    d = 0.5 * np.abs(a / np.maximum(sa, 1e-3)[..., None] - b / np.maximum(sb, 1e-3)[..., None]).sum(axis=-1)
    return np.where(np.minimum(sa, sb) < COLOURLESS, np.nan, d)


def _found_share(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pair of thumbnails (N, H, W, 0..255), how much more often ``b``'s textured
    FOUND_BLOCK-square blocks are found in ``a`` near where they are than half the picture away:
    found where some block of ``a`` within FOUND_REACH pixels correlates with them at FOUND_MATCH
    or more (zero-mean, normalised: a light turned up or down still matches). Half the picture
    away, they are found only as often as pictures like these match by chance (large flat areas
    and their corners match often). A block counts where it has detail both ways (FOUND_CORNER):
    a straight edge would be found along itself anywhere. NaN where ``b`` has fewer than four
    such blocks."""
    size, reach = FOUND_BLOCK, FOUND_REACH
    n, hh, ww = b.shape
    h, w = hh // size, ww // size
    if h * w < 4:
        return np.full(n, np.nan)
    if n > FOUND_BATCH:  # every shift of every block is held at once: a few pairs at a time
        return _in_batches(_found_share, FOUND_BATCH, a, b)

    # b's blocks, zero-mean, and their deviations
    cz = b[:, : h * size, : w * size].reshape(n, h, size, w, size)
    cz = cz - cz.mean(axis=(2, 4), keepdims=True)
    cs = np.sqrt((cz * cz).mean(axis=(2, 4)))
    # the structure tensor of each block: its smaller eigenvalue against the larger one
    gy, gx = np.diff(cz, axis=2)[:, :, :, :, :-1], np.diff(cz, axis=4)[:, :, :-1]
    sxx, syy, sxy = ((g * k).sum(axis=(2, 4)) for g, k in ((gx, gx), (gy, gy), (gx, gy)))
    half_sum, root = (sxx + syy) / 2, np.sqrt(((sxx - syy) / 2) ** 2 + sxy**2)
    textured = (cs >= FOUND_TEXTURE) & (half_sum - root >= FOUND_CORNER * (half_sum + root))
    count = textured.sum(axis=(1, 2))

    # near where the blocks are, and half the picture away, each over every shift at once
    near_far = np.stack([a, np.roll(a, (hh // 2, ww // 2), axis=(1, 2))])
    span = 2 * reach + 1
    pad = np.pad(near_far, ((0, 0), (0, 0), (reach, reach), (reach, reach)), mode="edge")[
        :, :, : h * size + span - 1, : w * size + span - 1]
    windows = np.lib.stride_tricks.sliding_window_view(pad, (h * size, w * size), axis=(2, 3))
    # (near or far, pair, shift, block row, block column, the block's pixels): sums over the last axis are fast
    k = size * size
    p = windows.reshape(2, n, span * span, h, size, w, size).transpose(0, 1, 2, 3, 5, 4, 6).reshape(
        2, n, span * span, h, w, k)
    mean = p.mean(axis=-1)
    ps = np.sqrt(np.maximum(np.einsum("tnshwk,tnshwk->tnshw", p, p) / k - mean * mean, 0.0))
    flat = cz.transpose(0, 1, 3, 2, 4).reshape(n, h, w, k)
    corr = np.einsum("tnshwk,nhwk->tnshw", p, flat) / k / np.maximum(cs[:, None] * ps, 1e-3)
    best = np.where(ps >= FOUND_TEXTURE / 2, corr, -1.0).max(axis=2)
    near, far = ((best >= FOUND_MATCH) & textured).sum(axis=(2, 3)) / np.maximum(count, 1)
    share = near - far
    return np.where(count >= 4, share, np.nan)


def _boundary(t: Transition, window: int, lo: int, hi: int) -> Boundary:
    """A placed transition as a boundary, its span within [lo, hi] (the boundaries either side);
    a mix whose length was not measured spans a window."""
    if t.kind == "cut":
        return Boundary(t.frame, "cut", t.frame, t.frame)
    start, end = t.span if t.span is not None else _mix_span(t.frame, window)
    start, end = max(lo, min(start, t.frame - 1)), min(hi, max(end, t.frame + 1))
    return Boundary(t.frame, "fade" if t.kind == "fade" else "dissolve", start, end)


def _hard_cuts(
    stats: FrameStats, thr: float, fps: float, unsure_from: float = 1.0, lit: np.ndarray | None = None
) -> tuple[list[Transition], list[Transition], list[Transition]]:
    """Frame-pair changes that stand out: in colour (the HSV distance above the video's threshold)
    or in structure (the thumbnail distance above STRUCTURE_MIN), and in either case CONTRAST
    times the change around the frame, and lasting beyond the flash window.

    The colour cue must stand out against the motion on both sides of the frame (a histogram also
    jumps when a light or a large object moves inside a shot); the structural cue against one side
    only, so that a cut into or out of a fast-moving shot counts. But where the structural cue
    alone stands out, and neither cue exceeds the change on the busier side (a fast pan slowing
    down: the last of its large steps stands out against the calm after it), the frame is a burst
    of motion, not a cut; so is a structural step whose neighbours change nearly as much, in
    motion that goes on beyond them (PLATEAU: a fast move starting after a still hold). A frame
    next to a burst of light (its picture found again, relit) is a candidate of its own, even where
    the burst's step is the larger: a cut as the light flares.

    Returns:
        (cuts, unsure, bursts): with ``unsure_from`` < 1, changes that stand out by ``unsure_from``
        to ``2 * unsure_from`` times the contrast are returned apart, as unsure, for a verifier;
        bursts of motion are returned apart too: windows spanning one are not compared, as across
        a cut (:func:`_gradual`).
    """
    d1, e1, w = stats.d1, stats.e1, stats.flash_frames
    k = max(3, round(CONTEXT_S * fps))
    d_before, d_after = _context(d1, k)
    e_before, e_after = _context(e1, k)
    # a frame next to a burst of light coming on or going (the picture found again, its brightness
    # LIT_MIX apart; or found again as the burst fades, :func:`_lit_again`) is judged on its own,
    # however much larger that step
    level = np.fmax(stats.brightness, 1e-6)
    flare = np.zeros(len(d1), bool)
    flare[1:] = (np.nan_to_num(stats.found[1:], nan=-1.0) >= FOUND_LIT) & (
        np.abs(np.log(level[1:] / level[:-1])) >= np.log(LIT_MIX))
    if lit is not None:
        flare |= lit
    beside = np.zeros(len(d1), bool)
    beside[1:] |= flare[:-1]
    beside[:-1] |= flare[1:]
    colour = (_peaks(d1) | beside) & (d1 >= thr)
    # how many times CONTRAST each cue stands out from the change around the frame
    c_ratio = d1 / (CONTRAST * np.maximum(np.maximum(d_before, d_after), 1e-6))
    s_ratio = e1 / (CONTRAST * np.maximum(np.minimum(e_before, e_after), 1e-6))
    # between still pictures (title cards, a freeze) a smaller change of structure is a cut too, and
    # so is one that renews a picture changing little (two dark shots: their luminance moves little)
    still = (np.maximum(e_before, e_after) < STILL) | ((stats.kept < RENEWED) & (s_ratio >= QUIET))
    structure = (_peaks(e1) | beside) & ((e1 >= STRUCTURE_MIN) | (still & (e1 >= STILL_MIN)))
    moved_step = _warp_steps(e1, stats.e1_moved)
    sure, unsure, bursts = [], [], []
    for i in np.flatnonzero((colour & (c_ratio >= unsure_from)) | (structure & (s_ratio >= unsure_from))):
        # A flash's spike is large but the pictures either side of it match; a cut's change stays.
        c_ok = colour[i] and _persists_across(stats.dw, i, w, max(PERSIST * thr, 0.5 * float(d1[i])))
        s_need = max(PERSIST * (STILL_MIN if still[i] else STRUCTURE_MIN), 0.5 * float(e1[i]))
        s_ok = structure[i] and _persists_across(stats.ew, i, w, s_need, stats.ef) and not _returns(stats, i, s_need)
        # colours that jumped and came nearly all the way back across the window, between frames that
        # change in structure (motion, or the flash's other edge): a flash, even where a fast pan
        # changes the structure across the window as much as a cut would
        if s_ok and colour[i] and max(e_before[i], e_after[i]) >= STRUCTURE_MIN:
            s_ok = _persists_across(stats.dw, i, w, FLASH_BACK * float(d1[i]))
        # a step no larger than the motion on the busier side (a pan slowing down), or one of a run of
        # like steps going on through the context on one side (a move starting after a hold: the step
        # next to it, left out of the context, changed as much): motion, however still the other side
        inner = 0 < i < len(e1) - 1
        sides = (e1[max(i - k, 0) : i - 1], e1[i + 2 : i + k + 1])
        going_on = any(len(x) and x.min() >= PLATEAU * e1[i] for x in sides)
        run = inner and min(e1[i - 1], e1[i + 1]) >= PLATEAU * e1[i] and going_on and not (c_ok and c_ratio[i] >= 1.0)
        slowing = not c_ok and e1[i] < max(e_before[i], e_after[i]) and d1[i] < max(d_before[i], d_after[i])
        if s_ok and (run or slowing):
            s_ok = False
            if s_ratio[i] >= 1.0:
                bursts.append(Transition(int(i), "motion", float(e1[i])))
        ratio = max(c_ratio[i] if c_ok else 0.0, s_ratio[i] if s_ok else 0.0)
        # most of the picture as it was: something entering or leaving the frame, or a light, not a
        # cut; so is a change that goes on over three frames and still keeps a good part of the
        # picture across the flash window (a cut blended over frames by a film transfer keeps none);
        # so is a frame that is the one before it magnified or turned, and perhaps moved (a zoom off the
        # centre, or while panning), next to another such frame (a crash zoom or a roll starting or
        # stopping), where a cut in to a closer framing is one such step alone
        spread = (inner and not beside[i] and min(e1[i - 1], e1[i + 1]) >= 0.5 * e1[i]
                  and stats.kept_w[min(i + max(1, w // 2), len(e1) - 1)] >= PART)
        spread |= inner and moved_step[i] and (moved_step[i - 1] or moved_step[i + 1])
        # a change of structure smeared over two frames (motion blur: one pair next to it changes at
        # least SMEAR as much) that keeps part of the picture; the price: a cut between two alike
        # framings that a transfer blended over two frames (neither rule looks next to a burst of
        # light: that step is the light's, not this change's)
        smear = (inner and not beside[i] and not (c_ok and c_ratio[i] >= 1.0) and stats.kept[i] >= FAINT_LOCAL
                 and min(e1[i - 1], e1[i + 1]) < 0.5 * e1[i] and max(e1[i - 1], e1[i + 1]) >= SMEAR * e1[i])
        # a light turned up or down keeps nothing as it was, but all of it once scaled, even between
        # still pictures
        light = stats.relit[i] >= LOCAL > stats.kept[i]
        # colours that jump where the structure changes no more than the motion around it and,
        # relit, the picture keeps about what its neighbours keep, even where they keep little (a
        # spinning logo, moving credits): one picture's colours shifted (a grade, an encoder's
        # keyframe, a glow turning edge-on), not a cut
        if inner and s_ratio[i] < 1.0:
            light |= stats.relit[i] >= max(KEPT_SOME, KEEPS * min(stats.kept[i - 1], stats.kept[i + 1]),
                                           CHANCE * stats.kept_l[i - 1])
        # ...and so are colours that jump over a moving picture whose structure moved a small part
        # of its own contrast (a tint over grey clouds: half the pixels cross a histogram bin);
        # between still pictures such a step is a card's text changing
        light |= bool(inner and not still[i] and e1[i] < STRUCTURE_MIN
                      and e1[i] < SAME_PICTURE * np.sqrt(min(stats.contrast[i - 1], stats.contrast[i])))
        # the less a change stands out from the motion around it, the more of the picture it renews
        # (a verifier is not asked about one that does not; the price: two angles of a wall)
        local = stats.kept[i] >= (LOCAL if ratio >= 2 * AMBIGUOUS else FAINT_LOCAL)
        # a card or inset grown over the middle of the picture keeps all of its rim
        local |= bool(stats.kept_rim[i] >= RIM_KEPT and stats.kept[i] >= FAINT_LOCAL)
        # ...but a one-frame step between still pictures (a card to the next, two locked-off shots
        # sharing a sky) is a cut, however much of the picture it keeps, unless one of them is plain:
        # that step is a title or shape appearing on it or leaving it
        plain = inner and min(stats.edges[i - 1], stats.edges[i]) < BLACK_EDGES
        step = still[i] and inner and max(e1[i - 1], e1[i + 1]) < STILL and not (plain and local)
        if ratio >= unsure_from and (light or (not step and (local or spread or smear))):
            if ratio >= 1.0:
                bursts.append(Transition(int(i), "motion", float(e1[i])))
            continue
        if ratio >= max(2 * unsure_from, 1.0) or (unsure_from >= 1.0 and ratio >= 1.0):
            sure.append(Transition(int(i), "cut", float(d1[i])))
        elif ratio >= unsure_from:
            unsure.append(Transition(int(i), "cut", float(d1[i])))
    return sure, unsure, bursts


def _warp_steps(e1: np.ndarray, e1_warped: np.ndarray) -> np.ndarray:
    """Per frame: it changes at least STRUCTURE_MIN and is the one before it magnified or turned
    (MOVED)."""
    return (e1 >= STRUCTURE_MIN) & (e1_warped < MOVED * e1)


def _cut_short(stats: FrameStats, cut: Transition, hard: list[Transition]) -> Transition:
    """A hard cut that ends a dissolve before it is done (a splice in a film) as that dissolve.

    Before such a cut the layouts of the sampled frames move on a straight ramp (MIX_SURE, at
    least half a window long) from the old picture toward the one after the cut, along the line
    between the two (SPLICE_COS) and part of the way (SPLICE_PART). A pan or zoom before a cut also
    moves on a ramp, but not toward the next shot. The boundary is the middle of the whole mix,
    from the ramp's start to the cut. Cuts to black are left to the fades.
    """
    L, c = stats.gradual_frames, cut.frame
    if cut.kind != "cut" or _black(stats.brightness[c : c + L // 4], stats.edges[c : c + L // 4]).all():
        return cut
    since = max([t.frame for t in hard if t.frame < c], default=0)
    if _heading(stats, max(since, c - L), c) is None:  # the fit below costs more than this test
        return cut
    fit = _mix_fit(stats, c - 1, hard, MIX_WIDE, MIX_LONGEST)
    if fit is None or fit[1] < MIX_SURE or fit[2] < L // 2:
        return cut
    start = fit[0] - fit[2] // 2
    part = _heading(stats, start, c)
    if part is None or part < SPLICE_PART:
        return cut
    return Transition((start + c + 1) // 2, "gradual", cut.strength, (start, c))


def _heading(stats: FrameStats, start: int, cut: int) -> float | None:
    """How far the layouts went from the frames at ``start`` toward the picture after ``cut`` by
    the frames before it, as a fraction of the way; None where they went off the line (SPLICE_COS)."""
    L = stats.gradual_frames
    spans = ((start - L // 4, start + 1), (cut - L // 8 - 1, cut), (cut + 1, cut + L // 4 + 1))  # from, at, after
    ends = [_layouts(stats, lo, hi)[1] for lo, hi in spans]
    if any(len(e) == 0 for e in ends):
        return None
    a, p, b = (e.mean(axis=0) for e in ends)
    way, whole = p - a, b - a
    norms = float(np.linalg.norm(way) * np.linalg.norm(whole))
    if norms <= 0.0 or float(way @ whole) < SPLICE_COS * norms:
        return None
    return float(np.linalg.norm(way) / np.linalg.norm(whole))


def _layouts(stats: FrameStats, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """The sampled frames in [lo, hi) and their GRID x GRID luminance layouts (the features after
    the histograms), as float64."""
    sel = np.flatnonzero((stats.sample_frames >= lo) & (stats.sample_frames < hi))
    return stats.sample_frames[sel].astype(np.float64), stats.sample_features[sel, -GRID * GRID :].astype(np.float64)


def _peaks(x: np.ndarray) -> np.ndarray:
    """Frames whose value is the largest of itself and its two neighbours."""
    padded = np.concatenate([[-np.inf], x, [-np.inf]])
    return (x >= padded[:-2]) & (x >= padded[2:])


def _context(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per frame i, the largest ``x`` in frames [i-k, i-2] and in [i+2, i+k].

    The frame next to i is left out: a cut's change can spread over two frames (an encoder's
    blend, a field) and would otherwise hide itself.
    """
    n, m = len(x), k - 1
    padded = np.concatenate([np.zeros(k), x, np.zeros(k)])
    run = np.lib.stride_tricks.sliding_window_view(padded, m).max(axis=1)  # run[j] = max padded[j : j + m]
    idx = np.arange(n) + k
    return run[idx - k], run[idx + 2]


def _persists_across(
    lagged: np.ndarray, i: int, w: int, need: float, back: np.ndarray | None = None
) -> bool:
    """``lagged[j]`` compares frame j with frame j - w - 1: the change at i holds across the window.

    ``back[j]``, where given, compares frame j with the likest of the frames 2 to w + 1 before it:
    in a pan, the frame after a flash differs from the frame w + 1 back by the pan's own change
    over the window, but little from the frame just before the flash.
    """
    n = len(lagged)
    after = lagged[min(i + w, n - 1)] >= need  # frame i-1 vs frame i+w
    before = (lagged if back is None else back)[i] >= need or i <= w  # frame i-1-w (or nearer) vs frame i
    return bool(after and before)


def _returns(stats: FrameStats, i: int, need: float) -> bool:
    """Within the flash window after frame i, a frame is again like one before i (closer than
    ``need``): the change at i was a flash, however much the picture moves across the window."""
    for r in range(i + 1, min(i + stats.flash_frames + 1, len(stats))):
        if stats.ef[r] < need and r - int(stats.ef_lag[r]) < i:
            return True
    return False


def _gradual(stats: FrameStats, thr: float, hard: list[Transition]) -> list[Transition]:
    """Dissolves and fades: frames a window apart come to differ like a cut, gradually.

    Seen first in structure: a dissolve mixes two pictures, so the thumbnails' distance to the
    frame a window (``L`` frames) back, ``el``, grows in proportion to the mix. It rises once the
    transition is half done and falls once the frame a window back is half way through it too, so
    it stays above half its peak for about ``L`` frames from the transition's middle, whatever its
    length up to ``L``, and about as long as a longer one lasts (spans up to three windows are
    taken); a flash lifts it only for its own length, and motion that goes on keeps it up. But a
    dissolve LONG_WINDOWS windows long changes a window's distance by only that part of its whole
    change, which may stay under STRUCTURE_MIN: the distance that many windows back (``el_long``)
    is searched the same way at that scale, and what only it finds is kept where nothing else lies
    within a window (and, as the others, where its middle is no motion). Then in colour (``dl``),
    for dissolves between pictures of alike structure: a histogram distance
    saturates early, so its rise must stand out more (COLOUR_CONTRAST) and it places the
    transition less well; where both see one, the structural one is kept.

    Where a shot either side moves fast (a pan), the window distances stay up through the shot and
    nothing stands out; the dip in edge energy a mix leaves does (:func:`_blend_dips`), where the
    picture across it is renewed all but FAINT_LOCAL (a blurred thing passing in front of part of
    a shot also dips the edges). A dip fitted closely (DIP_PLACE) also places a transition the
    distances found nearby, since the motion moves their rise and fall. A transition found by the
    distances whose middle keeps the edges of both ends (more than EDGE_MIX of what alike pictures
    keep) is motion, not a mix, unless only its colours change: a mix of two pictures of one
    structure keeps their edges. So is one between still shots whose frame steps add up to more
    than PATH_STILL times the distance across it (a whip or a blurred zoom), and any whose picture
    a quarter of a window after its middle is the one as far before it, moved or magnified (MOVED):
    a pan, a scrolling card (whose passing panels can dip the edges as a mix does) or a zoom. And
    so is any whose pictures a window before and after it are one picture in another light
    (:func:`_relit_window`): a light dimming or fog rising in a shot fits a mix with black or grey,
    and dims the edges as a mix does. Last, the sampled frames inside must be mixes of the pictures
    either side, up to what the shots move (:func:`_unmixed`): a thing passing the lens is none.
    """
    L = stats.gradual_frames
    structural = _window_transitions(stats.el, STRUCTURE_MIN, CONTRAST, stats, hard, stats.e1)
    colour = _window_transitions(stats.dl, thr, COLOUR_CONTRAST, stats, hard, None)
    longer = _window_transitions(stats.el_long, STRUCTURE_MIN, CONTRAST, stats, hard, stats.e1, LONG_WINDOWS)
    colour = [t for t in colour if all(abs(t.frame - f.frame) > L // 2 for f in structural)]
    cuts = [t for t in hard if t.kind == "cut"]
    edges = _running_median(stats.edges, _smoothing(L))
    dips = _blend_dips(stats, cuts, edges)
    sure = [d for d in dips if d.strength >= DIP_PLACE]

    def placed(t: Transition) -> tuple[Transition, int, bool]:
        """The transition, its length and whether it goes through dark: placed where a ramp longer
        than a window puts it (MIX_SURE), else a close dip (fitted up to a window long), else a
        ramp; a mix through dark at the centre of the brightness it sinks (:func:`_through_dark`).
        A ramp fitted up to a burst of motion that it runs into (a flash or a colour jump as the
        mix ends, within BURST_REACH frames) is fitted again up to the cuts alone: cut short there,
        its middle came early."""
        fit = _mix_fit(stats, t.frame, hard, MIX_WIDE, MIX_LONGEST)
        if fit is not None and fit[1] >= MIX_FIT:
            ends = (fit[0] - fit[2] / 2, fit[0] + fit[2] / 2)
            if any(b.kind != "cut" and min(abs(b.frame - e) for e in ends) <= BURST_REACH for b in hard):
                across = _mix_fit(stats, t.frame, cuts, MIX_WIDE, MIX_LONGEST)
                fit = across if across is not None and across[1] >= MIX_FIT else fit
        ramp = fit is not None and fit[1] >= MIX_FIT
        near = [d for d in sure if abs(d.frame - t.frame) <= L]
        if near and not (ramp and fit[2] > L and fit[1] >= MIX_SURE):
            d = min(near, key=lambda d: abs(d.frame - t.frame))
            t, n = Transition(d.frame, t.kind, t.strength, d.span), L
        elif ramp:
            t, n = Transition(fit[0], t.kind, t.strength, _mix_span(fit[0], fit[2])), max(L, fit[2])
        else:
            n = L
        dark = _through_dark(stats, t, n, hard)
        return (t, n, False) if dark is None else (dark, n, True)

    def mixes(t: Transition, length: int) -> bool:
        return _edge_mix(edges, L, t.frame, length) <= EDGE_MIX

    def kept(t: Transition) -> float:
        return float(stats.kept_l[min(t.frame + L // 2, len(stats) - 1)])

    def panned(t: Transition) -> bool:
        """The picture a quarter of a window after the middle is the one as far before it, moved,
        magnified or turned (a pan, a scrolling card, a zoom, a roll): no mix."""
        hi = min(t.frame + L // 4, len(stats) - 1)
        return bool(stats.eh_moved[hi] < MOVED * stats.eh[hi]) or _turned(stats, t.frame - L // 4, hi)

    def wanders(t: Transition) -> bool:
        """Between still shots each pixel of a mix moves one way, so its frame steps add up to the
        distance across it; a whip or a zoom from one framing to another goes further."""
        lo, hi = t.frame - L // 2, t.frame + L // 2
        if lo - L // 2 < 1 or hi + L // 2 >= len(stats) or stats.el[hi] < STRUCTURE_MIN:
            return False
        still = max(float(_median(stats.e1[lo - L // 2 : lo])), float(_median(stats.e1[hi + 1 : hi + 1 + L // 2])))
        if still >= STILL:
            return False
        return float(stats.e1[lo + 1 : hi + 1].sum()) - L * still > PATH_STILL * float(stats.el[hi])

    def alike(t: Transition) -> bool:
        """The layouts move on a straight mix: two pictures of one structure, whose edges a mix keeps."""
        fit = _mix_fit(stats, t.frame, hard)
        return fit is not None and fit[1] >= MIX_FIT

    def relit(t: Transition, length: int) -> bool:
        return _relit_window(stats, t.frame, max(length, L))

    def candidates(found: list[Transition]) -> list[tuple[Transition, int, bool]]:
        """Placed, less those between one picture in two lights."""
        return [(t, n, dark) for t, n, dark in map(placed, found) if not relit(t, n)]

    found = [(t, dark) for t, n, dark in candidates(structural) if mixes(t, n)]
    found += [(t, dark) for t, n, dark in candidates(colour) if alike(t) or mixes(t, n)]
    # a long dissolve seen only at the long scale: where nothing else was seen within a window of it
    seen = [t.frame for t in hard + structural + colour + dips] + [t.frame for t, _ in found]
    longer = [t for t in longer if all(abs(t.frame - f) > L for f in seen)]
    found += [(t, dark) for t, n, dark in candidates(longer) if mixes(t, n)]
    # a mix of unrelated pictures renews nearly all of the picture across its window: a dip alone
    # that keeps a fifth of it is a blurred thing passing in front of part of the shot
    near = [t.frame for t, _ in found] + [t.frame for t in cuts]
    found += [(d, False) for d in dips if all(abs(d.frame - f) > L for f in near) and kept(d) < FAINT_LOCAL
              and not relit(d, L)]
    # a window across which a good part of the picture stays as it was, or which only moves, saw a
    # light, an object or the camera move (a mix of two shots renews nearly all of the picture,
    # faintly as it starts); a mix through dark detours through the dark, a whip does not
    found = sorted(((t, dark) for t, dark in found
                    if kept(t) < MIX_KEPT and not panned(t) and (dark or not wanders(t))), key=lambda x: x[0].frame)
    return [t for t, _ in _joined_through_dark(stats, found, hard) if _unmixed(stats, t) < MIX_LEFT]


def _unmixed(stats: FrameStats, t: Transition) -> float:
    """What the sampled frames inside a gradual transition hold that no mix of the pictures either
    side explains, as a part of those pictures' distance, beyond what the shots move (a thing
    passing the lens, a whip: no mix).

    Each inside thumbnail is fitted by least squares as a*A + b*B (a, b >= 0: a dissolve, or a fade
    through black or dark), A and B the sampled thumbnails MIX_PAD of a window outside the span. Shots
    that move leave a residual that grows with the sampled steps to their picture: per frame, its
    weight on each side times that side's own sampled step, that many steps over (up to the whole
    distance). The largest excess is returned; 0 where too few frames were sampled to tell.
    """
    L, frames = stats.gradual_frames, stats.sample_frames
    lo, hi = t.span if t.span is not None else _mix_span(t.frame, L)
    pad = max(1, round(MIX_PAD * L))
    before = np.flatnonzero(frames <= lo - pad)
    after = np.flatnonzero(frames >= hi + pad)
    inside = np.flatnonzero((frames > lo) & (frames < hi))
    if len(before) < 2 or len(after) < 2 or not len(inside):
        return 0.0
    thumbs = stats.sample_thumbs.reshape(len(frames), -1)
    a, b = thumbs[before[-1]].astype(np.float64), thumbs[after[0]].astype(np.float64)
    whole = max(float(np.linalg.norm(b - a)), 1e-9)
    moves = (float(np.linalg.norm(a - thumbs[before[-2]])) / whole, float(np.linalg.norm(thumbs[after[1]] - b)) / whole)
    ends = np.stack([a, b], axis=1)
    gram = ends.T @ ends
    worst = 0.0
    for k, m in enumerate(thumbs[inside].astype(np.float64), 1):
        w = np.linalg.lstsq(gram, ends.T @ m, rcond=None)[0]
        if (w < 0).any():  # one picture alone, scaled
            w = np.maximum(ends.T @ m / np.maximum(np.diag(gram), 1e-9), 0.0)
            one = [float(np.linalg.norm(m - w[j] * ends[:, j])) for j in (0, 1)]
            side = int(np.argmin(one))
            left, share = one[side], float(side)
        else:
            left, share = float(np.linalg.norm(m - ends @ w)), float(w[1] / max(w.sum(), 1e-9))
        moved = (1.0 - share) * min(moves[0] * k, 1.0) + share * min(moves[1] * (len(inside) + 1 - k), 1.0)
        worst = max(worst, left / whole - moved)
    return worst


def _turned(stats: FrameStats, lo: int, hi: int) -> bool:
    """The sampled pictures nearest frames ``lo`` and ``hi`` differ like a cut's, but one is the
    other turned about the centre (TURNS_HALF), magnified or not (ZOOMS_HALF; MOVED): a camera
    rolling, or spiralling in or out. Of so many warps, one that overlaps the other picture only
    in a small part may line up two pictures by chance: those overlapping under TURN_OVERLAP are
    not tried."""
    frames = stats.sample_frames
    i, j = (min(int(np.searchsorted(frames, f)), len(frames) - 1) for f in (lo, hi))
    if i == j:
        return False
    a, b = (stats.sample_thumbs[[k]].astype(np.float32) for k in (j, i))
    plain = float(np.abs(a - b).mean()) / 255.0
    return plain >= STRUCTURE_MIN and float(_warped_distance(a, b, HALF_TURNS, TURN_OVERLAP)[0]) < MOVED * plain


def _relit_window(stats: FrameStats, frame: int, length: int) -> bool:
    """The sampled frames a window before and after a mix ``length`` long at ``frame`` show one
    picture in another light: their mean luminance layouts alike but for gain and offset
    (correlation RELIT_CORR), and their colours' hues shared out alike (HUE_SAME). The hues tell
    a mix between two colourings of one picture (warm to cool), which is a transition."""
    L, half = stats.gradual_frames, length // 2
    near = (stats.sample_frames >= frame - half - L) & (stats.sample_frames < frame + half + L)
    f, feats = stats.sample_frames[near], stats.sample_features[near].astype(np.float64)
    before, after = f < frame - half, f >= frame + half
    if not before.any() or not after.any():
        return False
    p, q = feats[before, -GRID * GRID :].mean(axis=0), feats[after, -GRID * GRID :].mean(axis=0)
    p, q = p - p.mean(), q - q.mean()
    if not p.any() or float(p @ q) < RELIT_CORR * float(np.sqrt((p @ p) * (q @ q))):
        return False
    hues = _hue_distance(feats[before, :H_BINS].mean(axis=0), feats[after, :H_BINS].mean(axis=0))
    return bool(np.isnan(hues) or hues < HUE_SAME)  # NaN: no colour to tell by


def _joined_through_dark(
    stats: FrameStats, found: list[tuple[Transition, bool]], hard: list[Transition]
) -> list[tuple[Transition, bool]]:
    """Two transitions up to two windows apart that are the ends of one long mix through dark (the
    edge dips where one picture sinks into the dim middle and the next rises out of it) as that
    mix (:func:`_dark_mix` over the frames between them, its middle sunk below both pictures).
    ``found``: (transition, whether it goes through dark) in frame order."""
    out: list[tuple[Transition, bool]] = []
    for t, dark in found:
        if out and not dark and not out[-1][1] and 0 < t.frame - out[-1][0].frame <= 2 * stats.gradual_frames:
            a = out[-1][0]
            middle = Transition((a.frame + t.frame) // 2, a.kind, a.strength)
            joined = _dark_mix(stats, middle, t.frame - a.frame, hard, moved=True)
            if joined is not None:
                out[-1] = (joined, True)
                continue
        out.append((t, dark))
    return out


def _through_dark(stats: FrameStats, t: Transition, length: int, hard: list[Transition]) -> Transition | None:
    """A mix through dark placed where it is half done, whatever the darkening; None where the
    mix around ``t`` does not go through dark (or cannot be placed so).

    Where the brightness in the middle of a mix sinks DIM of the brighter side below a plain mix
    of the two sides' (without reaching black: a fade's), the ramp and dip fits, made for linear
    mixes, are pulled toward one end. Darkening scales a frame, so the sampled layouts over their
    means are mixes of the pure layouts over theirs; the share of the new picture's light found so
    must follow a ramp (MIX_FIT) inside the frames looked at. The mix is placed at the centre of
    the brightness sunk below the plain mix: that is symmetric about the middle of the mixing
    frames for a dimmed mix of alike pictures and for an editor's stack of a picture fading out
    over black (as fast as the next fades in, or faster) over the next fading in, where the share
    passes a half early. The pure pictures are read next to those frames, where the brightness
    must have settled; a mix longer than the ``length`` it was found with has not, so 1.5 and 2
    times as long are tried, up to MIX_LONGEST windows, and each also moved onto the dip's centre
    where it was found near one end.
    """
    for n in (length, round(1.5 * length), 2 * length):
        if n > length and 2 * n > MIX_LONGEST * stats.gradual_frames + 1:
            break
        placed = _dark_mix(stats, t, n, hard)
        if placed is None:  # a long mix found near one of its ends: the window moved onto its dip
            centre = _dip_centre(stats, t.frame, n)
            if centre is not None and abs(centre - t.frame) >= 2:
                placed = _dark_mix(stats, Transition(centre, t.kind, t.strength), n, hard, moved=True)
        if placed is not None:
            return placed
    return None


def _dip_centre(stats: FrameStats, c: int, length: int) -> int | None:
    """Where the brightness of the frames ``c`` +- ``length`` sinks below a plain mix of the
    pictures either side (:func:`_sunk_centre`); None near the video's ends."""
    pad = max(2, round(DIP_PAD * stats.gradual_frames))
    lo, hi = c - length, c + length
    if lo - pad < 0 or hi + pad >= len(stats):
        return None
    return _sunk_centre(stats, lo, hi, _sides(stats, lo, hi, pad))


def _sides(stats: FrameStats, lo: int, hi: int, pad: int) -> tuple[float, float]:
    """The median brightness of the ``pad`` frames before ``lo`` and of those after ``hi``."""
    return float(_median(stats.brightness[lo - pad : lo])), float(_median(stats.brightness[hi + 1 : hi + 1 + pad]))


def _sunk_centre(stats: FrameStats, lo: int, hi: int, sides: tuple[float, float]) -> int | None:
    """The centre of the brightness in frames [lo, hi] sunk below the line between the two sides'
    (only what sinks more than SUNK_TOP of the deepest, so that noise does not pull it to the
    middle of the frames looked at); None where nothing sinks."""
    b = _running_median(stats.brightness[lo : hi + 1], 3)
    sunk = np.maximum(np.linspace(sides[0], sides[1], len(b)) - b, 0.0)
    sunk = np.maximum(sunk - SUNK_TOP * float(sunk.max()), 0.0)
    total = float(sunk.sum())
    return None if total <= 0.0 else lo + round(float(np.arange(len(b)) @ sunk) / total)


def _dark_mix(
    stats: FrameStats, t: Transition, length: int, hard: list[Transition], moved: bool = False
) -> Transition | None:
    """A mix ``length`` frames long around ``t`` through dark, placed; None where it is not one
    (see :func:`_through_dark`). ``moved``: the frames were chosen around a dip rather than around
    a transition found there, so the middle must also sink SUNK of DIM below the darker side (a
    picture dimming one way leaves some brightness under the line of a window placed on it)."""
    L, c = stats.gradual_frames, t.frame
    pad = max(2, round(DIP_PAD * L))
    lo, hi = c - length, c + length
    if lo - pad < 0 or hi + pad >= len(stats) or any(lo - 2 * pad < h.frame <= hi + 2 * pad for h in hard):
        return None
    sides = _sides(stats, lo, hi, pad)
    # the brightness moving on outside them (where there are frames): the mix or the shot goes on
    outside = stats.brightness[max(lo - 2 * pad, 0) : lo - pad], stats.brightness[hi + 1 + pad : hi + 1 + 2 * pad]
    settle = 0.5 * DIM * max(sides)
    if any(len(o) and abs(float(_median(o)) - side) >= settle for o, side in zip(outside, sides, strict=True)):
        return None
    span = slice(c - length // 2, c + length // 2 + 1)
    middle = _running_median(stats.brightness[span], 3)
    line = np.linspace(sides[0], sides[1], len(middle))  # a plain mix of the two
    if float((line - middle).max()) < DIM * max(sides) or _black(stats.brightness[span], stats.edges[span]).any():
        return None  # no dip, or one through black: a fade's (placed by the fades)
    if moved and float(middle.min()) > min(sides) - SUNK * DIM * max(sides):
        return None
    _, before = _layouts(stats, lo - pad, lo)
    _, after = _layouts(stats, hi + 1, hi + 1 + pad)
    f, g = _layouts(stats, lo, hi + 1)
    if len(before) == 0 or len(after) == 0 or len(f) < 3:
        return None
    # darkening scales a frame: its layout over its mean is (1 - s) P' + s Q' (P', Q' the pure
    # layouts over theirs), s the share of Q's light in it, from which the mix's r follows
    p, q = before.mean(axis=0), after.mean(axis=0)
    pm, qm = float(p.mean()), float(q.mean())
    way = q / qm - p / pm
    if min(pm, qm) <= 0.0 or float(way @ way) <= 0.0:
        return None
    s = (g / np.maximum(g.mean(axis=1, keepdims=True), 1e-9) - p / pm) @ way / float(way @ way)
    s = np.clip(s, 0.0, 1.0)
    r = s * pm / np.maximum(s * pm + (1.0 - s) * qm, 1e-9)
    lengths = np.arange(max(2, L // 4), 2 * length + 2, dtype=np.float64)
    fit = _ramp_fit(f, r[:, None], np.arange(lo + 1, hi, dtype=np.float64), lengths)
    if fit is None or fit[1] < MIX_FIT or not lo < fit[0] - fit[2] / 2 <= fit[0] + fit[2] / 2 < hi:
        return None  # not a mix, or one going on beyond the frames looked at
    centre = _sunk_centre(stats, lo, hi, sides)
    return Transition(fit[0] if centre is None else centre, t.kind, t.strength, _mix_span(fit[0], fit[2]))


def _smoothing(window: int) -> int:
    """Width of the running median that removes a flash's one- or two-frame spike from a curve,
    for a gradual ``window`` of about a second."""
    return 2 * max(1, round(0.1 * window)) + 1


def _blend_dips(stats: FrameStats, cuts: list[Transition], edges: np.ndarray) -> list[Transition]:
    """Dissolves found by the dip a mix of two pictures leaves in edge energy and contrast.

    For every middle frame and each length in DIP_LENGTHS, the edge energy over the mix and
    DIP_PAD windows of pure frames either side is fitted by least squares to
    ``(1 - r)^2 E_A + r^2 E_B + 2 r (1 - r) C``, ``r`` ramping from 0 to 1 across the mix. A
    mix it is where that curve explains at least DIP_FIT of what a step from ``E_A`` to ``E_B``
    leaves unexplained, the edges of the two pictures are nearly unrelated (``|C|`` at most DIP_RHO
    of ``sqrt(E_A E_B)``), the same fit of the contrast has a cross term within the
    Cauchy-Schwarz bound (a mix cannot hold more contrast than that: motion blur, which lowers edge
    energy and keeps the contrast, can), and the thumbnails change by at least DIP_CHANGE across
    it. No hard cut may lie inside the fitted frames. Of overlapping fits the best one is kept.

    ``edges`` is the smoothed edge energy (:func:`_smoothing`).

    Returns:
        Transitions of kind ``gradual`` at the mixes' middles, ``strength`` the fitted fraction.
    """
    n, L = len(stats), stats.gradual_frames
    width = _smoothing(L)
    v = _running_median(stats.contrast, width)
    el = _running_median(stats.el, width)
    marks = np.zeros(n + 1, np.int64)
    for t in cuts:
        marks[t.frame] += 1
    cut_count = np.cumsum(marks)  # cuts at frames <= i
    pad = max(2, round(DIP_PAD * L))
    best = np.full(n, -np.inf)
    best_length = np.zeros(n, np.int64)
    for frac in DIP_LENGTHS:
        d = max(4, round(frac * L))
        half = 0.5 * d
        span = int(np.ceil(half)) + pad
        off = np.arange(-span, span + 1)
        if n <= len(off):
            continue
        m = np.arange(span, n - span)
        r = np.clip((off + 0.5 + half) / d, 0.0, 1.0)  # the new shot's first frame is m
        mix = np.stack([(1 - r) ** 2, r**2, 2 * r * (1 - r)], axis=1)
        step = np.stack([off < 0, off >= 0], axis=1).astype(np.float64)
        (ga, gb, gc), rss = _window_fit(edges, mix)
        _, rss_step = _window_fit(edges, step)
        (va, vb, vc), _ = _window_fit(v, mix)
        ok = (ga > 0) & (gb > 0) & (va > 0) & (vb > 0)
        ok &= np.abs(gc) <= DIP_RHO * np.sqrt(np.maximum(ga * gb, 0.0))
        ok &= vc <= np.sqrt(np.maximum(va * vb, 0.0))
        ok &= cut_count[m + span] == cut_count[m - span]
        fit = 1.0 - rss / np.maximum(rss_step, 1e-18)
        ok &= fit >= DIP_FIT
        for k in np.flatnonzero(ok):
            i = int(m[k])
            if el[i : min(i + int(np.ceil(half)) + L // 2, n - 1) + 1].max(initial=0.0) < DIP_CHANGE:
                ok[k] = False
        better = ok & (fit > best[m])
        best[m[better]] = fit[better]
        best_length[m[better]] = d
    out: list[Transition] = []
    taken = np.zeros(n, bool)
    for i in np.argsort(-best, kind="stable"):
        if not best[i] >= DIP_FIT:
            break
        if not taken[max(0, i - L) : i + L + 1].any():
            taken[i] = True
            out.append(Transition(int(i), "gradual", float(best[i]), _mix_span(int(i), int(best_length[i]))))
    return sorted(out, key=lambda t: t.frame)


def _window_fit(y: np.ndarray, design: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares fits of ``design`` (w, p) to every window of ``w`` consecutive values of ``y``.

    Returns:
        (coefficients (p, windows), residual sum of squares per window), from the normal equations:
        the sums over each window come from correlations, without an array of all the windows.
    """
    w = len(design)
    proj = np.stack([np.correlate(y, design[:, j], mode="valid") for j in range(design.shape[1])])
    coef = np.linalg.solve(design.T @ design, proj)
    squares = np.convolve(y * y, np.ones(w), mode="valid")
    return coef, np.maximum(squares - (coef * proj).sum(axis=0), 0.0)


def _edge_mix(edges: np.ndarray, window: int, frame: int, length: int) -> float:
    """Edge energy at ``frame`` over what it would be in a mix of two pictures whose edges coincide,
    ``((sqrt E_A + sqrt E_B) / 2)^2``, ``E_A`` and ``E_B`` measured half the mix's ``length``
    before and after; ``edges`` is the smoothed per-frame edge energy. A mix of unrelated pictures
    keeps about half, motion about all of it."""
    n = len(edges)
    half, side, k = length // 2, max(2, round(DIP_PAD * window)), _smoothing(window) // 2
    before = edges[max(0, frame - half - side + 1) : max(1, frame - half + 1)]
    after = edges[min(frame + half, n - 1) : min(frame + half + side, n)]
    ea, eb = float(_median(before)), float(_median(after))
    middle = float(edges[max(0, frame - k) : frame + k + 1].mean())
    return middle / max(0.25 * (np.sqrt(ea) + np.sqrt(eb)) ** 2, 1e-12)


def _window_transitions(
    lagged: np.ndarray, level: float, contrast: float, stats: FrameStats, hard: list[Transition],
    steps: np.ndarray | None, windows: int = 1,
) -> list[Transition]:
    """Transitions in a distance to the frame one window back (see :func:`_gradual`), or
    ``windows`` windows back: then every length below, and the mix fit's reach, is that many
    windows.

    Two tests tell a transition from motion. Its peak stands out (``contrast``) against the same
    distance in the shots either side of it, what their own motion changes in a window. And, where
    the frame-to-frame ``steps`` of the same measure are given, the path the pictures take is
    nearly straight: a mix moves from one picture to the other, so its steps add up to about the
    distance between its ends, whereas moving content wanders (PATH_MAX), and the sampled frames'
    layouts fit a mix of two pictures (:func:`_mix_fit`, MIX_MIN). Windows spanning a hard cut see
    that cut and are left out; a running median first removes the two spikes a flash leaves (at
    it, and a window later).

    Where hard cuts lie within a window on both sides (a dissolve between two short shots), no
    shot is left to compare with: the curve must then rise and fall inside its run, and the mix
    fit explain nearly all of the layouts' change (MIX_SURE). The transition is placed where the
    fitted mix is half done, or, where no mix fits, in the middle of the curve's half-peak span.
    """
    L, w = windows * stats.gradual_frames, stats.flash_frames
    x = _running_median(lagged, 2 * w + 1)
    path = None if steps is None else _running_median(steps, 2 * w + 1)
    for t in hard:
        x[t.frame : t.frame + L] = np.nan
    valid = np.nan_to_num(x, nan=0.0)
    out, done = [], 0
    for s, e in _runs(valid >= level):
        if s < done:
            continue
        top = s + int(np.argmax(valid[s:e]))
        a, b = _half_peak_span(valid, top)
        done = b
        if not L // 2 <= b - a <= 3 * L:
            continue  # a flash or a brief burst of motion; or change that goes on longer than a dissolve: motion
        around = np.concatenate([x[max(a - L, 0) : max(a - L // 2, 0)], x[b + L // 2 : b + L]])
        around = around[~np.isnan(around)]
        # Hard cuts within a window on both sides leave nothing to compare with: the curve must
        # then rise and fall inside its run, and the frames must be a mix's (MIX_SURE, below).
        alone = len(around) < 2
        if alone and min(top - s, e - 1 - top) < L // 4:
            continue
        if not alone and valid[top] < contrast * float(_median(around)):
            continue
        if path is not None and float(path[max(top - L + 1, 1) : top + 1].sum()) > PATH_MAX * valid[top]:
            continue
        guess = max((a + b - L) // 2, a - L // 2, 1)
        fit = _mix_fit(stats, guess, hard, windows * MIX_WINDOW, windows)
        explained = 0.0 if fit is None else fit[1]
        if explained < (MIX_SURE if alone else MIX_MIN if path is not None else 0.0):
            continue
        frame = fit[0] if fit is not None and explained >= MIX_FIT else guess
        out.append(Transition(frame, "gradual", float(valid[top])))
    return out


def _mix_fit(
    stats: FrameStats, guess: int, hard: list[Transition], reach: float = MIX_WINDOW, longest: float = 1.0
) -> tuple[int, float, int] | None:
    """Where a dissolve near ``guess`` is half done, from the luminance layouts of the sampled frames.

    A dissolve mixes two pictures linearly, so each frame's layout (GRID x GRID mean luminance) is
    ``(1 - r) P + r Q`` with ``r`` ramping from 0 to 1 across it. Ramps of every middle and length
    up to ``longest`` windows are fitted by least squares to the samples within ``reach`` windows
    of ``guess`` (not across a hard cut); the best one's middle is the new shot's first frame. The distance curves
    place a transition only from where they rise and fall, which the motion in the shots either
    side shifts; the layouts' straight path between the two pictures does not depend on it.

    Returns:
        (middle frame, fraction of the layouts' variance the ramp explains, ramp length in frames),
        or None when fewer than five samples lie in the window.
    """
    L = stats.gradual_frames
    half = round(reach * L)
    lo, hi = guess - half, guess + half + 1
    lo, hi = max(lo, 0), min(hi, len(stats))
    for t in hard:
        if t.frame <= guess:
            lo = max(lo, t.frame)
        else:
            hi = min(hi, t.frame)
    f, g = _layouts(stats, lo, hi)
    if len(f) < 5:
        return None
    lengths = np.arange(max(2, L // 4), round(longest * L) + 2, max(1, round(longest)), dtype=np.float64)
    return _ramp_fit(f, g, np.arange(lo + 1, hi - 1, dtype=np.float64), lengths)


def _ramp_fit(f: np.ndarray, g: np.ndarray, mids: np.ndarray, lengths: np.ndarray) -> tuple[int, float, int] | None:
    """The linear ramp ``r`` (0 to 1, each middle and length given) that best explains the values
    ``g`` (samples, k) at frames ``f`` as ``c + r v``, by least squares.

    Returns:
        (middle frame, fraction of the variance explained, length in frames), or None where ``g``
        does not vary.
    """
    g = g - g.mean(axis=0)
    total = float((g * g).sum())
    if total <= 0.0 or len(mids) == 0:
        return None
    m, d = (x.reshape(-1, 1) for x in np.meshgrid(mids, lengths, indexing="ij"))
    r = np.clip((f - (m - 0.5 * d)) / d, 0.0, 1.0)  # (candidates, samples)
    r -= r.mean(axis=1, keepdims=True)
    rr = (r * r).sum(axis=1)
    explained = np.where(rr > 1e-9, ((r @ g) ** 2).sum(axis=1) / np.maximum(rr, 1e-9), 0.0) / total
    best = int(np.argmax(explained))
    return round(float(m[best, 0])), float(explained[best]), round(float(d[best, 0]))


def _through_black(
    stats: FrameStats, smooth_brightness: np.ndarray, black: np.ndarray, cuts: list[int], detail: np.ndarray
) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Fades through black, each as (middle, first frame that darkens, first frame back at the
    shot's level): a run of black frames (:func:`_black`) with pictures on both sides, its ramps
    read from the smoothed brightness, or from ``detail`` where that hardly moves (:func:`_fade_span`).

    Black before the first picture or after the last one (a lead-in, a fade-out as the video
    ends) separates no two shots: it comes second, as the frame span of the black with its fade
    in or out (or the cut into or out of it).
    """
    n, L = len(stats), stats.gradual_frames
    fades, ends = [], []
    for s, e in _runs(black):
        if s > 0 and e < n:
            out, back = _fade_span(smooth_brightness, L, s + int(np.argmin(stats.brightness[s:e])), black, cuts, detail)
            fades.append(((out + back + 1) // 2, out, back))
        elif s > 0 or e < n:
            ends.append(_fade_span(smooth_brightness, L, s, black, cuts, detail, at_ends=True))
    return fades, ends


def _through_flat(
    stats: FrameStats, detail: np.ndarray, flat: np.ndarray, cuts: list[int], black: np.ndarray
) -> list[tuple[int, int, int]]:
    """Dips to a flat picture (white, grey), as :func:`_through_black`'s fades: a run of ``flat``
    frames no longer than a window with pictures on both sides (not ``black``: a fade from black
    passes through dim flat frames), its ramps read from ``detail`` (the standard deviation of the
    central luminance, which a mix with a flat frame scales down linearly). A longer flat run is a
    shot of its own (a clear sky), bounded by its own cuts, unless it is white (WHITE) and faded
    into and out of: a dip to white held. One between alike pictures (a flash, a glow) is a light
    inside a shot; so is one whose flat picture is the plain ground of both pictures
    (:func:`_plain_ground`), and one between pictures of one scene moved a little (:func:`_passed`)."""
    n, L, dips = len(flat), stats.gradual_frames, []
    for s, e in _runs(flat):
        longer = e - s > L
        if s == 0 or e == n or (longer and float(stats.brightness[s:e].mean()) < WHITE):
            continue
        if black[s - 1] or black[e]:
            continue
        out, back = _fade_span(detail, L, s, flat, cuts)
        if longer and not (out < s and back > e):  # a held white is faded into and out of
            continue
        f, g = _layouts(stats, max(out - L, 0), min(back + L, n))
        before, after = g[f < out], g[f >= back]
        if len(before) and len(after) and np.abs(before[-1] - after[0]).mean() < SAME_LAYOUT:
            continue
        if _plain_ground(stats, s, e, out, back) or _passed(stats, out, back):
            continue
        dips.append(((out + back + 1) // 2, out, back))
    return dips


def _plain_ground(stats: FrameStats, s: int, e: int, out: int, back: int) -> bool:
    """Whether the flat frames [s, e) of a dip spanning [out, back) are the plain ground of the
    pictures either side: the sampled frames just outside the dip keep LOCAL of the flat picture
    (within KEPT), as a card's ground stays while a title or shape leaves it and another comes."""
    frames, thumbs = stats.sample_frames, stats.sample_thumbs
    flat = np.flatnonzero((frames >= s) & (frames < e))
    before, after = np.searchsorted(frames, out) - 1, np.searchsorted(frames, back + 1)
    if not len(flat) or before < 0 or after >= len(frames):
        return False
    ground = thumbs[flat[len(flat) // 2]].astype(np.float32)
    return all(float((np.abs(thumbs[k] - ground) < KEPT * 255.0).mean()) >= LOCAL for k in (before, after))


def _passed(stats: FrameStats, out: int, back: int) -> bool:
    """Whether sampled frames either side of a dip spanning [out, back) show one scene, moved
    about: a flat thing passed the lens (a wall, a pole), or a flash of white over the scene. The
    sampled frames next to the dip, and those a window out (which a thing passing slowly has left),
    are compared pair by pair, each pair first lined up by the shift that matches their row and
    column means (a pan), up to a quarter of the picture; one scene where FOUND_MIX of the textured
    blocks are found again near where they were. A thing still covering part of a picture hides
    flat blocks only, which are not looked for. Only the middle half of the rows is compared:
    letterbox bars' edges are found again in any two pictures."""
    frames, thumbs, L = stats.sample_frames, stats.sample_thumbs, stats.gradual_frames
    before, after = int(np.searchsorted(frames, out)) - 1, int(np.searchsorted(frames, back))
    if before < 0 or after >= len(frames):
        return False
    first = int(np.searchsorted(frames, out - L))
    last = int(np.searchsorted(frames, back + L, side="right")) - 1
    h, w = thumbs.shape[1:]
    for i in {first, before}:
        for j in {after, last}:
            a, b = thumbs[i].astype(np.float32), thumbs[j].astype(np.float32)
            (dy,), (gy,) = _best_shift(a.mean(1)[None], b.mean(1)[None], h // 4)
            (dx,), (gx,) = _best_shift(a.mean(0)[None], b.mean(0)[None], w // 4)
            dy, dx = int(dy) if gy < MOVE_GAIN else 0, int(dx) if gx < MOVE_GAIN else 0
            ya, yb, xa, xb = max(-dy, 0), max(dy, 0), max(-dx, 0), max(dx, 0)  # a[y, x] ~ b[y + dy, x + dx]
            a, b = a[ya : h - yb, xa : w - xb], b[yb : h - ya, xb : w - xa]
            rows = slice(a.shape[0] // 4, a.shape[0] - a.shape[0] // 4)
            if _found_share(a[None, rows], b[None, rows])[0] >= FOUND_MIX:
                return True
    return False


def _black(brightness: np.ndarray, edges: np.ndarray, centre: np.ndarray | None = None) -> np.ndarray:
    """Frames dark (DARK) and featureless (BLACK_EDGES): black, not a dark scene or a title card.
    Given the centre's luminance deviation, also dark frames whose centre is flat (BLACK_CENTRE):
    black under a steady caption or watermark off the centre."""
    black = (brightness < DARK) & (edges < BLACK_EDGES)
    return black if centre is None else black | ((brightness < DARK) & (centre < BLACK_CENTRE))


def _fade_span(
    level: np.ndarray, window: int, darkest: int, black: np.ndarray, cuts: list[int],
    detail: np.ndarray | None = None, at_ends: bool = False,
) -> tuple[int, int]:
    """The first frame that darkens and the first frame back at the shot's level around the black
    at ``darkest``, whose middle is the fade's boundary, as a dissolve's middle is. A long black
    hold after a quick fade-out does not pull the boundary into the black. Black that reaches the
    video's start is no shot: (e + 1, e + 1), where the picture begins; at its end (s, s). With
    ``at_ends``, such black is returned with its ramp on the picture's side instead.

    Each side's ramp is a ramp-then-level line fitted by least squares to up to two ``window``s of
    frames beyond the black, not across a hard cut (``cuts``), so that a slow fade ends where it
    ends, whatever its length: two where the first window's ramp runs to its end, or where the
    level beyond it goes on rising SLOW_RISE of the ramp (a fade that pauses). A side whose first
    frame is already CUT_STEP of the way to its level is a cut into or out of the black. ``level``
    is what the fade scales down to nothing, smoothed per frame: the brightness for a fade through
    black, the central detail for a dip to white (:func:`_through_flat`); ``black`` says which
    frames are the dip's middle. Where a side's brightness hardly moves in its first window
    (FADE_MIN: white text on black fading out, a dark letterboxed shot), ``detail`` (the square root
    of the edge energy, which a fade also scales) shows its ramp; and where the detail is there at
    once, the side is a cut, however the brightness then moves."""
    n, L = len(level), window
    s = e = darkest
    while s > 0 and black[s - 1]:
        s -= 1
    while e < n - 1 and black[e + 1]:
        e += 1
    lo = max([s - 2 * L, 0] + [c for c in cuts if c < s - 1])
    hi = min([e + 1 + 2 * L, n] + [c for c in cuts if c > e + 2])
    def ramp(side: np.ndarray, dark: float) -> int:
        """Frames from the black to where the ramp on ``side`` (nearest frame first) ends, 0 for a cut."""
        k = np.arange(len(side), dtype=np.float64)
        ends = np.arange(1, len(side) + 1, dtype=np.float64)
        x = np.minimum(k[None, :], ends[:, None])  # (ramp ends, frames): ramp then level
        xm = x - x.mean(axis=1, keepdims=True)
        ym = side - side.mean()
        slope = (xm @ ym) / np.maximum((xm * xm).sum(axis=1), 1e-12)
        sse = (ym * ym).sum() - slope * (xm @ ym)
        end = int(np.argmin(sse))
        top = side.mean() + slope[end] * (ends[end] - x[end].mean())
        if top - dark <= 0.0 or side[0] - dark >= CUT_STEP * (top - dark):
            return 0
        return end + 1

    def side_ramp(before: bool) -> int:
        span = slice(lo, s) if before else slice(e + 1, hi)
        edge = s if before else e

        def outward(x: np.ndarray) -> np.ndarray:
            """The side's frames of ``x``, nearest the black first."""
            return x[span][::-1] if before else x[span]

        signal = level
        if detail is not None and abs(float(outward(level)[:L].max()) - level[edge]) < FADE_MIN:
            signal = detail
        elif detail is not None:
            # a picture whose detail is there at once (ramp() reads a cut in it) came in or went by
            # a cut, however its light then moves (a card cut in under a rising glow)
            shown = outward(detail)
            if len(shown) and ramp(shown[:L], float(detail[edge])) == 0 and float(shown[0]) > float(detail[edge]):
                return 0
        side = outward(signal)
        # one window first; two where the ramp still rises at its end or the level goes on
        # rising beyond the window (a slow fade, however its first window looked)
        dark = float(signal[edge])
        frames = ramp(side[:L], dark)
        if len(side) <= L or frames == 0:  # a cut into or out of the black stays one
            return frames
        slow = frames >= L - 1
        if not slow:
            top = float(_median(side[max(frames, L - 3) : L]))
            slow = float(_median(side[L : 2 * L])) - top > SLOW_RISE * (top - dark)
        return ramp(side, dark) if slow else frames

    if lo >= s or hi <= e + 1:
        if at_ends:  # the ramp on the picture's side: a fade in as the video starts, or out as it ends
            if lo >= s:
                return s, e + 1 + (side_ramp(False) if e + 1 < hi else 0)
            return s - side_ramp(True), e + 1
        edge = e + 1 if lo >= s and e + 1 < n else s
        return edge, edge
    return s - side_ramp(True), e + 1 + side_ramp(False)


def _running_median(x: np.ndarray, width: int) -> np.ndarray:
    """Median of each ``width`` frames centred on a frame (edges padded with the end values)."""
    half = width // 2
    padded = np.pad(x.astype(np.float64), half, mode="edge")
    return _median(np.lib.stride_tricks.sliding_window_view(padded, width))


def _median(x: np.ndarray) -> np.ndarray:
    """The median along the last axis, NaN where a row holds a NaN: the values of ``np.median``.

    np.median imports numpy.ma on its first call, which a short ``lvas shots`` run would wait for.
    """
    s = np.sort(x, axis=-1)
    n = s.shape[-1]
    mid = s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    return np.where(np.isnan(s[..., -1]), np.nan, mid)


def _half_peak_span(x: np.ndarray, top: int) -> tuple[int, int]:
    """The frames [a, b) around ``top`` where ``x`` stays at or above half of ``x[top]``."""
    half, a, b = 0.5 * x[top], top, top + 1
    while a > 0 and x[a - 1] >= half:
        a -= 1
    while b < len(x) and x[b] >= half:
        b += 1
    return a, b


def _bridged(mask: np.ndarray, gap: int) -> np.ndarray:
    """``mask`` with its gaps of at most ``gap`` frames between two runs filled: black that flickers
    above the threshold for up to a flash window (a dim picture rising, doubled frames) is one black."""
    out = mask.copy()
    runs = _runs(mask)
    for (_, e), (s, _) in itertools.pairwise(runs):
        if s - e <= gap:
            out[e:s] = True
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def _merge(found: list[Transition], min_gap: int) -> list[Transition]:
    """One boundary per transition: candidates closer than a minimum shot merge."""
    clusters: list[list[Transition]] = []
    for t in found:
        if clusters and t.frame - clusters[-1][-1].frame < min_gap:
            clusters[-1].append(t)
        else:
            clusters.append([t])
    return [_place(c) for c in clusters]


def _place(cluster: list[Transition]) -> Transition:
    """Where a cluster's boundary is: a fade's middle, else the strongest cut, else the middle
    (spanning what the cluster's mixes span)."""
    if len(cluster) == 1:
        return cluster[0]
    lo, hi = cluster[0].frame, cluster[-1].frame
    fades = [t for t in cluster if t.kind == "fade"]
    if fades:
        return fades[0]
    hard = [t for t in cluster if t.kind == "cut"]
    if hard:
        return max(hard, key=lambda t: t.strength)
    spans = [t.span for t in cluster if t.span is not None]
    span = (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None
    return Transition((lo + hi + 1) // 2, "gradual", max(t.strength for t in cluster), span)
