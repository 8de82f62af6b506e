"""Where a flow runs: a Prefect API and a Dask cluster, started here or attached.

Embedded defaults: a local Prefect server (``prefect server start`` in a subprocess, on a free
loopback port) and a local Dask cluster. ``PREFECT_API_URL`` or ``--dask-address`` attach to a
server or scheduler that runs already. The workers report to the same API as the flow: its URL is
in the environment before they start (without it each would start a temporary server of its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

from lvas.errors import BackendUnavailable
from lvas.settings import RunSettings, redact, redact_url

# Dask settings of the local cluster (its nannies hand this process's config to the workers).
QUIET_ENV = {
    "DASK_LOGGING__DISTRIBUTED": "error",  # the terminal is for lvas's progress; the UI keeps every log
    "DASK_DISTRIBUTED__WORKER__DAEMON": "False",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",  # the sampling profiler takes CPU and memory
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "2s",
    # the scheduler's developer log keeps this many message batches per worker, with every task's call
    "DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH": "20",
}

# The run's own Prefect server: no UI, no schedules, no telemetry; the task-run recorder writes in
# batches (one SQLite transaction per event otherwise, which collide with the API's writes).
LOCAL_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_FOREMAN_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "100",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "100",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",  # lvas saves and loads no block
}

# What the fork server of the local cluster imports once for all its workers: the stages' heavy
# modules. Not Prefect: it reads its settings (the API URL) when imported, and a fork server
# outlives its cluster, so each worker imports Prefect itself with the environment its nanny sets.
WORKER_PRELOAD = ("distributed", "lvas.flows.forkserver")


def check_api_answers(url: str, timeout: float = 10) -> None:
    """Fail at once when nothing answers at ``PREFECT_API_URL`` (any HTTP answer will do).

    Raises:
        BackendUnavailable: with what to do.
    """
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"nothing answers at the Prefect API {redact_url(url)} (PREFECT_API_URL): "
            f"{redact(str(exc)) or type(exc).__name__}; "
            "start that server (`make ui`), or unset PREFECT_API_URL to run on a local one"
        ) from None


def check_scheduler_answers(address: str, timeout: float = 10) -> None:
    """Fail at once when no Dask scheduler listens at a tcp:// or tls:// ``address``.

    Raises:
        BackendUnavailable: with what to do.
    """
    from distributed.comm import parse_address, parse_host_port

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


class LocalPrefectServer:
    """``prefect server start`` on a free loopback port, in a subprocess of its own session.

    Ctrl-C reaches only this process, which stops the run, sends Prefect's last logs and then stops
    the server. If this process is killed, Linux sends the server SIGTERM (parent-death signal).
    """

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (the server's output, read on failure)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def launch(self) -> None:
        with socket.socket() as probe:  # a free port now; wait_healthy retries if it is taken meanwhile
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {**os.environ, **{k: os.environ.get(k, v) for k, v in LOCAL_SERVER_ENV.items()}}
        env.pop("PREFECT_API_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        """Wait until the server answers; relaunch on another port if this one was taken.

        Raises:
            BackendUnavailable: the server exited or did not answer in time.
        """
        import httpx

        deadline = time.monotonic() + timeout
        for _ in range(3):
            while time.monotonic() < deadline:
                assert self.process is not None, "launch() first"
                if self.process.poll() is not None:
                    break
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{self.api_url}/health", timeout=5).status_code == 200:
                        return
                time.sleep(0.1)
            else:
                raise BackendUnavailable(
                    f"the local Prefect server did not answer within {timeout:.0f} s{self._tail()}")
            if "already in use" not in self._tail():
                raise BackendUnavailable(f"the local Prefect server exited with code {self.process.returncode}"
                                         f"{self._tail()}")
            self.launch()
        raise BackendUnavailable(f"the local Prefect server found no free port{self._tail()}")

    def _tail(self) -> str:
        self.log.seek(0)
        lines = [ln for ln in self.log.read().splitlines() if ln.strip()][-5:]
        return (":\n  " + "\n  ".join(lines)) if lines else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.log.close()


def _die_with_parent() -> None:
    """In the server's process before it starts: SIGTERM when the process that started it dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def prefect_api() -> Iterator[tuple[str, Callable[[], None]]]:
    """Yield (API URL, wait-until-ready): ``PREFECT_API_URL`` when set, else a local server's.

    The local server starts in the background; its URL is exported at once, so that Dask workers
    started meanwhile report to it. ``ready()`` waits for it.
    """
    url = os.environ.get("PREFECT_API_URL")
    if url:
        check_api_answers(url)
        yield url, lambda: None
        return
    server = LocalPrefectServer()
    server.launch()
    os.environ["PREFECT_API_URL"] = server.api_url
    try:
        yield server.api_url, server.wait_healthy
    finally:
        try:
            send_pending_logs()
        finally:
            os.environ.pop("PREFECT_API_URL", None)
            server.stop()


