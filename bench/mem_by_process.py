"""Resident memory of each process of one `lvas dub` run, sampled every second.

    .venv/bin/python bench/mem_by_process.py SRC [OUT]

Prints RSS (MB) per process (flow, Prefect server, Dask workers) at 30%, 60% and 95% of the run:
which process grows with the number of videos.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import role, tree_rss  # noqa: E402


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "bench" / "out" / "mem-by-process"
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "lvas"), "dub", sys.argv[1], "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples, t0 = [], time.time()
    while proc.poll() is None:
        row = {f"{role(cmd)}-{pid}": round(mb) for pid, (cmd, mb) in tree_rss(proc.pid).items()}
        samples.append((time.time() - t0, row))
        time.sleep(1)
    for frac in (0.3, 0.6, 0.95):
        t, row = samples[int(len(samples) * frac)]
        print(f"{100 * frac:.0f}% (t={t:.0f} s):", dict(sorted(row.items())))


if __name__ == "__main__":
    main()
