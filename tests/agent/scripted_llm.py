"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1: the far-edge LLM fake.

A conversation is matched to its script by a marker in its user message; the
script's turns answer its requests in order. A turn may hold a gate (an Event the
answer waits for), ask for tool calls with raw argument text (to send invalid
JSON), or be a function of the request (to read what the agent sent). Every
request body is recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Call:
    """A tool call the model asks for; ``raw`` replaces the JSON-encoded ``arguments``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    raw: str | None = None


@dataclass(frozen=True)
class Turn:
    """One scripted answer."""

    content: str | None = None
    calls: Sequence[Call] = ()
    reasoning: str | None = None
    input_tokens: int = 120
    output_tokens: int = 30
    gate: threading.Event | None = None  # the answer waits (bounded) until it is set
    started: threading.Event | None = None  # set when the request arrives


def answer(text: str, **options: Any) -> Turn:
    """A final text answer."""
    return Turn(content=text, **options)


def tool(name: str, arguments: Mapping[str, Any] | None = None, **options: Any) -> Turn:
    """A turn asking for one tool call."""
    return Turn(calls=(Call(name, dict(arguments or {})),), **options)


Responder = Turn | Callable[[Mapping[str, Any]], Turn]


class ScriptedLLM:
    """The running server; ``base_url`` ends in ``/v1``."""

    def __init__(self, served_model: str = "qwen2.5-coder:7b-instruct") -> None:
        self.served_model = served_model
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, list[Responder]] = {}
        self._repeat: dict[str, Responder] = {}
        self._answered: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="scripted-llm", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(
        self, marker: str, turns: Sequence[Responder], *, then_repeat: Responder | None = None
    ) -> None:
        """Answer conversations mentioning ``marker`` with ``turns``, then ``then_repeat``."""
        with self._lock:
            self._scripts[marker] = list(turns)
            self._answered[marker] = 0
            if then_repeat is not None:
                self._repeat[marker] = then_repeat

    def requests_for(self, marker: str) -> list[dict[str, Any]]:
        """The recorded request bodies of ``marker``'s conversation."""
        with self._lock:
            return [r for r in self.requests if marker in _user_text(r.get("messages") or [])]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def respond(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        task = _user_text(request.get("messages") or [])
        with self._lock:
            self.requests.append(dict(request))
            markers = [m for m in self._scripts if m in task]
            if not markers:
                return 400, _error(f"no script for {task[:80]!r}")
            marker = max(markers, key=len)
            index = self._answered[marker]
            self._answered[marker] = index + 1
            turns = self._scripts[marker]
            responder = turns[index] if index < len(turns) else self._repeat.get(marker)
        if responder is None:
            return 400, _error(f"script {marker!r} has no turn {index}")
        turn = responder if isinstance(responder, Turn) else responder(request)
        if turn.started is not None:
            turn.started.set()
        if turn.gate is not None and not turn.gate.wait(30):
            return 500, _error("gate never opened")
        return 200, _completion(self.served_model, turn, index)


def _user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return " ".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": None}}


def _completion(served_model: str, turn: Turn, index: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
    if turn.calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{position}",
                "type": "function",
                "function": {
                    "name": c.name,
                    "arguments": c.raw if c.raw is not None else json.dumps(c.arguments),
                },
            }
            for position, c in enumerate(turn.calls)
        ]
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": served_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if turn.calls else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": turn.input_tokens,
            "completion_tokens": turn.output_tokens,
            "total_tokens": turn.input_tokens + turn.output_tokens,
        },
    }


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # name fixed by http.server
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, _error(f"unknown path {self.path}"))
                return
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                self._send(400, _error("body is not JSON"))
                return
            self._send(*llm.respond(request))

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet test output

    return Handler
