"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1: the far-edge LLM fake.

Each conversation is matched to its script by a marker in its first user message (the
longest marker found wins), so concurrent runs with different markers never interfere.
The script's turns answer that conversation's requests in order; ``then_repeat`` answers
any after them. A turn is a text answer, tool calls (raw argument text can send invalid
JSON) or an HTTP error; it may wait on a gate, signal when its request arrives, or be a
function of the request (to read what the client sent). Every request body is recorded.

Only ``POST .../chat/completions`` is served, Ollama's ``POST /api/chat`` (not streamed:
the same turns in Ollama's shape, an error as Ollama's ``{"error": ...}``), and, not
streamed, the same turns in other vendors' shapes (all listed in tests/scripted_llm_apis.py):
Anthropic's ``POST /v1/messages`` and Gemini's ``POST .../models/{model}:generateContent``
(tests/scripted_llm_vendors.py), OpenAI's Responses API ``POST .../responses`` (streamed
too, when asked; tests/scripted_llm_responses.py), Cohere's ``POST /v2/chat``
(tests/scripted_llm_cohere.py) and Amazon Bedrock's Converse ``POST /model/{modelId}/converse``
(tests/scripted_llm_bedrock.py). Any other path answers 404, so a client using something
unscripted fails loudly. A chat-completions request with ``"stream": true`` gets the same
turn as server-sent ``chat.completion.chunk`` events, with a usage chunk when
``stream_options.include_usage`` asks for one, as OpenAI sends them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from tests import scripted_llm_apis as apis

logger = logging.getLogger(__name__)

# A gated turn gives up after this long, so a test that never opens its gate fails, not hangs.
GATE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asks for; ``raw_arguments`` replaces the JSON of ``arguments``."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    raw_arguments: str | None = None


@dataclass(frozen=True)
class Turn:
    """One scripted model answer: text, tool calls, or (with ``error_status``) an HTTP error."""

    content: str | None = None
    tool_calls: Sequence[ToolCall] = ()
    reasoning: str | None = None  # sent as ``reasoning_content``, as Ollama and vLLM do
    input_tokens: int = 120  # the whole prompt, cached parts included
    output_tokens: int = 30
    cache_read_tokens: int = 0  # of input_tokens, read from the provider's prompt cache
    cache_write_tokens: int = 0  # of input_tokens, written to it (Anthropic's cache creation)
    error_status: int | None = None
    error_message: str = "scripted failure"
    gate: threading.Event | None = None  # the answer waits (bounded) until it is set
    raw_body: str | None = None  # sent as the HTTP 200 body instead (e.g. text that is no JSON)
    arrived: threading.Event | None = None  # set when the request for this turn arrives
    finish_reason: str | None = None  # instead of "tool_calls" / "stop" (``content_filter``)
    refusal: str | None = None  # OpenAI's ``message.refusal``: the model declined


Responder = Turn | Callable[[Mapping[str, Any]], Turn]


def answer(text: str, **options: Any) -> Turn:
    """A final text answer; ``options`` are other :class:`Turn` fields."""
    return Turn(content=text, **options)


def call_tool(name: str, arguments: Mapping[str, Any] | None = None, **options: Any) -> Turn:
    """A turn asking for one tool call; ``options`` are other :class:`Turn` fields."""
    return Turn(tool_calls=(ToolCall(name, dict(arguments or {})),), **options)


def garbled(body: str = '{"id": "chatcmpl-garbled", "choices": [{"index": 0, "mess') -> Turn:
    """A turn answered HTTP 200 with ``body`` as it is: by default JSON cut off midway."""
    return Turn(raw_body=body)


def fail(status: int = 500, message: str = "scripted failure") -> Turn:
    """A turn answered with an HTTP error carrying ``message``."""
    return Turn(error_status=status, error_message=message)


