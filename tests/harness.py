"""Run the dataset flow on a given Dask scheduler, as the CLI does (shared by the flow tests)."""

from __future__ import annotations

from pathlib import Path

from lvas.settings import Settings


def run_dub(address: str, sources: list[Path], out: Path, settings: Settings, only: list[str] | None = None):
    """Call ``dub_dataset`` with a DaskTaskRunner on ``address``; returns the flow run's final state."""
    from lvas.flows.dub import dub_dataset
    from lvas.flows.runtime import task_runner

    flow = dub_dataset.with_options(task_runner=task_runner(address))
    return flow([str(s) for s in sources], str(out), settings, only, return_state=True)


def listening(host: str, port: int, timeout: float = 2) -> bool:
    """True when something accepts TCP connections at ``host``:``port``."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True

