"""What every task wrapper shares: the retry rule and the unit runner bound to Prefect's run id."""

from __future__ import annotations

from typing import Any

from prefect import runtime

from lvas.errors import BackendUnavailable


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only what may pass: a backend that timed out or answered 429/5xx, or a timeout.

    Bad input and invalid model output fail at once; retrying them only burns time.
    """
    try:
        state.result()
    except BackendUnavailable as exc:
        return exc.transient
    except TimeoutError:
        return True
    except Exception:
        return False
    return False


def run_id() -> str:
    return str(runtime.flow_run.id or "")