def send_pending_logs() -> None:
    """Send the run logs this process still holds while the server is up (else they are sent at
    exit, to a closed port, with the client's retries)."""
    if "prefect" in sys.modules:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()


@contextlib.contextmanager
def dask_cluster(run: RunSettings) -> Iterator[str]:
    """Yield a scheduler address: ``run.dask_address`` as is, or a local cluster's.

    The local cluster has ``run.workers`` CPU workers and ``run.gpu_workers`` more that declare the
    resource ``GPU=1`` (with dask-cuda installed and CUDA present, a LocalCUDACluster instead). Its
    workers are forked from a fork server that imported the stages' modules once
    (``WORKER_PRELOAD``), and get this process's Prefect and lvas environment from their nannies.

    Raises:
        BackendUnavailable: no scheduler answers at ``run.dask_address``.
    """
    if run.dask_address:
        check_scheduler_answers(run.dask_address)
        yield run.dask_address
        return
    os.environ.update(QUIET_ENV)
    import dask

    dask.config.update(dask.config.config, dask.config.collect_env(QUIET_ENV), priority="new")
    # Dask's nannies export MALLOC_TRIM_THRESHOLD_, which turns glibc's adaptive mmap threshold off:
    # the audio stages' large arrays would then be mapped and faulted in anew each time.
    dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = _local_cuda_cluster(run) or _local_cluster(run)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


class SchedulerStopping(logging.Filter):
    """Drops a local cluster's worker's report that its heartbeat found the scheduler gone: the
    scheduler lives in the process that owns the run, so that happens only while the run stops
    (Ctrl-C, a time limit), and its traceback would read as a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to communicate with scheduler during heartbeat")


def _worker_env() -> dict[str, str]:
    """What each worker must see of this process's environment, whatever its fork server saw."""
    return {k: v for k, v in os.environ.items() if k.startswith(("PREFECT_", "LVAS_", "OPENAI_"))}


def _local_cluster(run: RunSettings):  # type: ignore[no-untyped-def]
    import dask
    from distributed import Nanny, Scheduler, SpecCluster
    from distributed.utils import get_mp_context

    opts = {"host": "127.0.0.1", "silence_logs": logging.ERROR, "env": _worker_env()}  # loopback only
    spec = {f"cpu-{i}": {"cls": Nanny, "options": {**opts, "nthreads": run.threads_per_worker}}
            for i in range(run.workers)}
    spec |= {f"gpu-{i}": {"cls": Nanny, "options": {**opts, "nthreads": 1, "resources": {"GPU": 1}}}
             for i in range(run.gpu_workers)}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": "127.0.0.1:0"}}
    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    get_mp_context().set_forkserver_preload(list(WORKER_PRELOAD))  # used when the fork server first starts
    return SpecCluster(workers=spec, scheduler=scheduler, silence_logs=logging.ERROR)


def _local_cuda_cluster(run: RunSettings):  # type: ignore[no-untyped-def]
    """A LocalCUDACluster (one worker per local GPU, each declaring GPU=1) when this machine has
    CUDA devices and dask-cuda is installed; None otherwise (then --gpu-workers N adds plain local
    workers that declare GPU=1, which is how placement is tested without a GPU)."""
    import importlib.util

    if importlib.util.find_spec("dask_cuda") is None:  # checked first: importing torch takes seconds
        return None
    import torch
    from dask_cuda import LocalCUDACluster  # type: ignore[import-not-found]

    if not torch.cuda.is_available():
        return None
    n = min(run.gpu_workers or torch.cuda.device_count(), torch.cuda.device_count())
    return LocalCUDACluster(n_workers=n, resources={"GPU": 1}, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                            env=_worker_env())


@contextlib.contextmanager
def orchestration(run: RunSettings, warm: Callable[[str], None] | None = None) -> Iterator[tuple[str, str]]:
    """The Prefect API and the Dask cluster, for a flow called in this process.

    A local server takes seconds to start: the cluster starts meanwhile, and ``warm(scheduler
    address)`` runs before waiting for the server. Prefect's settings in this process follow the
    API chosen (``temporary_settings``), also when Prefect was imported earlier.
    """
    with prefect_api() as (api, ready), dask_cluster(run) as address:
        if warm is not None:
            warm(address)
        ready()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api}):
            yield api, address


def task_runner(address: str):  # type: ignore[no-untyped-def]
    """Prefect's Dask task runner on the scheduler at ``address``."""
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address)

