"""Atomic writes: every artifact is written to a temporary file beside it and renamed into place.

A crash (or a killed Dask worker) leaves either the old artifact or the new one, never half of
one; stray ``*.part-*`` files are ignored by readers and swept by ``sweep_partials``.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PART = ".part-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the suffix, so tools that pick a format from it (soundfile, PyAV)
    still work. On an exception the temporary file is removed and nothing is replaced.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{final.stem}{PART}{uuid.uuid4().hex[:8]}{final.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to {tmp}")
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str))


def write_parquet(path: str | os.PathLike[str], rows: list[dict[str, Any]] | pa.Table) -> Path:
    """Write rows (a list of flat dicts) or a pyarrow Table atomically as Parquet."""
    table = rows if isinstance(rows, pa.Table) else pa.Table.from_pylist(rows)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return Path(path)


def read_parquet(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def sweep_partials(root: str | os.PathLike[str]) -> int:
    """Remove temporary files a killed process left behind. Returns how many."""
    n = 0
    for p in Path(root).rglob(f"*{PART}*"):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            n += 1
    return n
