"""Wall time and peak memory of a command's whole process tree (Dask workers and servers included)."""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

# The reference the flow is compared with: bench/direct.py, the same stage functions without an
# orchestrator (`DIRECT + [SRC, OUT]`: serially in one process; `+ ["--procs", "2"]`: two processes).
DIRECT = [sys.executable, str(Path(__file__).with_name("direct.py"))]
ROOT = Path(__file__).resolve().parents[1]
LVAS = str(ROOT / ".venv" / "bin" / "lvas")  # the command a user runs


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str
    started: float = 0.0  # epoch seconds at launch, to place the run's status records in it
    # the tree's proportional set size: pages shared between processes (the local cluster's
    # workers are forked from one fork server) counted once, not in each process's RSS
    peak_pss_mb: float = 0.0
    # CPU seconds (user + system) of the whole tree. On this VM the hypervisor takes 0-60% of the
    # CPU from one minute to the next (vmstat's "st"), which moves wall times by up to 2.5x.
    cpu_s: float = 0.0
    steal: float = 0.0  # the share of the machine's CPU time the hypervisor took during the run


def units(out: Path) -> tuple[float, float]:
    """(first unit start, last unit end) in epoch seconds, from a run's status records."""
    from lvas.storage.layout import Layout
    from lvas.storage.status import collect

    recs = collect(Layout(out))
    return min(r.started_at for r in recs), max(r.finished_at for r in recs)


def run_measured(cmd: list[str], env: dict[str, str] | None = None, every: float = 0.2,
                 pss_every: float = 2.0) -> Measured:
    """Run ``cmd``; sample the summed RSS of it and all its descendants every ``every`` s, their
    summed PSS every ``pss_every`` s.

    A PSS reading costs ~5.5 ms of CPU per process (the kernel walks the process's page tables for
    /proc/PID/smaps_rollup), an RSS reading ~0.05 ms: reading PSS every 0.2 s took ~16% of a core
    next to the 6 processes of an `lvas dub` run and ~8% next to 2 direct processes, on the 2
    cores the measured runs share (bench/RESULTS.md)."""
    started, t0, cpu0, ticks0 = time.time(), time.perf_counter(), children_cpu(), cpu_ticks()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    peak = peak_pss = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        next_pss = 0.0
        while not stop.is_set():
            peak = max(peak, sum(mb for _, mb in tree_rss(proc.pid).values()))
            if time.perf_counter() >= next_pss:
                peak_pss = max(peak_pss, tree_pss(proc.pid))
                next_pss = time.perf_counter() + pss_every
            stop.wait(every)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, _ = proc.communicate()
    stop.set()
    t.join()
    (steal1, total1), (steal0, total0) = cpu_ticks(), ticks0
    return Measured(time.perf_counter() - t0, peak, proc.returncode, out, started, peak_pss, children_cpu() - cpu0,
                    (steal1 - steal0) / max(1, total1 - total0))


def cpu_ticks() -> tuple[int, int]:
    """(stolen, all) CPU time of the machine since boot, in clock ticks, from /proc/stat (its fields:
    user nice system idle iowait irq softirq steal ...; guest time is already in user)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return fields[7], sum(fields)


def children_cpu() -> float:
    """CPU seconds of this process's descendants that ended and were waited for: a command's whole
    tree once it returned (each process waits for its own children: `lvas dub` for its server and
    fork server, the fork server for the workers it forked)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def tree_cpu(pid: int) -> float:
    """CPU seconds so far of a running process and all its running descendants; vanished ones left out."""
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def role(cmd: str) -> str:
    """What a process of an `lvas dub` run is, from its command line."""
    if "uvicorn" in cmd or "prefect server start" in cmd:
        return "server"
    if "spawn_main" in cmd or cmd.endswith(FORKED):  # the nannies' worker processes, spawned or forked
        return "worker"
    if FORK_SERVER in cmd:
        return "forkserver"
    return "flow" if "lvas" in cmd and " dub " in cmd else "other"


def tree_rss(pid: int) -> dict[int, tuple[str, float]]:
    """{pid: (command line, RSS in MB)} of a process and all its descendants; vanished ones left out.
    A process forked by multiprocessing's fork server has the server's command line; it is marked."""
    out = {}
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):  # a process that just ended
            out[p.pid] = (" ".join(p.cmdline()), p.memory_info().rss / 2**20, p.ppid())
    return {pid: (cmd + FORKED if FORK_SERVER in cmd and FORK_SERVER in out.get(ppid, ("",))[0] else cmd, mb)
            for pid, (cmd, mb, ppid) in out.items()}


FORK_SERVER = "multiprocessing.forkserver"
FORKED = " [forked]"


def tree_pss(pid: int) -> float:
    """Summed proportional set size (MB) of a process and all its descendants."""
    total = 0.0
    for p in _tree(pid):
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss / 2**20
    return total


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def subset(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` videos of ``src`` (and their sidecar captions) in ``dst``, as hard links."""
    return link(sorted(src.glob("*.mp4"))[:n], dst)


def link(videos: list[Path], dst: Path) -> Path:
    """Hard links to ``videos`` and their sidecar captions in ``dst``."""
    dst.mkdir(parents=True, exist_ok=True)
    for p in videos:
        for f in (p, p.with_name(p.stem + ".captions.json")):
            if f.exists() and not (dst / f.name).exists():
                os.link(f, dst / f.name)
    return dst


@contextlib.contextmanager
def standing(src: Path, work: Path, name: str,
             warm_on: Path | None = None) -> Iterator[tuple[list[str], dict[str, str]]]:
    """A Prefect server and a Dask cluster started once (the same server and 2 workers `lvas dub`
    starts) and warmed by a run over ``warm_on`` (by default 4 of the videos of ``src``) into
    ``out-<name>-warm``: yields the `lvas dub` command attached to them, up to ``--out``, and its
    environment. Their CPU is :func:`standing_cpu`."""
    from lvas.flows.runtime import orchestration
    from lvas.settings import RunSettings

    with orchestration(RunSettings()) as (api, address):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PREFECT_API_URL": api}
        dub = [LVAS, "dub", "--dask-address", address, "--out"]
        warm_on = warm_on or subset(src, work / "sub4", 4)
        warm = run_measured([*dub, str(work / f"out-{name}-warm"), str(warm_on)], env=env)
        if warm.returncode:
            raise SystemExit(f"the warm-up run of the standing cluster failed:\n{warm.output[-3000:]}")
        yield dub, env


def standing_cpu() -> float:
    """CPU seconds so far of this process (where the standing cluster's scheduler runs) and of its
    running descendants (the standing server and workers): what an attached run also costs."""
    return tree_cpu(os.getpid())


def run_attached(cmd: list[str], env: dict[str, str]) -> Measured:
    """An attached `lvas dub`, its CPU counting what the standing server and cluster used meanwhile."""
    before = standing_cpu()
    m = run_measured(cmd, env=env)
    m.cpu_s += standing_cpu() - before
    return m
