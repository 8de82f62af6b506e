"""The role-level interface every agent implementation offers, and the design invariants.

Two implementations: ``lvas.agents.llm_agents.LLMAgents`` (prompts + an OpenAI-compatible
backend) and ``lvas.agents.offline.OfflineAgents`` (deterministic measurements, the embedded
default). The two loops (``script.write_script``, ``design.design_refine``) only see this
Protocol.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from lvas.agents.events import SceneTiming
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

Retrieve = Callable[[list[str], str], dict[str, list[str]]]
"""(texts, layer) -> {text: [labels, best first]}; layer is "event" (foreground) or "ambience"."""

RetrieveLayers = Callable[[dict[str, list[str]]], dict[str, dict[str, list[str]]]]
"""{layer: texts} -> {layer: {text: [labels, best first]}}: every layer of a design round in one lookup."""

LAYER_OF = {"audio": "event", "background": "ambience"}

FrameStats = Mapping[str, np.ndarray]
"""Per analysed frame of a shot: ``t_s``, ``motion``, ``brightness``, ``saturation``, ``hue_deg``."""


@dataclass(frozen=True)
class ShotView:
    """What the agents may look at for one shot: its times, keyframe files and measured stats."""

    index: int
    start_s: float
    end_s: float
    keyframes: tuple[Path, ...]
    frame_stats: FrameStats | None = field(default=None, compare=False)


@runtime_checkable
class Agents(Protocol):
    """The four LVAS-Agent roles. ``calls`` collects one LLMCall per model call (drain it)."""

    calls: list[LLMCall]

    def describe_video(self, keyframes: Sequence[tuple[float, Path]], duration_s: float) -> str:
        """Scriptwriter: a global description (scenes, timeline) from keyframes sampled over the video."""
        ...

    def caption_shot(self, shot: ShotView, global_description: str) -> Caption:
        """Scriptwriter: one shot's caption from its keyframes, constrained to what is visible."""
        ...

    def decide_merge(
        self,
        scene_shots: Sequence[ShotView],
        scene_caption: Caption,
        shot: ShotView,
        caption: Caption,
        global_description: str,
    ) -> MergeDecision:
        """Storyboarder: merge ``shot`` into the running scene or start a new one.

        ``decision.refined`` holds the unified scene caption when merging, the refined shot caption
        when keeping.
        """
        ...

    def design(
        self, scene: Scene, script: Script, previous: DesignRound | None = None, feedback: str = "",
        timing: SceneTiming | None = None,
    ) -> SoundDesign:
        """Designer: an initial design (``previous`` None) or a revision following ``feedback``.

        ``timing`` is what was measured of the scene (motion onsets and cuts, segments of sustained
        motion, times from the scene start): the Designer times its foreground events on it.
        """
        ...

    def map_labels(self, design: SoundDesign, candidates: Mapping[str, Sequence[str]]) -> SoundDesign:
        """Synthesizer: set each item's ``label`` to one of its candidates, or leave it None."""
        ...

    def review(self, scene: Scene, script: Script, rnd: DesignRound) -> tuple[Verdict, str]:
        """Designer: FINAL, or REVISE with feedback, for a mapped round."""
        ...


def drain_calls(agents: Agents) -> list[LLMCall]:
    """Take the accumulated LLMCall records out of ``agents`` (the list is emptied)."""
    out = list(agents.calls)
    agents.calls.clear()
    return out


# --------------------------------------------------------------------------- design invariants

