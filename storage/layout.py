"""Where every artifact lives: found from (video id, stage, scene index) alone.

    <out>/
      videos/<video_id>/shots.parquet, keyframes/shot0003_k1.jpg, script.parquet, design.parquet,
                        layers/scene0002_foreground.wav, mix.wav, dubbed.mp4, report/index.html
      videos/<video_id>/.done/<stage>[@<scene>].json   completion markers (cache key + outputs)
      status/<video_id>/<stage>[@<scene>].json          one status record per unit of work
      runs/<run_id>/manifest.parquet, status.parquet     what a run was asked to do, how it ended
      kb/                                               the local Chroma label store
      lvas.lock                                         held while a run writes here
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lvas.storage.atomic import write_json


def video_id_for(path: str | os.PathLike[str]) -> str:
    """A stable id for a video file, safe as a folder name on any OS.

    Readable part: the file stem folded to ASCII (so ``Café Nöel.mp4`` -> ``cafe-noel``); unique
    part: a hash of the absolute path, so two ``clip.mp4`` in different folders never collide.
    The id does not change between runs as long as the file stays where it is.
    """
    p = Path(path).expanduser().absolute()
    stem = unicodedata.normalize("NFKD", p.stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", stem).strip("-").lower()[:48] or "video"
    digest = hashlib.sha1(str(p).encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{slug}-{digest}"


def _unit(stage: str, scene: int | None) -> str:
    return stage if scene is None else f"{stage}@{scene:04d}"


@dataclass(frozen=True)
class Layout:
    """Paths under one output folder. Pure path arithmetic plus marker reads/writes."""

    root: Path

    def __init__(self, root: str | os.PathLike[str]) -> None:
        object.__setattr__(self, "root", Path(root).expanduser().absolute())

    # ---- per video
    def video_dir(self, video_id: str) -> Path:
        return self.root / "videos" / video_id

    def shots(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "shots.parquet"

    def keyframes_dir(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "keyframes"

    def frames(self, video_id: str) -> Path:
        """Per analysed frame: t_s, motion, hsv distance, brightness... (small; read by later stages)."""
        return self.video_dir(video_id) / "frames.parquet"

    def script(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "script.parquet"

    def design(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "design.parquet"

    def scene_design(self, video_id: str, scene: int) -> Path:
        return self.video_dir(video_id) / "designs" / f"scene{scene:04d}.parquet"

    def layer(self, video_id: str, scene: int, kind: str) -> Path:
        return self.video_dir(video_id) / "layers" / f"scene{scene:04d}_{kind}.wav"

    def event_wav(self, video_id: str, scene: int, key: str) -> Path:
        """One timed event's render, named by its cache key (``lvas.render.event_key``)."""
        return self.video_dir(video_id) / "events" / f"scene{scene:04d}_{key[:16]}.wav"

    def events(self, video_id: str) -> Path:
        """The cue sheet: one row per timed event."""
        return self.video_dir(video_id) / "events.parquet"

    def stem(self, video_id: str, layer: str) -> Path:
        """A full-length layer stem (``foreground`` or ``background``), before mastering."""
        return self.video_dir(video_id) / "stems" / f"{layer}.wav"

    def mix(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "mix.wav"

    def dubbed(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "dubbed.mp4"

    def report_dir(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "report"

    def report(self, video_id: str) -> Path:
        return self.report_dir(video_id) / "index.html"

    def calls(self, video_id: str) -> Path:
        return self.video_dir(video_id) / "llm_calls.parquet"

    # ---- dataset level
    def status_dir(self, video_id: str | None = None) -> Path:
        base = self.root / "status"
        return base if video_id is None else base / video_id

    def status_record(self, video_id: str, stage: str, scene: int | None = None) -> Path:
        return self.status_dir(video_id) / f"{_unit(stage, scene)}.json"

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def kb_dir(self) -> Path:
        return self.root / "kb"

    def lock(self) -> Path:
        return self.root / "lvas.lock"

    def sources(self) -> Path:
        """Every video ever submitted to this folder (video_id -> source), for reruns."""
        return self.root / "sources.parquet"

    # ---- completion markers
    def marker(self, video_id: str, stage: str, scene: int | None = None) -> Path:
        return self.video_dir(video_id) / ".done" / f"{_unit(stage, scene)}.json"

    def done(self, video_id: str, stage: str, key: str, scene: int | None = None) -> dict[str, Any] | None:
        """The marker's content if ``stage`` finished with cache ``key`` and its outputs still exist."""
        try:
            marker = json.loads(self.marker(video_id, stage, scene).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        if marker.get("key") != key:
            return None
        if not all(Path(p).exists() for p in marker.get("outputs", {}).values()):
            return None
        return marker

    def mark_done(
        self, video_id: str, stage: str, key: str, outputs: dict[str, str], scene: int | None = None, **extra: Any
    ) -> None:
        write_json(self.marker(video_id, stage, scene), {"key": key, "outputs": outputs, **extra})
