"""Imported once by the local cluster's fork server (``lvas.flows.runtime.forked_workers``): every
worker process is forked from it with what the tasks import already imported, instead of
importing it all again (~5 s of CPU per worker, on the cores the embedded server starts on)."""

from __future__ import annotations

import signal

from lvas.tasks.warm import import_task_modules

import_task_modules(skip_failures=True)

# Ctrl-C reaches every process of the terminal's process group. The workers forked from here leave
# it to `lvas dub`, which closes the cluster on its way out; each used to die on its own
# KeyboardInterrupt mid-task, printing a traceback, while its nanny tried to restart it. (The fork
# server hands its children the handlers it had when its preload ended.)
signal.signal(signal.SIGINT, signal.SIG_IGN)