class ScriptedLLM:
    """The scripted server; ``start()`` it (or use it as a context manager) for ``base_url``.

    ``served_model`` is the model name every answer reports; by default it is the requested
    name plus ``-served``, since real servers report a name other than the one asked for.
    """

    def __init__(self, served_model: str | None = None) -> None:
        self.served_model = served_model
        self._requests: list[dict[str, Any]] = []
        self._scripts: dict[str, list[Responder]] = {}
        self._repeats: dict[str, Responder] = {}
        self._answered: dict[str, int] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ScriptedLLM:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="scripted-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The OpenAI ``base_url`` of this server; it ends in ``/v1``."""
        assert self._server is not None, "the scripted LLM is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def ollama_host(self) -> str:
        """The Ollama client's ``host`` for this server (``/api/chat`` is served there)."""
        return self.base_url.removesuffix("/v1")

    @property
    def anthropic_base_url(self) -> str:
        """The Anthropic client's ``base_url`` (``/v1/messages`` is served under it)."""
        return self.base_url.removesuffix("/v1")

    @property
    def gemini_base_url(self) -> str:
        """The google-genai client's ``base_url`` (``generateContent`` is served under it)."""
        return self.base_url.removesuffix("/v1") + "/"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request body received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def script(
        self, marker: str, turns: Sequence[Responder], *, then_repeat: Responder | None = None
    ) -> None:
        """Answer conversations mentioning ``marker`` with ``turns``, then ``then_repeat``."""
        with self._lock:
            self._scripts[marker] = list(turns)
            self._answered[marker] = 0
            if then_repeat is not None:
                self._repeats[marker] = then_repeat
            else:
                self._repeats.pop(marker, None)

    def requests_for(self, marker: str) -> list[dict[str, Any]]:
        """The recorded request bodies of ``marker``'s conversation."""
        with self._lock:
            return [r for r in self._requests if marker in _task_text(r.get("messages") or [])]

    def respond(self, request: Mapping[str, Any]) -> tuple[int, dict[str, Any] | str]:
        """The HTTP status and JSON body answering one chat-completions request (a raw
        text body for a :func:`garbled` turn)."""
        task = _task_text(request.get("messages") or [])
        with self._lock:
            self._requests.append(dict(request))
            markers = [marker for marker in self._scripts if marker in task]
            if not markers:
                return 400, _error_body(f"no script for task {task[:80]!r}")
            marker = max(markers, key=len)
            serial = len(self._requests)  # a response id no other answer has
            index = self._answered[marker]
            self._answered[marker] = index + 1
            turns = self._scripts[marker]
            responder = turns[index] if index < len(turns) else self._repeats.get(marker)
        if responder is None:
            return 400, _error_body(f"script {marker!r} has no turn {index}")
        turn = responder if isinstance(responder, Turn) else responder(request)
        if turn.arrived is not None:
            turn.arrived.set()
        if turn.gate is not None and not turn.gate.wait(GATE_TIMEOUT_S):
            return 500, _error_body("the turn's gate never opened")
        if turn.error_status is not None:
            return turn.error_status, _error_body(turn.error_message)
        if turn.raw_body is not None:
            return 200, turn.raw_body
        served = self.served_model or f"{request.get('model', 'scripted-model')}-served"
        return 200, _completion(served, turn, index, serial)


def _task_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The first user message's text; content may be a string or a list of text parts."""
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


def _ollama_error(body: dict[str, Any] | str) -> dict[str, Any] | str:
    return {"error": body["error"]["message"]} if isinstance(body, dict) else body


def _completion(served_model: str, turn: Turn, index: int, serial: int) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
    if turn.refusal is not None:
        message["refusal"] = turn.refusal
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{index}_{position}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": (
                        call.raw_arguments
                        if call.raw_arguments is not None
                        else json.dumps(call.arguments)
                    ),
                },
            }
            for position, call in enumerate(turn.tool_calls)
        ]
    return {
        "id": f"chatcmpl-{serial}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": served_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": turn.finish_reason
                or ("tool_calls" if turn.tool_calls else "stop"),
            }
        ],
        "usage": _usage(turn),
    }


def _usage(turn: Turn) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "prompt_tokens": turn.input_tokens,
        "completion_tokens": turn.output_tokens,
        "total_tokens": turn.input_tokens + turn.output_tokens,
    }
    if turn.cache_read_tokens:
        usage["prompt_tokens_details"] = {"cached_tokens": turn.cache_read_tokens}
    if turn.cache_write_tokens:
        usage["cache_creation_input_tokens"] = turn.cache_write_tokens  # as LiteLLM names it
    return usage


