"""Does a Dask worker's memory grow with the number of Prefect task runs it has executed?

    .venv/bin/python bench/mem_tasks.py [--batches 6] [--tasks 200] [--subflows 20]

With the embedded server and 2 local workers (as `lvas dub` starts them), one flow runs
``--batches`` rounds of ``--tasks`` no-op tasks and of ``--subflows`` trivial subflows inside tasks
(what the design-refine subflow costs each video), and records each worker's RSS after every
round. No domain code runs, so what grows here is what the orchestration keeps per run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def workers_rss() -> dict[int, float]:
    """{pid: RSS MB} of this process's Dask worker processes (spawned by the nannies)."""
    from bench.measure import role, tree_rss

    return {pid: mb for pid, (cmd, mb) in tree_rss(os.getpid()).items() if role(cmd) == "worker"}


def noop(i: int) -> int:
    return i


def measure(batches: int, n_tasks: int, n_subflows: int) -> list[dict]:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from lvas.flows.runtime import orchestration, task_runner
    from lvas.settings import RunSettings

    rows: list[dict] = []
    with orchestration(RunSettings(workers=2)) as (_, address):
        # defined here, as bench/bench_tasks.py does: Dask then ships them by value
        t_noop = task(noop, name="noop", cache_policy=NO_CACHE, persist_result=False)

        @flow(persist_result=False)
        def inner(i: int) -> int:
            return i

        def call_subflow(i: int) -> int:
            return inner(i)

        t_sub = task(call_subflow, name="subflow-caller", cache_policy=NO_CACHE, persist_result=False)

        def sample(kind: str, done: int) -> None:
            for worker, mb in sorted(workers_rss().items()):
                rows.append({"kind": kind, "runs": done, "worker": worker, "rss_mb": mb})
            print(f"{kind:8s} after {done:5d} runs: " + " ".join(f"{r['rss_mb']:.0f}" for r in rows[-2:]) + " MB",
                  flush=True)

        @flow(task_runner=task_runner(address), persist_result=False)
        def probe() -> None:
            [f.result() for f in t_noop.map(range(8))]  # warm-up: imports, first clients
            sample("tasks", 0)
            for b in range(1, batches + 1):
                [f.result() for f in t_noop.map(range(n_tasks))]
                sample("tasks", b * n_tasks)
            [f.result() for f in t_sub.map(range(2))]
            sample("subflows", 0)
            for b in range(1, batches + 1):
                [f.result() for f in t_sub.map(range(n_subflows))]
                sample("subflows", b * n_subflows)

        probe()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=6)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--subflows", type=int, default=20)
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    rows = measure(args.batches, args.tasks, args.subflows)
    print("\n| runs of | per worker, after warm-up -> after all rounds (MB) | growth per 1000 runs (MB) |")
    print("|---|---|---|")
    for kind, per in (("tasks", args.tasks), ("subflows", args.subflows)):
        mine = [r for r in rows if r["kind"] == kind]
        spans = []
        for w in sorted({r["worker"] for r in mine}):
            first, last = (next(r for r in mine if r["worker"] == w and r["runs"] == x)
                           for x in (0, args.batches * per))
            spans.append((first["rss_mb"], last["rss_mb"]))
        growth = [1000 * (b - a) / (args.batches * per) for a, b in spans]
        print(f"| {args.batches * per} {'no-op tasks' if kind == 'tasks' else 'trivial subflows in tasks'} | "
              + ", ".join(f"{a:.0f} -> {b:.0f}" for a, b in spans) + " | "
              + ", ".join(f"{g:.1f}" for g in growth) + " |")


if __name__ == "__main__":
    main()
