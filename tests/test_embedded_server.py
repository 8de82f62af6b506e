"""The embedded Prefect server (flows/runtime.py, flows/server_app.py): one server per run, seen by
the flow process too, and SQLite write conflicts that wait instead of costing clients 2 s back-offs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lvas.flows.server_app import (
    RETRY_AFTER_S,
    SQLITE_CACHE_KIB,
    RetrySoonOn503,
    _bounded_sqlite_cache,
    _immediate_sqlite_transactions,
)

ROOT = Path(__file__).resolve().parents[1]


def _call(app, status: int, headers: list[tuple[bytes, bytes]]) -> list[dict]:
    async def inner(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(inner)({"type": "http"}, None, send))
    return sent


def test_503_answers_tell_clients_to_retry_soon() -> None:
    start = _call(RetrySoonOn503, 503, [(b"content-type", b"application/json")])[0]
    assert (b"retry-after", RETRY_AFTER_S.encode()) in start["headers"]
    kept = _call(RetrySoonOn503, 503, [(b"Retry-After", b"30")])[0]
    assert [v for k, v in kept["headers"] if k.lower() == b"retry-after"] == [b"30"]  # the app's own wins
    ok = _call(RetrySoonOn503, 200, [])[0]
    assert ok["headers"] == []

    from prefect.client.base import _parse_retry_after

    assert _parse_retry_after(RETRY_AFTER_S) == pytest.approx(float(RETRY_AFTER_S))  # what the client reads


def test_sqlite_write_transactions_begin_immediate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pins the Prefect internal the server app changes: the BEGIN mode its transactions request."""
    from prefect.server.database import configurations as conf

    seen: list[str] = []

    class Session:
        def begin(self):
            seen.append(conf.SQLITE_BEGIN_MODE.get())
            return _Null()

    monkeypatch.setattr(conf.AioSqliteConfiguration, "begin_transaction",
                        conf.AioSqliteConfiguration.begin_transaction)  # restored after the test

    async def open_one() -> None:
        async with conf.AioSqliteConfiguration.begin_transaction(object.__new__(conf.AioSqliteConfiguration),
                                                                   Session(), with_for_update=False):
            pass

    asyncio.run(open_one())
    _immediate_sqlite_transactions()
    asyncio.run(open_one())
    assert seen == ["DEFERRED", "IMMEDIATE"]


def test_sqlite_page_cache_is_bounded_after_prefects_pragmas(monkeypatch, tmp_path) -> None:
    import sqlite3

    import prefect.server.database.configurations as conf

    monkeypatch.setattr(conf.AioSqliteConfiguration, "setup_sqlite", conf.AioSqliteConfiguration.setup_sqlite)
    config = object.__new__(conf.AioSqliteConfiguration)

    def cache_size_after_setup() -> tuple[int, str]:
        conn = sqlite3.connect(tmp_path / "prefect.db")
        try:
            config.setup_sqlite(conn, None)
            return conn.execute("PRAGMA cache_size").fetchone()[0], conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()

    assert cache_size_after_setup() == (20000, "wal")  # Prefect's own: 20000 pages
    _bounded_sqlite_cache()
    assert cache_size_after_setup() == (-SQLITE_CACHE_KIB, "wal")  # Prefect's PRAGMAs still ran first


class _Null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        return None


CHECK = """
import json, os, sys
sys.path.insert(0, {root!r})
import psutil
from prefect import flow
from prefect.settings import get_current_settings
from lvas.flows.runtime import orchestration
from lvas.settings import RunSettings

def servers():
    return [p for p in psutil.Process().children(recursive=True) if "lvas.flows.server_app" in " ".join(p.cmdline())]

@flow(persist_result=False)
def trivial():
    return len(servers())

if __name__ == "__main__":
    before = get_current_settings().api.url
    with orchestration(RunSettings(workers=1)) as (api, address):
        inside = get_current_settings().api.url
        server_imported = "prefect.server.api.server" in sys.modules
        during_flow = trivial()
        factory = [" ".join(p.cmdline()) for p in servers()]
    print("RESULT " + json.dumps({{"before": before, "api": api, "inside": inside, "during_flow": during_flow,
                                  "server_imported": server_imported,
                                  "factory": factory, "after": get_current_settings().api.url}}))
"""


