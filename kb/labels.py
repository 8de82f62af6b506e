"""The curated sound-label vocabulary: loading, validation and its content hash.

``kb/labels.csv`` holds about 200 labels regrouped from VGGSound's 309 classes into 20 scenarios.
Each row names the VGGSound classes merged into it (``sources``), the typical scenes it belongs
to, a short description of how it sounds, its layer (a discrete ``event`` or a continuous
``ambience``) and the procedural synthesizer's sound ``family``. The classes that were left out on
purpose are listed with a reason in ``kb/excluded_classes.csv``, so every VGGSound class is
accounted for without the project needing the VGGSound list at run time.

Speech and singing are kept (a scene may really need a voice) but always carry the family
``voice``, and only they do: ``Label.is_speech`` is how the Designer and the store filter them out.
Non-speech vocal sounds (laughter, crying, screams, coughs) use other families.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from lvas.errors import LvasError

LABELS_PATH = Path(__file__).with_name("labels.csv")
EXCLUDED_PATH = Path(__file__).with_name("excluded_classes.csv")

# The procedural synthesizer's sound families, grouped by how it renders them.
NOISE_BEDS = ("rain", "wind", "water", "waves", "fire", "crowd", "traffic", "hum", "room_tone")
TONAL = (
    "engine", "aircraft", "siren", "bird", "insect", "animal_call", "bell", "horn", "instrument",
    "voice", "power_tool",
)  # fmt: skip
IMPULSES = ("footsteps", "impact", "gunshot", "knock", "clap", "splash", "typing", "thunder", "whoosh")
FAMILIES: tuple[str, ...] = NOISE_BEDS + TONAL + IMPULSES

LAYERS: tuple[str, ...] = ("event", "ambience")
SPEECH_FAMILY = "voice"
COLUMNS = ("label", "scenario", "layer", "family", "sources", "scenes", "description")

Layer = Literal["event", "ambience"]


class LabelDataError(LvasError):
    """The label data file is missing, malformed or breaks one of its rules."""


@dataclass(frozen=True)
class Label:
    """One curated sound label.

    Attributes:
        label: unique, lower-case name the agents and the synthesizer use.
        scenario: one of the 20 scenario groups (e.g. ``nature_weather``).
        layer: ``event`` (a discrete sound) or ``ambience`` (a continuous bed).
        family: the procedural synthesizer's sound family, one of ``FAMILIES``.
        sources: the VGGSound classes merged into this label.
        scenes: typical scenes where it is heard.
        description: a short description of how it sounds.
    """

    label: str
    scenario: str
    layer: Layer
    family: str
    sources: tuple[str, ...]
    scenes: tuple[str, ...]
    description: str

    @property
    def is_speech(self) -> bool:
        """True for speech and singing labels (family ``voice``), which the Designer avoids by default."""
        return self.family == SPEECH_FAMILY

    def document(self) -> str:
        """The text embedded for retrieval: name, description, merged classes and scenes.

        Several phrasings of the same sound (the description, the VGGSound class names, the
        scenes) make varied descriptions land near it.
        """
        return (
            f"{self.label}. {self.description}. "
            f"Sounds like: {'; '.join(self.sources)}. "
            f"Heard in: {', '.join(self.scenes)}."
        )


def _split(cell: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in cell.split(";") if part.strip())


def _parse_row(row: dict[str, str], where: str) -> Label:
    missing = [c for c in COLUMNS if not (row.get(c) or "").strip()]
    if missing:
        raise LabelDataError(f"{where}: empty or missing column(s) {', '.join(missing)}")
    layer = row["layer"].strip()
    family = row["family"].strip()
    if layer not in LAYERS:
        raise LabelDataError(f"{where}: layer {layer!r} is not one of {', '.join(LAYERS)}")
    if family not in FAMILIES:
        raise LabelDataError(f"{where}: family {family!r} is not one of the {len(FAMILIES)} FAMILIES")
    return Label(
        label=row["label"].strip(),
        scenario=row["scenario"].strip(),
        layer=layer,  # type: ignore[arg-type]  # checked against LAYERS above
        family=family,
        sources=_split(row["sources"]),
        scenes=_split(row["scenes"]),
        description=row["description"].strip(),
    )


def load_labels(path: str | Path | None = None) -> list[Label]:
    """Load and validate the label data file.

    Arguments:
        path: a CSV with the columns ``COLUMNS``; defaults to the packaged ``kb/labels.csv``.

    Returns:
        The labels in file order.

    Raises:
        LabelDataError: the file is missing or unreadable, a column is missing or empty, a layer or
            family is outside its vocabulary, or a label or a source class appears twice.
    """
    path = Path(path) if path is not None else LABELS_PATH
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            absent = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if absent:
                raise LabelDataError(f"{path}: missing column(s) {', '.join(absent)}")
            labels = [_parse_row(row, f"{path} line {reader.line_num}") for row in reader]
    except OSError as exc:
        raise LabelDataError(f"cannot read the label data file {path}: {exc}") from exc
    if not labels:
        raise LabelDataError(f"{path}: no labels")
    _check_unique(labels, path)
    return labels


def _check_unique(labels: list[Label], path: Path) -> None:
    seen_labels: set[str] = set()
    seen_sources: dict[str, str] = {}
    for lab in labels:
        if lab.label in seen_labels:
            raise LabelDataError(f"{path}: label {lab.label!r} appears twice")
        seen_labels.add(lab.label)
        for src in lab.sources:
            # A class merged into two labels would make the coverage count lie.
            if src in seen_sources:
                raise LabelDataError(
                    f"{path}: source class {src!r} is in both {seen_sources[src]!r} and {lab.label!r}"
                )
            seen_sources[src] = lab.label


def load_excluded(path: str | Path | None = None) -> dict[str, str]:
    """The VGGSound classes deliberately left out of the labels, with the reason for each.

    Arguments:
        path: a CSV with columns ``vggsound_class, reason``; defaults to ``kb/excluded_classes.csv``.

    Returns:
        ``{class name: reason}``.

    Raises:
        LabelDataError: the file cannot be read or lacks the columns.
    """
    path = Path(path) if path is not None else EXCLUDED_PATH
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise LabelDataError(f"cannot read the exclusion list {path}: {exc}") from exc
    try:
        return {row["vggsound_class"].strip(): row["reason"].strip() for row in rows}
    except KeyError as exc:
        raise LabelDataError(f"{path}: missing column {exc}") from exc


def data_hash(path: str | Path | None = None) -> str:
    """A SHA-256 of the label data file's bytes (the store rebuilds when it changes).

    Arguments:
        path: the data file; defaults to the packaged ``kb/labels.csv``.

    Returns:
        The hex digest.

    Raises:
        LabelDataError: the file cannot be read.
    """
    path = Path(path) if path is not None else LABELS_PATH
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise LabelDataError(f"cannot read the label data file {path}: {exc}") from exc


@cache
def labels_by_name() -> dict[str, Label]:
    """The packaged labels keyed by name (loaded once per process)."""
    return {lab.label: lab for lab in load_labels()}
