"""The benchmarks' reference: every stage of every video without an orchestrator.

    .venv/bin/python bench/direct.py SRC OUT [--procs N]

Runs ``lvas.pipeline.dub_video_direct`` (the same stage functions, units, markers and status
records as the flow) over the videos of SRC, serially in one process, or split over N processes
(video i goes to process i mod N). Exit status: the worst of the processes'.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--procs", type=int, default=1)
    ap.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)  # i/N: this process's share
    args = ap.parse_args()
    if args.procs > 1:
        kids = [subprocess.Popen([sys.executable, __file__, args.src, args.out, "--shard", f"{i}/{args.procs}"])
                for i in range(args.procs)]
        return max(k.wait() for k in kids)

    from lvas.discover import discover
    from lvas.pipeline import dub_video_direct
    from lvas.settings import Settings
    from lvas.storage.layout import Layout

    i, n = map(int, args.shard.split("/"))
    for video in discover([args.src]).videos[i::n]:
        dub_video_direct(Layout(args.out), video, Settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
