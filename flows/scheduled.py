"""The scheduled entry point: settings from the environment, a Dask cluster per run (or attached),
and the local cluster that `make serve` keeps for all of its runs, whose fork server also starts
each run's process."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.context
import os
import signal
from collections.abc import Iterator

from prefect import flow
from prefect.states import Completed, Failed, State

from lvas.settings import Settings

CLUSTER_MODES = ("kept", "per-run")


@flow(name="scheduled-dub", log_prints=True)
def scheduled_dub(sources: list[str], out: str) -> State:
    """Dub what is new in ``sources`` into ``out`` (finished videos are skipped by their markers)."""
    from lvas.flows.dub import dub_dataset
    from lvas.flows.runtime import dask_cluster, task_runner

    settings = Settings()
    with dask_cluster(settings.run) as address:
        state = dub_dataset.with_options(task_runner=task_runner(address))(sources, out, settings,
                                                                           return_state=True)
    # a state of its own, so the served run says what the dataset run said ("N of M videos done, ...");
    # returned as is, Prefect sums it up as "All states completed." or "1/1 states failed."
    return (Completed if state.is_completed() else Failed)(message=state.message)


@contextlib.contextmanager
def kept_cluster(mode: str, out: str) -> Iterator[str | None]:
    """For a serving process: with ``mode`` "kept" and no ``LVAS_RUN__DASK_ADDRESS``, start one local
    Dask cluster, warm it (task modules imported, embedding model loaded, the label store of ``out``
    built) and export its address as ``LVAS_RUN__DASK_ADDRESS``, so that every scheduled run this
    process starts attaches to it instead of starting and stopping a cluster of its own; each run's
    process is forked from the cluster's fork server (``forked_flow_runs``). Yields that address,
    or None when each run starts its own ("per-run") or an existing scheduler is configured. The
    cost: the cluster's processes, ~1.1 GB, stay up between runs. Scheduled runs on 25-100 new
    videos took -12% to 3% more than direct with it, 13-33% more with a cluster per run
    (bench/RESULTS.md).
    """
    from lvas.flows.runtime import dask_cluster

    if mode not in CLUSTER_MODES:
        raise ValueError(f"LVAS_CLUSTER={mode!r}: expected one of {', '.join(CLUSTER_MODES)}")
    settings = Settings()
    if mode == "per-run" or settings.run.dask_address:
        yield None
        return
    from lvas.tasks.warm import warm_cluster

    with dask_cluster(settings.run, preload=[__name__, "lvas.flows.dub"]) as address, forked_flow_runs():
        warm_cluster(address, settings, out)
        os.environ["LVAS_RUN__DASK_ADDRESS"] = address
        try:
            yield address
        finally:
            os.environ.pop("LVAS_RUN__DASK_ADDRESS", None)


class FlowRunProcess(multiprocessing.context.ForkServerProcess):
    """A served flow run's process, forked from the kept cluster's fork server."""

    def run(self) -> None:
        # Ctrl-C stops a flow run's process as it stops a spawned one; the fork server's children
        # ignore SIGINT (tasks/forkserver_preload.py: the workers leave it to the cluster's owner)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        super().run()


class _ForkedFlowRuns:
    """``multiprocessing`` as ``prefect.flow_engine`` sees it while serving: its "spawn" context
    forks ``FlowRunProcess``es."""

    class ForkedContext(multiprocessing.context.ForkServerContext):
        Process = FlowRunProcess

    def get_context(self, method: str | None = None) -> object:
        return self.ForkedContext() if method == "spawn" else multiprocessing.get_context(method)

    def __getattr__(self, name: str) -> object:
        return getattr(multiprocessing, name)


@contextlib.contextmanager
def forked_flow_runs() -> Iterator[None]:
    """Fork each served flow run's process from the kept cluster's fork server, which has Prefect
    and lvas imported (``kept_cluster``'s preload), instead of spawning a new interpreter that
    imports them again: ~1.2 s less before a run's first task (bench/RESULTS.md).

    Prefect's runner starts a served flow run with ``prefect.flow_engine.run_flow_in_subprocess``,
    which asks ``multiprocessing`` for a "spawn" context; here, in this process only, that context
    is the fork server's (a Prefect 3.8 internal, pinned with Prefect's version in pyproject.toml).
    The run's process gets the serving process's environment as a spawned one does (Prefect sends
    it along and applies it in the child). Where the local cluster's workers were spawned instead
    (no fork server, ``lvas.flows.runtime.forked_workers``), flow runs are spawned too.
    """
    import multiprocessing.forkserver

    import prefect.flow_engine

    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    preloaded = __name__ in (getattr(server, "_preload_modules", None) or ())
    if getattr(server, "_forkserver_pid", None) is None or not preloaded:
        yield
        return
    prefect.flow_engine.multiprocessing = _ForkedFlowRuns()  # type: ignore[assignment]
    try:
        yield
    finally:
        prefect.flow_engine.multiprocessing = multiprocessing
