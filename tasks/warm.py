"""Worker warm-up while the embedded Prefect server starts (about 9 s, mostly imports).

Plain Dask calls, not Prefect tasks: there is no API to report to yet. Each worker imports the
task modules and what the stages import on first use (numpy, PyAV, Pillow, Chroma; a local
cluster's workers are forked with them imported already, tasks/forkserver_preload.py) and loads
the embedding model; one of them builds the run's label store. The flow's own ``build-label-store``
task then finds it up to date.
"""

from __future__ import annotations

import contextlib
import importlib

from lvas.settings import Settings

TASK_MODULES = ("lvas.tasks.storyboard", "lvas.tasks.script", "lvas.tasks.design", "lvas.tasks.render", "lvas.tasks.mix",
                "lvas.flows.design_refine",
                # what the stages import when they first run (the mix's first run paid ~1.5 s)
                "lvas.storyboard", "lvas.agents.script", "lvas.agents.design", "lvas.render", "lvas.audio.mix",
                "lvas.media.mux", "lvas.report",
                "lvas.kb.store")  # Chroma: tasks.design imports it only when a store is opened


def import_task_modules(skip_failures: bool = False) -> None:
    """Import ``TASK_MODULES``. With ``skip_failures`` (the fork server's preload), a module that
    fails is left out: the worker meets its error again, and reports it, when it imports it itself."""
    for name in TASK_MODULES:
        if skip_failures:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        else:
            importlib.import_module(name)


def warm_worker(design: bool) -> None:
    import_task_modules()
    if design:
        from lvas.kb.embedding import load_model

        load_model()


def build_store(settings: Settings, out: str) -> bool:
    from lvas.tasks.design import build_label_store

    return build_label_store.fn(out, settings)  # the flow's task body, run here without an API to report to


def warm_cluster(address: str, settings: Settings, out: str, also_here: tuple[str, ...] = ()) -> None:
    """Warm every worker and build the label store; errors are left for the flow to meet and report.
    The modules ``also_here`` are imported in this process meanwhile (the flow's own imports)."""
    from distributed import Client, wait

    design = "design" in settings.run.stages
    with Client(address, timeout=60) as client:
        workers = list(client.scheduler_info(n_workers=-1)["workers"])
        futures = [client.submit(warm_worker, design, workers=[w], pure=False, allow_other_workers=False)
                   for w in workers]
        if design:
            futures.append(client.submit(build_store, settings, out, pure=False))
        for name in also_here:
            importlib.import_module(name)
        wait(futures)
