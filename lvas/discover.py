"""Turn what the user typed (files, folders, globs, manifests) into VideoRefs.

A path that does not exist is still returned as a VideoRef: it fails alone, with its reason in the
status table, instead of silently vanishing from the run. A glob or folder that yields nothing, and
a manifest that cannot be read, are reported as problems.
"""

from __future__ import annotations

import csv
import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from lvas.errors import InputError
from lvas.models import VideoRef
from lvas.storage.layout import video_id_for

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".flv", ".wmv", ".3gp"}
)
MANIFEST_EXTENSIONS = frozenset({".csv", ".parquet"})
SIDECAR_SUFFIX = ".captions.json"


@dataclass(frozen=True)
class Discovery:
    videos: list[VideoRef]
    problems: list[str]


def sidecar_for(path: Path) -> Path:
    """``clip.mp4`` -> ``clip.captions.json`` beside it."""
    return path.with_name(path.stem + SIDECAR_SUFFIX)


def make_ref(source: str, path: Path, captions: str | None = None) -> VideoRef:
    """The VideoRef of ``path``: absolute with ``..`` folded (its sidecar is looked for beside the
    name given); its id hashes the resolved path, so one file named two ways is one video."""
    path = Path(os.path.abspath(path.expanduser()))
    if captions is None and sidecar_for(path).is_file():
        captions = str(sidecar_for(path))
    return VideoRef(source=source, path=str(path), video_id=video_id_for(path), captions_path=captions)


def read_manifest(path: Path) -> list[VideoRef]:
    """Rows of a .csv or .parquet with a ``path`` column (and optionally ``captions``, a sidecar JSON).

    An output folder's ``sources.parquet`` is such a manifest too (reruns read it).

    Relative paths are relative to the manifest's folder.

    Raises:
        InputError: the manifest cannot be read or has no ``path`` column.
    """
    try:
        if path.suffix.lower() == ".parquet":
            rows = pq.read_table(path).to_pylist()
        else:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh))
    except Exception as exc:  # any reader error is the manifest's problem, said plainly
        raise InputError(f"{path}: cannot read manifest: {exc}") from exc
    if rows and "path" not in rows[0]:
        raise InputError(f"{path}: manifest has no 'path' column (columns: {', '.join(rows[0])})")
    refs = []
    for row in rows:
        raw = str(row.get("path") or "").strip()
        if not raw:
            continue
        p = Path(raw).expanduser()
        p = p if p.is_absolute() else path.parent / p
        cap = row.get("captions") or row.get("captions_path") or None
        if cap and not Path(cap).is_absolute():
            cap = str(path.parent / cap)
        refs.append(make_ref(raw, p, cap))
    return refs


def _videos_under(folder: Path) -> Iterator[Path]:
    """The video files under ``folder``, in a stable order, found one at a time."""
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        yield from (Path(root) / f for f in sorted(files) if Path(f).suffix.lower() in VIDEO_EXTENSIONS)


def _files_matching(pattern: str) -> Iterator[Path]:
    pattern = os.path.expanduser(pattern)
    if "**" in Path(pattern).parts:
        return _recursive_matches(pattern)
    return (Path(m) for m in glob.iglob(pattern) if Path(m).is_file())


def _recursive_matches(pattern: str) -> Iterator[Path]:
    """The files a ``**`` pattern matches, as ``glob`` finds them (hidden names only when the
    pattern names them), but each folder is visited once: a symbolic link that loops back, which
    ``glob`` follows again and again until the path is too long, is not entered a second time."""
    parts = Path(pattern).parts
    first = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    base, rest = Path(*parts[:first]) if first else Path("."), parts[first:]
    try:
        st = os.stat(base)
    except OSError:
        return
    seen = {(st.st_dev, st.st_ino)}
    for root, dirs, files in os.walk(base, followlinks=True):
        kept = []
        for d in sorted(dirs):
            try:
                st = os.stat(os.path.join(root, d))
            except OSError:  # a link to nowhere or to itself
                continue
            if (st.st_dev, st.st_ino) not in seen and not d.startswith("."):
                seen.add((st.st_dev, st.st_ino))
                kept.append(d)
        dirs[:] = kept
        for f in sorted(files):
            path = Path(root) / f
            if _match(path.relative_to(base).parts, rest) and path.is_file():
                yield path


def _match(names: tuple[str, ...], patterns: tuple[str, ...]) -> bool:
    """Whether path components ``names`` match glob components ``patterns`` (``**``: any folders)."""
    if not patterns:
        return not names
    head, tail = patterns[0], patterns[1:]
    if head == "**":
        return any(_match(names[i:], tail) for i in range(len(names) + 1)
                   if not any(n.startswith(".") for n in names[:i]))
    if not names or (names[0].startswith(".") and not head.startswith(".")):
        return False
    return fnmatch.fnmatchcase(names[0], head) and _match(names[1:], tail)


def _no_videos(src: str) -> str:
    return f"{src}: folder holds no video files ({', '.join(sorted(VIDEO_EXTENSIONS))})"


def _no_matches(src: str) -> str:
    return f"{src}: pattern matches no files"


def discover(sources: list[str]) -> Discovery:
    """Expand sources into unique VideoRefs, in a stable order.

    Arguments:
        sources: files, folders (searched recursively for video extensions), glob patterns, or
            manifests (.csv/.parquet with a ``path`` column).

    Returns:
        The videos (duplicates by id removed, first occurrence kept) and the problems found.
    """
    videos: dict[str, VideoRef] = {}
    problems: list[str] = []

    def add(ref: VideoRef) -> None:
        videos.setdefault(ref.video_id, ref)

    for src in sources:
        p = Path(src).expanduser()
        if p.is_dir():
            found = list(_videos_under(p))
            if not found:
                problems.append(_no_videos(src))
            for f in found:
                add(make_ref(str(f), f))
        elif p.suffix.lower() in MANIFEST_EXTENSIONS and p.is_file():
            try:
                for ref in read_manifest(p):
                    add(ref)
            except InputError as exc:
                problems.append(str(exc))
        elif not p.exists() and glob.has_magic(src):
            matches = sorted(_files_matching(src))
            if not matches:
                problems.append(_no_matches(src))
            for m in matches:
                add(make_ref(str(m), m))
        else:
            # an explicit file: kept even when missing or not a video, so it fails visibly, alone
            add(make_ref(src, p))
    return Discovery(list(videos.values()), problems)
