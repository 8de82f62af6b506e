"""LVAS-Bench-style evaluation sets: a manifest of videos with reference audio and annotations.

A manifest is a ``.jsonl`` (one JSON object a line), ``.json`` (a list of them) or ``.csv`` file.
Each item::

    {"video": "clips/harbour.mp4",                     required; relative to the manifest
     "audio": "ref/harbour.wav",                        optional reference audio (WAV/FLAC)
     "global": "a harbour at night, rain ...",           optional global annotation
     "annotations": [{"start": 0.0, "end": 4.5, "caption": "waves slap the pier"}, ...]}
                                                        optional time-stamped annotations

In a ``.csv``, ``annotations`` is a JSON string in its column. An item is known by its video's
file stem (the reference audio of ``harbour.mp4`` is what ``lvas eval`` compares its soundtrack
with). The time-stamped annotations become sidecar captions (``lvas/agents/captions.py``) with
:func:`write_sidecars`, so the later stages can be evaluated on the dataset's own scene
descriptions, apart from the Scriptwriter's.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lvas.agents.captions import MAX_TEXT, SIDECAR_SUFFIX
from lvas.errors import InputError
from lvas.keys import not_a_regular_file

AUDIO_SUFFIXES = (".wav", ".flac")


class Annotation(BaseModel):
    """A time-stamped annotation of a stretch of the video."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    start: float = Field(ge=0)
    end: float
    caption: str = Field(min_length=1, max_length=MAX_TEXT)

    @model_validator(mode="after")
    def _order(self) -> Annotation:
        if self.end <= self.start:
            raise ValueError(f"annotation end {self.end} is not after start {self.start}")
        return self


class BenchItem(BaseModel):
    """One video of an evaluation set (paths absolute once read)."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    video: str = Field(min_length=1)
    audio: str | None = None
    global_annotation: str | None = Field(default=None, alias="global", max_length=8 * MAX_TEXT)
    annotations: list[Annotation] = Field(default_factory=list, max_length=10000)

    @property
    def stem(self) -> str:
        return Path(self.video).stem

    def sidecar(self) -> dict:
        """The item's annotations in the sidecar captions format."""
        out: dict = {"segments": [{"start": a.start, "end": a.end, "caption": a.caption} for a in self.annotations]}
        if self.global_annotation:
            out["global"] = self.global_annotation
        return out


def _rows(path: Path) -> list[object]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if path.suffix == ".json":
        rows = json.loads(text)
        if not isinstance(rows, list):
            raise InputError(f"manifest {path}: a .json manifest is a list of items")
        return rows
    if path.suffix == ".csv":
        rows = []
        for row in csv.DictReader(text.splitlines()):
            item: dict[str, object] = {k: v for k, v in row.items() if k and v not in (None, "")}
            if isinstance(item.get("annotations"), str):
                item["annotations"] = json.loads(str(item["annotations"]))
            rows.append(item)
        return rows
    raise InputError(f"manifest {path}: unknown format (use .jsonl, .json or .csv)")


def read_manifest(path: str | os.PathLike[str]) -> tuple[list[BenchItem], list[str]]:
    """Read an evaluation manifest.

    Arguments:
        path: the manifest file.

    Returns:
        (the valid items, paths made absolute; one problem per bad item, naming it). A missing
        video or reference audio is a problem of that item alone.

    Raises:
        InputError: the manifest itself cannot be read.
    """
    p = Path(path)
    problem = not_a_regular_file(p)
    if problem is not None:
        raise InputError(f"manifest {p}: {problem}")
    try:
        rows = _rows(p)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"manifest {p}: not readable ({exc})") from None
    items, problems, seen = [], [], set()
    base = p.resolve().parent
    for n, row in enumerate(rows, start=1):
        try:
            item = BenchItem.model_validate(row)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            problems.append(f"{p} item {n}: {where}: {first['msg']}")
            continue
        video = base / item.video
        audio = base / item.audio if item.audio else None
        why = not_a_regular_file(video)
        if why is not None:
            problems.append(f"{p} item {n}: video {video}: {why}")
            continue
        if audio is not None and (why := not_a_regular_file(audio)) is not None:
            problems.append(f"{p} item {n}: reference audio {audio}: {why}; evaluated without it")
            audio = None
        if audio is not None and audio.suffix.lower() not in AUDIO_SUFFIXES:
            problems.append(f"{p} item {n}: reference audio {audio}: not WAV or FLAC; evaluated without it")
            audio = None
        if item.stem in seen:
            problems.append(f"{p} item {n}: a second video named {item.stem!r}; items are known by stem, left out")
            continue
        seen.add(item.stem)
        items.append(item.model_copy(update={"video": str(video), "audio": str(audio) if audio else None}))
    return items, problems


def write_sidecars(items: list[BenchItem], dest: str | os.PathLike[str]) -> Path:
    """Write each item's annotations as sidecar captions and a dub manifest that names them.

    Arguments:
        items: from :func:`read_manifest`.
        dest: folder for ``<stem>.captions.json`` files and ``dub.csv``.

    Returns:
        The dub manifest (``path,captions``): ``lvas dub DEST/dub.csv --out OUT`` uses the
        annotations in place of the Scriptwriter's captions. Items without annotations get no
        sidecar (the Scriptwriter captions them).
    """
    from lvas.storage.atomic import write_json, write_text

    out = Path(dest)
    lines = ["path,captions"]
    for item in items:
        captions = ""
        if item.annotations or item.global_annotation:
            side = out / f"{item.stem}{SIDECAR_SUFFIX}"
            write_json(side, item.sidecar())
            captions = str(side.resolve())
        lines.append(",".join(_csv_field(x) for x in (item.video, captions)))
    return write_text(out / "dub.csv", "\n".join(lines) + "\n")


def _csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value
