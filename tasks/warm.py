"""Worker warm-up while the Prefect server starts: plain Dask calls, not Prefect tasks (there is no
API to report to yet). Each worker imports the task modules and loads the embedding model; one of
them builds the run's label store, which the flow's own ``build-label-store`` task then finds up
to date."""

from __future__ import annotations

import importlib

from lvas.settings import Settings

TASK_MODULES = ("lvas.tasks.storyboard", "lvas.tasks.script", "lvas.tasks.design", "lvas.tasks.render",
                "lvas.tasks.mix", "lvas.kb.store")


def warm_worker(design: bool) -> None:
    for name in TASK_MODULES:
        importlib.import_module(name)
    if design:
        from lvas.kb.embedding import load_model

        load_model()


def build_store(settings: Settings, out: str) -> bool:
    from lvas.tasks.design import build_label_store

    return build_label_store.fn(out, settings)  # the task's body, run here without an API to report to


def warm_cluster(address: str, settings: Settings, out: str) -> None:
    """Warm every worker and build the label store; errors are left for the flow to meet and report."""
    from distributed import Client, wait

    design = "design" in settings.run.stages
    with Client(address, timeout=60) as client:
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        futures = [client.submit(warm_worker, design, workers=[w], pure=False, allow_other_workers=False)
                   for w in workers]
        if design:
            futures.append(client.submit(build_store, settings, out, pure=False))
        wait(futures)
