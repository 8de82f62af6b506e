"""Typed records that flow between the stages.

Every record is a frozen pydantic model; times are in seconds (floats), frames are
0-based indices into the decoded stream. Stages exchange these small records and
artifact paths, never frames or audio arrays.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- inputs


class VideoRef(Frozen):
    """One input video: where it came from and the id its artifacts live under."""

    source: str = Field(description="the path as the user gave it (or as the manifest lists it)")
    path: str = Field(description="absolute path")
    video_id: str = Field(description="stable, folder-safe, collision-safe id")
    captions_path: str | None = Field(default=None, description="sidecar captions JSON, if any")


class VideoBatch(Frozen):
    """Videos one task works through, one after the other (grouped when there are many, so that a
    task run does enough work to be worth its orchestration; see ``lvas.pipeline.batches``)."""

    videos: tuple[VideoRef, ...]
    label: str = Field(description="what run names show: the video, or the first and last and how many")

    @classmethod
    def of(cls, videos: list[VideoRef] | tuple[VideoRef, ...]) -> VideoBatch:
        ids = [v.video_id for v in videos]
        label = ids[0] if len(ids) == 1 else f"{ids[0]} … {ids[-1]} ({len(ids)} videos)" if ids else "no videos"
        return cls(videos=tuple(videos), label=label)


class SceneGroup(Frozen):
    """Scenes one render task renders: ``(video, scene index)`` pairs, in order."""

    scenes: tuple[tuple[VideoRef, int], ...]
    label: str

    @classmethod
    def of(cls, scenes: list[tuple[VideoRef, int]]) -> SceneGroup:
        vids = list(dict.fromkeys(v.video_id for v, _ in scenes))
        if len(vids) == 1:
            idx = [i for _, i in scenes]
            what = f"scene {idx[0]}" if len(idx) == 1 else f"scenes {idx[0]}-{idx[-1]}"
            label = f"{vids[0]} {what}"
        else:
            label = f"{vids[0]} … {vids[-1]} ({len(scenes)} scenes)"
        return cls(scenes=tuple(scenes), label=label)


class VideoInfo(Frozen):
    """What probing a file tells us before decoding it."""

    path: str
    duration_s: float
    fps: float = Field(description="average frame rate")
    frame_count: int
    width: int = Field(description="display width, after rotation")
    height: int = Field(description="display height, after rotation")
    rotation: int = Field(default=0, description="degrees clockwise the player rotates by")
    variable_frame_rate: bool = False
    has_audio: bool = False
    video_codec: str = ""
    audio_codec: str | None = None


# --------------------------------------------------------------------------- storyboard


class Shot(Frozen):
    index: int
    start_s: float
    end_s: float
    start_frame: int
    end_frame: int = Field(description="exclusive")
    keyframes: list[str] = Field(default_factory=list, description="JPEG paths, relative to the video dir")
    keyframe_frames: list[int] = Field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class ShotBoundary(Frozen):
    """How one shot gives way to the next: at ``at_s`` (the new shot's start, a mix's middle), as a
    cut, a dissolve or a fade (through black or a flat picture), over [from_s, to_s]."""

    at_s: float
    kind: Literal["cut", "dissolve", "fade", "unknown"]
    from_s: float
    to_s: float


class Storyboard(Frozen):
    video_id: str
    info: VideoInfo
    cuts_s: list[float]
    shots: list[Shot]
    boundaries: list[ShotBoundary] = Field(
        default_factory=list, description="per cut, its kind and span (empty in storyboards written before them)")

    def crossfade_s(self, at_s: float, least_s: float) -> float:
        """The audio crossfade for a scene cut at ``at_s``: a dissolve's or fade's span there, at
        least ``least_s``; ``least_s`` at a hard cut or where no boundary is known."""
        tol = 0.5 / self.info.fps if self.info.fps > 0 else 1e-3
        mix = next((b for b in self.boundaries if abs(b.at_s - at_s) <= tol and b.kind in ("dissolve", "fade")), None)
        return max(least_s, mix.to_s - mix.from_s) if mix is not None else least_s


# --------------------------------------------------------------------------- script


class Caption(Frozen):
    """A shot's or scene's description, constrained to what is visible."""

    background: str = ""
    entity: str = ""
    action: str = ""
    summary: str = ""


class MergeDecision(Frozen):
    shot_index: int = Field(description="the shot compared with the one before it")
    merge: bool
    reason: str = ""
    refined: Caption | None = Field(default=None, description="refined caption when kept")


class Scene(Frozen):
    index: int
    start_s: float
    end_s: float
    shot_indices: list[int]
    caption: Caption

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class Script(Frozen):
    video_id: str
    global_description: str
    shot_captions: list[Caption]
    decisions: list[MergeDecision]
    scenes: list[Scene]


# --------------------------------------------------------------------------- design


LayerKind = Literal["foreground", "background"]


class SoundItem(Frozen):
    """One sound in a design: what the Designer wrote and, once mapped, its KB label.

    An item is one timed event of its layer: it sounds from ``start_s`` to ``end_s`` (seconds from
    the scene's start; None = the scene's edge) at ``gain_db`` relative to its layer (None = from
    ``volume``). See ``lvas.agents.events`` for the rules a timeline obeys.
    """

    description: str
    label: str | None = Field(default=None, description="knowledge-base label it was mapped to")
    primary: bool = True
    volume: float = Field(default=1.0, ge=0.0, le=1.0)
    start_s: float | None = Field(default=None, description="from the scene start; None = 0")
    end_s: float | None = Field(default=None, description="from the scene start; None = the scene's end")
    gain_db: float | None = Field(default=None, description="relative to its layer; None = from volume")


class SoundDesign(Frozen):
    reasoning: str = ""
    audio: list[SoundItem] = Field(default_factory=list, description="foreground: entities and actions")
    background: list[SoundItem] = Field(default_factory=list, description="ambience")
    volume: float = Field(default=0.8, ge=0.0, le=1.0, description="foreground level over background")


class Verdict(StrEnum):
    FINAL = "final"
    REVISE = "revise"


class DesignRound(Frozen):
    round: int
    design: SoundDesign
    candidates: dict[str, list[str]] = Field(
        default_factory=dict, description="design item description -> retrieved labels, best first"
    )
    mapped: SoundDesign | None = None
    verdict: Verdict = Verdict.REVISE
    feedback: str = ""


class SceneDesign(Frozen):
    video_id: str
    scene_index: int
    rounds: list[DesignRound]

    @property
    def final(self) -> SoundDesign:
        last = self.rounds[-1]
        return last.mapped or last.design


class SoundEvent(Frozen):
    """One timed sound on the video's timeline: a row of the cue sheet (``events.parquet``)."""

    scene_index: int = Field(description="the scene the event belongs to (the first, if it continues)")
    index: int = Field(description="its place in the scene's design")
    layer: LayerKind
    label: str = Field(description="knowledge-base label; empty when the sound stayed free text")
    prompt: str
    start_s: float = Field(description="video time")
    end_s: float = Field(description="video time")
    gain_db: float = Field(0.0, description="relative to its layer")
    scenes: tuple[int, ...] = Field((), description="every scene it spans, when it continues across cuts")
    seed_offset: int = Field(0, ge=0, description="moves its render's seed (an edit's 'regenerate')")


