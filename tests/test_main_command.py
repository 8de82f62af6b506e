"""The main job as a user runs it: `lvas dub` in its own process, embedded Prefect server and local
Dask cluster started by lvas itself (server in the background while the workers warm up), on a
fresh Prefect home, then `lvas status --json`."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.clips import colour_cuts, make_clip


def test_lvas_dub_end_to_end_on_embedded_defaults(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_clip(src / "clip one.mp4", colour_cuts([1.0], size=(96, 64)), seconds=2.0, size=(96, 64))
    (src / "broken.mp4").write_text("not a video")
    (tmp_path / "empty").mkdir()  # a source with no video, beside one with two
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}  # nothing attached
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PYTHONPATH": str(Path(__file__).parents[1])}
    cmd = [sys.executable, "-m", "lvas.cli", "dub", str(src), str(tmp_path / "empty"), "--out", str(out),
           "--workers", "2"]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 1, log  # one broken input: the run says so ...
    assert "Prefect API http://127.0.0.1:" in log
    assert "1 of 2 videos done, 1 failed" in log
    assert "broken.mp4" in log
    assert f"lvas: `lvas rerun {out} --failed` redoes what failed or did not finish" in log
    assert f"lvas: input problem: {tmp_path / 'empty'}: folder holds no video files" in log
    assert " | INFO " not in log and " | WARNING " not in log  # Prefect's run logs: in the UI, not here
    with sqlite3.connect(tmp_path / "prefect-home" / "prefect.db") as db:  # what the Prefect UI shows
        logs = [(level, msg) for level, msg in db.execute("SELECT level, message FROM log")]
        flow_runs = [name for (name,) in db.execute("SELECT name FROM flow_run")]
        block_types = db.execute("SELECT count(*) FROM block_type").fetchone()[0]
    assert block_types == 0  # the embedded server skips Prefect's block registration (no run uses a block)
    assert (20, "2 videos found, 0 already done, 2 to do") in logs
    assert any(level == 30 and "broken.mp4" in msg and "not a readable video" in msg for level, msg in logs), logs
    # the broken video's batch ends at its storyboard: no design subflow for a batch with no scenes
    assert len([n for n in flow_runs if n.startswith("design-refine ")]) == 1, flow_runs

    status = subprocess.run([sys.executable, "-m", "lvas.cli", "status", str(out), "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    rows = {Path(r["source"]).name: r for r in json.loads(status.stdout)}
    good = rows["clip one.mp4"]  # ... and the good video is dubbed all the same
    assert good["state"] == "completed" and good["stage"] == "mix", good
    assert Path(good["outputs"]["dubbed"]).stat().st_size > 0
    assert Path(good["outputs"]["report"]).is_file()
    assert rows["broken.mp4"]["state"] == "failed" and rows["broken.mp4"]["error"]
