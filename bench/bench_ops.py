"""Dataset-scale operation: orchestration overhead, memory against dataset size, GPU-slot occupancy.

    .venv/bin/python bench/bench_ops.py [--videos 100] [--seconds 3] [--write]

Generates N short synthetic videos (``--seconds`` long, 3 by default; two hard cuts each) and measures,
with the offline backends (a length other than 3 s has its own folder under bench/out and its own
section in bench/RESULTS.md):
  overhead  `lvas dub` (Prefect + Dask, 2 workers) against the same stage functions without an
            orchestrator (bench/direct.py) in two processes that split the videos; overhead is the rest
            of the flow's wall time (startup included), as a fraction and per scene. Also shown against
            direct/2, one process's time halved (the ideal the two processes do not reach either).
  attached  `lvas dub --dask-address` with PREFECT_API_URL, against a server and cluster already running
            (started and warmed once by the benchmark): the same comparison without the per-run start-up.
  turns     (only with --parts turns) direct in 2 processes, `lvas dub`, `lvas dub` with
            PREFECT_API_URL set to a running server (its own local cluster, as scheduled runs by
            default), and `lvas dub` attached, one after the other, --turns times: the same
            comparisons with each round in one machine state (this machine's speed changes by up to
            50% within an hour); each run is also split, from its status records, into start-up
            (launch to first unit) and the units' span, and the spans are compared (the
            steady-state overhead).
  memory    peak RSS and PSS of the whole process tree for N/4, N/2 and N videos (flat =
            orchestration keeps no per-video state).
  gpu       `--gpu-workers 1` with the simulated-gpu synthesizer (fixed latency, GPU-placed): the
            fraction of the rendering span during which the GPU slot runs a render.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import (  # noqa: E402
    DIRECT,
    LVAS,
    Measured,
    cpu_ticks,
    link,
    run_attached,
    run_measured,
    standing,
    subset,
    tree_pss,
    units,
)
from bench.results import write_section  # noqa: E402
from lvas.storage.layout import Layout  # noqa: E402
from lvas.storage.status import collect  # noqa: E402
from tests.clips import colour_cuts, make_clip  # noqa: E402

CAPTION = {"background": "a rainy city street", "entity": "a car", "action": "a car drives past",
           "summary": "a car drives past on a rainy city street"}


def make_inputs(folder: Path, n: int, seconds: float = 3.0) -> Path:
    """N clips of ``seconds`` with two hard cuts (at a third and two thirds), each with a sidecar
    caption that gives every scene a foreground and a background, so every render task has layers
    to render (the GPU-slot measure needs that)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    cuts = [seconds / 3, 2 * seconds / 3]
    for i in range(n):
        p = folder / f"v{i:04d}.mp4"
        if not p.exists():
            make_clip(p, colour_cuts(cuts, size=(160, 90), seed=i), seconds=seconds, size=(160, 90))
        side = p.with_name(p.stem + ".captions.json")
        if not side.exists():
            side.write_text(json.dumps({"segments": [{"start": 0.0, "end": seconds, "caption": CAPTION}]}))
    return folder


def scenes(out: Path) -> int:
    return sum(1 for r in collect(Layout(out)) if r.stage == "render" and r.state == "completed")


def gpu_busy(out: Path) -> tuple[float, float, int]:
    recs = [r for r in collect(Layout(out)) if r.stage == "render" and r.state == "completed"]
    if not recs:
        return 0.0, 0.0, 0
    span = max(r.finished_at for r in recs) - min(r.started_at for r in recs)
    busy = sum(r.duration_s for r in recs)
    return busy / span, span, len(recs)


