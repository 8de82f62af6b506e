"""Sidecar captions: time-stamped annotations a dataset ships beside its videos.

When a video has them, they replace the vision model's captions (LVAS-Bench style). The file is
``<video stem>.captions.json`` beside the video (or the path in a manifest's ``captions`` column,
``VideoRef.captions_path``) and holds UTF-8 JSON:

.. code-block:: json

    {
      "global": "A cyclist rides along a forest trail, then stops by a river.",
      "segments": [
        {"start": 0.0, "end": 3.2, "caption": "a cyclist rides fast on a dirt trail among trees"},
        {"start": 3.2, "end": 7.5, "caption": {"background": "river bank", "entity": "cyclist",
                                              "action": "stops and drinks water", "summary": "..."}}
      ],
      "events": [
        {"start": 3.1, "end": 3.6, "sound": "bicycle brakes squeal", "layer": "foreground", "gain_db": -3},
        {"start": 3.2, "end": 7.5, "sound": "river stream", "layer": "background"}
      ]
    }

* ``global`` (optional): the whole video's description; replaces the Scriptwriter's.
* ``segments`` (required, may be empty): ``start``/``end`` in seconds (``end`` > ``start``), and
  ``caption`` either a plain string (it becomes the summary) or an object with any of
  ``background``, ``entity``, ``action``, ``summary`` (a missing summary is built from the others).

* ``events`` (optional): timed sound events the dataset names. ``start``/``end`` in seconds of
  the video, ``sound`` a short description (mapped onto a knowledge-base label like any designed
  sound), ``layer`` ``foreground`` (default) or ``background``, ``gain_db`` (optional, relative to
  its layer, -60 to 12). Each joins the design of the scene it starts in, clipped to that scene.

A shot takes the caption of the segment that overlaps it most (``caption_for``); a shot no
segment overlaps is captioned by the agents as usual. Caption text is data: it reaches models only
quoted inside DATA blocks and is never interpreted as instructions or paths.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lvas.errors import InputError
from lvas.keys import not_a_regular_file
from lvas.models import Caption

SIDECAR_SUFFIX = ".captions.json"
MAX_TEXT = 2000


class _CaptionFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    background: str = Field("", max_length=MAX_TEXT)
    entity: str = Field("", max_length=MAX_TEXT)
    action: str = Field("", max_length=MAX_TEXT)
    summary: str = Field("", max_length=MAX_TEXT)


class Segment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    start: float = Field(ge=0)
    end: float
    caption: Caption

    @field_validator("caption", mode="before")
    @classmethod
    def _caption(cls, value: object) -> Caption:
        if isinstance(value, str):
            return Caption(summary=value.strip()[:MAX_TEXT])
        fields = _CaptionFields.model_validate(value)
        summary = fields.summary or "; ".join(
            x for x in (fields.entity, fields.action, fields.background) if x
        )
        return Caption(
            background=fields.background, entity=fields.entity, action=fields.action, summary=summary
        )

    @model_validator(mode="after")
    def _order(self) -> Segment:
        if self.end <= self.start:
            raise ValueError(f"segment end {self.end} is not after start {self.start}")
        return self


class SidecarEvent(BaseModel):
    """One timed sound event named by a sidecar (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: float = Field(ge=0)
    end: float
    sound: str = Field(min_length=1, max_length=200)
    layer: Literal["foreground", "background"] = "foreground"
    gain_db: float | None = Field(default=None, ge=-60.0, le=12.0)

    @model_validator(mode="after")
    def _order(self) -> SidecarEvent:
        if self.end <= self.start:
            raise ValueError(f"event end {self.end} is not after start {self.start}")
        return self


class SidecarCaptions(BaseModel):
    """A video's sidecar annotations (see the module docstring for the file format)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    global_description: str | None = Field(default=None, alias="global", max_length=8 * MAX_TEXT)
    segments: list[Segment]
    events: list[SidecarEvent] = Field(default_factory=list, max_length=10000)

    def caption_for(self, start_s: float, end_s: float) -> Caption | None:
        """The caption of the segment overlapping ``[start_s, end_s)`` the most, or None.

        Ties go to the earlier segment.
        """
        best, best_overlap = None, 0.0
        for seg in self.segments:
            overlap = min(end_s, seg.end) - max(start_s, seg.start)
            if overlap > best_overlap:
                best, best_overlap = seg.caption, overlap
        return best


def sidecar_path(video_path: str | os.PathLike[str]) -> Path:
    """Where a video's sidecar would be: ``clip.mp4`` -> ``clip.captions.json``."""
    p = Path(video_path)
    return p.with_name(p.stem + SIDECAR_SUFFIX)


def load_sidecar(path: str | os.PathLike[str]) -> SidecarCaptions:
    """Read and validate a sidecar captions file.

    Raises:
        InputError: the file is missing, not a regular readable file (a FIFO is never opened), not
            JSON, or not in the format above (the message names the file and the problem).
    """
    p = Path(path)
    problem = not_a_regular_file(p)
    if problem == "no such file":
        raise InputError(f"sidecar captions {p}: file not found")
    if problem is not None:
        raise InputError(f"sidecar captions {p}: {problem}")
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"sidecar captions {p}: file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"sidecar captions {p}: not UTF-8 JSON ({exc})") from None
    try:
        return SidecarCaptions.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise InputError(f"sidecar captions {p}: {where}: {first['msg']}") from None


def find_sidecar(
    video_path: str | os.PathLike[str], captions_path: str | None = None
) -> SidecarCaptions | None:
    """The sidecar for a video if one exists (``captions_path`` wins over the file beside the video).

    Raises:
        InputError: the sidecar exists (or was named) but cannot be read.
    """
    if captions_path:  # named explicitly (manifest): its absence is an error, not "no captions"
        return load_sidecar(captions_path)
    path = sidecar_path(video_path)
    return load_sidecar(path) if path.is_file() else None
