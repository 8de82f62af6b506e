"""The OpenAI-compatible backend against a scripted local server: parsing, repair, retries, accounting."""

from __future__ import annotations

import base64
import io
import json
import time
from dataclasses import dataclass

import pytest
from PIL import Image
from pydantic import BaseModel, ConfigDict

from lvas.backends.llm import OpenAIBackend, extract_json, image_part, user_message
from lvas.errors import AgentOutputError, BackendUnavailable
from lvas.settings import AgentSettings
from tests.agent_helpers import GRASS, SKY, write_image
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply, user_texts


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: str
    count: int


GOOD = {"summary": "a dog runs", "count": 2}


@pytest.fixture
def key_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LVAS_TEST_KEY", "sk-test")
    return "LVAS_TEST_KEY"


def settings_for(srv: FakeLLMServer, key_env: str, **kw: object) -> AgentSettings:
    base = {"timeout_s": 5.0, "max_retries": 3, "retry_backoff_s": 0.01}
    base.update(kw)
    return AgentSettings(backend="openai", base_url=srv.base_url, api_key_env=key_env, **base)


def ask(backend: OpenAIBackend) -> Answer:
    return backend.complete("designer", "qwen-max", [{"role": "user", "content": "hi"}], Answer)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class ParseCase:
    text: str
    expected: dict


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(ParseCase('{"a": 1}', {"a": 1}), id="bare"),
        pytest.param(ParseCase('```json\n{"a": 1}\n```', {"a": 1}), id="fence"),
        pytest.param(
            ParseCase('Sure! Here it is:\n```\n{"a": {"b": [1, 2]}}\n```\nDone.', {"a": {"b": [1, 2]}}),
            id="fence-no-lang-with-prose",
        ),
        pytest.param(
            ParseCase('I think {not json} but then {"a": "x}"} ok', {"a": "x}"}), id="leading-prose"
        ),
    ],
)
def test_extract_json(case: ParseCase) -> None:
    assert extract_json(case.text) == case.expected


def test_extract_json_without_object_raises() -> None:
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("I cannot help with that.")


# --------------------------------------------------------------------------- configuration


def test_missing_base_url_names_the_setting(key_env: str) -> None:
    with pytest.raises(BackendUnavailable, match="LVAS_AGENTS__BASE_URL"):
        OpenAIBackend(AgentSettings(backend="openai", api_key_env=key_env))


def test_missing_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LVAS_NO_SUCH_KEY", raising=False)
    with pytest.raises(BackendUnavailable, match="LVAS_NO_SUCH_KEY"):
        OpenAIBackend(
            AgentSettings(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="LVAS_NO_SUCH_KEY")
        )


# --------------------------------------------------------------------------- answers


def test_valid_answer_is_parsed_and_accounted(key_env: str) -> None:
    with FakeLLMServer(
        [Reply("```json\n" + json.dumps(GOOD) + "\n```", prompt_tokens=120, completion_tokens=30)]
    ) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env))
        assert ask(backend) == Answer(**GOOD)
    (call,) = backend.calls
    assert (call.role, call.model, call.backend, call.ok) == ("designer", "qwen-max", "openai", True)
    assert (call.prompt_tokens, call.completion_tokens, call.attempts) == (120, 30, 1)
    assert srv.requests[0]["model"] == "qwen-max"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("this is { not json", id="malformed"),
        pytest.param(json.dumps({"summary": "x", "count": "many"}), id="schema-invalid"),
        pytest.param(json.dumps({**GOOD, "exec": "rm -rf /"}), id="extra-key"),
    ],
)
def test_invalid_answer_is_repaired_by_second_call(key_env: str, bad: str) -> None:
    with FakeLLMServer([Reply(bad), as_reply(GOOD)]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env))
        assert ask(backend) == Answer(**GOOD)
    repair = srv.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": bad}  # the bad answer is shown back
    assert "could not be used" in repair[-1]["content"] and '"count"' in repair[-1]["content"]
    (call,) = backend.calls
    assert call.ok and call.attempts == 2 and call.prompt_tokens == 22


def test_answer_invalid_twice_raises_agent_output_error(key_env: str) -> None:
    with FakeLLMServer([Reply("nope"), Reply('{"summary": 3}')]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env))
        with pytest.raises(AgentOutputError, match="invalid Answer twice"):
            ask(backend)
    assert len(srv.requests) == 2  # exactly one repair round-trip
    (call,) = backend.calls
    assert not call.ok and "invalid Answer" in call.error


# --------------------------------------------------------------------------- transport faults


