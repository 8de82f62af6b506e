"""Score the dubbed videos of one or more output folders of the same inputs, side by side.

Per (system, video): duration match, integrated loudness and true peak, coverage, onset
synchrony with the picture's motion (best lag), onsets, onset accuracy and AP against the
reference audio when there is one, speech/music leaks in the cue sheet. Every problem (a folder
of other inputs, a missing dubbed file, a reference of the wrong length or rate, av-benchmark
absent) is one message naming the item; the rest is evaluated.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lvas.errors import InputError, LvasError
from lvas.eval import signals
from lvas.eval.avbench import AvBenchConfig, AvBenchUnavailable, Item, write_layout
from lvas.eval.avbench import Layout as AvLayout
from lvas.eval.avbench import run as run_avbench
from lvas.eval.dataset import AUDIO_SUFFIXES, read_manifest
from lvas.storage.layout import Layout
from lvas.storage.runs import read_sources

DURATION_TOLERANCE_S = 0.1  # a soundtrack this close to its video's length matches it
REFERENCE_TOLERANCE_S = 0.5  # a reference further off its video's length is refused
TARGET_LUFS, TARGET_DBTP = -23.0, -1.0  # the defaults of lvas's mix (MixSettings)


@dataclass(frozen=True)
class System:
    """One output folder under evaluation."""

    name: str
    root: Path


@dataclass(frozen=True)
class Reference:
    """Reference audio by video stem."""

    audio: dict[str, Path]


@dataclass
class Evaluation:
    """What :func:`evaluate` found: one row per (system, video), and every problem said."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    model_metrics: dict[str, dict[str, float]] = field(default_factory=dict)


def system_names(roots: Sequence[str | os.PathLike[str]]) -> list[System]:
    """Systems named by their folder's name (made unique with a number when two are alike)."""
    out, seen = [], set()
    for root in roots:
        p = Path(root)
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", p.resolve().name) or "system"
        base, n = name, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        out.append(System(name, p))
    return out


