"""Where the flow runs: a Prefect API and a Dask cluster, embedded or attached.

Embedded defaults: one local Prefect server process (its URL is exported before any Dask worker
starts, so workers report to it instead of each starting a temporary server of their own — see
ARCHITECTURE.md section 4) and a Dask cluster of local worker processes. With ``PREFECT_API_URL``
set, or ``--dask-address``, the existing server or scheduler is used instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from lvas.settings import RunSettings

QUIET_ENV = {
    # keep the terminal for lvas's own progress; the UI keeps every log
    "DASK_LOGGING__DISTRIBUTED": "error",
    "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",  # Dask's sampling profiler: CPU we need
    # psutil polls every 100 ms per worker and nanny (memory limits) and every 500 ms per server
    # (dashboard plots): seconds of CPU over a dataset run on 2 cores (py-spy); limits still hold
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    # Dask's developer logs (1000 entries each by default): the scheduler keeps the last 1000 message
    # batches it sent to each worker, with every task's call and arguments as unpickled in this
    # process; over a dataset run that was all of its tasks (bench/RESULTS.md, "Dataset-scale operation")
    "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": "20",
}


# The embedded server (and the clients that talk to it; all inherit the environment). Each can be
# overridden by setting it beforehand. See bench/RESULTS.md, "Dataset-scale operation".
EMBEDDED_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no network here, no telemetry
    # The task-run recorder writes each task-run event in its own SQLite transaction by default;
    # those writes collide with the API's (a subflow's parent task run, flow-run states), which
    # then answer 503 "database is locked" and the client backs off 2 s. Batched, they rarely do.
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    # This server has no CSRF protection, so every new client's CSRF-token request is a wasted round trip.
    "PREFECT_CLIENT_CSRF_SUPPORT_ENABLED": "false",
    # Prefect's block types (storage, notifications, ...) are registered in the database at every
    # start, or, memoised, checked against a hash that imports every installed Prefect collection
    # (prefect_dask) first. lvas's runs save and load no block. Skipped: 0.25 s of the server's
    # start, 0.8 s on a new database. A server you run yourself (`make ui`) registers them.
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
    "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",
}


@contextlib.contextmanager
def _prefect_api_starting() -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield (API URL, wait-until-ready). An embedded server starts in the background: its URL is
    exported at once (Dask workers started meanwhile inherit it), ``ready()`` waits for it."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        _check_api_answers(url)
        yield url, lambda: None
        return
    os.environ.update({k: os.environ.get(k, v) for k, v in EMBEDDED_SERVER_ENV.items()})
    server = EmbeddedServer()
    os.environ["PREFECT_API_URL"] = url = server.api_url
    server.launch()  # before anything else: its imports take the longest (~9 s alone)
    failed: list[BaseException] = []

    def wait() -> None:
        try:
            server.wait_healthy(timeout=120)
        except BaseException as exc:  # re-raised in ready()
            failed.append(exc)

    waiter = threading.Thread(target=wait, name="prefect-server-start", daemon=True)
    waiter.start()

    def ready() -> None:
        _refresh_prefect_settings()  # here, not earlier: importing Prefect takes ~2 s the cluster need not wait
        waiter.join()
        if failed:
            raise failed[0]

    try:
        yield url, ready
    finally:
        try:
            _send_what_prefect_holds()
        finally:
            os.environ.pop("PREFECT_API_URL", None)
            _refresh_prefect_settings()
            server.stop()


def _check_api_answers(url: str, timeout: float = 10) -> None:
    """Fail at once, saying what to do, when nothing answers at ``PREFECT_API_URL`` (Prefect's own
    error comes after the cluster has started, as a traceback). Any HTTP answer will do: a server
    that wants credentials for ``/health`` is still there."""
    import httpx

    from lvas.errors import BackendUnavailable

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"nothing answers at the Prefect API {url} (PREFECT_API_URL): {str(exc) or type(exc).__name__}; "
            "start that server (`make ui`), or unset PREFECT_API_URL to run on an embedded one"
        ) from None


def _check_scheduler_answers(address: str, timeout: float = 10) -> None:
    """Fail at once when no Dask scheduler listens at ``address`` (Dask retries for its connect
    timeout, 60 s here, then raises a traceback). Checked for TCP addresses (tcp://, tls://)."""
    from distributed.comm import parse_address, parse_host_port

    from lvas.errors import BackendUnavailable

    scheme, location = parse_address(address)
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection(parse_host_port(location), timeout=timeout).close()
    except OSError as exc:
        raise BackendUnavailable(
            f"no Dask scheduler answers at {address} (--dask-address): {exc}; start one "
            "(`dask scheduler`), or leave --dask-address out to run on a local cluster"
        ) from None


def _send_what_prefect_holds(timeout: float = 10) -> None:
    """Send the logs and events this process's Prefect workers still hold, while the server is up.

    They go out in batches every few seconds; the flow's last ones were still queued when the
    embedded server stopped, and Prefect sends what is left at interpreter exit: to a closed port,
    with its client's retries (about 70 s before ``lvas dub --verbose`` returned to the shell, then
    "Error logging to API"), and those logs were lost.
    """
    if "prefect" not in sys.modules:  # nothing ran against this server
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        worker.drain_all(timeout=timeout)


class EmbeddedServer:
    """A Prefect server for this run, in a subprocess on a loopback port.

    What Prefect's own temporary server (``prefect.server.api.server.SubprocessASGIServer``) does,
    with three differences: it serves ``lvas.flows.server_app:create_app`` (Prefect's app with SQLite
    write transactions that wait for the lock, see that module); it is started without importing
    Prefect's server package in this process (about 5 s before the Dask workers could start); and
    its socket is bound here and handed over (``lvas.flows.server_app.serve``). Choosing a free port and
    letting the server bind it after its imports left seconds in which the Dask processes starting
    meanwhile could be given the same port: seen once, the server exited "port taken".
    """

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(512)  # connections wait in the backlog until the server accepts them
        self.port = int(self.socket.getsockname()[1])
        self.process: subprocess.Popen | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        # Prefect's temporary-server settings (no UI, ephemeral server); the rest of its settings it
        # reads as this process does, from the environment and the same profile and .env files.
        env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
               # this project's root first, as uvicorn's --app-dir did: flows.server_app is importable
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                              *filter(None, [os.environ.get("PYTHONPATH")])])}
        fd = self.socket.fileno()
        self.process = subprocess.Popen(
            args=[sys.executable, "-m", "lvas.flows.server_app", str(fd), str(os.getpid())], env={**os.environ, **env},
            pass_fds=(fd,),
            # Out of the terminal's process group: Ctrl-C goes to this process, which stops the flow,
            # sends what Prefect still holds and then stops the server. (In the group, the server quit
            # at once and this process spent ~2 min retrying it.) It still stops if this process is
            # killed: flows.server_app.exit_with_parent.
            start_new_session=True,
        )
        self.socket.close()  # the server holds the port now

    def wait_healthy(self, timeout: float) -> None:
        import httpx

        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while time.monotonic() < deadline:
                code = self.process.poll()
                if code is not None:
                    hint = " (it could not start: its app failed, see above)" if code == 3 else ""
                    raise RuntimeError(f"the local Prefect server on port {self.port} exited with code {code}{hint}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                        return
                time.sleep(0.1)
        raise RuntimeError(f"the local Prefect server on port {self.port} did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        self.socket.close()  # if never launched
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


def _refresh_prefect_settings() -> None:
    """Make this process's Prefect settings follow the environment just changed.

    Prefect reads its settings once, when ``prefect`` is first imported; the CLI imports it before
    the embedded server's URL is known. Without this refresh the flow process had no API URL and
    Prefect started a second, ephemeral server for it on the same SQLite database, while the workers
    (started with the URL in their environment) used the first: two servers' start-up and their
    write-lock contention on every run (measured: bench/RESULTS.md, "Dataset-scale operation").
    """
    from prefect.context import refresh_global_settings_context

    refresh_global_settings_context()


@contextlib.contextmanager
def dask_cluster(run: RunSettings, preload: Sequence[str] = ()) -> Iterator[str]:
    """Yield a scheduler address: ``run.dask_address`` as is, or a local cluster's.

    The local cluster has ``run.workers`` CPU worker processes and ``run.gpu_workers`` more that
    declare the resource ``GPU=1`` (one per local GPU; with dask-cuda installed and CUDA present a
    LocalCUDACluster is used instead, every worker pinned to one device). ``preload``: modules the
    fork server its workers come from imports besides the tasks' (``forked_workers``).
    """
    if run.dask_address:
        _check_scheduler_answers(run.dask_address)
        yield run.dask_address
        return
    os.environ.update(QUIET_ENV)
    # A nanny hands its own process's Dask config to the worker it starts, and this process read
    # its config when dask was imported: the settings must be in that config, not only in the
    # environment. (Missed before: the workers ran Dask's sampling profiler, which took CPU and
    # was 54 of the 63 MB a worker's Python heap grew over 25 videos; bench/RESULTS.md.)
    import dask

    dask.config.update(dask.config.config, dask.config.collect_env(QUIET_ENV), priority="new")
    # Dask's nannies export MALLOC_TRIM_THRESHOLD_=65536 to their workers, to hand freed memory back
    # at once. Setting it turns glibc's adaptive mmap threshold off: every array over 128 kB is then
    # mapped, unmapped when freed, and the next one faults its pages in again, zeroed by the kernel.
    # The audio stages allocate arrays of megabytes all the time (bench/RESULTS.md, "Dataset-scale
    # operation"). The workers keep glibc's defaults (None unsets a variable there; a dict without the
    # key would get Dask's default back when distributed is imported).
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    # glibc gives each thread that allocates its own malloc arena (up to 8 per core) and keeps what
    # they free; a worker's many threads (Dask, Prefect's clients, the decode read-ahead) then grow
    # its RSS run after run. Two arenas: on 50 videos each worker grew 121-149 MB instead of
    # 213-218 MB (bench/mem_by_process.py). Inherited by the worker processes only (read at start).
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with contextlib.ExitStack() as stack:
        cluster = _local_cuda_cluster(run)
        if cluster is None:
            from distributed import Nanny, Scheduler, SpecCluster

            # loopback only: a local cluster has no business on the machine's other interfaces
            opts = {"host": "127.0.0.1", "silence_logs": logging.ERROR}
            spec = {f"cpu-{i}": {"cls": Nanny, "options": {**opts, "nthreads": run.threads_per_worker}}
                    for i in range(run.workers)}
            spec |= {f"gpu-{i}": {"cls": Nanny, "options": {**opts, "nthreads": 1, "resources": {"GPU": 1}}}
                     for i in range(run.gpu_workers)}
            scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
            stack.enter_context(forked_workers(preload))
            cluster = SpecCluster(workers=spec, scheduler=scheduler, silence_logs=logging.ERROR)
        stack.callback(cluster.close)
        yield cluster.scheduler_address


FORKSERVER_PRELOAD = ["distributed", "lvas.tasks.forkserver_preload"]
_fork_server_owner = threading.Lock()  # held by the local cluster whose workers the fork server starts


@contextlib.contextmanager
def forked_workers(preload: Sequence[str] = ()) -> Iterator[None]:
    """Start the local cluster's worker processes from a fork server that imported the tasks'
    modules once (``FORKSERVER_PRELOAD``), instead of spawning each to import them again: on 2
    cores that CPU was taken from the embedded server's start (bench/RESULTS.md). A worker the
    nanny restarts (one killed mid-run) is forked from it too.

    Python has one fork server per process, with the environment and modules of when it started.
    It is started for one cluster and stopped with it, so that cluster's workers start from this
    process's state at the cluster's start, as spawned ones would. A cluster started while another
    one holds it (tests, benchmarks: clusters nested in one process), or in a process where a
    fork server runs already or Python's differs from 3.11's (``_forkserver_pid``, ``_stop``),
    spawns its workers: stopping a fork server ends the watch on every process it forked, and
    their nannies would restart them all.
    """
    import multiprocessing
    import multiprocessing.forkserver

    import dask

    if not _fork_server_owner.acquire(blocking=False):  # another local cluster's fork server
        with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
            yield
        return
    try:
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        if ("forkserver" not in multiprocessing.get_all_start_methods() or not hasattr(server, "_stop")
                or getattr(server, "_forkserver_pid", 0) is not None):
            yield
            return
        from distributed.utils import get_mp_context

        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            get_mp_context().set_forkserver_preload([*FORKSERVER_PRELOAD, *preload])
            try:
                yield
            finally:
                # The cluster is closed: none of its workers is left, and the fork server holds nothing
                # but imported modules. Left to exit by itself it runs the interpreter's teardown of
                # all of them (~0.7 s that every run waited for); killed, it is reaped at once.
                with contextlib.suppress(OSError, TypeError):
                    os.kill(server._forkserver_pid, signal.SIGKILL)  # type: ignore[union-attr]
                server._stop()  # type: ignore[union-attr]
    finally:
        _fork_server_owner.release()


def _local_cuda_cluster(run: RunSettings):  # type: ignore[no-untyped-def]
    """A LocalCUDACluster (one worker per local GPU, each declaring GPU=1) when this machine has
    CUDA devices and dask-cuda is installed; None otherwise (then --gpu-workers N adds plain local
    workers that declare GPU=1, which is how placement is tested and benchmarked without a GPU)."""
    import importlib.util

    if importlib.util.find_spec("dask_cuda") is None:  # checked first: importing torch costs seconds
        return None
    import torch
    from dask_cuda import LocalCUDACluster  # type: ignore[import-not-found]

    if not torch.cuda.is_available():
        return None
    n = min(run.gpu_workers or torch.cuda.device_count(), torch.cuda.device_count())
    return LocalCUDACluster(n_workers=n, resources={"GPU": 1}, host="127.0.0.1", dashboard_address="127.0.0.1:0")


@contextlib.contextmanager
def orchestration(run: RunSettings, warm: Callable[[str], None] | None = None) -> Iterator[tuple[str, str]]:
    """The Prefect API and the Dask cluster. An embedded server takes ~9 s to import and migrate
    its database: the cluster starts meanwhile (its workers inherit the URL already chosen) and
    ``warm(scheduler address)`` runs before waiting for the server."""
    with _prefect_api_starting() as (api, ready), dask_cluster(run) as address:
        if warm is not None:
            warm(address)
        ready()
        yield api, address


def task_runner(address: str):  # type: ignore[no-untyped-def]
    from lvas.tasks.lean import LeanDaskTaskRunner

    return LeanDaskTaskRunner(address=address)
