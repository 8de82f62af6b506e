"""The JSON shapes each role must answer with (validated; unknown keys are rejected).

These are the models' output contracts, separate from the records in ``lvas.models``: a model
never sets a knowledge-base label directly (the Synthesizer's choice is checked against the
retrieved candidates in code) and never sees or sets ids, paths or times it could corrupt.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from lvas.models import Caption

# How far past the video's end a model's time may go (rounding), in seconds.
TIME_SLACK_S = 0.5


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TimelineEntry(Answer):
    start_s: float = Field(ge=0)
    end_s: float = Field(ge=0)
    description: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _within_the_video(self, info: ValidationInfo) -> TimelineEntry:
        if self.end_s < self.start_s:
            raise ValueError(f"end_s {self.end_s} is before start_s {self.start_s}")
        duration = (info.context or {}).get("duration_s")
        if duration is not None and self.end_s > duration + TIME_SLACK_S:
            raise ValueError(f"end_s {self.end_s} is after the video's end ({duration:.2f} s)")
        return self


class GlobalAnswer(Answer):
    """Scriptwriter, whole video: what happens, scene by scene (times within the video's duration,
    given as the validation context ``{"duration_s": ...}``, and in order)."""

    description: str = Field(min_length=1, max_length=4000)
    timeline: list[TimelineEntry] = Field(default_factory=list, max_length=64)

    @model_validator(mode="after")
    def _in_order(self) -> GlobalAnswer:
        starts = [e.start_s for e in self.timeline]
        if starts != sorted(starts):
            raise ValueError("timeline entries are not in time order")
        return self


class CaptionAnswer(Answer):
    """Scriptwriter, one shot: only what is visible."""

    background: str = Field("", max_length=500)
    entity: str = Field("", max_length=500)
    action: str = Field("", max_length=500)
    summary: str = Field(min_length=1, max_length=1000)

    def to_caption(self) -> Caption:
        return Caption(**self.model_dump())


class MergeAnswer(Answer):
    """Storyboarder, one shot vs the running scene."""

    merge: bool
    reason: str = Field(min_length=1, max_length=1000)
    caption: CaptionAnswer = Field(
        description="merge: the unified caption of the scene including this shot; "
        "keep: this shot's caption, refined with the context"
    )


class SoundAnswer(Answer):
    """One timed event: what sounds, when (seconds from the scene start) and how loud in its layer.

    Times are checked against the scene in code (the schema cannot know its length): a time
    outside it, too many events at once or a missing bed goes back to the Designer as feedback.
    """

    description: str = Field(min_length=1, max_length=200)
    primary: bool = True
    volume: float = Field(1.0, ge=0.0, le=1.0)
    start_s: float | None = Field(None, description="seconds from the scene start; null = 0")
    end_s: float | None = Field(None, description="seconds from the scene start; null = the scene's end")
    gain_db: float | None = Field(None, ge=-60.0, le=12.0, description="dB relative to its layer")


class DesignAnswer(Answer):
    """Designer: chain of thought, then the two lists."""

    reasoning: str = Field(max_length=4000)
    audio: list[SoundAnswer] = Field(default_factory=list, max_length=12)
    background: list[SoundAnswer] = Field(default_factory=list, max_length=8)
    volume: float = Field(0.8, ge=0.0, le=1.0)


class LabelChoice(Answer):
    description: str = Field(max_length=200)
    label: str | None = Field(max_length=200, description="one of the retrieved candidates for this item, or null")


class MappingAnswer(Answer):
    """Synthesizer: each design item onto one retrieved label (or none)."""

    mapping: list[LabelChoice] = Field(default_factory=list, max_length=24)


class ReviewAnswer(Answer):
    """Designer reviewing the mapped design."""

    verdict: Literal["final", "revise"]
    feedback: str = Field("", max_length=2000)
