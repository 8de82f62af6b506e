"""Where every artifact lives: found from (video id, stage, scene index) alone.

    <out>/
      videos/<video_id>/shots.parquet, keyframes/shot0003_k1.jpg, script.parquet, design.parquet,
                        layers/scene0002_foreground.wav, mix.wav, dubbed.mp4, report/index.html
      videos/<video_id>/.done/<stage>[@<scene>].json   completion markers (cache key + outputs)
      status/<video_id>/<stage>[@<scene>].json          one status record per unit of work
      runs/<run_id>/manifest.parquet, status.parquet     what a run was asked to do, how it ended
      compositions.parquet, compose-settings.json       what `lvas compose` was given, with what settings
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

from lvas.keys import digest, file_digest
from lvas.storage.atomic import write_json


def video_id_for(path: str | os.PathLike[str]) -> str:
    """A stable id for a video file, safe as a folder name on any OS.

    Readable part: the file stem folded to ASCII (so ``Café Nöel.mp4`` -> ``cafe-noel``); unique
    part: a hash of the resolved path (symbolic links and ``..`` followed), so two ``clip.mp4`` in
    different folders never collide and one file named two ways is one video. The id does not
    change between runs as long as the file stays where it is.
    """
    # os.path.realpath, not Path.resolve: it never raises, even on a symbolic-link loop
    p = Path(os.path.realpath(os.path.expanduser(path)))
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

    def compositions(self) -> Path:
        """Every composition ``lvas compose`` was given here (job_id, instruction, duration_s,
        source), for reruns."""
        return self.root / "compositions.parquet"

    def compose_settings(self) -> Path:
        """The settings of the latest ``lvas compose`` run here (what a rerun computes with)."""
        return self.root / "compose-settings.json"

    # ---- completion markers
    def marker(self, video_id: str, stage: str, scene: int | None = None) -> Path:
        return self.video_dir(video_id) / ".done" / f"{_unit(stage, scene)}.json"

    def done(self, video_id: str, stage: str, key: str, scene: int | None = None,
             verify: bool = False) -> dict[str, Any] | None:
        """The marker's content if ``stage`` finished with cache ``key`` and its outputs are intact.

        Intact: every output exists with the size the marker recorded; with ``verify``, its
        content hash matches too (reads every byte). A marker written before sizes and hashes
        were recorded only vouches for the files' existence.
        """
        marker = self.read_marker(video_id, stage, scene)
        if marker is None or marker.get("key") != key:
            return None
        return marker if not artifact_problems(marker, full=verify) else None

    def read_marker(self, video_id: str, stage: str, scene: int | None = None) -> dict[str, Any] | None:
        """The completion marker of a unit as written (None when there is none or it is unreadable)."""
        try:
            marker = json.loads(self.marker(video_id, stage, scene).read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return marker if isinstance(marker, dict) else None

    def produced(self, video_id: str, stage: str, scene: int | None = None) -> str:
        """A digest of the content the unit's artifacts had when it finished, from its marker ("-"
        when it has not): part of the cache key of each stage built from them, so redoing a stage
        that gives different output (a non-deterministic model) invalidates what followed it."""
        marker = self.read_marker(video_id, stage, scene)
        if marker is None:
            return "-"
        files = marker.get("files") or {}
        return digest(*(f"{name}={files[name].get('sha256', '')}" for name in sorted(files)))

    def mark_done(
        self, video_id: str, stage: str, key: str, outputs: dict[str, str], scene: int | None = None, **extra: Any
    ) -> None:
        """Write the unit's completion marker: its key, outputs and each output's size and SHA-256."""
        files = {}
        for name, path in outputs.items():
            try:
                files[name] = {"size": os.stat(path).st_size, "sha256": file_digest(path)}
            except OSError:  # not written: the marker vouches for nothing (done() finds it missing)
                files[name] = {"size": -1, "sha256": ""}
        write_json(self.marker(video_id, stage, scene), {"key": key, "outputs": outputs, "files": files, **extra})


def artifact_problems(marker: dict[str, Any], full: bool = False) -> list[str]:
    """What does not match between a completion marker and its artifacts on disk.

    Arguments:
        marker: a marker as written by :meth:`Layout.mark_done`.
        full: also compare content hashes (reads every file), not only existence and size.

    Returns:
        One line per output that is missing, has another size or (``full``) another content.
    """
    problems = []
    files = marker.get("files") or {}
    for name, path in (marker.get("outputs") or {}).items():
        try:
            size = os.stat(path).st_size
        except OSError:
            problems.append(f"{name}: {path} is missing")
            continue
        facts = files.get(name)
        if facts is None:
            continue
        if size != facts.get("size"):
            problems.append(f"{name}: {path} has {size} bytes, {facts.get('size')} when it was written")
        elif full and _digest_or_error(path) != facts.get("sha256"):
            problems.append(f"{name}: {path} content changed since it was written")
    return problems


def _digest_or_error(path: str) -> str:
    try:
        return file_digest(path)
    except OSError as exc:
        return f"unreadable: {exc}"
