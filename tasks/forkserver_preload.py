"""Imported once by the local cluster's fork server (``flows.runtime.forked_workers``): every
worker process is forked from it with what the tasks import already imported, instead of
importing it all again (~5 s of CPU per worker, on the cores the embedded server starts on)."""

from __future__ import annotations

import contextlib
import importlib

from tasks.warm import TASK_MODULES

for _name in TASK_MODULES:
    # a module that fails here fails again, with its error reported, when a worker imports it
    with contextlib.suppress(Exception):
        importlib.import_module(_name)
