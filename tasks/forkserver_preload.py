"""Imported once by the local cluster's fork server (``flows.runtime.forked_workers``): every
worker process is forked from it with what the tasks import already imported, instead of
importing it all again (~5 s of CPU per worker, on the cores the embedded server starts on)."""

from __future__ import annotations

from tasks.warm import import_task_modules

import_task_modules(skip_failures=True)