# --------------------------------------------------------------------------- compose


class StorySegment(Frozen):
    """One timed segment of a story: its detail and its sound design (times from its start)."""

    index: int
    start_s: float
    end_s: float
    detail: str
    design: SoundDesign

    def scene(self) -> Scene:
        return Scene(index=self.index, start_s=self.start_s, end_s=self.end_s, shot_indices=[],
                     caption=Caption(summary=self.detail))


# --------------------------------------------------------------------------- render


class LayerSpec(Frozen):
    """What a synthesizer is asked to render: one layer of one scene."""

    video_id: str
    video_path: str = Field(description="the video whose frames condition foreground; empty = text only")
    scene_index: int
    kind: LayerKind
    start_s: float
    end_s: float
    labels: list[str]
    prompt: str
    negative_prompt: str = ""
    volume: float = 1.0
    seed: int = 0
    event: int | None = Field(
        default=None,
        description="set when the spec is one timed event (its index in the scene): the synthesizer "
        "renders exactly [start_s, end_s) and the sound starts at start_s",
    )
    gain_db: float = Field(0.0, description="an event's gain relative to its layer")


class RenderedLayer(Frozen):
    spec: LayerSpec
    wav_path: str
    sample_rate: int
    backend: str


class LLMCall(Frozen):
    """Accounting for one model call (offline calls are recorded too)."""

    role: str
    model: str
    backend: str
    latency_s: float
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    ok: bool = True
    error: str = ""
