"""A dataset with one input of each hostile kind of issue 21 beside good videos, through the flow.

Every good video completes; every bad one fails alone, with its reason; the run neither hangs
nor leaks the key; a rerun refused by the lock changes nothing; a damaged artifact is found and
redone without redoing what did not depend on it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from lvas.cli import main
from lvas.errors import RunLocked
from lvas.settings import AgentSettings, RunSettings, Settings
from lvas.storage.layout import Layout
from lvas.storage.lock import RunLock
from lvas.storage.rerun import plan_rerun
from lvas.storage.status import collect, rollup
from tests.clips import colour_cuts, make_clip
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, role_of, user_texts
from tests.harness import run_dub

HOSTILE_TEXT = "a park \x1b]0;pwned\x07\x1b[2J by day \u202egnp.exe"
DEEP = '{"description": ' * 50_000 + '"x"' + "}" * 50_000
KEY_VIDEO_S = 3.0  # the video whose global description the endpoint refuses, echoing the key


class HostileEndpoint:
    """Valid answers only after a repair request: every first answer is hostile (nested 50 000
    deep, a time of 1e308, or megabytes long); the video of ``KEY_VIDEO_S`` seconds gets a 401
    that echoes the API key."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.requests = 0

    def __call__(self, body: dict) -> Reply:
        self.requests += 1
        role, text = role_of(body), "\n".join(user_texts(body))
        if role == "global" and f"lasts {KEY_VIDEO_S:.1f}s" in text:
            return Reply(status=401, content=f"invalid api key {self.key}")
        if "could not be used" not in text:  # not a repair request: something hostile
            hostile = {"global": Reply(content=DEEP),
                       "caption": as_reply({"summary": "x" * 5_000_000}),
                       "design": as_reply({"reasoning": "r", "audio": [], "background": [], "volume": 1e308})}
            return hostile.get(role, Reply(content=DEEP))
        answers = {
            "global": {"description": HOSTILE_TEXT, "timeline": [{"start_s": 0, "end_s": 1, "description": "x"}]},
            "caption": {"background": "a park", "entity": "a dog", "action": "runs", "summary": "a dog runs"},
            "merge": {"merge": False, "reason": "a new place", "caption": {"summary": "a dog runs"}},
            "design": {"reasoning": "dog, park", "audio": [{"description": "dog barking"}],
                       "background": [{"description": "birds in a park"}], "volume": 0.8},
            "map": {"mapping": []},
        }
        return as_reply(answers.get(role, {"verdict": "final", "feedback": ""}))


def _dataset(d: Path) -> tuple[list[str], dict[str, str]]:
    """Sources as a user would type them, and {file name: what its video must end as}."""
    good = d / "good"
    make_clip(good / "a.mp4", colour_cuts([1.0], seed=1), seconds=2.0)
    make_clip(good / "sub" / "b.mp4", colour_cuts([0.8], seed=2), seconds=2.0)
    make_clip(d / "c.mp4", colour_cuts([0.5], seed=3), seconds=2.0)
    make_clip(d / "d.mp4", colour_cuts([1.5], seed=4), seconds=KEY_VIDEO_S)
    (good / "sub" / "up").symlink_to(good)  # a loop the ** glob must not go round
    (d / "alias.mp4").symlink_to(good / "a.mp4")  # a.mp4 under another name
    (d / "notes.mp4").write_text("not a video\n")
    for fifo in ("pipe.mp4", "pipe2.mp4", "caps.json"):
        os.mkfifo(d / fifo)
    (d / "list.csv").write_text("path,captions\npipe2.mp4,\nc.mp4,caps.json\n")
    sources = [str(good / "**" / "*.mp4"), str(d / "good" / ".." / "good" / "a.mp4"), str(d / "alias.mp4"),
               str(d / "pipe.mp4"), str(d / "notes.mp4"), str(d / "d.mp4"), str(d / "list.csv")]
    expected = {"a.mp4": "completed", "b.mp4": "completed", "pipe.mp4": "a FIFO (named pipe), not a regular file",
                "pipe2.mp4": "not a regular file", "notes.mp4": "not a readable video file",
                "c.mp4": "caps.json: a FIFO (named pipe), not a regular file", "d.mp4": "HTTP 401"}
    return sources, expected


def test_hostile_dataset(prefect_dask: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = os.environ["LVAS_TEST_API_KEY"]  # set by the prefect_dask fixture, inherited by the workers
    sources, expected = _dataset(tmp_path / "data")
    out = tmp_path / "out"
    layout = Layout(out)
    endpoint = HostileEndpoint(key)
    with FakeLLMServer(responder=endpoint) as srv:
        agents = AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_API_KEY",
                               max_retries=0, retry_backoff_s=0, timeout_s=10, max_response_bytes=1_000_000)
        s = Settings(agents=agents, run=RunSettings(task_retries=0, retry_delay_s=0))
        assert run_dub(prefect_dask, sources, out, s).is_failed()

        states = {Path(v.source).name: v for v in rollup(collect(layout)).values()}
        assert sorted(states) == sorted(expected)  # a.mp4 once, whatever it was called; no loop copies
        for name, outcome in expected.items():
            if outcome == "completed":
                assert states[name].state == "completed", (name, states[name].error)
            else:
                assert states[name].state == "failed" and outcome in states[name].error, (name, states[name].error)
        for rec in layout.status_dir().rglob("*.json"):
            assert key not in rec.read_text()

        a = states["a.mp4"].video_id
        assert main(["show", str(out), a]) == 0
        shown = capsys.readouterr().out
        assert "\x1b" not in shown and "\u202e" not in shown and "\\x1b]0;pwned" in shown

        # a rerun refused by the lock changes nothing
        markers = sorted(layout.video_dir(a).glob(".done/*.json"))
        with RunLock(layout.lock()), pytest.raises(RunLocked):
            plan_rerun(layout, failed=False, videos=[a], scenes=[])
        assert sorted(layout.video_dir(a).glob(".done/*.json")) == markers

        # a damaged storyboard is found and redone; what was built from it is not (same output)
        shots = layout.shots(a)
        shots.write_bytes(shots.read_bytes()[:-10])
        script_before = json.loads(layout.marker(a, "script").read_text())
        requests_before = endpoint.requests
        assert run_dub(prefect_dask, sources[:1], out, s).is_completed()
        assert json.loads(layout.marker(a, "script").read_text()) == script_before
        assert endpoint.requests == requests_before
        assert layout.done(a, "storyboard", json.loads(layout.marker(a, "storyboard").read_text())["key"],
                           verify=True) is not None
    shutil.rmtree(tmp_path / "data")
