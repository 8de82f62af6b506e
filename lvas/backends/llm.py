"""Chat-model backends for the agents: one OpenAI-compatible client, strict about its answers.

``OpenAIBackend`` talks to any endpoint that implements ``/v1/chat/completions`` (Qwen API,
vLLM, Ollama, OpenAI). It adds what the agents need on top of the ``openai`` package:

* timeouts, and retries with exponential backoff on timeouts, connection errors, 429 and 5xx
  (never on 400/401/403/404: those do not get better by asking again);
* every answer parsed as JSON (tolerating ```json fences and leading prose) and validated against
  a pydantic schema, with ONE repair round-trip that sends the validation error back, after which
  :class:`~lvas.errors.AgentOutputError` is raised; an answer longer than ``max_response_bytes``
  (never read further) or nested deeper than ``MAX_JSON_DEPTH`` is invalid the same way, and every
  request asks for at most ``max_tokens``;
* per-call accounting as :class:`~lvas.models.LLMCall` records appended to ``backend.calls``;
* keyframes as ``image_url`` parts (downscaled JPEG in a base64 data URL) for vision models.

A model's answer is only ever parsed as data into a schema: nothing from it is executed, imported
or used as a path.

The offline stand-in is not a chat backend: it works at the role level (``lvas.agents.offline``),
because it measures images instead of reading prompts.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import time
from collections.abc import Sequence
from typing import Any, TypeVar

from PIL import Image
from pydantic import BaseModel, ValidationError

from lvas.errors import AgentOutputError, BackendUnavailable
from lvas.models import LLMCall
from lvas.settings import AgentSettings, redact, redact_url, register_secret

T = TypeVar("T", bound=BaseModel)

Message = dict[str, Any]

# Longest side of a keyframe sent to a vision model: enough for Qwen2.5-VL to see the scene,
# small enough that 8 keyframes stay well under a request-size limit.
IMAGE_MAX_SIDE = 448
IMAGE_JPEG_QUALITY = 80
# HTTP statuses worth retrying; everything else (400, 401, 403, 404, 422) is raised at once.
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
# No answer schema nests deeper than this; a deeper answer is refused before it is validated.
MAX_JSON_DEPTH = 32
# How much of an invalid answer is sent back in the repair request.
REPAIR_ECHO_CHARS = 4000


class AnswerTooLarge(ValueError):
    """The endpoint's response body exceeded ``agents.max_response_bytes`` (reading stopped there)."""


# --------------------------------------------------------------------------- answer parsing


def extract_json(text: str) -> Any:
    """Parse the JSON object in a model's answer.

    Accepts a bare object, an object inside a ```json fence, or an object after some leading
    prose (the first balanced ``{...}`` that parses wins).

    Arguments:
        text: the model's message content.

    Returns:
        The decoded JSON value.

    Raises:
        ValueError: no JSON object could be found.
    """
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for chunk in candidates:
        chunk = chunk.strip()
        for start in [i for i, ch in enumerate(chunk) if ch == "{"][:20]:
            try:
                value, _ = decoder.raw_decode(chunk[start:])
            except json.JSONDecodeError:
                continue
            except RecursionError:
                raise ValueError(f"the answer's JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)") from None
            if _depth(value) > MAX_JSON_DEPTH:
                raise ValueError(f"the answer's JSON is nested too deeply (over {MAX_JSON_DEPTH} levels)")
            return value
    raise ValueError(f"no JSON object in the answer (starts with {text[:80]!r})")


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, iteratively (no recursion to exhaust)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            if d <= MAX_JSON_DEPTH:
                stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def parse_answer(text: str, schema: type[T], context: dict[str, Any] | None = None) -> T:
    """Parse and validate an answer; raises ValueError or ValidationError when it does not fit.

    Arguments:
        context: given to the schema's validators (e.g. ``{"duration_s": ...}`` bounds times).
    """
    return schema.model_validate(extract_json(text), context=context)


# --------------------------------------------------------------------------- images


def image_part(path: str | os.PathLike[str], max_side: int = IMAGE_MAX_SIDE) -> dict[str, Any]:
    """A chat ``image_url`` content part holding a downscaled JPEG of ``path`` as a data URL.

    Raises:
        FileNotFoundError: the keyframe does not exist.
    """
    with Image.open(path) as img:
        rgb = img.convert("RGB")
    rgb.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=IMAGE_JPEG_QUALITY)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}}


