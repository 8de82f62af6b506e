"""Cost of one Prefect task run on the Dask cluster: stock prefect-dask against lvas's lean runner.

    .venv/bin/python bench/bench_tasks.py [--tasks 200] [--write]

Each mode runs in a fresh process (so nothing of tasks/lean.py leaks into the stock run) with the
same embedded Prefect server settings and a local 2-worker cluster, and maps a no-op task over
``--tasks`` inputs after a warm-up; reported is wall time per task, and for the subflow mode the
time of a trivial subflow called inside a task (what the design-refine subflow pays per video).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def noop(i: int) -> int:
    return i


def one_mode(mode: str, n: int) -> dict[str, float]:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from lvas.flows.runtime import orchestration
    from lvas.settings import RunSettings

    with orchestration(RunSettings(workers=2)) as (_, address):
        if mode == "stock":
            from prefect_dask import DaskTaskRunner

            runner = DaskTaskRunner(address=address)
        else:
            from lvas.flows.runtime import task_runner

            runner = task_runner(address)

        t_noop = task(noop, name="noop", cache_policy=NO_CACHE, persist_result=False)

        @flow(persist_result=False)
        def inner(i: int) -> int:
            return i

        def call_subflow(i: int) -> float:
            t = time.perf_counter()
            if mode == "stock":
                inner(i)
            else:
                from lvas.tasks.lean import without_heartbeats

                with without_heartbeats():
                    inner(i)
            return time.perf_counter() - t

        t_sub = task(call_subflow, name="subflow-caller", cache_policy=NO_CACHE, persist_result=False)

        @flow(task_runner=runner, persist_result=False)
        def bench() -> dict[str, float]:
            [f.result() for f in t_noop.map(range(4))]  # warm-up
            t0 = time.perf_counter()
            [f.result() for f in t_noop.map(range(n))]
            per_task = (time.perf_counter() - t0) / n
            subs = [f.result() for f in t_sub.map(range(20))]
            return {"task_ms": 1000 * per_task, "subflow_ms": 1000 * sum(subs) / len(subs)}

        return bench()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--mode", choices=("stock", "lean"), help=argparse.SUPPRESS)  # one mode, in-process
    args = ap.parse_args()
    if args.mode:
        print("RESULT " + json.dumps(one_mode(args.mode, args.tasks)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_LOGGING_LEVEL": "ERROR"}
    results = {}
    for mode in ("stock", "lean"):
        run = subprocess.run([sys.executable, __file__, "--mode", mode, "--tasks", str(args.tasks)], env=env,
                             capture_output=True, text=True, timeout=1800)
        line = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
        if not line:
            raise SystemExit(f"{mode} failed:\n{run.stdout[-2000:]}\n{run.stderr[-3000:]}")
        results[mode] = json.loads(line[-1][7:])
        print(mode, results[mode])
    s, lean = results["stock"], results["lean"]
    body = "\n".join([
        f"Command: `.venv/bin/python bench/bench_tasks.py --tasks {args.tasks} --write` (2-core machine; embedded "
        "Prefect server with the batched task-run recorder in both modes; 2 local Dask workers).",
        "",
        "| runner | wall ms per no-op task (2 workers) | trivial subflow inside a task, ms |",
        "|---|---|---|",
        f"| stock `prefect_dask.DaskTaskRunner` | {s['task_ms']:.0f} | {s['subflow_ms']:.0f} |",
        f"| lvas `LeanDaskTaskRunner` + shared TLS contexts + no subflow heartbeat | {lean['task_ms']:.0f} | "
        f"{lean['subflow_ms']:.0f} |",
        "",
        f"Ratio stock/lean: {s['task_ms'] / lean['task_ms']:.1f}x per task, "
        f"{s['subflow_ms'] / lean['subflow_ms']:.1f}x per subflow.",
    ])
    print(body)
    if args.write:
        from bench.results import write_section

        write_section("Prefect task cost", body)


if __name__ == "__main__":
    main()
