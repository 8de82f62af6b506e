"""Serve the scheduled dubbing deployment: `make serve` (needs PREFECT_API_URL, e.g. from `make ui`).

Every run dubs whatever is new in the source folder or manifest: videos whose last stage is already
done with the current settings are left out before any task is submitted, so a nightly run over a
growing dataset costs what the new videos cost.

Configuration (env):
    LVAS_SOURCES      folder(s), globs or manifests, separated by ':'   (default: ./incoming)
    LVAS_OUT          output folder                                    (default: ./out/scheduled)
    LVAS_CRON         cron schedule                                    (default: "0 2 * * *", 02:00 daily)
    LVAS_DEPLOYMENT   the deployment's name, one per dataset served    (default: nightly-dub)
    LVAS_CLUSTER      kept (default): one local Dask cluster, started and warmed with this process,
                      serves every run (held between runs); per-run: each run starts its own
    LVAS_RUN__DASK_ADDRESS   an existing scheduler instead (LVAS_CLUSTER then does not apply)
    and every LVAS_<SECTION>__<FIELD> setting, as for `lvas dub`.

Run one now: `prefect deployment run scheduled-dub/nightly-dub` (or from the UI). Stop serving with
Ctrl-C or SIGTERM; the kept cluster stops with it.
"""

from __future__ import annotations

import os
import sys

from lvas.flows.scheduled import CLUSTER_MODES, kept_cluster, scheduled_dub
from lvas.stopping import Terminated, stop_signals_stop_the_run


def main() -> None:
    if sys.argv[1:] in (["-h"], ["--help"]):
        print(__doc__)
        return
    if sys.argv[1:]:
        sys.exit("deployments/serve.py: takes no arguments; it is configured by the environment (--help)")
    if not os.environ.get("PREFECT_API_URL"):
        sys.exit("deployments/serve.py: set PREFECT_API_URL (start a server with `make ui`, then "
                 "export PREFECT_API_URL=http://127.0.0.1:4200/api)")
    sources = os.environ.get("LVAS_SOURCES", "incoming").split(":")
    out = os.environ.get("LVAS_OUT", "out/scheduled")
    mode = os.environ.get("LVAS_CLUSTER", "kept")
    if mode not in CLUSTER_MODES:
        sys.exit(f"deployments/serve.py: LVAS_CLUSTER={mode!r}: expected one of {', '.join(CLUSTER_MODES)}")
    # Until Prefect's runner takes SIGTERM over (it stops, pauses the deployment and returns), SIGTERM
    # stops this process as Ctrl-C does: through the `with` below, which closes the kept cluster; a
    # signal whose exception Python dropped (in Dask's GC callback) is sent again.
    try:
        with stop_signals_stop_the_run(), kept_cluster(mode, out) as address:
            if address:
                print(f"serve: every run uses the local Dask cluster at {address} (LVAS_CLUSTER=per-run: one per run)")
            scheduled_dub.serve(
                name=os.environ.get("LVAS_DEPLOYMENT", "nightly-dub"),
                cron=os.environ.get("LVAS_CRON", "0 2 * * *"),
                parameters={"sources": sources, "out": out},
                tags=["lvas"],
                description="Dub the videos that are new in the sources since the last run.",
            )
    except Terminated:
        sys.exit("deployments/serve.py: terminated")


if __name__ == "__main__":
    main()