def overhead(src: Path, work: Path, env: dict[str, str]) -> tuple[Measured, Measured, list[str]]:
    """`lvas dub` on all videos against the direct reference in one and in two processes."""
    flow = run_measured([LVAS, "dub", str(src), "--out", str(work / "out-flow")], env=env)
    direct = run_measured([*DIRECT, str(src), str(work / "out-direct")], env=env)
    direct2 = run_measured([*DIRECT, str(src), str(work / "out-direct2"), "--procs", "2"], env=env)
    for d in (direct, direct2):
        if d.returncode != 0:
            raise SystemExit(f"direct failed:\n{d.output[-3000:]}")
    outcome = [ln for ln in flow.output.splitlines() if "videos done" in ln]
    n_scenes, n_direct, n_direct2 = (scenes(work / d) for d in ("out-flow", "out-direct", "out-direct2"))
    over, over_half = flow.seconds - direct2.seconds, flow.seconds - direct.seconds / 2
    cpu_over = flow.cpu_s - direct2.cpu_s
    lines = [
        "| run | wall s | CPU s | steal | peak RSS MB | peak PSS MB | scenes |", "|---|---|---|---|---|---|---|",
        *(f"| {name} | {m.seconds:.1f} | {m.cpu_s:.1f} | {100 * m.steal:.0f}% | {m.peak_rss_mb:.0f} | "
          f"{m.peak_pss_mb:.0f} | {n} |"
          for name, m, n in (("flow, 2 workers", flow, n_scenes), ("direct, 2 processes", direct2, n_direct2),
                             ("direct, 1 process", direct, n_direct))),
        "",
        f"Orchestration overhead: flow - direct in 2 processes = {over:.1f} s = {100 * over / flow.seconds:.0f}% "
        f"of the flow's wall time, {1000 * over / max(1, n_scenes):.0f} ms per scene (flow/direct-2 ratio "
        f"{flow.seconds / direct2.seconds:.2f}). Against the ideal direct/2 (one process, halved): "
        f"{over_half:.1f} s = {100 * over_half / flow.seconds:.0f}%, {1000 * over_half / max(1, n_scenes):.0f} ms "
        f"per scene. CPU (user + system, whole process tree): the flow used {cpu_over:.1f} s = "
        f"{100 * cpu_over / flow.cpu_s:.0f}% of its {flow.cpu_s:.1f} s more than direct in 2 processes, "
        f"{1000 * cpu_over / max(1, n_scenes):.0f} ms per scene. Flow outcome: "
        f"{outcome[-1] if outcome else flow.returncode}.",
        "",
    ]
    print("\n".join(lines))
    return flow, direct2, lines


def attached(src: Path, work: Path, direct2: Measured) -> list[str]:
    """`lvas dub` attached to a Prefect server and a Dask cluster that are already running and warm
    (how scheduled dubbing runs: `make ui`, a standing cluster): each run's start-up left out."""
    with standing(src, work, "attached") as (dub, env):
        m = run_attached([*dub, str(work / "out-attached"), str(src)], env=env)
    if m.returncode:
        raise SystemExit(f"attached run failed:\n{m.output[-3000:]}")
    n_scenes = scenes(work / "out-attached")
    over = m.seconds - direct2.seconds
    lines = [
        f"Attached to a running server and cluster (started once by the benchmark, warmed by a 4-video run): "
        f"`lvas dub --dask-address` with `PREFECT_API_URL` took {m.seconds:.1f} s for {n_scenes} scenes; against "
        f"direct in 2 processes ({direct2.seconds:.1f} s, above): {over:.1f} s = {100 * over / m.seconds:.0f}% of "
        f"the wall time, {1000 * over / max(1, n_scenes):.0f} ms per scene. CPU, the standing server and "
        f"cluster included: {m.cpu_s:.1f} s against {direct2.cpu_s:.1f} s "
        f"({100 * (m.cpu_s - direct2.cpu_s) / m.cpu_s:.0f}% more). The hypervisor took {100 * m.steal:.0f}% of the "
        f"machine's CPU during it ({100 * direct2.steal:.0f}% during direct).",
        "",
    ]
    print("\n".join(lines))
    return lines


