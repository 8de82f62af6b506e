"""How busy a GPU is kept over a render stage of many short scenes: scenes rendered alone against
the scenes of each render task batched together.

    .venv/bin/python bench/bench_render_batch.py [--videos 24] [--latency 0.5] [--batch-cost 0.25] [--write]

Material: ``--videos`` generated clips of 3, 4.5 and 6 s in turn (two hard cuts each, so scenes of
1, 1.5 and 2 s), taken through the storyboard, script and design stages with the offline backends
once (bench/out/render-batch/base); the render stage renders their timed events (one file each; the
offline designer's events span their scene or a part of it, so several window lengths). Then the
render stage runs on copies of it, in this process, with the ``simulated-gpu`` synthesizer (a model
call holds a simulated GPU for ``--latency`` s plus ``--batch-cost`` of that per further window; the
CPU work around it is real: loading designs, the procedural audio, writing WAVs):

  alone    each scene by itself (``lvas.pipeline.render_videos`` of one scene): its events share
           calls, but no other scene's do;
  grouped  the render tasks the flow makes (``lvas.pipeline.scene_groups``, ``run.render_group_s``),
           each group's scenes together: equal windows share calls, frames of the next call are
           prepared and finished events written while the GPU runs; one task at a time, and two
           at a time (a GPU worker with two threads: one task's CPU work while the other's calls run).

Busy fraction: the simulated GPU's busy time over the stage's wall time (first group's start to
last group's end). The orchestration between tasks (Prefect + Dask, see bench_ops.py's ``gpu``
part) is not in it; a real GPU's figures need the device (bench/mmaudio_gpu.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ops import make_inputs  # noqa: E402
from bench.results import write_section  # noqa: E402
from lvas import pipeline  # noqa: E402
from lvas.discover import discover  # noqa: E402
from lvas.models import VideoRef  # noqa: E402
from lvas.render import synth_for  # noqa: E402
from lvas.settings import RunSettings, Settings, SynthSettings  # noqa: E402
from lvas.storage.layout import Layout  # noqa: E402
from lvas.storage.units import run_unit  # noqa: E402

WORK = ROOT / "bench" / "out" / "render-batch"
LENGTHS = (3.0, 4.5, 6.0)


def material(n: int) -> tuple[Layout, list[tuple[VideoRef, int, float]]]:
    """Designed scenes of ``n`` generated clips (made once); returns the layout and (video, scene,
    seconds) of every scene, in order."""
    from lvas.agents.artifacts import load_script
    from lvas.kb.store import LabelStore

    base, s = Layout(WORK / f"base-{n}"), Settings()
    src = WORK / f"videos-{n}"
    for length in LENGTHS:
        make_inputs(src / f"{length:g}s", len(range(LENGTHS.index(length), n, len(LENGTHS))), length)
    videos = discover([str(src)]).videos
    store = LabelStore.from_settings(s.kb, base.root)
    store.build()

    def retrieve(texts: dict[str, list[str]]) -> dict[str, dict[str, list[str]]]:
        return store.labels_by_layer(texts, k=s.agents.retrieve_k)

    counts = []
    for video in videos:
        unit = partial(run_unit, base, video_id=video.video_id, source=video.source)
        unit(stage="storyboard", key=pipeline.storyboard_key(video, s),
             work=partial(pipeline.storyboard_stage, base, video, s))
        done = unit(stage="script", key=pipeline.script_key(base, video, s),
                    work=partial(pipeline.script_stage, base, video, s))
        counts.append((video, int(done["scenes"])))
    failed = pipeline.design_videos(base, counts, s, retrieve)
    if failed:
        raise SystemExit(f"design failed: {failed}")
    for video, count in counts:
        pipeline.collect_designs(base, video, count)
    scenes = []
    for video, count in counts:
        script = load_script(base.script(video.video_id))
        scenes += [(video, i, script.scenes[i].duration_s) for i in range(count)]
    return base, scenes


def render(base: Layout, name: str, groups: list[list[tuple[VideoRef, int]]], s: Settings,
           threads: int = 1) -> dict[str, float]:
    """The render stage over ``groups`` (``threads`` at a time) on a copy of ``base``; wall, busy, calls,
    events."""
    out = WORK / name
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(base.root, out)
    layout = Layout(out)
    synth = synth_for(s.synth)
    synth.busy.clear()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:  # threads: render tasks a GPU worker runs at once
        results = list(pool.map(lambda group: pipeline.render_videos(layout, group, s), groups))
    wall = time.perf_counter() - start
    failed = {k: v for r in results for k, v in r.items()}
    if failed:
        raise SystemExit(f"{name}: {len(failed)} scenes failed, e.g. {next(iter(failed.values()))!r}")
    busy = sum(b - a for a, b in synth.busy)
    events = len(list(out.glob("videos/*/events/*.wav")))
    return {"wall": wall, "busy": busy, "calls": len(synth.busy), "events": events}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=24)
    ap.add_argument("--latency", type=float, default=0.5, help="simulated GPU seconds of a call of one window")
    ap.add_argument("--batch-cost", type=float, default=0.25, help="added per further window, as a fraction")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    base, scenes = material(args.videos)
    s = Settings(synth=SynthSettings(backend="simulated-gpu", simulated_latency_s=args.latency,
                                     simulated_batch_cost=args.batch_cost))
    alone = render(base, "alone", [[(v, i)] for v, i, _ in scenes], s)
    groups = pipeline.scene_groups(scenes, RunSettings().render_group_s)
    grouped = render(base, "grouped", groups, s)
    two = render(base, "grouped-2", groups, s, threads=2)
    rows = []
    for name, m in (("alone", alone), ("grouped", grouped), ("grouped, 2 tasks at once", two)):
        rows.append(f"| {name} | {m['events']:.0f} | {m['calls']:.0f} | {m['busy']:.1f} | {m['wall']:.1f} | "
                    f"{100 * m['busy'] / m['wall']:.0f}% |")
        print(rows[-1])
    command = (f".venv/bin/python bench/bench_render_batch.py --videos {args.videos} --latency {args.latency:g} "
               f"--batch-cost {args.batch_cost:g}")
    body = "\n".join([
        f"`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; 2-core machine shared with other "
        f"work). {len(scenes)} scenes of {args.videos} generated clips (scenes of 1, 1.5 and 2 s), "
        f"{len(groups)} render groups of >= {RunSettings().render_group_s:g} s; simulated-gpu synthesizer: "
        f"{args.latency:g} s a call of one window, +{args.batch_cost:g} of that per further window, batches of "
        f"at most {SynthSettings().batch_windows}.", "",
        "| render stage | events | GPU calls | GPU busy s | wall s | GPU busy |", "|---|---|---|---|---|---|",
        *rows, "",
        f"Grouped: {alone['wall'] / grouped['wall']:.1f}x faster, {alone['calls'] / max(grouped['calls'], 1):.1f}x "
        "fewer calls. The simulated GPU's time per window is an assumption, not a measurement; "
        "bench/mmaudio_gpu.py measures a real one's (batch of 8 against 8 single calls) on a device.", "",
        "One task at a time leaves the GPU idle while a group's designs are read and its last events are "
        "written; a second task's calls fill those gaps (target >= 90%).",
    ])
    if args.write:
        write_section("Render stage: scenes batched across a render task (simulated GPU)", body)
    print(body)


if __name__ == "__main__":
    main()
