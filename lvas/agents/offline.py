"""The offline stand-in for the four roles: deterministic, no network, no model.

It is NOT a vision-language model and does not pretend to be one. It does honest work with what
it can measure and says so in its captions:

* keyframe image statistics (``measure_image``): brightness, saturation, the dominant hue, the share
  of sky-blue pixels in the top third, of vegetation-green pixels, of water-like blue in the bottom
  third, and edge density (texture);
* shot motion from the storyboard's per-frame ``motion`` column when it is available, otherwise
  the change between the shot's keyframes;
* caption text (rich when a dataset supplies sidecar captions): the Designer maps words to
  concrete sounds with a fixed lexicon (``SOUND_LEXICON``) and never adds a source the text or the
  measurements do not mention;
* measured cues, read back from the captioner's own phrases (``measured_cues``), fill a layer the
  caption text leaves empty, and the design's reasoning says so ("offline stand-in: measured cues
  -> ..."). Text always wins over cues. Ambience: water-like blue in the lower third -> a stream;
  green vegetation with sky or leaf texture -> distant songbirds and leaves in the wind; sky alone
  -> light wind; dark -> crickets when outdoor cues are present, otherwise room tone; no outdoor
  cue with muted colours (indoor look) -> room tone; no setting measured -> room tone only as a
  bed under a measured movement, else nothing. Foreground: fast motion -> a whoosh of fast
  movement, moderate motion (or large change between keyframes) -> a soft swish, static or slow
  -> nothing. These are guesses from colour and motion statistics, not recognised sources: a blue
  car seat can read as water. Footsteps or engines come only from caption words;
* the knowledge base, through the ``retrieve`` callable given to the design loop: the Synthesizer
  picks the candidate sharing most content words with the item, and the reviewer asks for a
  revision while an item has candidates but no fitting label (measured-cue sounds without a
  fitting label stay free text: the library has no generic movement sound).

Captions therefore read like "bright outdoor shot, blue sky at the top, green vegetation, fast
motion": no objects are named unless a sidecar caption named them. Each role call is recorded as
an :class:`~lvas.models.LLMCall` with ``backend="offline"`` and 0 tokens.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from lvas.agents.base import ShotView, enforce_design
from lvas.agents.events import SceneTiming, place_items
from lvas.models import (
    Caption,
    DesignRound,
    LLMCall,
    MergeDecision,
    Scene,
    Script,
    SoundDesign,
    SoundItem,
    Verdict,
)
from lvas.settings import AgentSettings

OFFLINE_MODEL = "offline-measure-1"
ANALYSIS_SIDE = 128
HUE_BINS = 12

# Merge when the colour distributions are this close (L1/2 over hue×value histograms, 0..1) and
# brightness differs by less than MERGE_MAX_BRIGHTNESS_DIFF. Chosen so a hard cut between two
# different settings (sky/grass vs indoor, day vs night) separates and re-framings of one place do not.
MERGE_MAX_HIST_DIST = 0.35
MERGE_MAX_BRIGHTNESS_DIFF = 0.15


# --------------------------------------------------------------------------- measurements


@dataclass(frozen=True)
class ImageStats:
    """Measurements of one keyframe, all in 0..1 except ``hue_deg``."""

    brightness: float
    saturation: float
    hue_deg: float
    sky_top: float
    vegetation: float
    water_bottom: float
    edges: float
    hist: tuple[float, ...]


def _hsv(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        small = img.convert("RGB")
    small.thumbnail((ANALYSIS_SIDE, ANALYSIS_SIDE))
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255.0
    return hsv


def _hue_mask(hsv: np.ndarray, lo_deg: float, hi_deg: float, min_s: float, min_v: float) -> np.ndarray:
    h = hsv[..., 0] * 360.0
    return (h >= lo_deg) & (h <= hi_deg) & (hsv[..., 1] >= min_s) & (hsv[..., 2] >= min_v)


@lru_cache(maxsize=4096)
def measure_image(path: Path) -> ImageStats:
    """Measure one keyframe JPEG (cached per path).

    Raises:
        FileNotFoundError: the keyframe does not exist.
    """
    hsv = _hsv(path)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    third = max(1, hsv.shape[0] // 3)
    # Share of pixels with a strong local luminance step: texture (foliage, crowds, streets) vs flat.
    gray = v
    if min(gray.shape) >= 2:
        edge_px = (np.abs(np.diff(gray, axis=1))[:-1, :] + np.abs(np.diff(gray, axis=0))[:, :-1]) > 0.12
    else:
        edge_px = np.zeros(1, dtype=bool)
    hue_w = np.histogram(h.ravel() * 360.0, bins=HUE_BINS, range=(0, 360), weights=(s * v).ravel())[0]
    val_h = np.histogram(v.ravel(), bins=4, range=(0, 1))[0].astype(float)
    hist = np.concatenate([hue_w / max(hue_w.sum(), 1e-9) * 0.5, val_h / max(val_h.sum(), 1e-9) * 0.5])
    # Hue of the strongest weighted bin (sat*value), so grey pixels do not vote.
    dominant = (float(np.argmax(hue_w)) + 0.5) * 360.0 / HUE_BINS if hue_w.sum() > 0 else 0.0
    return ImageStats(
        brightness=float(v.mean()),
        saturation=float(s.mean()),
        hue_deg=dominant,
        sky_top=float(_hue_mask(hsv[:third], 185, 250, 0.18, 0.35).mean()),
        vegetation=float(_hue_mask(hsv, 60, 165, 0.18, 0.12).mean()),
        water_bottom=float(_hue_mask(hsv[-third:], 170, 250, 0.18, 0.15).mean()),
        edges=float(edge_px.mean()),
        hist=tuple(float(x) for x in hist),
    )


def mean_stats(stats: Sequence[ImageStats]) -> ImageStats:
    """The average of several keyframes' measurements."""
    arr = lambda f: float(np.mean([getattr(s, f) for s in stats]))  # noqa: E731
    hist = tuple(float(x) for x in np.mean([s.hist for s in stats], axis=0))
    return ImageStats(
        brightness=arr("brightness"),
        saturation=arr("saturation"),
        hue_deg=stats[0].hue_deg,
        sky_top=arr("sky_top"),
        vegetation=arr("vegetation"),
        water_bottom=arr("water_bottom"),
        edges=arr("edges"),
        hist=hist,
    )


