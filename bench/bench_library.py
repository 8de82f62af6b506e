"""The sound-library synthesizer's costs: indexing per 1,000 files, and rendering per minute of
audio against the procedural synthesizer in the same run.

    .venv/bin/python bench/bench_library.py [--files 1000] [--seconds 60] [--repeats 3] [--write]

Indexing: ``--files`` generated recordings (UCS-named; one-shots of 0.3-1 s and beds of 3-6 s,
mono/stereo, 44.1/48 kHz WAV), indexed from nothing, re-indexed unchanged, then re-indexed with 1%
of them rewritten. The embedding of their texts alone is timed too.

Rendering: layers of ``--seconds`` (stereo 44.1 kHz) of two events (footsteps, dog barking) and of
two beds (rain, wind), by the library and the procedural synthesizers, in turns; median of
``--repeats``. ``--write`` replaces this benchmark's section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.results import write_section
from lvas.backends.library import LibrarySynth
from lvas.backends.procedural import ProceduralSynth
from lvas.backends.sound_index import SoundIndex, describe
from lvas.models import LayerSpec
from lvas.settings import SynthSettings

KINDS = [("FEETWood", "Footstep On Wooden Floor", "oneshot"), ("ANMLDog", "Dog Barking", "oneshot"),
         ("IMPTMetal", "Metal Hit", "oneshot"), ("DOORWood", "Door Slam", "oneshot"),
         ("RAINLight", "Light Rain On Leaves", "bed"), ("WINDGust", "Wind Through Trees", "bed"),
         ("WATRStream", "Stream Trickle", "bed"), ("FIRECrackle", "Campfire Crackling", "bed")]


def make_library(folder: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(count):
        cat, name, shape = KINDS[i % len(KINDS)]
        sr = (44100, 48000)[i % 2]
        channels = 1 + (i // 2) % 2
        if shape == "oneshot":
            n = round(rng.uniform(0.3, 1.0) * sr)
            body = rng.standard_normal((n, channels)) * np.exp(-np.arange(n) / (0.08 * sr))[:, None]
            audio = np.concatenate([np.zeros((round(0.02 * sr), channels)), body])
        else:
            n = round(rng.uniform(3.0, 6.0) * sr)
            audio = 0.2 * rng.standard_normal((n, channels))
        sub = folder / cat / f"take{i // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        sf.write(sub / f"{cat}_{name} {i:04d}_BN_Bench.wav", (0.5 * audio).astype(np.float32), sr)


def cpu() -> float:
    t = os.times()
    return t.user + t.system


def index_costs(root: Path, count: int) -> dict[str, float]:
    lib, where = root / "lib", root / "index"
    make_library(lib, count)
    index = SoundIndex.open(where)
    out: dict[str, float] = {}
    w, c = time.perf_counter(), cpu()
    report = index.index([lib])
    out["full_s"], out["full_cpu_s"] = time.perf_counter() - w, cpu() - c
    assert report.usable == count, report.text()
    w = time.perf_counter()
    again = index.index([lib])
    out["unchanged_s"] = time.perf_counter() - w
    assert again.read == 0
    files = sorted(lib.rglob("*.wav"))
    for path in files[:: 100]:  # 1% rewritten
        data, sr = sf.read(path)
        sf.write(path, data * 0.9, sr)
    w = time.perf_counter()
    third = index.index([lib])
    out["changed_1pct_s"] = time.perf_counter() - w
    out["changed_read"] = third.read
    docs = [describe(p, lib, p.stat(), ("", ""), lambda p: (np.ones(10), 10, 1.0, 1))[0] for p in files]
    w = time.perf_counter()
    index.ef(docs)
    out["embed_only_s"] = time.perf_counter() - w
    return out


def render_costs(index_dir: Path, seconds: float, repeats: int, work: Path) -> dict[str, dict[str, float]]:
    settings = SynthSettings(backend="library", library_index=str(index_dir))
    synths = {"library": LibrarySynth(settings), "procedural": ProceduralSynth(settings)}
    layers = {"events": ("foreground", ["footsteps", "dog barking"]), "beds": ("background", ["rain", "wind"])}
    times: dict[str, dict[str, list[float]]] = {k: {s: [] for s in synths} for k in layers}
    backends: dict[str, str] = {}
    for r in range(repeats + 1):  # the first round warms caches (model, decoded files) and is not counted
        for what, (kind, labels) in layers.items():
            spec = LayerSpec(video_id="bench", video_path="/none.mp4", scene_index=0, kind=kind, start_s=0.0,
                             end_s=seconds, labels=labels, prompt=", ".join(labels), seed=r)
            for name, synth in synths.items():
                w = time.perf_counter()
                done = synth.render(spec, work / f"{what}-{name}.wav", sample_rate=44100, channels=2)
                if r:
                    times[what][name].append((time.perf_counter() - w) * 60.0 / seconds)
                backends[f"{what}-{name}"] = done.backend
    out = {what: {name: statistics.median(v) for name, v in by.items()} for what, by in times.items()}
    for what in out:
        out[what]["backend"] = backends[f"{what}-library"]  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lvas-bench-library-") as tmp:
        root = Path(tmp)
        idx = index_costs(root, args.files)
        per_k = 1000.0 / args.files
        ren = render_costs(root / "index", args.seconds, args.repeats, root)
    lines = [
        f"indexing {args.files} generated files (per 1,000: x{per_k:g}):",
        f"  from nothing      {idx['full_s'] * per_k:7.1f} s per 1,000 files (CPU {idx['full_cpu_s'] * per_k:.1f} s);"
        f" of which embedding the texts {idx['embed_only_s'] * per_k:.1f} s",
        f"  unchanged         {idx['unchanged_s'] * per_k:7.2f} s per 1,000 files (0 read)",
        f"  1% rewritten      {idx['changed_1pct_s'] * per_k:7.2f} s per 1,000 files ({idx['changed_read']:.0f} read)",
        f"rendering, seconds per minute of stereo 44.1 kHz audio (median of {args.repeats}):",
    ]
    for what, r in ren.items():
        lines.append(f"  {what:7} library {r['library']:6.2f} s, procedural {r['procedural']:6.2f} s "
                     f"(library/procedural {r['library'] / r['procedural']:.2f}x; library backend: {r['backend']})")
    text = "\n".join(lines)
    print(text)
    if args.write:
        cmd = f".venv/bin/python bench/bench_library.py --files {args.files} --seconds {args.seconds:g} " \
              f"--repeats {args.repeats} --write"
        write_section("Sound library: indexing and rendering", f"`{cmd}`\n\n```\n{text}\n```\n")


if __name__ == "__main__":
    main()
