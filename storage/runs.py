"""Run bookkeeping: what a run was asked to do (manifest) and every source the folder has seen
(videos, and the compositions of ``lvas compose``)."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lvas.errors import InputError
from lvas.models import VideoRef
from lvas.settings import Settings
from lvas.storage.atomic import sweep_partials, write_json, write_parquet
from lvas.storage.layout import Layout


def prepare_run(layout: Layout, videos: list[VideoRef], settings: Settings, run_id: str = "") -> str:
    """Sweep what a killed run left half-written, record the manifest and the sources table.

    Returns:
        The run id (the given one, or a timestamp).
    """
    run_id = run_id or time.strftime("%Y%m%dT%H%M%S")
    layout.root.mkdir(parents=True, exist_ok=True)
    sweep_run_partials(layout)
    empty = pa.table({k: pa.array([], pa.string()) for k in VideoRef.model_fields})
    rows = [v.model_dump() for v in videos]
    write_parquet(layout.run_dir(run_id) / "manifest.parquet", rows or empty)
    write_json(layout.run_dir(run_id) / "settings.json", settings.model_dump(mode="json"))
    write_json(layout.root / "settings.json", settings.model_dump(mode="json"))  # what reruns reuse
    known = {r["video_id"]: r for r in read_sources(layout)}
    known.update({v.video_id: v.model_dump() for v in videos})
    write_parquet(layout.sources(), list(known.values()) or empty)
    return run_id


def sweep_run_partials(layout: Layout) -> int:
    """Remove the ``*.part-*`` files a killed process left in the artifact, status and run folders.

    Called when a run starts and when it ends (under the run lock, after every task has settled), so
    a worker killed mid-write leaves nothing half-written behind even when no rerun follows.
    """
    return sum(sweep_partials(layout.root / d) for d in ("videos", "status", "runs") if (layout.root / d).is_dir())


def read_sources(layout: Layout) -> list[dict]:
    """Every video ever submitted to this output folder (for reruns)."""
    if not layout.sources().exists():
        return []
    return [r for r in pq.read_table(layout.sources()).to_pylist() if r.get("video_id")]


def record_compositions(layout: Layout, jobs: list[dict[str, Any]], settings: Settings) -> None:
    """Record the compositions a compose run was given (beside those recorded before) and its
    settings: what ``lvas rerun`` and ``lvas show`` read back.

    Arguments:
        jobs: one dict a composition, with ``job_id``, ``instruction``, ``duration_s``, ``source``.
    """
    known = {r["job_id"]: r for r in read_compositions(layout)}
    known.update({j["job_id"]: j for j in jobs})
    if known:
        write_parquet(layout.compositions(), list(known.values()))
    write_json(layout.compose_settings(), settings.model_dump(mode="json"))


def read_compositions(layout: Layout) -> list[dict[str, Any]]:
    """Every composition ever given to this output folder (empty when ``lvas compose`` never ran here).

    Raises:
        InputError: the compositions table cannot be read.
    """
    path = layout.compositions()
    if not path.exists():
        return []
    try:
        # ParquetFile, not read_table: it needs no pyarrow.dataset (and pandas), so `lvas rerun` and
        # `lvas show` answer at once
        rows = pq.ParquetFile(path).read().to_pylist()
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot read the table of compositions ({exc}); remove it and run the "
                         "same `lvas compose` command again to record them anew") from None
    return [r for r in rows if r.get("job_id")]
