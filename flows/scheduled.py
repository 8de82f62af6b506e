"""The scheduled entry point: settings from the environment, and the local Dask cluster that
`make serve` keeps for all of its runs (or one per run, or an existing scheduler)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from prefect import flow
from prefect.states import Completed, Failed, State

from lvas.flows.dub import dub_dataset
from lvas.flows.runtime import dask_cluster, task_runner
from lvas.settings import Settings

CLUSTER_MODES = ("kept", "per-run")


@flow(name="scheduled-dub", log_prints=True)
def scheduled_dub(sources: list[str], out: str) -> State:
    """Dub what is new in ``sources`` into ``out`` (finished videos are skipped by their markers)."""
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
    process starts attaches to it instead of starting and stopping a cluster of its own. Yields that
    address, or None when each run starts its own ("per-run") or an existing scheduler is configured.
    The cluster's processes stay up between runs.

    Raises:
        ValueError: an unknown ``mode``.
    """
    from lvas.tasks.warm import warm_cluster

    if mode not in CLUSTER_MODES:
        raise ValueError(f"LVAS_CLUSTER={mode!r}: expected one of {', '.join(CLUSTER_MODES)}")
    settings = Settings()
    if mode == "per-run" or settings.run.dask_address:
        yield None
        return
    with dask_cluster(settings.run) as address:
        warm_cluster(address, settings, out)
        os.environ["LVAS_RUN__DASK_ADDRESS"] = address
        try:
            yield address
        finally:
            os.environ.pop("LVAS_RUN__DASK_ADDRESS", None)