def shot_motion(shot: ShotView) -> tuple[float | None, str]:
    """(motion level 0..1 or None, where it came from).

    Uses the median of the storyboard's per-frame ``motion`` (a mean absolute frame difference;
    values on a 0-255 scale are rescaled). Without frame stats, falls back to the mean absolute
    difference between consecutive keyframes, which measures change within the shot rather than
    speed; with a single keyframe and no stats, motion is unknown.
    """
    if shot.frame_stats is not None and len(shot.frame_stats.get("motion", ())) > 0:
        m = float(np.median(np.asarray(shot.frame_stats["motion"], dtype=float)))
        return (m / 255.0 if m > 1.0 else m), "frames"
    if len(shot.keyframes) >= 2:
        vs = [_hsv(p)[..., 2] for p in shot.keyframes]
        diffs = [float(np.abs(a - b).mean()) for a, b in itertools.pairwise(vs) if a.shape == b.shape]
        if diffs:
            return float(np.mean(diffs)), "keyframes"
    return None, "unknown"


# The phrases the offline captioner writes for what it measured. The offline Designer reads them
# back from the caption text (``measured_cues``), so both sides use these constants.
LIGHT_DARK = "dark, night-time or unlit"
LIGHT_DIM = "dim"
LIGHT_BRIGHT = "bright"
CUE_SKY = "blue sky at the top"
CUE_VEGETATION = "green vegetation"
CUE_WATER = "water-like blue surface at the bottom"
CUE_MUTED = "muted grey colours"
CUE_BUSY = "busy, detailed texture"
CUE_SMOOTH = "smooth, uniform surfaces"
MOTION_STATIC = "static frame"
MOTION_SLOW = "slow motion"
MOTION_MODERATE = "moderate motion"
MOTION_FAST = "fast motion"
CHANGE_LITTLE = "little visual change within the shot"
CHANGE_LARGE = "large visual change within the shot"