def turns(src: Path, work: Path, env: dict[str, str], rounds: int) -> list[str]:
    """Direct in 2 processes, `lvas dub`, `lvas dub` with a running Prefect server (its own local
    cluster, as `make serve`'s scheduled runs by default) and `lvas dub` attached to a running server
    and cluster, in turns: ``rounds`` rounds. The standing server and cluster idle during the others.

    Besides each run's wall time, its status records split it: start-up (launch to the first unit's
    start: imports, and for `lvas dub` the embedded server and cluster) and the units' span (first
    unit start to last unit end). The steady-state overhead compares the units' spans."""
    rows, spans, cpus = [], [], []
    names = ("direct2", "flow", "server", "attached")
    with standing(src, work, "turns") as (dub, attached_env):
        server_env = {**env, "PREFECT_API_URL": attached_env["PREFECT_API_URL"]}
        for r in range(1, rounds + 1):  # new folders each round
            outs = [work / f"out-turns{r}-{name}" for name in names]
            runs = [run_measured([*DIRECT, str(src), str(outs[0]), "--procs", "2"], env=env),
                    run_measured([LVAS, "dub", str(src), "--out", str(outs[1])], env=env),
                    run_attached([LVAS, "dub", str(src), "--out", str(outs[2])], server_env),
                    run_attached([*dub, str(outs[3]), str(src)], attached_env)]
            if any(m.returncode for m in runs):
                raise SystemExit("a run in turns failed:\n" + "".join(m.output[-1500:] for m in runs))
            d2, *others = runs
            rows.append(f"| {r} | {d2.seconds:.1f} | "
                        + " | ".join(f"{m.seconds:.1f} ({100 * (m.seconds - d2.seconds) / m.seconds:.0f}%)"
                                     for m in others) + " |")
            print(rows[-1], flush=True)
            split = []  # (start-up, units' span) of each run
            for m, out in zip(runs, outs, strict=True):
                first, last = units(out)
                split.append((first - m.started, last - first))
            d_span = split[0][1]
            spans.append(f"| {r} | {split[0][0]:.1f} / {d_span:.1f} | "
                         + " | ".join(f"{start:.1f} / {span:.1f} ({100 * (span - d_span) / span:.0f}%)"
                                      for start, span in split[1:]) + " |")
            print(spans[-1], flush=True)
            cpus.append(f"| {r} | {d2.cpu_s:.1f} | "
                        + " | ".join(f"{m.cpu_s:.1f} ({100 * (m.cpu_s - d2.cpu_s) / m.cpu_s:.0f}%)" for m in others)
                        + " | " + " / ".join(f"{100 * m.steal:.0f}%" for m in runs) + " |")
            print(cpus[-1], flush=True)
    heads = "| round | direct, 2 processes{} | flow{} | server running{} | attached{} |"
    return ["In turns (each round: direct in 2 processes; `lvas dub`; `lvas dub` with `PREFECT_API_URL` set to a "
            "running server, its own local cluster; `lvas dub` attached to a running server and cluster; "
            "overhead against that round's direct):", "",
            heads.format(" s", " s (overhead)", " s (overhead)", " s (overhead)"), "|---|---|---|---|---|",
            *rows, "",
            "The same runs split by their status records: start-up (launch to the first unit's start) / the "
            "units' span (first unit start to last unit end), in s; the steady-state overhead compares the "
            "units' spans with direct's:", "",
            heads.format("", *[" (steady-state overhead)"] * 3), "|---|---|---|---|---|", *spans, "",
            "CPU seconds (user + system) of each run's process tree; with a running server or cluster: with "
            "what the standing server and cluster used meanwhile. The share is the CPU the run used beyond "
            "direct's. Steal: the share of the machine's CPU time the hypervisor took during each run (direct "
            "/ flow / server running / attached):", "",
            "| round | direct, 2 processes | flow | server running | attached | steal |",
            "|---|---|---|---|---|---|", *cpus, ""]


SERVED = ("kept", "per-run")  # the LVAS_CLUSTER modes of `make serve`


