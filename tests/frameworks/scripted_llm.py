"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1, the far-edge LLM fake.

Each conversation is scripted by a marker in its first user message: the script is a list
of turns, answered one per request in order. Concurrent runs use different markers, so
they never interfere.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asks for."""

    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class Turn:
    """One scripted model answer: tool calls, a text answer, or an HTTP error."""

    content: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    error_status: int | None = None
    error_message: str = "scripted failure"
    input_tokens: int = 11
    output_tokens: int = 7


def text(content: str) -> Turn:
    """A final text answer."""
    return Turn(content=content)


def call(name: str, **arguments: Any) -> Turn:
    """A turn asking for one tool call."""
    return Turn(tool_calls=(ToolCall(name, arguments),))


def fail(status: int = 500, message: str = "scripted failure") -> Turn:
    """A turn answered with an HTTP error."""
    return Turn(error_status=status, error_message=message)


@dataclass
class ScriptedLLM:
    """A running scripted server; ``base_url`` ends in ``/v1``."""

    model_name: str = "scripted-model"
    scripts: dict[str, list[Turn]] = field(default_factory=dict)
    answered: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` for this server."""
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, marker: str, turns: list[Turn]) -> None:
        """Answer conversations whose first user message contains ``marker`` with ``turns``."""
        with self._lock:
            self.scripts[marker] = list(turns)
            self.answered[marker] = 0

    def start(self) -> ScriptedLLM:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="scripted-llm")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body for one chat-completions request."""
        messages = request.get("messages") or []
        task = _first_user_text(messages)
        with self._lock:
            self.requests.append(dict(request))
            markers = [marker for marker in self.scripts if marker in task]
            if not markers:
                return 400, _error_body(f"no script for task {task!r}")
            marker = max(markers, key=len)
            index = self.answered[marker]
            self.answered[marker] = index + 1
            turns = self.scripts[marker]
        if index >= len(turns):
            return 400, _error_body(f"script {marker!r} has no turn {index}")
        turn = turns[index]
        if turn.error_status is not None:
            return turn.error_status, _error_body(turn.error_message)
        return 200, _completion(self.model_name, request, turn, index)


def _first_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    for message in messages:
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return " ".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping)
            )
    return ""


def _error_body(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error", "code": None}}


def _completion(
    model_name: str, request: Mapping[str, Any], turn: Turn, index: int
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{position}",
                "type": "function",
                "function": {"name": tc.name, "arguments": json.dumps(tc.arguments)},
            }
            for position, tc in enumerate(turn.tool_calls)
        ]
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        # A served model name differs from the requested one, as with real servers.
        "model": f"{request.get('model', model_name)}-served",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if turn.tool_calls else "stop",
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
        def do_POST(self) -> None:  # name fixed by http.server
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error_body("body is not JSON"))
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, _error_body(f"unknown path {self.path}"))
                return
            status, body = llm.answer(request)
            self._send(status, body)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            logger.debug("scripted-llm: " + format, *args)

    return Handler