def motion_words(level: float | None, source: str) -> str:
    """The caption phrase for a measured motion level ("" when unknown)."""
    if level is None:
        return ""
    if source == "keyframes":
        return CHANGE_LARGE if level > 0.12 else CHANGE_LITTLE
    if level < 0.01:
        return MOTION_STATIC
    if level < 0.03:
        return MOTION_SLOW
    return MOTION_MODERATE if level < 0.08 else MOTION_FAST


_HUE_NAMES = (
    (20, "red"),
    (45, "orange"),
    (70, "yellow"),
    (165, "green"),
    (200, "cyan"),
    (260, "blue"),
    (300, "purple"),
    (340, "magenta"),
    (361, "red"),
)


def hue_name(deg: float) -> str:
    return next(name for limit, name in _HUE_NAMES if deg < limit)


def describe_stats(st: ImageStats) -> tuple[str, list[str]]:
    """(light words, background cue words) for measured statistics."""
    light = LIGHT_DARK if st.brightness < 0.22 else LIGHT_BRIGHT if st.brightness > 0.55 else LIGHT_DIM
    cues: list[str] = []
    if st.sky_top > 0.3:
        cues.append(CUE_SKY)
    if st.vegetation > 0.25:
        cues.append(CUE_VEGETATION)
    if st.water_bottom > 0.35:
        cues.append(CUE_WATER)
    if st.saturation < 0.12:
        cues.append(CUE_MUTED)
    elif not cues:
        cues.append(f"mostly {hue_name(st.hue_deg)} tones")
    cues.append(CUE_BUSY if st.edges > 0.12 else CUE_SMOOTH)
    return light, cues


# --------------------------------------------------------------------------- sound lexicon

# word stem -> (layer, sound description). A scene gets a sound only when its caption text
# (measured or sidecar) contains the word: the stand-in never invents a source.
SOUND_LEXICON: tuple[tuple[str, str, str], ...] = (
    ("dog", "audio", "dog barking"),
    ("puppy", "audio", "dog barking"),
    ("cat", "audio", "cat meowing"),
    ("bird", "audio", "birds chirping"),
    ("chicken", "audio", "chicken clucking"),
    ("horse", "audio", "horse hooves"),
    ("cow", "audio", "cow mooing"),
    ("sheep", "audio", "sheep bleating"),
    ("car", "audio", "car engine"),
    ("truck", "audio", "truck engine"),
    ("bus", "audio", "bus engine"),
    ("motorcycle", "audio", "motorcycle engine"),
    ("motorbike", "audio", "motorcycle engine"),
    # The knowledge base has no bicycle label: worded to reach its nearest sound by a shared word.
    ("bicycle", "audio", "bicycle tires rolling on the road"),
    ("bike", "audio", "bicycle tires rolling on the road"),
    ("cyclist", "audio", "bicycle tires rolling on the road"),
    ("train", "audio", "train passing"),
    ("airplane", "audio", "airplane engine"),
    ("plane", "audio", "airplane engine"),
    ("helicopter", "audio", "helicopter rotor"),
    ("boat", "audio", "boat motor"),
    ("walk", "audio", "footsteps"),
    ("run", "audio", "running footsteps"),
    ("jog", "audio", "running footsteps"),
    ("knock", "audio", "knocking on a door"),
    ("door", "audio", "door opening and closing"),
    ("typing", "audio", "keyboard typing"),
    ("clap", "audio", "hands clapping"),
    ("applau", "audio", "applause"),
    ("hammer", "audio", "hammering"),
    ("saw", "audio", "sawing wood"),
    ("drill", "audio", "power drill"),
    ("glass", "audio", "glass clinking"),
    ("splash", "audio", "water splashing"),
    ("swim", "audio", "water splashing"),
    ("fire", "audio", "fire crackling"),
    ("explosion", "audio", "explosion"),
    ("gun", "audio", "gunshot"),
    ("bell", "audio", "bell ringing"),
    ("phone", "audio", "phone ringing"),
    ("cook", "audio", "sizzling pan"),
    ("fry", "audio", "sizzling pan"),
    ("skateboard", "audio", "skateboard rolling"),
    ("ski", "audio", "skis on snow"),
    ("talk", "audio", "person speaking"),
    ("speak", "audio", "person speaking"),
    ("sing", "audio", "singing"),
    ("rain", "background", "rain"),
    ("thunder", "background", "thunder"),
    ("storm", "background", "thunderstorm"),
    ("wind", "background", "wind"),
    ("ocean", "background", "ocean waves"),
    ("sea", "background", "ocean waves"),
    ("wave", "background", "ocean waves"),
    ("beach", "background", "ocean waves"),
    ("river", "background", "stream"),
    ("stream", "background", "stream"),
    ("waterfall", "background", "waterfall"),
    ("forest", "background", "wind in trees"),
    ("tree", "background", "wind in trees"),
    ("vegetation", "background", "wind in trees"),
    ("grass", "background", "wind in grass"),
    ("field", "background", "wind in grass"),
    ("city", "background", "city traffic, cars passing by"),
    ("street", "background", "city traffic, cars passing by"),
    ("traffic", "background", "city traffic, cars passing by"),
    ("crowd", "background", "crowd murmur"),
    ("restaurant", "background", "restaurant ambience"),
    ("cafe", "background", "restaurant ambience"),
    ("office", "background", "office room tone"),
    ("kitchen", "background", "kitchen room tone"),
    ("night", "background", "crickets at night"),
    ("snow", "background", "wind"),
    ("desert", "background", "wind"),
)