@contextlib.contextmanager
def serving(src: Path, work: Path, env: dict[str, str]) -> Iterator[tuple[str, dict[str, subprocess.Popen]]]:
    """A Prefect server (as `make ui` starts, without the UI) and one `deployments/serve.py` per
    cluster mode, each its own deployment over ``src`` into ``out-serve-<mode>``, polling every
    second. Yields the API URL and the serving processes, once each polls; each is stopped after.
    The server's database is the benchmark's own (``work/prefect-home``): the deployments it
    registers stay out of the user's Prefect database."""
    from lvas.flows.runtime import LOCAL_SERVER_ENV, LocalPrefectServer

    server_env = {**LOCAL_SERVER_ENV, "PREFECT_HOME": str(work / "prefect-home")}
    old = {k: os.environ.get(k) for k in server_env}
    os.environ.update(server_env)
    server = LocalPrefectServer()
    server.launch()
    procs: dict[str, subprocess.Popen] = {}
    try:
        server.wait_healthy(timeout=120)
        for mode in SERVED:
            t0 = time.perf_counter()
            procs[mode] = subprocess.Popen(
                [sys.executable, str(ROOT / "deployments" / "serve.py")], text=True, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
                env={**env, **server_env, "PREFECT_API_URL": server.api_url, "LVAS_SOURCES": str(src),
                     "LVAS_OUT": str(work / f"out-serve-{mode}"), "LVAS_CRON": "0 2 1 1 *", "LVAS_CLUSTER": mode,
                     "LVAS_DEPLOYMENT": mode, "PREFECT_RUNNER_POLL_FREQUENCY": "1"})
            for line in procs[mode].stdout:  # type: ignore[union-attr]
                if "polling for scheduled runs" in line:
                    break
            else:
                raise SystemExit(f"deployments/serve.py (LVAS_CLUSTER={mode}) did not start serving")
            threading.Thread(target=procs[mode].communicate, daemon=True).start()  # keep its pipe drained
            print(f"serve, LVAS_CLUSTER={mode}: serving after {time.perf_counter() - t0:.1f} s", flush=True)
        yield server.api_url, procs
    finally:
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v


@dataclass
class Served:
    seconds: float  # from the run's Pending state (its process is started) to its final state
    peak_pss_mb: float  # of the serving process's tree during the run, sampled every 2 s
    steal: float  # the share of the machine's CPU the hypervisor took meanwhile
    pending: float  # epoch seconds of the Pending state


def run_served(api: str, deployment: str, proc: subprocess.Popen) -> Served:
    """Run ``deployment`` now (as its schedule would) and wait for it to end."""
    import asyncio

    from prefect.client.orchestration import PrefectClient

    async def run() -> Served:
        peak, ticks = 0.0, cpu_ticks()
        async with PrefectClient(api) as client:
            d = await client.read_deployment_by_name(f"scheduled-dub/{deployment}")
            fr = await client.create_flow_run_from_deployment(d.id)
            while not (state := (await client.read_flow_run(fr.id)).state) or not state.is_final():
                peak = max(peak, tree_pss(proc.pid))
                await asyncio.sleep(2)
            if not state.is_completed():
                raise SystemExit(f"the served run ({deployment}) ended {state.type.value}: {state.message}")
            states = {s.type.value: s.timestamp for s in await client.read_flow_run_states(fr.id)}
        (steal1, total1), (steal0, total0) = cpu_ticks(), ticks
        seconds = (states[state.type.value] - states["PENDING"]).total_seconds()
        return Served(seconds, peak, (steal1 - steal0) / (total1 - total0), states["PENDING"].timestamp())

    return asyncio.run(run())


def split(out: Path, since: float, seconds: float) -> str:
    """The run that started at ``since`` and lasted ``seconds``, split by its status records in ``out``
    (those of units started after ``since``): "start-up / units' span / end", in s."""
    recs = [r for r in collect(Layout(out)) if r.started_at >= since]
    first, last = min(r.started_at for r in recs), max(r.finished_at for r in recs)
    return f"{first - since:.1f} / {last - first:.1f} / {since + seconds - last:.1f}"