def user_message(text: str, images: Sequence[str | os.PathLike[str]] = ()) -> Message:
    """A user message: plain text, or text followed by image parts when ``images`` is given."""
    if not images:
        return {"role": "user", "content": text}
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}]
    parts += [image_part(p) for p in images]
    return {"role": "user", "content": parts}


# --------------------------------------------------------------------------- backend


class OpenAIBackend:
    """An OpenAI-compatible chat endpoint with retries, schema validation and accounting.

    Arguments:
        settings: the ``agents`` section (base_url, api_key_env, timeout_s, max_retries,
            retry_backoff_s, temperature).
        client: an ``openai.OpenAI`` instance to use instead of building one (tests).

    Raises:
        BackendUnavailable: ``base_url`` is not set, or the env var named by ``api_key_env`` is
            empty (local servers that need no key accept any value, e.g. ``EMPTY``).
    """

    name = "openai"

    def __init__(self, settings: AgentSettings, client: Any = None) -> None:
        self.settings = settings
        self.calls: list[LLMCall] = []
        register_secret(os.environ.get(settings.api_key_env, ""))
        self._client = client if client is not None else self._make_client(settings)

    @staticmethod
    def _make_client(settings: AgentSettings) -> Any:
        if not settings.base_url:
            raise BackendUnavailable(
                "agents.backend is 'openai' but agents.base_url is not set: set LVAS_AGENTS__BASE_URL "
                "(e.g. http://127.0.0.1:8000/v1 for vLLM, https://dashscope.aliyuncs.com/compatible-mode/v1 "
                "for the Qwen API) or use agents.backend=offline"
            )
        key = os.environ.get(settings.api_key_env, "")
        if not key:
            raise BackendUnavailable(
                f"agents.backend is 'openai' but the env var {settings.api_key_env} (agents.api_key_env) "
                "is empty: export the API key there (any non-empty value for a local server without auth)"
            )
        import openai  # deferred: the offline default never needs it

        # Our own retry loop (with accounting) replaces the client's.
        return openai.OpenAI(
            base_url=settings.base_url, api_key=key, timeout=settings.timeout_s, max_retries=0
        )

    # ---- public

    def complete(self, role: str, model: str, messages: list[Message], schema: type[T],
                 context: dict[str, Any] | None = None) -> T:
        """Ask ``model`` and return its answer validated as ``schema``.

        One repair round-trip: an answer that does not parse or validate is sent back with the
        error, and the second answer must fit. Every HTTP request is retried on transient errors.
        One :class:`LLMCall` is recorded for the whole exchange (tokens summed, attempts counted).

        Arguments:
            role: the agent role, for accounting ("scriptwriter", "designer", ...).
            model: the model name the endpoint serves.
            messages: chat messages (system first).
            schema: the pydantic model the answer must validate against.
            context: validation context for the schema (e.g. the video's duration).

        Returns:
            The validated answer.

        Raises:
            AgentOutputError: the answer stayed invalid after the repair round-trip.
            BackendUnavailable: the endpoint failed (``transient=True`` after retries ran out on
                timeouts/429/5xx; ``transient=False`` for 400/401/403/404).
        """
        acct = _Accounting()
        t0 = time.perf_counter()
        try:
            text, result = self._attempt(model, messages, schema, acct, context)
            if isinstance(result, Exception):
                repair = [
                    *messages,
                    {"role": "assistant", "content": text[:REPAIR_ECHO_CHARS]},
                    {"role": "user", "content": _repair_prompt(result, schema)},
                ]
                _, result = self._attempt(model, repair, schema, acct, context)
                if isinstance(result, Exception):
                    raise AgentOutputError(
                        f"{role}: {model} at {self._where()} answered invalid {schema.__name__} "
                        f"twice (after one repair request): {self._short(result)}"
                    ) from None
        except (AgentOutputError, BackendUnavailable) as exc:
            self._record(role, model, t0, acct, ok=False, error=str(exc))
            raise
        self._record(role, model, t0, acct, ok=True)
        return result

    def _attempt(self, model: str, messages: list[Message], schema: type[T], acct: _Accounting,
                 context: dict[str, Any] | None) -> tuple[str, T | Exception]:
        """One request and its parsing: (answer text, the validated answer or why it is invalid)."""
        try:
            text = self._request(model, messages, acct)
        except AnswerTooLarge as exc:
            return "", exc
        try:
            return text, parse_answer(text, schema, context)
        except (ValueError, ValidationError, RecursionError) as exc:
            return text, exc

    # ---- internals

    def _request(self, model: str, messages: list[Message], acct: _Accounting) -> str:
        """One logical request, retried with exponential backoff on transient failures.

        Raises:
            AnswerTooLarge: the response body is longer than ``max_response_bytes``.
            AgentOutputError: the response is not a chat completion with a choice.
            BackendUnavailable: see :meth:`complete`.
        """
        import openai
        from openai.types.chat import ChatCompletion

        s = self.settings
        where = self._where()
        for attempt in range(s.max_retries + 1):
            acct.attempts += 1
            try:
                body = self._post(model, messages)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                failure = BackendUnavailable(f"{where}: {type(exc).__name__}: {self._short(exc)}", transient=True)
            except openai.APIStatusError as exc:
                detail = f"{where} answered HTTP {exc.status_code} for model {model}: {self._short(exc)}"
                if exc.status_code not in RETRY_STATUSES:
                    if exc.status_code in (401, 403):
                        detail += f" (check the key in {s.api_key_env})"
                    raise BackendUnavailable(detail) from None
                failure = BackendUnavailable(detail, transient=True)
            else:
                try:
                    resp = ChatCompletion.model_validate_json(body)
                except (ValueError, RecursionError) as exc:
                    raise AgentOutputError(f"{where}: model {model} sent no chat completion: "
                                           f"{self._short(exc, 200)}") from None
                usage = resp.usage
                acct.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                acct.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
                if not resp.choices:
                    raise AgentOutputError(f"{where}: model {model} returned no choices")
                return resp.choices[0].message.content or ""
            if attempt < s.max_retries:
                time.sleep(s.retry_backoff_s * (2**attempt))
        raise BackendUnavailable(
            f"{failure} (gave up after {s.max_retries + 1} attempts)", transient=True
        ) from None

    def _post(self, model: str, messages: list[Message]) -> bytes:
        """The response body of one chat request, read up to ``max_response_bytes``.

        Raises:
            AnswerTooLarge: the body is longer (the rest is never read).
        """
        s = self.settings
        with self._client.chat.completions.with_streaming_response.create(
            model=model, messages=messages, temperature=s.temperature, max_tokens=s.max_tokens, timeout=s.timeout_s
        ) as raw:
            body = bytearray()
            for chunk in raw.iter_bytes():
                body += chunk
                if len(body) > s.max_response_bytes:
                    raise AnswerTooLarge(f"the response is longer than {s.max_response_bytes} bytes "
                                         "(agents.max_response_bytes); answer with the JSON object only")
        return bytes(body)

    def _where(self) -> str:
        """The endpoint as shown in messages: its URL without credentials."""
        return redact_url(self.settings.base_url or "")

    def _short(self, exc: BaseException, limit: int = 400) -> str:
        """An error's text for a message, with the key and the endpoint's credentials removed."""
        return redact(_short(exc, limit), self.settings)

    def _record(self, role: str, model: str, t0: float, acct: _Accounting, ok: bool, error: str = "") -> None:
        self.calls.append(
            LLMCall(
                role=role,
                model=model,
                backend=self.name,
                latency_s=time.perf_counter() - t0,
                prompt_tokens=acct.prompt_tokens,
                completion_tokens=acct.completion_tokens,
                attempts=acct.attempts,
                ok=ok,
                error=error[:500],
            )
        )


class _Accounting:
    """Mutable counters for one logical call (requests, tokens)."""

    def __init__(self) -> None:
        self.attempts = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0


def _short(exc: BaseException, limit: int = 400) -> str:
    return str(exc).replace("\n", " ")[:limit]


def _repair_prompt(exc: BaseException, schema: type[BaseModel]) -> str:
    return (
        "Your previous answer could not be used: "
        f"{_short(exc, 1200)}\n"
        "Answer again with ONLY one JSON object that validates against this JSON schema, no prose:\n"
        f"{json.dumps(schema.model_json_schema())}"
    )
