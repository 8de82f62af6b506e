"""Replace one `## Section` of bench/RESULTS.md, leaving the others as they are."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, body: str, notes_mark: str | None = None) -> None:
    """Write ``body`` as the section ``title``. With ``notes_mark``, the body ends with that line and
    what the old section held below it (notes written by hand) is kept below it."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if notes_mark is not None:
        old = pattern.search(text)
        notes = old.group(0).partition(notes_mark)[2].strip("\n") if old and notes_mark in old.group(0) else ""
        body = f"{body.strip()}\n\n{notes_mark}" + (f"\n\n{notes}" if notes else "")
    section = f"## {title}\n\n{body.strip()}\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    RESULTS.write_text(text)