def test_slow_answer_past_timeout_is_retried(key_env: str) -> None:
    with FakeLLMServer([Reply(json.dumps(GOOD), delay_s=1.5), as_reply(GOOD)]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env, timeout_s=0.4))
        t0 = time.perf_counter()
        assert ask(backend) == Answer(**GOOD)
        assert time.perf_counter() - t0 < 1.4  # did not wait for the slow answer
    assert backend.calls[0].attempts == 2


def test_429_and_500_are_retried_with_backoff(key_env: str) -> None:
    with FakeLLMServer([Reply(status=429), Reply(status=500), Reply(status=503), as_reply(GOOD)]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env, retry_backoff_s=0.05))
        t0 = time.perf_counter()
        assert ask(backend) == Answer(**GOOD)
        waited = time.perf_counter() - t0
    assert backend.calls[0].attempts == 4
    assert waited >= 0.05 + 0.1 + 0.2  # exponential: 1x, 2x, 4x the first wait


def test_retries_run_out_as_transient_backend_unavailable(key_env: str) -> None:
    with FakeLLMServer([Reply(status=500)] * 3) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env, max_retries=2))
        with pytest.raises(BackendUnavailable, match="gave up after 3 attempts") as err:
            ask(backend)
    assert err.value.transient and len(srv.requests) == 3
    assert not backend.calls[0].ok and backend.calls[0].attempts == 3


@pytest.mark.parametrize("status", [400, 401])
def test_client_errors_are_not_retried(key_env: str, status: int) -> None:
    with FakeLLMServer([Reply("bad request", status=status), as_reply(GOOD)]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env))
        with pytest.raises(BackendUnavailable, match=f"HTTP {status}") as err:
            ask(backend)
    assert not err.value.transient and len(srv.requests) == 1
    if status == 401:
        assert key_env in str(err.value)


def test_connection_refused_is_backend_unavailable(key_env: str) -> None:
    settings = AgentSettings(
        backend="openai",
        base_url="http://127.0.0.1:9/v1",
        api_key_env=key_env,
        max_retries=1,
        retry_backoff_s=0,
    )
    with pytest.raises(BackendUnavailable, match=r"127\.0\.0\.1:9") as err:
        ask(OpenAIBackend(settings))
    assert err.value.transient


# --------------------------------------------------------------------------- images


def test_images_are_sent_as_downscaled_jpeg_data_urls(tmp_path) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (1920, 1080), SKY).save(big)
    part = image_part(big)
    assert part["type"] == "image_url"
    url = part["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.format == "JPEG" and max(img.size) == 448 and img.size[0] > img.size[1]

    msg = user_message("look", [write_image(tmp_path / "a.jpg", SKY, GRASS)])
    assert [p["type"] for p in msg["content"]] == ["text", "image_url"]
    assert user_message("plain") == {"role": "user", "content": "plain"}


# --------------------------------------------------------------------------- bounded answers (issue 21)


def test_every_request_sets_max_tokens(key_env: str) -> None:
    with FakeLLMServer([as_reply(GOOD)]) as srv:
        ask(OpenAIBackend(settings_for(srv, key_env, max_tokens=300)))
    assert srv.requests[0]["max_tokens"] == 300


def test_an_oversized_answer_is_cut_off_and_repaired(key_env: str) -> None:
    big = Reply(content="x" * 50_000)
    with FakeLLMServer([big, as_reply(GOOD)]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env, max_response_bytes=8192))
        assert ask(backend).summary == "a dog runs"
    assert backend.calls[-1].attempts == 2 and backend.calls[-1].ok
    assert "longer than 8192 bytes" in user_texts(srv.requests[1])[-1]  # the repair says why
    with FakeLLMServer([big, big]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env, max_response_bytes=8192))
        with pytest.raises(AgentOutputError, match="longer than 8192 bytes"):
            ask(backend)
    assert not backend.calls[-1].ok and "longer than 8192 bytes" in backend.calls[-1].error


@pytest.mark.parametrize("where", ["content", "envelope"])
def test_deeply_nested_json_is_an_agent_output_error(key_env: str, where: str) -> None:
    deep = '{"summary": ' * 100_000 + "1" + "}" * 100_000
    reply = Reply(content=deep) if where == "content" else Reply(raw=deep.encode())
    with FakeLLMServer([reply, reply]) as srv:
        backend = OpenAIBackend(settings_for(srv, key_env))
        with pytest.raises(AgentOutputError):
            ask(backend)
    assert not backend.calls[-1].ok and backend.calls[-1].error


