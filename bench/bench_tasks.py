"""Cost of one Prefect task run on the Dask cluster, against a plain Dask submit in the same run.

    .venv/bin/python bench/bench_tasks.py [--tasks 200] [--write]

With the run's own Prefect server and a local 2-worker cluster (as `lvas dub` starts them), maps a
no-op over ``--tasks`` inputs as plain Dask futures and as Prefect tasks on prefect-dask's
DaskTaskRunner, after a warm-up; and times a trivial subflow called inside a task (what the
design-refine subflow pays per batch). Reported: wall ms per task and per subflow.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench.results


def noop(i: int) -> int:
    return i


def measure(n: int) -> dict[str, float]:
    from distributed import Client
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE

    from lvas.flows.runtime import orchestration, task_runner
    from lvas.settings import RunSettings

    with orchestration(RunSettings(workers=2)) as (_, address):
        with Client(address) as client:
            client.gather(client.map(noop, range(4), pure=False))
            t0 = time.perf_counter()
            client.gather(client.map(noop, range(n), pure=False))
            dask_ms = 1000 * (time.perf_counter() - t0) / n

        t_noop = task(noop, name="noop", cache_policy=NO_CACHE, persist_result=False)

        @flow(persist_result=False)
        def inner(i: int) -> int:
            return i

        def call_subflow(i: int) -> float:
            t = time.perf_counter()
            inner(i)
            return time.perf_counter() - t

        def call_subflow_quiet(i: int) -> float:  # as lvas's design task calls its subflow
            from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

            t = time.perf_counter()
            with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
                inner(i)
            return time.perf_counter() - t

        t_sub = task(call_subflow, name="subflow-caller", cache_policy=NO_CACHE, persist_result=False)
        t_quiet = task(call_subflow_quiet, name="quiet-subflow-caller", cache_policy=NO_CACHE, persist_result=False)

        @flow(task_runner=task_runner(address), persist_result=False)
        def bench() -> dict[str, float]:
            [f.result() for f in t_noop.map(range(4))]  # warm-up
            t0 = time.perf_counter()
            [f.result() for f in t_noop.map(range(n))]
            per_task = (time.perf_counter() - t0) / n
            subs = [f.result() for f in t_sub.map(range(20))]
            quiet = [f.result() for f in t_quiet.map(range(20))]
            return {"task_ms": 1000 * per_task, "subflow_ms": 1000 * sum(subs) / len(subs),
                    "quiet_ms": 1000 * sum(quiet) / len(quiet)}

        return {"dask_ms": dask_ms, **bench()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
    r = measure(args.tasks)
    body = "\n".join([
        f"Command: `.venv/bin/python bench/bench_tasks.py --tasks {args.tasks} --write` (the run's own Prefect "
        "server, 2 local Dask workers).",
        "",
        "| what | wall ms per call |",
        "|---|---|",
        f"| plain Dask `client.map` no-op | {r['dask_ms']:.1f} |",
        f"| Prefect task on `prefect_dask.DaskTaskRunner`, no-op | {r['task_ms']:.0f} |",
        f"| trivial subflow called inside a task | {r['subflow_ms']:.0f} |",
        f"| the same without its own heartbeat thread (as the design task calls design-refine) | "
        f"{r['quiet_ms']:.0f} |",
        "",
        f"A Prefect task run costs {r['task_ms'] / r['dask_ms']:.0f}x a plain Dask call: lvas makes its tasks "
        "coarse (batches of videos, groups of scenes) so that this stays small beside the work.",
    ])
    print(body)
    if args.write:
        from bench.results import write_section

        write_section("Prefect task cost", body)


if __name__ == "__main__":
    main()
