"""Editing in turns: the offline grammar, validation, re-rendering only touched scenes, undo byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lvas.edits import AddOp, GainOp, RemoveOp, Target, apply_ops, parse_ops, parse_request
from lvas.errors import InputError
from lvas.models import SoundEvent

KNOWN = frozenset({"rain", "dog barking", "door knocking", "speech"})
EXCLUDED = frozenset({"speech"})
SPANS = [(0.0, 1.5), (1.5, 3.0)]


def ev(scene: int, index: int, label: str, start: float, end: float, gain: float = 0.0) -> SoundEvent:
    return SoundEvent(scene_index=scene, index=index, layer="foreground", label=label, prompt=label,
                      start_s=start, end_s=end, gain_db=gain, scenes=(scene,))


EVENTS = [ev(0, 0, "rain", 0.0, 1.5), ev(1, 0, "rain", 1.5, 3.0), ev(1, 1, "door knocking", 2.0, 2.5)]


def test_the_offline_grammar() -> None:
    ops = parse_request("Make the rain in scene 1 quieter and add a dog barking at 2.5 s, "
                        "then remove the door knocking; replace the rain in scene 0 with hail")
    assert [o.op for o in ops] == ["gain", "add", "remove", "replace"]
    assert ops[0] == GainOp(op="gain", target=Target(sound="rain", scene=1), delta_db=-6.0)
    assert ops[1] == AddOp(op="add", label="dog barking", start_s=2.5)
    assert parse_request("make the rain louder by 3 db")[0].delta_db == 3.0
    assert parse_request("move the rain in scene 1 to 2 s")[0].start_s == 2.0
    assert parse_request("regenerate the door knocking")[0].op == "regenerate"
    with pytest.raises(InputError, match=r"cannot parse 'sing a song'.*offline grammar understands"):
        parse_request("add a dog barking at 1 s and sing a song")


def test_operations_edit_the_events() -> None:
    ops = parse_request("make the rain in scene 1 quieter and add a dog barking at 0.5 s and remove the door knocking")
    out = apply_ops(EVENTS, ops, SPANS, 3.0, KNOWN, EXCLUDED)
    assert [e.gain_db for e in out if e.label == "rain"] == [0.0, -6.0]
    dog = next(e for e in out if e.label == "dog barking")
    assert (dog.scene_index, dog.start_s, dog.end_s, dog.index) == (0, 0.5, 2.5, 1)
    assert not any(e.label == "door knocking" for e in out)
    regen = apply_ops(EVENTS, parse_request("regenerate the door knocking"), SPANS, 3.0, KNOWN, EXCLUDED)
    assert regen[2].seed_offset == 1 and regen[2].label == "door knocking"


@pytest.mark.parametrize(("request_", "reason"), [
    ("make the rain in scene 7 quieter", "no scene 7: the video has 2"),
    ("add a dog barking at 12.5 s", "at or after the video's end"),
    ("add a unicorn at 1 s", "unknown label 'unicorn'"),
    ("add a speech at 1 s", "excluded"),
    ("remove the thunder in scene 0", "no 'thunder' in scene 0; there: rain"),
    ("replace the rain with a unicorn", "unknown label"),
])
def test_bad_edits_are_refused_with_the_reason(request_: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        apply_ops(EVENTS, parse_request(request_), SPANS, 3.0, KNOWN, EXCLUDED)


def test_scripted_operations_are_validated_data() -> None:
    ops = parse_ops({"ops": [{"op": "remove", "target": {"sound": "rain", "scene": 0}}]})
    assert ops == [RemoveOp(op="remove", target=Target(sound="rain", scene=0))]
    with pytest.raises(InputError, match="bad edit operations"):
        parse_ops({"ops": [{"op": "exec", "code": "rm -rf /"}]})
    with pytest.raises(InputError, match="gain_db"):
        parse_ops([{"op": "add", "label": "rain", "start_s": 1, "gain_db": 90}])


# --------------------------------------------------------------------------- turns on a dubbed video


def folder_bytes(root: Path) -> dict[str, bytes]:
    skip = ("events", "keyframes", "turns")
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.relative_to(root).parts[0] not in skip}


@pytest.fixture(scope="module")
def dubbed(tmp_path_factory: pytest.TempPathFactory):
    from lvas.models import VideoRef
    from lvas.pipeline import dub_video_direct
    from lvas.settings import Settings, SynthSettings
    from lvas.storage.layout import Layout
    from lvas.storage.runs import prepare_run
    from tests.clips import colour_cuts, make_clip

    d = tmp_path_factory.mktemp("edit")
    clip = make_clip(d / "clip.mp4", colour_cuts([1.5]), seconds=3.0)
    side = d / "clip.captions.json"
    side.write_text(json.dumps({"segments": [{"start": 0, "end": 1.5, "caption": "rain on a roof"},
                                             {"start": 1.5, "end": 3, "caption": "a door"}],
                                "events": [{"start": 0.2, "end": 1.2, "sound": "rain"},
                                           {"start": 1.8, "end": 2.4, "sound": "door knocking"}]}))
    video = VideoRef(source=str(clip), path=str(clip), video_id="clip", captions_path=str(side))
    s = Settings(synth=SynthSettings(sample_rate=16000, channels=1))
    layout = Layout(d / "out")
    dub_video_direct(layout, video, s)
    prepare_run(layout, [video], s)
    return layout, video, s


def test_a_turn_rerenders_only_the_touched_scene_and_undo_restores_every_byte(dubbed) -> None:
    from lvas.pipeline import edit_turn, undo_turn
    from lvas.storage.atomic import read_parquet

    layout, video, s = dubbed
    root = layout.video_dir("clip")
    before = folder_bytes(root)
    # found by (scene, event): the reflect stage may give a kept take another label in the cue sheet
    slam = {(r["scene"], r["event"]): r["gain_db"] for r in read_parquet(layout.events("clip"))
            if r["label"] == "door slam"}
    first = edit_turn(layout, video, parse_request("make the door slam in scene 1 louder by 4 db"), "r1", s)
    assert first["turn"] == 1 and first["rendered"] == [1]
    cue = read_parquet(layout.events("clip"))
    assert slam and all(r["gain_db"] == pytest.approx(slam[(r["scene"], r["event"])] + 4.0)
                        for r in cue if (r["scene"], r["event"]) in slam)
    after_one = folder_bytes(root)
    assert after_one["mix.wav"] != before["mix.wav"]
    second = edit_turn(layout, video, parse_request("add a dog barking at 0.5 s"), "r2", s)
    assert second["turn"] == 2 and second["rendered"] == [0]
    assert any(r["label"] == "dog barking" for r in read_parquet(layout.events("clip")))
    assert [r["request"] for r in read_parquet(root / "edits.parquet")] == ["r1", "r2"]

    assert undo_turn(layout, "clip") == 2
    assert folder_bytes(root) == after_one
    assert undo_turn(layout, "clip") == 1
    assert folder_bytes(root) == before
    with pytest.raises(InputError, match="no edit turn to undo"):
        undo_turn(layout, "clip")


def status_rows(layout) -> list[dict]:
    from lvas.storage.status import collect

    return [r.to_row() for r in collect(layout, ["clip"])]


def views(layout) -> tuple[list[dict], list[str]]:
    """What `lvas show DIR` lists and what `lvas rerun DIR --failed` would take up."""
    from lvas.storage.progress import status_report
    from lvas.storage.rerun import plan_rerun

    return status_report(str(layout.root))["videos"], plan_rerun(layout, failed=True, videos=[], scenes=[])


def test_undo_restores_the_status_records_too(dubbed) -> None:
    from lvas.pipeline import edit_turn, undo_turn

    layout, video, s = dubbed
    records, seen = status_rows(layout), views(layout)
    assert seen[0][0]["state"] == "completed" and seen[1] == []
    edit_turn(layout, video, parse_request("make the rain in scene 0 quieter by 2 db"), "r", s)
    assert status_rows(layout) != records  # the turn's units ran and said so
    undo_turn(layout, "clip")
    assert status_rows(layout) == records
    assert views(layout) == seen


def test_a_failed_turn_leaves_the_status_records_as_they_were(dubbed) -> None:
    from lvas.audio.scores import ScorerUnavailable
    from lvas.pipeline import edit_turn
    from lvas.settings import ReflectSettings

    layout, video, s = dubbed
    records, seen, files = status_rows(layout), views(layout), folder_bytes(layout.video_dir("clip"))
    broken = s.model_copy(update={"reflect": ReflectSettings(scorer="synchformer")})  # no code, no weights here
    with pytest.raises(ScorerUnavailable):
        edit_turn(layout, video, parse_request("make the rain in scene 0 quieter"), "r", broken)
    assert folder_bytes(layout.video_dir("clip")) == files
    assert status_rows(layout) == records  # not "failed": nothing of the turn stays
    assert views(layout) == seen


def test_a_bad_edit_changes_nothing(dubbed) -> None:
    from lvas.pipeline import edit_turn

    layout, video, s = dubbed
    before = folder_bytes(layout.video_dir("clip"))
    for request in ("make the rain in scene 5 quieter", "add a dog barking at 40 s", "add a unicorn at 1 s",
                    "remove the thunder"):
        with pytest.raises(InputError):
            edit_turn(layout, video, parse_request(request), request, s)
    assert folder_bytes(layout.video_dir("clip")) == before


def test_the_edit_command(dubbed, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from lvas.cli import main
    from lvas.storage.lock import RunLock

    layout, _, _ = dubbed
    out = str(layout.root)
    ops = tmp_path / "ops.json"
    ops.write_text(json.dumps({"ops": [{"op": "gain", "target": {"sound": "rain", "scene": 0}, "delta_db": -3}]}))
    assert main(["edit", out, "nope", "make the rain quieter"]) == 2
    assert "no video 'nope'" in capsys.readouterr().err
    assert main(["edit", out, "clip", "sing a song"]) == 2
    assert "cannot parse" in capsys.readouterr().err
    with RunLock(layout.lock()):  # a run writing the folder: the edit is refused
        assert main(["edit", out, "clip", "--file", str(ops)]) == 2
    assert "lvas: error" in capsys.readouterr().err
    assert main(["edit", out, "clip", "--file", str(ops)]) == 0
    assert "turn 1 of clip" in capsys.readouterr().out
    assert main(["edit", out, "clip", "--undo"]) == 0


# --------------------------------------------------------------------------- the LLM editor over HTTP


def agents_over_http(srv, monkeypatch: pytest.MonkeyPatch):
    from lvas.settings import AgentSettings

    monkeypatch.setenv("LVAS_TEST_KEY", "sk-test")
    return AgentSettings(backend="openai", base_url=srv.base_url, api_key_env="LVAS_TEST_KEY", timeout_s=5.0,
                         max_retries=0)


def test_a_valid_llm_edit_over_http_is_parsed_and_applied(dubbed, monkeypatch: pytest.MonkeyPatch) -> None:
    from lvas.agents.artifacts import load_script
    from lvas.backends.llm import OpenAIBackend, user_message
    from lvas.edits import llm_request_ops
    from lvas.pipeline import edit_turn, undo_turn, video_events
    from lvas.storage.atomic import read_parquet
    from lvas.storyboard import load_storyboard
    from tests.fake_llm_server import FakeLLMServer, as_reply, user_texts

    layout, video, s = dubbed
    events = video_events(layout, video, s)
    spans = [(sc.start_s, sc.end_s) for sc in load_script(layout.script("clip")).scenes]
    rain = [(e.scene_index, e.index) for e in events if "rain" in e.label and e.scene_index == 0]
    gains = {(r["scene"], r["event"]): r["gain_db"] for r in read_parquet(layout.events("clip"))}
    answer = {"ops": [{"op": "gain", "target": {"sound": "rain", "scene": 0}, "delta_db": -4.5}]}
    with FakeLLMServer([as_reply(answer)]) as srv:
        agents = agents_over_http(srv, monkeypatch)
        ops = llm_request_ops(OpenAIBackend(agents), agents.model, user_message, "quieter rain at the start",
                              events, spans, load_storyboard(layout, "clip").info.duration_s)
        (sent,) = user_texts(srv.requests[0])
    assert ops == [GainOp(op="gain", target=Target(sound="rain", scene=0), delta_db=-4.5)]
    assert "quieter rain at the start" in sent and "scenes 0: 0-1.52 s, 1: 1.52-3 s" in sent
    result = edit_turn(layout, video, ops, "quieter rain at the start", s)
    assert rain and result["rendered"] == [0]
    cue = {(r["scene"], r["event"]): r["gain_db"] for r in read_parquet(layout.events("clip"))}
    assert all(cue[k] == pytest.approx(gains[k] - 4.5) for k in rain)
    assert all(cue[k] == gains[k] for k in gains if k not in rain)
    undo_turn(layout, "clip")


HOSTILE_EDITS = [
    pytest.param({"ops": [{"op": "shell", "cmd": "rm -rf /"}]}, "does not match any of the expected tags",
                 id="unknown-operation"),
    pytest.param({"ops": [{"op": "add", "label": "dog barking", "start_s": 40}]}, "at or after the video's end",
                 id="after-the-end"),
    pytest.param({"ops": [{"op": "move", "target": {"sound": "rain"}, "start_s": -2}]}, "greater than or equal to 0",
                 id="before-the-start"),
    pytest.param({"ops": [{"op": "gain", "target": {"sound": "rain", "scene": 9}, "delta_db": -3}]}, "no scene 9",
                 id="no-such-scene"),
    pytest.param({"ops": [{"op": "add", "label": "unicorn", "start_s": 1}]}, "unknown label 'unicorn'",
                 id="unknown-label"),
    pytest.param({"ops": [{"op": "gain", "target": {"sound": "rain"}, "delta_db": -3, "exec": "x"}]},
                 "Extra inputs are not permitted", id="extra-field"),
    pytest.param("Of course! I have made the rain quieter for you.", "no JSON object", id="prose"),
]


@pytest.mark.parametrize(("answer", "reason"), HOSTILE_EDITS)
def test_an_llm_edit_outside_the_schema_or_the_video_is_refused_and_changes_nothing(
        dubbed, answer: object, reason: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Through `lvas edit` with the folder's agents on an OpenAI-compatible endpoint."""
    from lvas.cli import main
    from tests.fake_llm_server import FakeLLMServer, Reply, as_reply

    layout, _, _ = dubbed
    root = layout.video_dir("clip")
    saved = (layout.root / "settings.json").read_bytes()
    files, records = folder_bytes(root), status_rows(layout)
    reply = Reply(answer) if isinstance(answer, str) else as_reply(answer)
    with FakeLLMServer([reply, reply]) as srv:  # the answer and the one repair round
        settings = json.loads(saved)
        settings["agents"] |= agents_over_http(srv, monkeypatch).model_dump(
            mode="json", include={"backend", "base_url", "api_key_env", "timeout_s", "max_retries"})
        (layout.root / "settings.json").write_text(json.dumps(settings))
        try:
            code = main(["edit", str(layout.root), "clip", "make the rain quieter"])
        finally:
            (layout.root / "settings.json").write_bytes(saved)
        assert srv.requests and "make the rain quieter" in json.dumps(srv.requests[0])
    assert code == 2 and reason in capsys.readouterr().err
    assert folder_bytes(root) == files and status_rows(layout) == records
    assert not (root / "edits.parquet").exists()


def test_llm_request_ops_are_validated_data() -> None:
    from lvas.edits import EditPlan, llm_request_ops

    class Backend:
        def __init__(self, answer: dict) -> None:
            self.answer, self.prompt = answer, ""

        def complete(self, role: str, model: str, messages: list, schema: type) -> object:
            self.prompt = messages[0]
            return schema.model_validate(self.answer)

    good = Backend({"ops": [{"op": "gain", "target": {"sound": "rain", "scene": 1}, "delta_db": -6}]})
    ops = llm_request_ops(good, "m", str, "quieter rain in scene 1", EVENTS, SPANS, 3.0)
    assert ops == [GainOp(op="gain", target=Target(sound="rain", scene=1), delta_db=-6.0)]
    assert "door knocking" in good.prompt and "quieter rain in scene 1" in good.prompt
    bad = Backend({"ops": [{"op": "shell", "cmd": "ls"}]})
    with pytest.raises(ValueError, match="shell"):
        llm_request_ops(bad, "m", str, "x", EVENTS, SPANS, 3.0)
    assert EditPlan.model_json_schema()["properties"]["ops"]["maxItems"] == 50
