"""Artifact layout, atomic writes, completion markers and the status table."""

from lvas.storage.atomic import atomic_path, write_bytes, write_json, write_parquet, write_text
from lvas.storage.layout import Layout

__all__ = ["Layout", "atomic_path", "write_bytes", "write_json", "write_parquet", "write_text"]
