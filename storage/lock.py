"""One run at a time per output folder.

An OS file lock (flock) on ``<out>/lvas.lock``: the kernel releases it when the holder exits or is
killed, so a crashed run never leaves a stale lock, and a second run on the same folder is refused
with the holder's pid and start time instead of interleaving its writes.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from types import TracebackType

from lvas.errors import RunLocked

PROBE_TRIES = 4


class RunLock:
    """``with RunLock(layout.lock()):`` holds the folder for one run.

    Raises:
        RunLocked: (on entering) another process holds it; the message names its pid and start time.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: object | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fh is not None

    @staticmethod
    def holder(path: str | os.PathLike[str]) -> dict[str, object] | None:
        """Who holds the lock at ``path`` now: {"pid", "started"} (empty when it did not say), or
        None when nobody does. A cheap probe (no file is created) to call before starting a
        server and a cluster for a run that would be refused."""
        try:
            fh = open(path)  # noqa: SIM115 (closed by the with below)
        except OSError:  # no lock file (or no folder): nobody holds it
            return None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_holder(fh)
            fcntl.flock(fh, fcntl.LOCK_UN)
        return None

    @classmethod
    def check(cls, path: str | os.PathLike[str]) -> None:
        """Raise :class:`RunLocked` at once when another run holds ``path``.

        Raises:
            RunLocked: with the holder's pid and start time, and what to do.
        """
        who = cls.holder(path)
        if who is not None:
            raise RunLocked(_refusal(Path(path), who))

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        for attempt in range(PROBE_TRIES):
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt + 1 < PROBE_TRIES:  # a probe (``holder``) holds it for an instant
                    time.sleep(0.05)
                    continue
                who = _read_holder(fh)
                fh.close()
                raise RunLocked(_refusal(self.path, who)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None


def _read_holder(fh: object) -> dict[str, object]:
    fh.seek(0)  # type: ignore[attr-defined]
    try:
        who = json.loads(fh.read())  # type: ignore[attr-defined]
    except ValueError:
        return {}
    return who if isinstance(who, dict) else {}


def _refusal(path: Path, who: dict[str, object]) -> str:
    holder = f"pid {who['pid']}, started {who.get('started', '?')}" if who.get("pid") else "another process"
    return (f"{path.parent}: another lvas run is writing to this folder ({holder}); wait for it to finish "
            f"(`lvas status {path.parent}` shows its progress) or use another --out")