_TOKEN = re.compile(r"[a-z][a-z\-]*")
_STOP = frozenset(
    "a an the of and or in on at to with by for from is are its it this that into over under".split()  # noqa: SIM905
)


def _words(text: str) -> list[str]:
    return [w for w in _TOKEN.findall(text.lower()) if w not in _STOP]


def _stem(word: str) -> str:
    for suffix in ("ing", "ers", "er", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> set[str]:
    return {_stem(w) for w in _words(text)}


_INFLECTIONS = frozenset({"s", "es", "ing", "ning", "ping", "ed", "er", "ers", "ner", "ners"})
# Words that start with a lexicon stem but are not that thing ("window" is not wind).
_FALSE_FRIENDS = frozenset(
    "window windows windowsill rainbow rainbows cookie cookies planet planets single belly sheepish".split()  # noqa: SIM905
)


def _matches(word: str, stem: str) -> bool:
    """Whole word, inflection or (for stems of 4+ letters) compound: "birds"/"birdsong" hit "bird",
    "running" hits "run", "scary" does not hit "car"."""
    if not word.startswith(stem) or word in _FALSE_FRIENDS:
        return False
    rest = word[len(stem) :]
    return not rest or rest in _INFLECTIONS or len(stem) >= 4


def lexicon_sounds(text: str) -> list[tuple[str, str]]:
    """(layer, description) for every lexicon word present in ``text``, in lexicon order, unique."""
    words = _words(text)
    found: list[tuple[str, str]] = []
    for stem, layer, desc in SOUND_LEXICON:
        hit = any(_matches(w, stem) for w in words)
        if hit and (layer, desc) not in found:
            found.append((layer, desc))
    return found


# --------------------------------------------------------------------------- measured cues

# Sounds the offline Designer derives from measurements when the caption text names none. Plain
# descriptions, worded so retrieval finds a fitting KB label that shares their words ("wind",
# "wind in the trees", "songbirds", "stream", "crickets", "air conditioner"). The two movement
# sounds have no KB label (the library has no generic whoosh event): they stay free text, which
# the synthesizers render from the description.
CUE_NIGHT = "crickets chirping at night"
CUE_ROOM_TONE = "quiet room tone, low air conditioner hum"
CUE_STREAM = "stream of running water"
# Not "songbirds": enforce_design drops any "song..." word as music.
CUE_BIRDS = "birds chirping in the distance"
CUE_LEAVES = "wind rustling leaves in the trees"
CUE_WIND = "light wind outdoors"
CUE_FAST = "whoosh of fast movement"
CUE_SOFT = "soft swish of movement"
CUE_SOUNDS = frozenset(
    {CUE_NIGHT, CUE_ROOM_TONE, CUE_STREAM, CUE_BIRDS, CUE_LEAVES, CUE_WIND, CUE_FAST, CUE_SOFT}
)

# Motion phrases by strength. Keyframe change is not speed: a large change counts as moderate.
_MOTION_RANK = {
    MOTION_STATIC: 0,
    CHANGE_LITTLE: 1,
    MOTION_SLOW: 1,
    MOTION_MODERATE: 2,
    CHANGE_LARGE: 2,
    MOTION_FAST: 3,
}
_LIGHT = {LIGHT_DARK: "dark", LIGHT_DIM: "dim", LIGHT_BRIGHT: "bright"}
_PLACE = re.compile("(" + "|".join(re.escape(w) for w in _LIGHT) + r")(?: outdoor)? shot\b", re.IGNORECASE)
_PHRASES = (CUE_SKY, CUE_VEGETATION, CUE_WATER, CUE_MUTED, CUE_BUSY, CUE_SMOOTH, *_MOTION_RANK)
_MEASURED = re.compile(
    "|".join([_PLACE.pattern, *(re.escape(p) for p in _PHRASES), r"mostly [a-z]+ tones"]), re.IGNORECASE
)


@dataclass(frozen=True)
class Cues:
    """What the offline captioner measured, read back from a (possibly merged) scene caption.

    ``light`` holds every light level found ("dark", "dim", "bright"); the flags are true when any
    merged shot showed the cue; ``motion`` is the strongest motion rank (0 static .. 3 fast, -1
    when none was measured).
    """

    light: frozenset[str] = frozenset()
    sky: bool = False
    vegetation: bool = False
    water: bool = False
    muted: bool = False
    busy: bool = False
    motion: int = -1

    @property
    def dark(self) -> bool:
        """Every measured shot of the scene is dark."""
        return self.light == {"dark"}

    @property
    def foliage(self) -> bool:
        """Outdoor foliage: green with sky above or with leaf-like texture (flat green may be a wall)."""
        return self.vegetation and (self.sky or self.busy)

    @property
    def outdoor(self) -> bool:
        """Sky, water or outdoor foliage was measured."""
        return self.sky or self.water or self.foliage


def measured_cues(text: str) -> Cues:
    """Read back the measurements of the offline captioner from caption text.

    Arguments:
        text: caption text, possibly several captions merged; only the exact phrases the captioner
            writes count, so prose such as "a dark alley" is not a measurement.

    Returns:
        The cues found (all false and ``motion`` -1 for a caption that holds no measurement).
    """
    low = text.lower()
    ranks = [r for phrase, r in _MOTION_RANK.items() if phrase in low]
    return Cues(
        light=frozenset(_LIGHT[m.group(1)] for m in _PLACE.finditer(low)),
        sky=CUE_SKY in low,
        vegetation=CUE_VEGETATION in low,
        water=CUE_WATER in low,
        muted=CUE_MUTED in low,
        busy=CUE_BUSY in low,
        motion=max(ranks, default=-1),
    )


def caption_words(text: str) -> str:
    """``text`` without the offline captioner's measurement phrases: what is left was written by
    a person or a vision model, and only that names sound sources."""
    return _MEASURED.sub(" ", text)


def cue_foreground(cues: Cues) -> tuple[list[str], str]:
    """The foreground measured motion suggests: a movement sound, never an invented source.

    Returns:
        ([CUE_FAST] for fast motion, [CUE_SOFT] for moderate motion or a large change between
        keyframes, [] otherwise; the reason, for the design's reasoning).
    """
    if cues.motion >= 3:
        return [CUE_FAST], "fast motion -> " + CUE_FAST
    if cues.motion == 2:
        return [CUE_SOFT], "moderate motion or large change within the shot -> " + CUE_SOFT
    why = "static or slow" if cues.motion >= 0 else "no motion measured"
    return [], f"{why} -> no foreground"


def cue_background(cues: Cues, moving: bool) -> tuple[list[str], str]:
    """The ambience a scene's measured light and colour suggest (rules in the module docstring).

    Arguments:
        cues: the scene's measured cues.
        moving: a movement sound was derived for the foreground; with no setting measured it gets
            a neutral room tone bed rather than playing over silence.

    Returns:
        (sound descriptions from ``CUE_SOUNDS``, possibly empty; the reason, for the design's reasoning).
    """
    if cues.dark:
        if cues.outdoor:
            return [CUE_NIGHT], "dark with outdoor cues (sky, water or foliage) -> night insects"
        return [CUE_ROOM_TONE], "dark without outdoor cues -> room tone"
    found: list[str] = []
    why: list[str] = []
    if cues.water:
        found.append(CUE_STREAM)
        why.append("water-like blue in the lower third -> water")
    if cues.foliage:
        found += [CUE_BIRDS, CUE_LEAVES]
        why.append("green vegetation with sky or leaf texture -> distant birds, leaves in the wind")
    elif cues.sky:
        found.append(CUE_WIND)
        why.append("sky at the top -> light wind outdoors")
    if found:
        return found, "; ".join(why)
    if cues.muted:
        return [CUE_ROOM_TONE], "no sky, water or foliage, muted colours (indoor look) -> room tone"
    if moving:
        return [CUE_ROOM_TONE], "no setting measured -> a neutral room tone bed under the movement"
    return [], "no setting measured -> no ambience"


# --------------------------------------------------------------------------- the agents


class OfflineAgents:
    """Deterministic stand-in for the four roles (see the module docstring for what it measures)."""

    def __init__(self, settings: AgentSettings | None = None) -> None:
        self.calls: list[LLMCall] = []
        rules = settings or AgentSettings()
        self.settings = rules
        self.flags = {"allow_speech": rules.allow_speech, "allow_music": rules.allow_music}

    def _record(self, role: str, t0: float) -> None:
        self.calls.append(
            LLMCall(role=role, model=OFFLINE_MODEL, backend="offline", latency_s=time.perf_counter() - t0)
        )

    # ---- Scriptwriter

    def describe_video(self, keyframes: Sequence[tuple[float, Path]], duration_s: float) -> str:
        t0 = time.perf_counter()
        lines = [
            f"Offline measurement of {len(keyframes)} keyframes over {duration_s:.1f}s "
            "(no object recognition)."
        ]
        last = ""
        for t, path in keyframes:
            light, cues = describe_stats(measure_image(path))
            desc = f"{light}; {', '.join(cues)}"
            if desc != last:  # only when what is measured changes: a timeline of settings
                lines.append(f"[{t:.1f}s] {desc}")
                last = desc
        self._record("scriptwriter", t0)
        return "\n".join(lines)

    def caption_shot(self, shot: ShotView, global_description: str) -> Caption:
        t0 = time.perf_counter()
        if not shot.keyframes:
            self._record("scriptwriter", t0)
            return Caption(summary="shot without keyframes: nothing measured")
        st = mean_stats([measure_image(p) for p in shot.keyframes])
        light, cues = describe_stats(st)
        outdoor = st.sky_top > 0.3 or st.vegetation > 0.25 or st.water_bottom > 0.35
        place = f"{light} {'outdoor ' if outdoor else ''}shot"
        motion = motion_words(*shot_motion(shot))
        summary = ", ".join([place, *cues, *([motion] if motion else [])])
        self._record("scriptwriter", t0)
        return Caption(background=", ".join(cues), entity="", action=motion, summary=summary)

    # ---- Storyboarder

    def decide_merge(
        self,
        scene_shots: Sequence[ShotView],
        scene_caption: Caption,
        shot: ShotView,
        caption: Caption,
        global_description: str,
    ) -> MergeDecision:
        t0 = time.perf_counter()
        prev = [p for s in scene_shots for p in s.keyframes]
        if not prev or not shot.keyframes:
            merge, reason = False, "no keyframes to compare: kept as its own scene"
        else:
            a = mean_stats([measure_image(p) for p in prev])
            b = mean_stats([measure_image(p) for p in shot.keyframes])
            dist = 0.5 * float(np.abs(np.asarray(a.hist) - np.asarray(b.hist)).sum())
            dbright = abs(a.brightness - b.brightness)
            merge = dist <= MERGE_MAX_HIST_DIST and dbright <= MERGE_MAX_BRIGHTNESS_DIFF
            reason = (
                f"colour histogram distance {dist:.2f} (merge at <= {MERGE_MAX_HIST_DIST}), brightness "
                f"difference {dbright:.2f} (merge at <= {MERGE_MAX_BRIGHTNESS_DIFF}): "
                + ("same look, same scene" if merge else "different look, new scene")
            )
        refined = unify_captions([scene_caption, caption]) if merge else caption
        self._record("storyboarder", t0)
        return MergeDecision(shot_index=shot.index, merge=merge, reason=reason, refined=refined)

    # ---- Designer

    def design(
        self, scene: Scene, script: Script, previous: DesignRound | None = None, feedback: str = "",
        timing: SceneTiming | None = None,
    ) -> SoundDesign:
        t0 = time.perf_counter()
        if previous is not None:
            out = revise_design(previous)
        elif self.settings.cot:
            out = initial_design(scene.caption)
        else:
            out = direct_design(scene.caption)
        out = enforce_design(out, scene.caption, **self.flags)
        if timing is not None:
            # Untimed sounds get the frames' motion times; a sidecar's own events join in the design loop,
            # for every Designer alike.
            out = place_items(out, dataclasses.replace(timing, events=()))
        self._record("designer", t0)
        return out

    # ---- Synthesizer

    def map_labels(self, design: SoundDesign, candidates: Mapping[str, Sequence[str]]) -> SoundDesign:
        t0 = time.perf_counter()

        def fix(item: SoundItem) -> SoundItem:
            return item.model_copy(
                update={"label": best_label(item.description, candidates.get(item.description, ()))}
            )

        out = design.model_copy(
            update={
                "audio": [fix(i) for i in design.audio],
                "background": [fix(i) for i in design.background],
            }
        )
        self._record("synthesizer", t0)
        return out

    def review(self, scene: Scene, script: Script, rnd: DesignRound) -> tuple[Verdict, str]:
        t0 = time.perf_counter()
        mapped = rnd.mapped or rnd.design
        unmapped = [i.description for i in (*mapped.audio, *mapped.background) if i.label is None]
        # A measured-cue sound is a description of what was measured (movement, a setting), not a
        # source to swap for the nearest library sound: without a fitting label it stays free text.
        missing = [d for d in unmapped if d not in CUE_SOUNDS and rnd.candidates.get(d)]
        kept = [d for d in unmapped if d in CUE_SOUNDS]
        self._record("designer", t0)
        if missing:
            return Verdict.REVISE, "no retrieved label fits: " + "; ".join(
                f"{d!r} (nearest: {rnd.candidates[d][0]!r})" for d in missing
            ) + ". Rephrase these with the nearest library sound."
        note = f"; measured-cue sounds kept as descriptions: {', '.join(kept)}" if kept else ""
        return Verdict.FINAL, "every sound with candidates has a fitting label" + note


def unify_captions(captions: Sequence[Caption]) -> Caption:
    """One caption for merged shots: each field's distinct non-empty values, in order."""

    def join(field: str, sep: str) -> str:
        seen: list[str] = []
        for c in captions:
            for part in (p.strip() for p in getattr(c, field).split(sep)):
                if part and part not in seen:
                    seen.append(part)
        return sep.join(seen)

    return Caption(
        background=join("background", ", "),
        entity=join("entity", "; "),
        action=join("action", "; "),
        summary=join("summary", "; "),
    )


def initial_design(caption: Caption) -> SoundDesign:
    """Sounds named by the caption text (SOUND_LEXICON); measured cues fill what the text leaves empty.

    Text always wins: a layer gets cue sounds only when the words of the caption (its measurement
    phrases removed) name nothing for it. See ``cue_foreground`` and ``cue_background``.
    """
    text = " ".join((caption.background, caption.entity, caption.action, caption.summary))
    cues = measured_cues(text)
    sounds = lexicon_sounds(caption_words(text))
    named = [d for layer, d in sounds if layer == "audio"]
    audio, background = named, [d for layer, d in sounds if layer == "background" and d not in named]
    from_cues: list[str] = []
    if not audio:
        audio, why = cue_foreground(cues)
        from_cues.append(f"offline stand-in: measured cues -> foreground: {why}")
    if not background:
        background, why = cue_background(cues, moving=bool(audio) and not named)
        from_cues.append(f"offline stand-in: measured cues -> background: {why}")
    # A soft movement sound sits low under the ambience; named sources and fast motion stand out.
    volume = 0.6 if audio == [CUE_SOFT] else 0.9 if cues.motion >= 2 else 0.7
    steps = [
        f"1. sound sources named in the caption: {', '.join(named) or 'none'}",
        f"2. ambience from the setting: {', '.join(background) or 'none'}",
        *[f"   {c}" for c in from_cues],
        f"3. primary: {audio[0] if audio else (background[0] if background else 'none')}",
        f"4. foreground level {volume:.1f}",
    ]
    return SoundDesign(
        reasoning="\n".join(steps),
        audio=[
            SoundItem(description=d, primary=i == 0, volume=1.0 if i == 0 else 0.6)
            for i, d in enumerate(audio)
        ],
        background=[
            SoundItem(description=d, primary=i == 0, volume=0.8 if i == 0 else 0.5)
            for i, d in enumerate(background)
        ],
        volume=volume,
    )


def direct_design(caption: Caption) -> SoundDesign:
    """The Designer without step-by-step reasoning (the ``--no-cot`` ablation), offline: the sounds
    the caption's words name, in one pass, with no reasoning steps: no measured cue fills a layer
    the words leave empty, no primary sound or levels are worked out (every item at full volume)."""
    text = " ".join((caption.background, caption.entity, caption.action, caption.summary))
    sounds = lexicon_sounds(caption_words(text))
    audio = [d for layer, d in sounds if layer == "audio"]
    background = [d for layer, d in sounds if layer == "background" and d not in audio]
    return SoundDesign(reasoning="", audio=[SoundItem(description=d) for d in audio],
                       background=[SoundItem(description=d) for d in background], volume=0.8)


def revise_design(previous: DesignRound) -> SoundDesign:
    """Follow the offline review: an unmapped item takes its nearest retrieved label that no other
    item uses as its description (it is dropped when there is none); mapped items and measured-cue
    sounds (kept as free text when no label fits) stay."""
    base = previous.mapped or previous.design
    used = {i.label for i in (*base.audio, *base.background) if i.label}

    def revise(items: Sequence[SoundItem]) -> list[SoundItem]:
        out = []
        for item in items:
            if item.label is not None or item.description in CUE_SOUNDS:
                out.append(item)
                continue
            free = [c for c in previous.candidates.get(item.description, []) if c not in used]
            if free:
                used.add(free[0])
                out.append(item.model_copy(update={"description": free[0]}))
        return out

    return SoundDesign(
        reasoning=base.reasoning + "\nrevised: unmapped sounds replaced by their nearest library sound",
        audio=revise(base.audio),
        background=revise(base.background),
        volume=base.volume,
    )


def _shares(stem: str, label_stems: set[str]) -> bool:
    """The same stem, or a compound ending in it ("songbirds" is a kind of "bird", "campfire" of
    "fire"); "windows" does not end in "wind"."""
    return stem in label_stems or (len(stem) >= 4 and any(h.endswith(stem) for h in label_stems))


def best_label(description: str, candidates: Sequence[str]) -> str | None:
    """The candidate sharing most content-word stems with ``description`` (compounds count, see
    ``_shares``); on a tie the one with fewer words of its own ("light wind" takes "wind" over
    "wind chimes"), then retrieval order. None when no candidate shares a word."""
    want = content_stems(description)
    best, best_key = None, (0, 0)
    for label in candidates:
        have = content_stems(label)
        shared = sum(1 for w in want if _shares(w, have))
        key = (shared, -len(have - want))
        if shared and key > best_key:
            best, best_key = label, key
    return best
