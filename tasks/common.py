"""What every task wrapper shares: the task decorator, the retry rule, the per-item loop of a batch
and Prefect's run id."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import httpx
from prefect import runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.context import TaskRunContext

from lvas.errors import BackendUnavailable
from lvas.models import VideoRef
from lvas.storage.layout import Layout
from lvas.storage.units import run_unit

T = TypeVar("T")
R = TypeVar("R")

# lvas caches by its own completion markers (keyed by content, settings and versions, valid across runs
# and processes) and writes its artifacts itself; Prefect's result cache would only pickle the small
# return values to disk once more per task run.
UNCACHED: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


def lvas_task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``prefect.task(**UNCACHED, **options)``: lvas's completion markers are its cache."""
    return task(**UNCACHED, **options)


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass: a backend or the Prefect API that timed out or answered 429/5xx.

    Bad input and invalid model output fail at once; retrying them only burns time.
    """
    try:
        state.result()
    except Exception as exc:
        return transient(exc)
    return False


def transient(exc: BaseException) -> bool:
    if isinstance(exc, BackendUnavailable):
        return exc.transient
    if isinstance(exc, TimeoutError | httpx.TransportError):
        return True
    if isinstance(exc, httpx.HTTPStatusError):  # the Prefect API itself overloaded (503) or rate-limiting
        return exc.response.status_code in (429, 502, 503, 504)
    return False


def each(items: Iterable[T], work: Callable[[T], R], name: Callable[[T], str]) -> dict[int, R]:
    """``work`` on every item of a batch, one after the other; {position: result} of those that
    succeeded. One item's failure (already in the status table) never stops the others.

    If some failed for a reason that may pass and this task run has retries left, raises it after
    the others are done, so Prefect retries the task: what finished is skipped by its completion
    marker then. On the last attempt the survivors go on to the next stage.
    """
    done: dict[int, R] = {}
    failed: list[tuple[str, BaseException]] = []
    for pos, item in enumerate(items):
        try:
            done[pos] = work(item)
        except Exception as exc:
            failed.append((name(item), exc))
    if failed:
        from prefect.exceptions import MissingContextError
        from prefect.logging import get_logger, get_run_logger

        try:
            log = get_run_logger()
        except MissingContextError:  # called outside a task run (tests, scripts)
            log = get_logger("lvas")
        for what, exc in failed:
            log.warning("%s failed: %s: %s", what, type(exc).__name__, exc)
        retry = next((exc for _, exc in failed if transient(exc)), None)
        ctx = TaskRunContext.get()
        if retry is not None and ctx is not None and ctx.task_run.run_count <= (ctx.task.retries or 0):
            raise retry
    return done


def video_unit(layout: Layout, video: VideoRef, stage: str, key: str, work: Callable[[], Any],
               scene: int | None = None) -> dict[str, Any]:
    """``lvas.storage.units.run_unit`` for one video (and scene), recording this flow run and worker."""
    return run_unit(layout, video_id=video.video_id, source=video.source, stage=stage, scene=scene, key=key,
                    run_id=run_id(), worker=worker_name(), work=work)


def run_id() -> str:
    return str(runtime.flow_run.id or "")


def worker_name() -> str:
    """The Dask worker running this task ("" outside Dask): the status table says where work ran."""
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return ""


def with_retries(task: Any, retries: int, delay_s: float) -> Any:
    """The task with the run's retry policy: ``retries`` tries more, delays doubling from ``delay_s``."""
    return task.with_options(retries=retries, retry_delay_seconds=[delay_s * 2**i for i in range(retries)] or 0)
