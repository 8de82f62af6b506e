"""The scheduled entry point: settings from the environment, a Dask cluster per run (or attached)."""

from __future__ import annotations

from prefect import flow
from prefect.states import State

from lvas.settings import Settings


@flow(name="scheduled-dub", log_prints=True)
def scheduled_dub(sources: list[str], out: str) -> State:
    """Dub what is new in ``sources`` into ``out`` (finished videos are skipped by their markers)."""
    from flows.dub import dub_dataset
    from flows.runtime import dask_cluster, task_runner

    settings = Settings()
    with dask_cluster(settings.run) as address:
        return dub_dataset.with_options(task_runner=task_runner(address))(sources, out, settings,
                                                                          return_state=True)