def _ollama_chat(completion: Mapping[str, Any]) -> dict[str, Any]:
    """A completion as Ollama's ``/api/chat`` answers: tool arguments as objects, token
    counts as ``prompt_eval_count`` / ``eval_count``."""
    choice = completion["choices"][0]
    message: dict[str, Any] = {"role": "assistant", "content": choice["message"]["content"] or ""}
    calls = choice["message"].get("tool_calls") or []
    if calls:
        message["tool_calls"] = [
            {"function": {"name": c["function"]["name"], "arguments": _arguments(c)}} for c in calls
        ]
    return {
        "model": completion["model"],
        "created_at": "2023-11-14T22:13:20Z",
        "message": message,
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": completion["usage"]["prompt_tokens"],
        "eval_count": completion["usage"]["completion_tokens"],
    }


def _arguments(call: Mapping[str, Any]) -> Any:
    try:
        return json.loads(call["function"]["arguments"])
    except ValueError:
        return call["function"]["arguments"]


def _stream_events(completion: Mapping[str, Any], include_usage: bool) -> list[dict[str, Any]]:
    """A completion as the chunks a streaming OpenAI server sends: role and content, each
    tool call whole, the finish reason, then (when asked) the usage with no choices."""
    choice = completion["choices"][0]
    message = choice["message"]
    head = {k: completion[k] for k in ("id", "created", "model")}
    head["object"] = "chat.completion.chunk"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    if message.get("reasoning_content"):
        delta["reasoning_content"] = message["reasoning_content"]
    if message.get("refusal") is not None:
        delta["refusal"] = message["refusal"]
    events = [chunk(delta)]
    for position, call in enumerate(message.get("tool_calls") or []):
        events.append(chunk({"tool_calls": [{"index": position, **call}]}))
    events.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        events.append({**head, "choices": [], "usage": completion["usage"]})
    return events


def _handler_for(llm: ScriptedLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as OpenAI clients expect

        def do_POST(self) -> None:  # name fixed by http.server
            # Read the whole body first: on a kept-alive connection it must not linger.
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0].rstrip("/")
            ollama = path == "/api/chat"
            vendor = apis.vendor_api(path)
            if not (ollama or vendor) and not path.endswith("/chat/completions"):
                self._send(404, _error_body(f"unknown path {self.path}"))
                return
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                request = None
            if not isinstance(request, dict):
                self._send(400, _error_body("body is not a JSON object"))
                return
            if vendor is not None:
                api, model = vendor
                status, reply = llm.respond(api.as_chat(model, request))
                ok = status == 200 and isinstance(reply, dict)
                if ok and request.get("stream") and api.events is not None:
                    answered = api.answer(reply, request)  # type: ignore[arg-type]
                    self._send_events(api.events(answered), named=True)
                    return
                self._send(
                    status,
                    api.answer(reply, request) if ok else api.error(status, reply),  # type: ignore[arg-type]
                )
                return
            status, reply = llm.respond(request)
            if ollama:
                ok = status == 200 and isinstance(reply, dict)
                self._send(status, _ollama_chat(reply) if ok else _ollama_error(reply))
                return
            if status == 200 and request.get("stream") and isinstance(reply, dict):
                options = request.get("stream_options") or {}
                self._send_events(_stream_events(reply, bool(options.get("include_usage"))))
                return
            self._send(status, reply)

        def _send_events(self, events: list[dict[str, Any]], *, named: bool = False) -> None:
            """Server-sent events: chat completions' chunks then ``[DONE]``, or (``named``)
            the Responses API's, each under an ``event:`` line of its type and no end mark."""
            if named:
                payload = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
            else:
                chunks = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
                payload = chunks + "data: [DONE]\n\n"
            data = payload.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send(self, status: int, body: dict[str, Any] | str) -> None:
            payload = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
            logger.debug("scripted-llm: " + format, *args)

    return Handler
