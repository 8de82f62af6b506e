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


class RunLock:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fh: object | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunLocked(
                f"{self.path.parent}: another lvas run is writing to this folder ({holder}); "
                "wait for it to finish or use another --out"
            ) from None
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