_SPEECH_SOUND = re.compile(
    r"\b(speech|speak\w*|talk\w*|voice\w*|dialog\w*|dialogue|conversation\w*|narrat\w*|chatter\w*|"
    r"sing(?:s|ing|er|ers)?|vocal\w*|whisper\w*|shout\w*|yell\w*|lyrics?)\b",
    re.IGNORECASE,
)
# Music is never designed: the paper's users ask for no unwanted music, and a score is not a sound source.
_MUSIC = re.compile(r"\b(music\w*|song\w*|melod\w*|soundtrack\w*|score)\b", re.IGNORECASE)
# What makes speech allowed: someone visibly speaks or sings. Narration does not count (a voice-over is
# not a source in the scene), so a caption cannot talk its way into a narrator.
_SPEECH_SCENE = re.compile(
    r"\b(speak\w*|talk\w*|conversation\w*|interview\w*|dialog\w*|dialogue|lectur\w*|"
    r"sing(?:s|ing|er|ers)?|shout\w*|yell\w*|announc\w*|chatting|argu\w*|discuss\w*|speech)\b",
    re.IGNORECASE,
)
# Background items must be concrete sound sources; an item made only of these words is a mood.
_MOOD_WORDS = frozenset(
    """a an the of and with sense feeling mood atmosphere atmospheric emotional emotion tense tension
    suspense suspenseful mysterious mystery peaceful calm serene dramatic epic cinematic melancholic
    melancholy sad happy joyful uplifting ominous eerie romantic nostalgic hopeful dark light
    vibe vibes tone feel energetic energy sombre somber tranquil tranquility""".split()  # noqa: SIM905
)


def scene_has_speech(caption: Caption) -> bool:
    """Whether the scene's caption clearly says someone speaks or sings."""
    text = " ".join((caption.background, caption.entity, caption.action, caption.summary))
    return bool(_SPEECH_SCENE.search(text))


def is_speech(description: str) -> bool:
    return bool(_SPEECH_SOUND.search(description))


def is_mood(description: str) -> bool:
    words = re.findall(r"[a-z]+", description.lower())
    return not words or all(w in _MOOD_WORDS for w in words)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def enforce_design(
    design: SoundDesign, caption: Caption, *, allow_speech: bool = False, allow_music: bool = False
) -> SoundDesign:
    """Apply the Designer's rules in code, whatever the model answered.

    * no empty or duplicate items (the same sound at the same start); a sound in ``audio`` is
      removed from ``background``;
    * background items that are abstract moods ("tense atmosphere") are dropped;
    * speech/singing items are dropped unless ``allow_speech`` and the scene caption clearly has
      speech; music unless ``allow_music``;
    * each non-empty list has exactly one primary item at least (the first, if none is marked);
    * ``volume`` is 0 when there is no foreground sound.

    Arguments:
        design: the design as parsed.
        caption: the scene caption (decides whether speech is allowed).
        allow_speech, allow_music: the run's settings (``AgentSettings``); both off by default.

    Returns:
        A new, clean SoundDesign (labels and times are kept as they are).
    """
    speech_ok = allow_speech and scene_has_speech(caption)
    fg_keys: set[str] = set()

    def clean(items: Sequence[SoundItem], seen: set[str], background: bool) -> list[SoundItem]:
        kept: list[SoundItem] = []
        for item in items:
            key = _norm(item.description)
            timed_key = f"{key}@{item.start_s}"
            if not key or timed_key in seen or (background and key in fg_keys):
                continue
            if background and is_mood(item.description):
                continue
            if (_MUSIC.search(item.description) and not allow_music) or (
                is_speech(item.description) and not speech_ok
            ):
                continue
            seen.add(timed_key)
            if not background:
                fg_keys.add(key)
            kept.append(item.model_copy(update={"description": item.description.strip()}))
        if kept and not any(i.primary for i in kept):
            kept[0] = kept[0].model_copy(update={"primary": True})
        return kept

    seen: set[str] = set()
    audio = clean(design.audio, seen, background=False)
    background = clean(design.background, seen, background=True)
    volume = design.volume if audio else 0.0
    return SoundDesign(reasoning=design.reasoning, audio=audio, background=background, volume=volume)


def design_items(design: SoundDesign) -> dict[str, list[str]]:
    """Item descriptions per retrieval layer: {"event": [...], "ambience": [...]}."""
    return {
        "event": list(dict.fromkeys(i.description for i in design.audio)),
        "ambience": list(dict.fromkeys(i.description for i in design.background)),
    }
