"""The run's own Prefect server (lvas/flows/runtime.py): `prefect server start` in a subprocess, one
per run, seen by the flow process and the workers, stopped with the run however it stops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import json, sys
import psutil
from prefect import flow
from prefect.settings import get_current_settings
from lvas.flows.runtime import orchestration
from lvas.settings import RunSettings

def servers():
    return [p for p in psutil.Process().children(recursive=True) if "server start" in " ".join(p.cmdline())]

@flow(persist_result=False)
def trivial():
    return len(servers())

if __name__ == "__main__":
    before = get_current_settings().api.url
    with orchestration(RunSettings(workers=1)) as (api, address):
        inside = get_current_settings().api.url
        during_flow = trivial()
        server = [" ".join(p.cmdline()) for p in servers()]
    print("RESULT " + json.dumps({"before": before, "api": api, "inside": inside, "during_flow": during_flow,
                                 "server": server, "after": get_current_settings().api.url,
                                 "left": len(servers())}))
"""


def test_one_local_server_serves_the_flow_process_too(tmp_path: Path) -> None:
    """Prefect reads its settings at import, before the server's URL is known: the flow process must
    still use the one server started for the run, and stop it after."""
    script = tmp_path / "check.py"
    script.write_text(CHECK)
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "PREFECT_LOGGING_LEVEL": "ERROR"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, run.stdout[-2000:] + run.stderr[-4000:]
    got = json.loads(lines[-1][7:])
    assert got["before"] is None and got["after"] is None
    assert got["inside"] == got["api"]
    assert got["during_flow"] == 1, got["server"]
    assert "-m prefect server start --host 127.0.0.1" in got["server"][0]
    assert got["left"] == 0


def test_a_server_that_exits_is_reported_at_once_with_its_output() -> None:
    import time

    from lvas.errors import BackendUnavailable
    from lvas.flows.runtime import LocalPrefectServer

    server = LocalPrefectServer()
    server.process = subprocess.Popen([sys.executable, "-c", "print('no database here'); raise SystemExit(3)"],
                                      stdout=server.log, stderr=subprocess.STDOUT)
    t = time.monotonic()
    with pytest.raises(BackendUnavailable, match="exited with code 3:\n  no database here"):
        server.wait_healthy(timeout=60)
    assert time.monotonic() - t < 30
    server.stop()
    assert server.process is None


LAST_LOG = """
import sys, time
from prefect import flow, get_run_logger
from lvas.flows.runtime import prefect_api
from prefect.settings import PREFECT_API_URL, temporary_settings

@flow(persist_result=False)
def says_goodbye():
    get_run_logger().info("the flow's last words")

if __name__ == "__main__":
    with prefect_api() as (api, ready):
        ready()
        with temporary_settings(updates={PREFECT_API_URL: api}):
            says_goodbye()
    print("STOPPED", time.monotonic(), flush=True)
"""


def test_the_flows_last_logs_reach_the_server_before_it_stops(tmp_path: Path) -> None:
    """Prefect sends logs in batches: the flow's last ones must reach the server before it stops
    (otherwise they are lost, and the process retries a closed port at exit)."""
    import os
    import sqlite3
    import time

    script = tmp_path / "last_log.py"
    script.write_text(LAST_LOG)
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "PREFECT_LOGGING_LEVEL": "INFO"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    exited = time.monotonic()
    assert run.returncode == 0, run.stderr[-3000:]
    stopped = float(next(ln for ln in run.stdout.splitlines() if ln.startswith("STOPPED")).split()[1])
    assert exited - stopped < 15, f"{exited - stopped:.1f} s from the server's stop to the process's exit"
    assert "Error logging to API" not in run.stderr
    with sqlite3.connect(tmp_path / "home" / "prefect.db") as db:
        messages = [m for (m,) in db.execute("SELECT message FROM log")]
    assert "the flow's last words" in messages


def _dub_until_started(tmp_path: Path, name: str) -> tuple[subprocess.Popen, int, list[str]]:
    """`lvas dub` on a few clips in its own process, returned once its server and cluster run (the
    CLI's "Prefect API" line): the process, the embedded server's port, and the lines it printed."""
    import os
    import re
    import threading
    import time

    from tests.clips import colour_cuts, make_clip

    src = tmp_path / f"{name}-in"
    for i in range(6):
        make_clip(src / f"clip{i}.mp4", colour_cuts([1.0], seed=i), seconds=2.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "lvas.cli", "dub", str(src), "--out", str(tmp_path / f"{name}-out")],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # a process group of its own, as in a terminal
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()  # type: ignore[arg-type]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        found = [m for ln in list(lines) if (m := re.search(r"Prefect API http://127\.0\.0\.1:(\d+)/api", ln))]
        if found:
            return proc, int(found[0].group(1)), lines
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("lvas dub did not start: " + "".join(lines)[-3000:])


def _answers(port: int) -> bool:
    from tests.harness import listening

    return listening("127.0.0.1", port)


def _stops_answering(port: int, within: float) -> bool:
    import time

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _answers(port):
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_a_stopped_run_stops_its_server_and_cluster_at_once(tmp_path: Path, how: str) -> None:
    """Ctrl-C (SIGINT to the terminal's whole process group) and SIGTERM (`kill`, a scheduler's time
    limit) stop a run in seconds, its embedded server and cluster with it: exit status 130 and 143.
    Before, Ctrl-C reached the server too, which quit at once, and `lvas dub` then spent ~2 min
    retrying it, printing tracebacks (as did each Dask worker); SIGTERM ended `lvas dub` at once and
    left its server running, holding its port and Prefect's database. SIGKILL leaves the CLI no say:
    the server notices its parent is gone and stops itself."""
    import os
    import signal

    proc, port, lines = _dub_until_started(tmp_path, how)
    assert _answers(port)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    code = proc.wait(timeout=30)
    assert _stops_answering(port, within=15), f"the embedded server outlived the run ({how})"
    if how == "sigkill":
        return
    log = "".join(lines)
    assert code == {"ctrl-c": 130, "sigterm": 143}[how], log[-3000:]
    assert f"lvas: {'interrupted' if how == 'ctrl-c' else 'terminated'}; finished units are kept" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


def test_a_workers_heartbeat_to_a_stopping_scheduler_is_not_reported() -> None:
    """The local cluster's workers drop only that report (it carries a traceback), not others."""
    import logging

    from lvas.flows.runtime import SchedulerStopping

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("distributed.worker", logging.ERROR, __file__, 1, message, None, None)

    keep = SchedulerStopping().filter
    assert not keep(record("Failed to communicate with scheduler during heartbeat."))
    assert keep(record("Compute Failed"))
    assert keep(record("Worker stream died during communication"))
