"""The compose flow: instructions fan out through plan, render and mix on Dask (``lvas compose``).

    instructions ─ plan (segments and events) ─ render (events, text-to-audio) ─ mix+report

Every composition keeps its own units, completion markers and status records under
``out/videos/<job id>/``, so rerunning the same command does only what is new, changed or failed,
and ``lvas status`` reads the folder as for dubbed videos. The jobs and settings are recorded in
the folder (``compositions.parquet``), so ``lvas rerun`` and ``lvas show`` know its compositions.
"""

from __future__ import annotations

import contextlib

import dask
from prefect import flow, unmapped
from prefect.futures import wait
from prefect.states import Completed, Failed, State

from lvas import compose
from lvas.backends.library_state import with_library_state
from lvas.compose import ComposeJob
from lvas.flows.report import run_summary
from lvas.settings import Settings
from lvas.storage.layout import Layout
from lvas.storage.lock import RunLock
from lvas.storage.runs import record_compositions
from lvas.tasks.common import with_retries
from lvas.tasks.compose import mix, plan, render
from lvas.tasks.design import build_label_store


@flow(name="compose", log_prints=True)
def compose_dataset(jobs: list[ComposeJob], out: str, settings: Settings | None = None) -> State:
    """Compose every job into ``out``: plan, render (on GPU workers for a GPU synthesizer), mix.

    Arguments:
        jobs: validated compositions (``lvas.compose.make_job``, ``read_manifest``).
        out: the output folder.
        settings: the run's settings (``compose``, ``agents``, ``synth``, ``mix`` sections).

    Returns:
        Completed when every job is done, else Failed, with the counts in the message.
    """
    settings = with_library_state(settings or Settings())
    layout = Layout(out)
    planner, renderer = (with_retries(t, settings.run.task_retries, settings.run.retry_delay_s) for t in (plan, render))
    with RunLock(layout.lock()):
        record_compositions(layout, [j.model_dump() for j in jobs], settings)  # what reruns read back
        todo = [j for j in jobs if not compose.is_finished(layout, j, settings)]
        print(f"{len(jobs)} compositions, {len(jobs) - len(todo)} already done, {len(todo)} to do")
        if todo and settings.agents.backend != "offline":  # the LLM planner maps sounds through the store
            build_label_store.submit(out, settings).result()
        planned = planner.map(todo, unmapped(out), unmapped(settings))
        gpu = settings.synth.backend in ("mmaudio", "simulated-gpu")
        with dask.annotate(**({"resources": {settings.synth.gpu_resource: 1}} if gpu else {})):
            rendered = renderer.map(todo, planned, unmapped(out), unmapped(settings))
        mixed = mix.map(todo, rendered, unmapped(out), unmapped(settings))
        wait(list(mixed))
        for future in mixed:  # failures are in the status table; the summary counts them
            with contextlib.suppress(Exception):
                future.result()
        summary = run_summary(layout, [j.ref() for j in jobs], "mix")
        unfinished = f", {summary.unfinished} unfinished" if summary.unfinished else ""
        msg = (f"{summary.completed} of {summary.total} compositions done, {summary.failed} failed{unfinished} "
               f"(lvas status {out})")
        print(msg)
        return (Completed if summary.completed == summary.total else Failed)(message=msg, data=summary.as_dict())