def test_timeline_times_must_lie_within_the_video_and_in_order(key_env: str, tmp_path) -> None:
    from lvas.agents.llm_agents import LLMAgents

    frame = write_image(tmp_path / "k.jpg", SKY, GRASS)
    bad = [{"start_s": 0.0, "end_s": 1e308, "description": "forever"}]
    unordered = [{"start_s": 5.0, "end_s": 6.0, "description": "b"}, {"start_s": 0.0, "end_s": 1.0, "description": "a"}]
    good = [{"start_s": 0.0, "end_s": 4.0, "description": "a"}, {"start_s": 4.0, "end_s": 9.9, "description": "b"}]
    for timeline, ok in ((bad, False), (unordered, False), (good, True)):
        answer = as_reply({"description": "a field", "timeline": timeline})
        with FakeLLMServer([answer, answer]) as srv:
            agents = LLMAgents(settings_for(srv, key_env))
            if ok:
                assert "[4.0-9.9s] b" in agents.describe_video([(0.5, frame)], duration_s=10.0)
            else:
                with pytest.raises(AgentOutputError):
                    agents.describe_video([(0.5, frame)], duration_s=10.0)
        assert len(srv.requests) == (1 if ok else 2)  # an invalid answer went through the repair round


def test_text_fields_of_every_answer_are_bounded() -> None:
    from lvas.agents import schemas

    def unbounded(model: type[BaseModel]) -> list[str]:
        found = []
        for name, props in model.model_json_schema().get("properties", {}).items():
            kinds = [props, *props.get("anyOf", [])]
            if any(k.get("type") == "string" and "maxLength" not in k and "enum" not in k for k in kinds):
                found.append(f"{model.__name__}.{name}")
        return found

    answers = [m for m in vars(schemas).values() if isinstance(m, type) and issubclass(m, schemas.Answer)]
    assert [f for m in answers for f in unbounded(m)] == []


def test_an_echoed_key_and_url_credentials_are_redacted_everywhere(
        tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A canary key, echoed by the endpoint, and a canary password in base_url reach no stored or
    shown text: status records, status.parquet, `lvas status`, the call log, settings.json, the
    flow run's parameters."""
    from fastapi.encoders import jsonable_encoder

    from lvas import pipeline
    from lvas.cli import main
    from lvas.models import VideoRef
    from lvas.settings import Settings
    from lvas.storage.layout import Layout, video_id_for
    from lvas.storage.runs import prepare_run
    from lvas.storage.status import collect, write_table
    from lvas.storage.units import run_unit
    from tests import storyboard_clips as sc
    from tests.clips import make_clip

    key, password = "sk-CANARY-key-0123456789", "pw-CANARY-5678"
    monkeypatch.setenv("LVAS_TEST_KEY", key)
    clip = make_clip(tmp_path / "clip.mp4", sc.shots_at([1.0]), seconds=2.0)
    video = VideoRef(source=str(clip), path=str(clip), video_id=video_id_for(clip))
    layout = Layout(tmp_path / "out")
    echo = Reply(status=401, content=f"invalid api key {key} (user admin:{password})")
    with FakeLLMServer([echo]) as srv:
        url = srv.base_url.replace("http://", f"http://admin:{password}@")
        s = Settings(agents=dict(backend="openai", base_url=url, api_key_env="LVAS_TEST_KEY", max_retries=0))
        prepare_run(layout, [video], s)
        run_unit(layout, video_id=video.video_id, source=video.source, stage="storyboard",
                 key=pipeline.storyboard_key(video, s), work=lambda: pipeline.storyboard_stage(layout, video, s))
        with pytest.raises(BackendUnavailable) as err:
            run_unit(layout, video_id=video.video_id, source=video.source, stage="script", key="k",
                     work=lambda: pipeline.script_stage(layout, video, s))
    assert "HTTP 401" in str(err.value)
    write_table(tmp_path / "status.parquet", collect(layout))
    assert main(["status", str(layout.root)]) == 0
    stored = {
        "exception": str(err.value),
        "status record": layout.status_record(video.video_id, "script").read_text(),
        "status.parquet": (tmp_path / "status.parquet").read_bytes().decode("latin-1"),
        "lvas status": capsys.readouterr().out,
        "call log": (layout.video_dir(video.video_id) / "llm_calls_script.parquet").read_bytes().decode("latin-1"),
        "settings.json": (layout.root / "settings.json").read_text(),
        "flow-run parameters": json.dumps(jsonable_encoder({"settings": s})),
    }
    assert "HTTP 401" in stored["status record"] and "HTTP 401" in stored["lvas status"]
    for where, text in stored.items():
        assert key not in text and password not in text, where
    assert s.agents.base_url == url  # the run itself still has them
