"""write_script: captions, discussion–correction merges, sidecars, frame stats, persistence."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from lvas.agents import drain_calls
from lvas.agents.artifacts import load_calls, load_script, save_calls, save_script
from lvas.agents.captions import find_sidecar, load_sidecar, sidecar_path
from lvas.agents.llm_agents import LLMAgents
from lvas.agents.offline import OfflineAgents
from lvas.agents.script import write_script
from lvas.errors import InputError
from lvas.models import Caption
from lvas.settings import AgentSettings
from lvas.storage.layout import Layout
from tests.agent_helpers import GRASS, INDOOR, NIGHT, SKY, make_storyboard
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, image_parts, role_of, user_texts

PARK, ROOM = (SKY, GRASS), (INDOOR, NIGHT)


@dataclass(frozen=True)
class MergeCase:
    looks: list
    scenes: list[list[int]]


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(MergeCase([PARK, PARK, ROOM], [[0, 1], [2]]), id="park-park-room"),
        pytest.param(MergeCase([PARK, ROOM, PARK], [[0], [1], [2]]), id="alternating"),
        pytest.param(MergeCase([ROOM], [[0]]), id="single-shot"),
        pytest.param(MergeCase([ROOM, ROOM, ROOM, PARK], [[0, 1, 2], [3]]), id="long-scene"),
    ],
)
def test_offline_script_merges_shots_that_look_alike(tmp_path: Path, case: MergeCase) -> None:
    sb = make_storyboard(tmp_path, case.looks)
    agents = OfflineAgents()
    script = write_script(sb, tmp_path, agents)
    assert [s.shot_indices for s in script.scenes] == case.scenes
    assert len(script.decisions) == len(case.looks) - 1
    assert [d.shot_index for d in script.decisions] == list(range(1, len(case.looks)))
    for scene in script.scenes:
        assert scene.start_s == sb.shots[scene.shot_indices[0]].start_s
        assert scene.end_s == sb.shots[scene.shot_indices[-1]].end_s
    assert script.global_description.startswith("Offline measurement of")
    roles = [c.role for c in drain_calls(agents)]
    assert (
        roles.count("scriptwriter") == 1 + len(case.looks)
        and roles.count("storyboarder") == len(case.looks) - 1
    )
    assert agents.calls == []


def test_script_round_trips_through_parquet(tmp_path: Path) -> None:
    sb = make_storyboard(tmp_path, [PARK, PARK, ROOM, PARK])
    agents = OfflineAgents()
    script = write_script(sb, tmp_path, agents)
    save_script(tmp_path / "script.parquet", script)
    assert load_script(tmp_path / "script.parquet") == script
    calls = drain_calls(agents)
    save_calls(tmp_path / "calls.parquet", calls)
    assert load_calls(tmp_path / "calls.parquet") == calls and len(calls) == 1 + 4 + 3
    save_calls(tmp_path / "none.parquet", [])
    assert load_calls(tmp_path / "none.parquet") == []


# --------------------------------------------------------------------------- sidecars


SIDECAR = {
    "global": "A cyclist rides through a forest, then goes indoors.",
    "segments": [
        {"start": 0.0, "end": 3.5, "caption": "a cyclist rides fast on a trail among trees"},
        {
            "start": 3.5,
            "end": 9.0,
            "caption": {"background": "a workshop", "entity": "a man", "action": "hammers a nail"},
        },
    ],
}


def test_sidecar_captions_replace_the_scriptwriter(tmp_path: Path) -> None:
    video = tmp_path / "clip.mp4"
    sidecar_path(video).write_text(json.dumps(SIDECAR))
    sidecar = find_sidecar(video)
    assert sidecar is not None
    sb = make_storyboard(tmp_path, [PARK, PARK, ROOM])
    agents = OfflineAgents()
    script = write_script(sb, tmp_path, agents, sidecar)
    assert script.global_description == SIDECAR["global"]
    assert script.shot_captions[0].summary == "a cyclist rides fast on a trail among trees"
    assert script.shot_captions[1] == script.shot_captions[0]  # 2-4 s overlaps the first segment more
    assert script.shot_captions[2] == Caption(
        background="a workshop",
        entity="a man",
        action="hammers a nail",
        summary="a man; hammers a nail; a workshop",
    )
    assert all(c.role == "storyboarder" for c in agents.calls)  # no Scriptwriter call was needed


def test_caption_for_picks_the_largest_overlap_and_none_outside() -> None:
    sc = load_sidecar_from(
        {"segments": [{"start": 0, "end": 2, "caption": "a"}, {"start": 2, "end": 5, "caption": "b"}]}
    )
    assert sc.caption_for(1.5, 3.0).summary == "b"
    assert sc.caption_for(0.0, 2.0).summary == "a"
    assert sc.caption_for(6.0, 7.0) is None and sc.global_description is None


def load_sidecar_from(obj: object, tmp: Path | None = None):
    import tempfile

    d = Path(tempfile.mkdtemp()) if tmp is None else tmp
    p = d / "v.captions.json"
    p.write_text(json.dumps(obj) if not isinstance(obj, str) else obj)
    return load_sidecar(p)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("{nope", "not UTF-8 JSON", id="bad-json"),
        pytest.param(
            {"segments": [{"start": 3, "end": 1, "caption": "x"}]}, "segments.0", id="end-before-start"
        ),
        pytest.param({"global": "g"}, "segments", id="no-segments"),
    ],
)
def test_bad_sidecar_names_the_file_and_problem(tmp_path: Path, content: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        load_sidecar_from(content, tmp_path)
    assert "v.captions.json" in str(err.value)


def test_named_sidecar_must_exist(tmp_path: Path) -> None:
    assert find_sidecar(tmp_path / "clip.mp4") is None
    with pytest.raises(InputError, match="not found"):
        find_sidecar(tmp_path / "clip.mp4", str(tmp_path / "missing.json"))


# --------------------------------------------------------------------------- inputs


def test_missing_or_escaping_keyframes_are_input_errors(tmp_path: Path) -> None:
    sb = make_storyboard(tmp_path, [PARK, ROOM])
    (tmp_path / sb.shots[1].keyframes[0]).unlink()
    with pytest.raises(InputError, match=r"shot 1: keyframe .* is missing"):
        write_script(sb, tmp_path, OfflineAgents())
    evil = sb.model_copy(
        update={"shots": [sb.shots[0].model_copy(update={"keyframes": ["../../etc/passwd"]})]}
    )
    with pytest.raises(InputError, match="escapes the video folder"):
        write_script(evil, tmp_path, OfflineAgents())


def test_frame_stats_reach_the_offline_captions(tmp_path: Path, monkeypatch) -> None:
    layout = Layout(tmp_path / "out")
    video_dir = layout.video_dir("clip-0123456789")
    sb = make_storyboard(video_dir, [PARK, PARK])
    layout.frames(sb.video_id).write_bytes(b"stand-in")  # existence is what the reader checks
    asked = []

    def load_frame_stats(lay, video_id, start_s, end_s):
        asked.append((lay.root, video_id, start_s, end_s))
        return {"t_s": np.linspace(start_s, end_s, 10), "motion": np.full(10, 0.2 if start_s == 0 else 0.0)}

    monkeypatch.setitem(
        sys.modules, "lvas.storyboard", types.SimpleNamespace(load_frame_stats=load_frame_stats)
    )
    script = write_script(sb, video_dir, OfflineAgents())
    assert asked == [(layout.root, sb.video_id, 0.0, 2.0), (layout.root, sb.video_id, 2.0, 4.0)]
    assert (
        script.shot_captions[0].action == "fast motion" and script.shot_captions[1].action == "static frame"
    )


# --------------------------------------------------------------------------- LLM agents


def test_llm_script_follows_the_storyboarders_decisions(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("LVAS_TEST_KEY", "k")
    sb = make_storyboard(tmp_path, [PARK, PARK, ROOM])

    def responder(body: dict) -> Reply:
        role = role_of(body)
        if role == "global":
            return as_reply({"description": "a park, then a room", "timeline": []})
        if role == "caption":
            return as_reply(
                {"background": "park", "entity": "dog", "action": "runs", "summary": "a dog runs"}
            )
        merge = "New shot 1" in user_texts(body)[0]
        caption = {"summary": "the dog runs across the park" if merge else "an empty room"}
        return as_reply(
            {"merge": merge, "reason": "same place" if merge else "new place", "caption": caption}
        )

    settings = AgentSettings(
        backend="openai",
        base_url="",
        api_key_env="LVAS_TEST_KEY",
        retry_backoff_s=0.01,
        max_keyframes_per_call=4,
    )
    with FakeLLMServer(responder=responder) as srv:
        agents = LLMAgents(settings.model_copy(update={"base_url": srv.base_url}))
        script = write_script(sb, tmp_path, agents)
    assert [s.shot_indices for s in script.scenes] == [[0, 1], [2]]
    assert script.scenes[0].caption.summary == "the dog runs across the park"
    assert script.scenes[1].caption.summary == "an empty room"
    assert [d.reason for d in script.decisions] == ["same place", "new place"]
    roles = [role_of(b) for b in srv.requests]
    assert roles == ["global", "caption", "caption", "caption", "merge", "merge"]
    assert len(image_parts(srv.requests[0])) == 4 and len(image_parts(srv.requests[1])) == 2
    assert {c.model for c in agents.calls} == {"Qwen2.5-VL-7B-Instruct", "qwen-max"}
    assert sum(c.prompt_tokens for c in agents.calls) == 11 * 6