def scheduled(src: Path, work: Path, env: dict[str, str], batches: int) -> list[str]:
    """`make serve`'s scheduled runs on a dataset that grows: the videos of ``src`` arrive in
    ``batches`` equal batches. After each arrival: direct in 2 processes on the new batch, then a run of
    each served deployment (LVAS_CLUSTER=kept: one warm local cluster for all runs; per-run: a cluster
    started and stopped by each run), which finds the new videos among all and dubs only them."""
    videos = sorted(src.glob("*.mp4"))
    incoming = work / "incoming"
    incoming.mkdir()
    size = -(-len(videos) // batches)
    rows, splits = [], []
    with serving(incoming, work, env) as (api, procs):
        for b in range(batches):
            batch = link(videos[b * size:(b + 1) * size], work / f"batch{b}")
            link(videos[b * size:(b + 1) * size], incoming)
            n = len(list(batch.glob("*.mp4")))
            d2 = run_measured([*DIRECT, str(batch), str(work / f"out-batch{b}-direct2"), "--procs", "2"], env=env)
            if d2.returncode:
                raise SystemExit(f"direct failed:\n{d2.output[-3000:]}")
            served = [run_served(api, mode, procs[mode]) for mode in SERVED]
            n_scenes = scenes(work / f"out-batch{b}-direct2")
            cells = [f"{r.seconds:.1f} ({100 * (r.seconds - d2.seconds) / r.seconds:.0f}%, "
                     f"{1000 * (r.seconds - d2.seconds) / max(1, n_scenes):.0f} ms/scene)" for r in served]
            cells.append(" / ".join(f"{r.peak_pss_mb:.0f}" for r in served))
            cells.append(" / ".join(f"{100 * x:.0f}%" for x in (d2.steal, *(r.steal for r in served))))
            rows.append(f"| {b + 1} | {n} | {n_scenes} | {d2.seconds:.1f} | " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
            splits.append(f"| {b + 1} | {split(work / f'out-batch{b}-direct2', d2.started, d2.seconds)} | "
                          + " | ".join(split(work / f"out-serve-{mode}", r.pending, r.seconds)
                                       for mode, r in zip(SERVED, served, strict=True)) + " |")
            print(splits[-1], flush=True)
    for mode in SERVED:
        done = {r.video_id for r in collect(Layout(work / f"out-serve-{mode}")) if r.stage == "mix"
                and r.state == "completed"}
        if len(done) != len(videos):
            raise SystemExit(f"the served runs ({mode}) dubbed {len(done)} of {len(videos)} videos")
    return [f"Scheduled runs (`deployments/serve.py`, as `make serve`, against a running Prefect server; the "
            f"{len(videos)} videos arrive in {batches} batches, each followed by direct in 2 processes on the new "
            "batch and a run of each served deployment, which dubs only the new videos). A run's time: from its "
            "Pending state (the serving process starts the run's process) to its end, from the Prefect API. "
            "Overhead against direct on the same batch. PSS: the peak of each serving process's tree during its "
            "run (the kept cluster's processes are in it between runs too). Steal: the share of the machine's CPU "
            "the hypervisor took during each run (direct / kept / per-run):", "",
            "| run | new videos | scenes | direct, 2 processes s | LVAS_CLUSTER=kept s (overhead) | "
            "LVAS_CLUSTER=per-run s (overhead) | peak PSS MB (kept / per-run) | steal |",
            "|---|---|---|---|---|---|---|---|",
            *rows, "",
            "The same runs split by their status records: start-up (launch, or Pending, to the first unit's "
            "start) / the units' span (to the last unit's end) / the end (to the run's end), in s:", "",
            "| run | direct, 2 processes | LVAS_CLUSTER=kept | LVAS_CLUSTER=per-run |", "|---|---|---|---|",
            *splits, ""]


def memory(src: Path, work: Path, env: dict[str, str], videos: int, full: Measured | None) -> list[str]:
    """Peak RSS and PSS of the process tree for a quarter, a half and all of the videos (all: from
    the overhead run when there was one)."""
    lines = ["| videos | flow wall s | peak RSS MB | peak PSS MB |", "|---|---|---|---|"]
    for n in sorted({max(1, videos // 4), max(1, videos // 2)} | ({videos} if full is None else set())):
        m = run_measured([LVAS, "dub", str(subset(src, work / f"sub{n}", n)), "--out", str(work / f"out-mem{n}")],
                         env=env)
        lines.append(f"| {n} | {m.seconds:.1f} | {m.peak_rss_mb:.0f} | {m.peak_pss_mb:.0f} |")
        print(lines[-1])
    if full is not None:
        lines.append(f"| {videos} | {full.seconds:.1f} | {full.peak_rss_mb:.0f} | {full.peak_pss_mb:.0f} |")
    return [*lines, ""]


def gpu(src: Path, work: Path, env: dict[str, str], n: int, latency: float) -> list[str]:
    """One GPU worker (declaring GPU=1) + 2 CPU workers; the simulated-gpu synthesizer holds the slot."""
    genv = {**env, "LVAS_SYNTH__BACKEND": "simulated-gpu", "LVAS_SYNTH__SIMULATED_LATENCY_S": str(latency)}
    g = run_measured([LVAS, "dub", str(subset(src, work / f"sub{n}", n)), "--out", str(work / "out-gpu"),
                      "--gpu-workers", "1"], env=genv)
    frac, span, renders = gpu_busy(work / "out-gpu")
    events = len(list((work / "out-gpu").glob("videos/*/events/*.wav")))
    line = (f"GPU slot ({n} videos, {renders} scenes rendered, {events} events, simulated calls of {latency:.1f} s "
            "a window (batched per render task), 1 GPU worker + "
            f"2 CPU workers; run wall {g.seconds:.0f} s): busy {100 * frac:.0f}% of the {span:.1f} s rendering span "
            "(first render start to last render end).")
    print(line)
    return [line]


PARTS = "overhead,attached,scheduled,memory,gpu"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.5, help="simulated GPU seconds of a call of one window")
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--parts", default=PARTS,
                    help="comma-separated subset to run (attached needs overhead; turns is extra)")
    ap.add_argument("--turns", type=int, default=2, help="rounds of the turns part")
    ap.add_argument("--batches", type=int, default=2, help="batches the videos arrive in (scheduled part)")
    ap.add_argument("--seconds", type=float, default=3.0,
                    help="length of each generated video (VGGSound's clips, the kind of dataset dubbed, are 10 s)")
    args = ap.parse_args()
    parts = set(args.parts.split(","))
    length = "" if args.seconds == 3.0 else f"-{args.seconds:g}s"
    work = ROOT / "bench" / "out" / f"ops{length}"
    for d in [*work.glob("out-*"), *work.glob("batch*"), work / "incoming", work / "prefect-home"]:
        shutil.rmtree(d, ignore_errors=True)
    src = make_inputs(work / "videos", args.videos, args.seconds)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = [f"Inputs: {args.videos} generated videos, {args.seconds:g} s each, 160x90, two hard cuts, each with a "
             "sidecar caption (a car on a rainy street); offline backends; 2-core machine.", ""]

    flow = None
    videos = subset(src, work / f"sub{args.videos}", args.videos)
    if "overhead" in parts:
        flow, direct2, more = overhead(videos, work, env)
        lines += more
        if "attached" in parts:
            lines += attached(videos, work, direct2)
    if "turns" in parts:
        lines += turns(videos, work, env, args.turns)
    if "scheduled" in parts:
        lines += scheduled(videos, work, env, args.batches)
    if "memory" in parts:
        lines += memory(src, work, env, args.videos, flow)
    if "gpu" in parts:
        lines += gpu(src, work, env, max(1, args.videos // 2), args.latency)
    command = f"--videos {args.videos}"  # the command as given (a partial or unwritten run says so)
    command += "" if args.parts == PARTS else f" --parts {args.parts}"
    command += f" --turns {args.turns}" if "turns" in parts else ""
    command += f" --batches {args.batches}" if "scheduled" in parts and args.batches != 2 else ""
    command += " --write" if args.write else ""
    command += f" --seconds {args.seconds:g}" if length else ""
    body = f"Command: `.venv/bin/python bench/bench_ops.py {command}`\n\n" + "\n".join(lines)
    print(body)
    if args.write and parts == set(PARTS.split(",")):
        write_section("Dataset-scale operation" + (f", {args.seconds:g} s clips" if length else ""), body)


if __name__ == "__main__":
    main()
