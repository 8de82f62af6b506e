"""The embedded Prefect server's app: Prefect's own, with SQLite write conflicts made to wait.

On SQLite, Prefect's API opens most write transactions DEFERRED: one that read before another
request's write committed cannot write itself (SQLITE_BUSY at once, no busy-wait), the API answers
503, and Prefect's client backs off 2 s, then 4 s, ... unless the response carries ``Retry-After``.
Measured with two Dask workers each running trivial subflows (an ad-hoc script timing every API
call; bench/bench_tasks.py gives the per-subflow figures): about one subflow in six met a 503 and
waited 2.3 s. This app

- opens those transactions IMMEDIATE (they take the write lock first and wait for it), and
- adds ``Retry-After: RETRY_AFTER_S`` to any 503 that is still answered, and
- bounds SQLite's page cache per connection to ``SQLITE_CACHE_KIB`` (Prefect asks for 20000
  pages, 80 MB per pooled connection, which a long run fills page by page: the server's memory
  then grows with the dataset until it reaches that size; bench/RESULTS.md).

Used by ``lvas.flows.runtime`` for the embedded server (``python -m lvas.flows.server_app FD PARENT_PID``, :func:`serve`).
A server you run yourself (``prefect server start``, ``make ui``) is Prefect's unchanged; on Postgres
the conflict does not arise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

RETRY_AFTER_S = "0.2"
SQLITE_CACHE_KIB = 8192


def create_app() -> Any:
    from prefect.server.api.server import create_app as prefect_app

    _immediate_sqlite_transactions()
    _bounded_sqlite_cache()
    app = prefect_app()
    app.add_middleware(RetrySoonOn503)
    return app


def _immediate_sqlite_transactions() -> None:
    """Open every SQLite write transaction IMMEDIATE (take the write lock first), the fix Prefect's
    own comment in prefect/server/database/configurations.py names: a transaction then waits for
    another writer (busy_timeout) instead of failing when it tries to write after reading."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    deferred = AioSqliteConfiguration.begin_transaction

    @contextlib.asynccontextmanager
    async def immediate(self: Any, session: Any, with_for_update: bool = False) -> AsyncIterator[Any]:
        async with deferred(self, session, with_for_update=True) as transaction:
            yield transaction

    AioSqliteConfiguration.begin_transaction = immediate  # type: ignore[method-assign]


def _bounded_sqlite_cache() -> None:
    """After Prefect's own PRAGMAs on each new SQLite connection, set its page cache to
    ``SQLITE_CACHE_KIB`` (a negative ``cache_size`` is a size in KiB, not a page count)."""
    from prefect.server.database.configurations import AioSqliteConfiguration

    prefect_setup = AioSqliteConfiguration.setup_sqlite

    def setup(self: Any, conn: Any, record: Any) -> None:
        prefect_setup(self, conn, record)
        cursor = conn.cursor()
        cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB};")
        cursor.close()

    AioSqliteConfiguration.setup_sqlite = setup  # type: ignore[method-assign]


class RetrySoonOn503:
    """ASGI middleware: a 503 response without ``Retry-After`` gets one of ``RETRY_AFTER_S`` seconds."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_retry_after(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] == 503:
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"retry-after" for k, _ in headers):
                    headers.append((b"retry-after", RETRY_AFTER_S.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_retry_after)


def serve(fd: int, parent: int) -> None:
    """Serve :func:`create_app` on the listening TCP socket ``fd``, bound by the parent process,
    until stopped or until the process ``parent`` is gone (:func:`exit_with_parent`).

    Not ``uvicorn --fd``: uvicorn wraps that descriptor as an AF_UNIX socket, so its TCP
    connections are never given TCP_NODELAY, and each response's second write waited for the
    client's delayed ACK: 40 ms added to every API call (measured: 44.6 ms per ``/health`` with
    2.4 ms of server CPU; bench/RESULTS.md). ``socket.socket(fileno=fd)`` reads the real family and
    protocol, which asyncio and uvloop check before setting TCP_NODELAY (the same fix as
    sgl-project/sglang#20421 and vllm-project/vllm#13113; uvicorn's own, Kludex/uvicorn#3149)."""
    import uvicorn

    sock = socket.socket(fileno=fd)
    exit_with_parent(parent)
    config = uvicorn.Config("lvas.flows.server_app:create_app", factory=True, log_level="error", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def exit_with_parent(parent: int) -> None:
    """Stop this server (SIGTERM, which uvicorn handles as a graceful shut-down) once the process
    ``parent`` that launched it is gone: killed (SIGKILL, the OOM killer) it cannot stop its server,
    which would otherwise live on, holding its port and Prefect's database. An orphan is adopted by
    another process, so its parent's pid changes."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]))
