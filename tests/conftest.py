"""Shared fixtures: a Prefect test server and a small local Dask cluster for flow tests."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest

# embedded label vectors are cached per user (kb.embedding.cached_embeddings): the tests keep theirs
# apart from the machine's, shared by the session (and by the Dask workers, which inherit it)
CACHE_DIR = tempfile.mkdtemp(prefix="lvas-test-cache-")
os.environ["LVAS_CACHE_DIR"] = CACHE_DIR

# the Ctrl-C tests need a Ctrl-C to raise, here and in the processes they start: a shell that runs
# the suite as a background job (`make test &`, nohup) starts it with SIGINT ignored, and that
# passes on to every child; Python's own handler is put back (a child then starts with the default)
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The session's cache goes with it: each run's would pile up in the temporary folder."""
    shutil.rmtree(CACHE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_dask() -> Iterator[str]:
    """A Prefect test server plus a 2-process Dask cluster whose workers report to it.

    Yields the scheduler address. Workers inherit PREFECT_API_URL from the environment, so it is
    exported before they start (otherwise each would start its own temporary server).
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from lvas.flows.runtime import dask_cluster
    from lvas.settings import RunSettings

    os.environ.setdefault("LVAS_TEST_API_KEY", "test-key")  # before the workers start: they inherit it
    with prefect_test_harness(server_startup_timeout=120):
        old = os.environ.get("PREFECT_API_URL")
        os.environ["PREFECT_API_URL"] = PREFECT_API_URL.value()
        try:
            with dask_cluster(RunSettings(workers=2)) as address:
                yield address
        finally:
            if old is None:
                os.environ.pop("PREFECT_API_URL", None)
            else:
                os.environ["PREFECT_API_URL"] = old
