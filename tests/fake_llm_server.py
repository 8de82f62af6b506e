"""A local OpenAI-compatible chat server for tests: answers ``/v1/chat/completions`` from a script.

    with FakeLLMServer([Reply("not json"), Reply('{"summary": "ok"}')]) as srv:
        settings = AgentSettings(backend="openai", base_url=srv.base_url, ...)

Each request takes the next scripted :class:`Reply` (or, with ``responder``, whatever the function
returns for the parsed request body). A reply can be slow (``delay_s``), fail with an HTTP status,
or carry any content: valid, malformed, schema-invalid or hostile. Every request body is kept in
``requests`` so tests can assert what was sent (models, image parts, prompts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay_s: float = 0.0
    prompt_tokens: int = 11
    completion_tokens: int = 7
    raw: bytes | None = None  # sent as the whole 200 response body instead of a chat completion


def as_reply(obj: Any, **kw: Any) -> Reply:
    """A 200 reply whose content is ``obj`` as JSON."""
    return Reply(content=json.dumps(obj), **kw)


class FakeLLMServer:
    """An http.server on 127.0.0.1 (port 0) in a daemon thread."""

    def __init__(
        self, script: Sequence[Reply] = (), responder: Callable[[dict[str, Any]], Reply] | None = None
    ) -> None:
        self.script = list(script)
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            if self.responder is not None:
                return self.responder(body)
            if not self.script:
                return Reply(content="fake server: script exhausted", status=500)
            return self.script.pop(0)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                reply = server._next(body)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.raw is not None:
                    self._send_bytes(200, reply.raw)
                    return
                if reply.status != 200:
                    self._send(reply.status, {"error": {"message": reply.content or "error", "type": "fake"}})
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": reply.prompt_tokens,
                            "completion_tokens": reply.completion_tokens,
                            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                        },
                    },
                )

            def _send(self, status: int, obj: dict[str, Any]) -> None:
                self._send_bytes(status, json.dumps(obj).encode())

            def _send_bytes(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test): nothing to answer

        return Handler


def system_text(body: dict[str, Any]) -> str:
    """The system prompt of a recorded request."""
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")


def user_texts(body: dict[str, Any]) -> list[str]:
    """All text of the user messages of a recorded request (text parts of multi-part content too)."""
    out = []
    for m in body["messages"]:
        if m["role"] != "user":
            continue
        if isinstance(m["content"], str):
            out.append(m["content"])
        else:
            out += [p["text"] for p in m["content"] if p.get("type") == "text"]
    return out


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        p
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for p in m["content"]
        if p.get("type") == "image_url"
    ]


def role_of(body: dict[str, Any]) -> str:
    """Which agent role sent the request, from its system prompt's first words."""
    text = system_text(body)
    for marker, role in (
        ("keyframes sampled in order over a whole", "global"),
        ("keyframes of ONE shot", "caption"),
        ("You are the Storyboarder", "merge"),
        ("reviewing a design", "review"),
        ("You are the sound Designer", "design"),
        ("You are the Synthesizer", "map"),
    ):
        if marker in text:
            return role
    return "unknown"