def load_reference(ref: str | os.PathLike[str]) -> tuple[Reference, list[str]]:
    """Reference audio from a folder (``<video stem>.wav``/``.flac``) or an evaluation manifest.

    Raises:
        InputError: ``ref`` is neither a folder nor a readable manifest.
    """
    p = Path(ref)
    if p.is_dir():
        found = {f.stem: f for f in sorted(p.iterdir()) if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file()}
        if not found:
            raise InputError(f"reference {p}: no .wav or .flac file in this folder")
        return Reference(found), []
    items, problems = read_manifest(p)
    return Reference({i.stem: Path(i.audio) for i in items if i.audio}), problems


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream of a media file (the dubbed MP4) or a WAV/FLAC.

    Returns:
        (float32 samples ``(n, channels)``, sample rate).

    Raises:
        InputError: missing, unreadable or without audio.
    """
    why = _not_file(path)
    if why:
        raise InputError(f"{path}: {why}")
    if path.suffix.lower() in AUDIO_SUFFIXES:
        import soundfile as sf

        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise InputError(f"{path}: not readable audio ({exc})") from None
        return data, int(rate)
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise InputError(f"{path}: no audio stream")
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate
            chunks = [f.to_ndarray() for f in container.decode(stream)]
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"{path}: not readable ({exc})") from None
    if not chunks:
        raise InputError(f"{path}: the audio stream is empty")
    # planar float (AAC's fltp): (channels, n) per frame
    data = np.concatenate(chunks, axis=1).T.astype(np.float32)
    return data, int(rate)


def _not_file(path: Path) -> str | None:
    from lvas.keys import not_a_regular_file

    return not_a_regular_file(path)


def _video_duration(path: Path) -> float:
    from lvas.media.probe import probe

    return probe(path).duration_s


def _leaks(layout: Layout, video_id: str) -> tuple[int, int] | None:
    """(events of the cue sheet, of them speech or music labels), or None without a cue sheet."""
    import pyarrow.parquet as pq

    from lvas.settings import AgentSettings
    from lvas.timeline import label_sets

    path = layout.events(video_id)
    if not path.is_file():
        return None
    labels = pq.read_table(path, columns=["label"]).column("label").to_pylist()
    _, excluded = label_sets(AgentSettings())
    return len(labels), sum(1 for x in labels if x in excluded)


def score_video(system: System, row: dict[str, Any], reference: Path | None) -> tuple[dict[str, Any], list[str]]:
    """Every CPU measure of one dubbed video (see the module docstring).

    Returns:
        (the row of scores, the problems met: a measure that could not be taken is NaN and said).

    Raises:
        InputError: the dubbed video is missing or has no readable audio (nothing to score).
    """
    layout = Layout(system.root)
    vid = row["video_id"]
    dubbed = layout.dubbed(vid)
    if not dubbed.is_file():
        raise InputError(f"{system.name}: {row.get('source', vid)}: no dubbed video at {dubbed} "
                         f"(not finished; `lvas status {system.root}` says why)")
    audio, rate = read_audio(dubbed)
    problems: list[str] = []
    duration = _video_duration(dubbed)
    audio_s = len(audio) / rate
    lufs, tp = signals.level(audio, rate)
    env = signals.onset_envelope(audio, rate)
    out_times, out_strength = signals.pick_onsets(env)
    scores: dict[str, Any] = {
        "system": system.name, "video_id": vid, "stem": Path(str(row.get("path") or vid)).stem,
        "source": row.get("source", ""), "video_s": duration, "audio_s": audio_s,
        "duration_error_s": audio_s - duration, "duration_match": abs(audio_s - duration) <= DURATION_TOLERANCE_S,
        "loudness_lufs": lufs, "true_peak_dbtp": tp,
        "level_ok": math.isfinite(lufs) and abs(lufs - TARGET_LUFS) <= 1.0 and tp <= TARGET_DBTP + 0.1,
        "sound_share": signals.sound_share(audio, rate), "onsets": len(out_times),
    }
    shared = {"sync": math.nan, "sync_lag_s": math.nan, "sync_strength": math.nan, "coverage": math.nan,
              "level": math.nan, "leak": math.nan}
    if layout.frames(vid).is_file():
        from lvas.audio.scores import ScoringError
        from lvas.storyboard import load_frame_stats

        stats = load_frame_stats(layout, vid)
        try:
            got = signals.video_scores(stats["t_s"], stats["motion"], audio, rate)
        except ScoringError as exc:
            problems.append(f"{system.name}: {vid}: shared scorer: {exc}")
        else:
            shared = {"sync": got["sync"], "sync_lag_s": got.details.get("lag_s", math.nan),
                      "sync_strength": got.details.get("lag_strength", math.nan), "coverage": got["coverage"],
                      "level": got["level"], "leak": got["leak"]}
    else:
        problems.append(f"{system.name}: {vid}: no frames.parquet, synchrony and coverage not measured")
    scores |= shared
    leaks = _leaks(layout, vid)
    scores |= {"events": leaks[0] if leaks else math.nan, "leak_events": leaks[1] if leaks else math.nan}
    scores |= {"onset_acc": math.nan, "onset_ap": math.nan, "reference_onsets": math.nan}
    if reference is not None:
        try:
            ref, ref_rate = read_audio(reference)
            if ref_rate != rate:
                raise InputError(f"reference {reference}: {ref_rate} Hz, the soundtrack is {rate} Hz "
                                 "(resample the reference)")
            if abs(len(ref) / ref_rate - duration) > REFERENCE_TOLERANCE_S:
                raise InputError(f"reference {reference}: {len(ref) / ref_rate:.2f} s long, its video "
                                 f"{duration:.2f} s")
        except InputError as exc:
            problems.append(f"{system.name}: {vid}: {exc}; onset ACC/AP not measured")
        else:
            ref_times, _ = signals.pick_onsets(signals.onset_envelope(ref, ref_rate))
            match = signals.onset_match(out_times, out_strength, ref_times)
            scores |= {"onset_acc": match.acc, "onset_ap": match.ap, "reference_onsets": match.n_reference}
    return scores, problems


def _sources(system: System) -> dict[str, dict[str, Any]]:
    layout = Layout(system.root)
    if not layout.sources().is_file():
        raise InputError(f"{system.root}: no lvas output folder here (no sources.parquet)")
    return {r["video_id"]: r for r in read_sources(layout)}


def evaluate(systems: Sequence[System], reference: Reference | None = None,
             avbench: AvBenchConfig | None = None, work: Path | None = None) -> Evaluation:
    """Score every system's dubbed videos; the model metrics too when av-benchmark is configured.

    Arguments:
        systems: the output folders (the first one's inputs are the reference set of videos).
        reference: reference audio by video stem, or None.
        avbench: where av-benchmark is, or None (the model metrics are then left out, said once).
        work: folder for av-benchmark's layout (default: the first system's ``eval/avbench``).

    Returns:
        The rows and problems (and av-benchmark's metrics per system).

    Raises:
        InputError: no system could be read at all.
    """
    result = Evaluation()
    readable: list[tuple[System, dict[str, dict[str, Any]]]] = []
    for system in systems:
        try:
            readable.append((system, _sources(system)))
        except (InputError, OSError) as exc:
            result.problems.append(f"{system.name}: {exc}")
    if not readable:
        raise InputError("nothing to evaluate: " + "; ".join(result.problems))
    first_name, first = readable[0][0].name, set(readable[0][1])
    for system, videos in readable[1:]:
        if not set(videos) & first:
            result.problems.append(f"{system.name}: dubbed other inputs than {first_name} (no video in common); "
                                   "its videos are scored but not compared")
        else:
            for vid in sorted(first - set(videos)):
                result.problems.append(f"{system.name}: has no {readable[0][1][vid].get('source', vid)} "
                                       f"(which {first_name} has)")
    wavs: dict[str, dict[str, Path]] = {}
    for system, videos in readable:
        for vid, row in videos.items():
            stem = Path(str(row.get("path") or vid)).stem
            ref = reference.audio.get(stem) if reference else None
            try:
                scores, problems = score_video(system, row, ref)
            except (LvasError, OSError) as exc:
                result.problems.append(str(exc) if str(exc).startswith(system.name) else f"{system.name}: {exc}")
                continue
            result.rows.append(scores)
            result.problems += problems
            wavs.setdefault(system.name, {})[stem] = Layout(system.root).mix(vid)
    if reference is not None and result.rows and not any(r["stem"] in reference.audio for r in result.rows):
        result.problems.append("reference: no reference audio is named after an evaluated video's file stem")
    if avbench is None:
        result.problems.append("model metrics (FD, KL, IS, ImageBind score, DeSync) not computed: they run "
                               "av-benchmark on a GPU machine with its weights (--avbench DIR)")
        return result
    _model_metrics(result, readable, wavs, reference, avbench, work or readable[0][0].root / "eval" / "avbench")
    return result


def _model_metrics(result: Evaluation, readable: list[tuple[System, dict[str, dict[str, Any]]]],
                   wavs: dict[str, dict[str, Path]], reference: Reference | None, avbench: AvBenchConfig,
                   work: Path) -> None:
    if reference is None:
        result.problems.append("model metrics not computed: FD and KL compare with reference audio (--reference)")
        return
    first_system, first_videos = readable[0]
    items = []
    for vid, row in first_videos.items():
        stem = Path(str(row.get("path") or vid)).stem
        dubbed = Layout(first_system.root).dubbed(vid)
        if stem in reference.audio and dubbed.is_file():
            items.append(Item(stem, dubbed, reference.audio[stem]))
    if not items:
        result.problems.append("model metrics not computed: no dubbed video has reference audio")
        return
    unusable = avbench.problems()
    if unusable:  # said before anything is laid out for it
        result.problems.append("model metrics not computed: " + "; ".join(unusable))
        return
    layout = AvLayout(work)
    keep = {i.stem for i in items}
    write_layout(layout, items, {s: {k: v for k, v in by.items() if k in keep and v.is_file()}
                                 for s, by in wavs.items()})
    longest = max((r["video_s"] for r in result.rows), default=10.0)
    try:
        found = run_avbench(layout, avbench, list(wavs), longest)
    except AvBenchUnavailable as exc:
        result.problems.append(f"model metrics not computed: {exc}")
        return
    for system, metrics in found.items():
        if isinstance(metrics, str):
            result.problems.append(f"{system}: model metrics not computed: {metrics}")
        else:
            result.model_metrics[system] = metrics