def test_one_embedded_server_serves_the_flow_process_too(tmp_path: Path) -> None:
    """Prefect reads its settings at import; the flow process must still use the server started
    later (it used to start a second, ephemeral one on the same database)."""
    script = tmp_path / "check.py"
    script.write_text(CHECK.format(root=str(ROOT)))
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "PREFECT_LOGGING_LEVEL": "ERROR"}
    run = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, run.stdout[-2000:] + run.stderr[-4000:]
    got = json.loads(lines[-1][7:])
    assert got["before"] is None and got["after"] is None
    assert got["inside"] == got["api"]
    assert not got["server_imported"]  # the flow process starts the server without importing it (~5 s)
    assert got["during_flow"] == 1, got["factory"]
    assert "-m lvas.flows.server_app" in got["factory"][0]


def test_a_server_that_exits_is_reported_at_once() -> None:
    """The launcher reports a server process that died instead of polling until the timeout."""
    import time

    from lvas.flows.runtime import EmbeddedServer

    server = EmbeddedServer()
    server.process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    t = time.monotonic()
    with pytest.raises(RuntimeError, match=rf"port {server.port} exited with code 3 \(it could not start"):
        server.wait_healthy(timeout=60)
    assert time.monotonic() - t < 30
    server.stop()
    assert server.process is None


def test_the_cli_starts_the_server_before_importing_prefect(tmp_path: Path) -> None:
    """`lvas dub` launches the embedded server first: Prefect must not be imported by then (~2 s of
    one core that the server's own start-up would otherwise wait behind)."""
    import os
    import subprocess
    import sys

    code = f"""
import sys
import lvas.flows.runtime as rt
def launch(self):
    print("AT LAUNCH", sorted(m for m in sys.modules if m.split(".")[0] in ("prefect", "prefect_dask")), flush=True)
    raise SystemExit(0)
rt.EmbeddedServer.launch = launch
from lvas.cli import main
main(["dub", {str(tmp_path / "none.mp4")!r}, "--out", {str(tmp_path / "out")!r}])
"""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}  # the embedded server, as by default
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=Path(__file__).resolve().parents[1])
    assert "AT LAUNCH []" in out.stdout, out.stdout + out.stderr


def test_the_servers_port_is_held_from_the_moment_it_is_chosen() -> None:
    """The port is bound when the server object is made, not when the server has imported Prefect
    seconds later: the Dask processes starting meanwhile cannot be given it."""
    import socket

    from lvas.flows.runtime import EmbeddedServer

    server = EmbeddedServer()
    try:
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", server.port))
    finally:
        server.stop()
    with socket.socket() as other:  # released when stopped
        other.bind(("127.0.0.1", server.port))


def test_the_embedded_server_answers_without_waiting_for_a_delayed_ack(monkeypatch, tmp_path: Path) -> None:
    """The server's TCP connections get TCP_NODELAY. Served with uvicorn's ``--fd``, which wraps the
    descriptor as an AF_UNIX socket, they did not: each response's second write waited for the
    client's delayed ACK, and every API call took at least 40 ms (44.6 ms per ``/health`` against
    2.4 ms of server CPU). Now a call to ``/health`` takes about 2 ms on an idle machine."""
    import statistics
    import time

    import httpx
    from lvas.flows.runtime import EMBEDDED_SERVER_ENV, EmbeddedServer

    for k, v in {**EMBEDDED_SERVER_ENV, "PREFECT_HOME": str(tmp_path / "home")}.items():
        monkeypatch.setenv(k, v)
    server = EmbeddedServer()
    try:
        server.launch()
        server.wait_healthy(timeout=120)
        with httpx.Client() as client:
            times = []
            for _ in range(21):
                t = time.perf_counter()
                assert client.get(f"{server.api_url}/health").status_code == 200
                times.append(time.perf_counter() - t)
    finally:
        server.stop()
    assert statistics.median(times[1:]) < 0.020, times


LAST_LOG = """
import sys, time
sys.path.insert(0, {root!r})
from prefect import flow, get_run_logger
from lvas.flows.runtime import _prefect_api_starting

@flow(persist_result=False)
def says_goodbye():
    get_run_logger().info("the flow's last words")

if __name__ == "__main__":
    with _prefect_api_starting() as (api, ready):
        ready()
        says_goodbye()
    print("STOPPED", time.monotonic(), flush=True)
"""


def test_the_flows_last_logs_reach_the_server_before_it_stops(tmp_path: Path) -> None:
    """Prefect sends logs in batches every 2 s: the flow's last ones used to be queued still when the
    embedded server stopped, and the process then spent ~70 s at exit retrying a closed port."""
    import os
    import sqlite3
    import time

    script = tmp_path / "last_log.py"
    script.write_text(LAST_LOG.format(root=str(ROOT)))
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
