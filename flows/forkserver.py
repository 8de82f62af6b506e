"""Imported once by the local cluster's fork server (``lvas.flows.runtime.WORKER_PRELOAD``): its
workers are forked with the stages' modules imported, instead of each importing them again.
Prefect is left out on purpose: it reads its settings when imported (see ``WORKER_PRELOAD``)."""

from __future__ import annotations

import contextlib
import importlib
import logging
import signal

from lvas.flows.runtime import SchedulerStopping

STAGE_MODULES = ("lvas.pipeline", "lvas.storyboard", "lvas.agents.script", "lvas.agents.design", "lvas.render",
                 "lvas.audio.mix", "lvas.media.mux", "lvas.report", "lvas.kb.store")

for name in STAGE_MODULES:
    with contextlib.suppress(Exception):  # a worker meets (and reports) the error when it imports it itself
        importlib.import_module(name)

# Ctrl-C reaches every process of the terminal's process group: the workers leave it to the process
# that owns the cluster, which closes it on its way out. (The fork server's children inherit this.)
signal.signal(signal.SIGINT, signal.SIG_IGN)

# ...and a heartbeat that finds the scheduler already closed then is no error worth a traceback
logging.getLogger("distributed.worker").addFilter(SchedulerStopping())
