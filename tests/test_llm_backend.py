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
from tests.fake_llm_server import FakeLLMServer, Reply, as_reply


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
