"""Hostile request bodies and a model server answering garbage: clear errors, never a 500.

A body the service cannot take is a 422 naming the field, whatever bytes it holds; a
model answer of the wrong shape fails the run with a message naming the problem, and
the run is in the trail; text no UTF-8 encoder takes (lone surrogates) is repaired,
not a reason to lose the answer.
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.app import MAX_BODY_BYTES
from agent.llm_deadline import MAX_ANSWER_BYTES
from ssh_tools.connection import SSHConnection
from ssh_tools.settings import SSHSettings
from ssh_tools.tools import ServerTools
from tests.agent.conftest import AgentServer, Tracing
from tests.agent.test_agent_loop import status_registry, tool_messages
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer

StartAgent = Callable[..., AgentServer]

BAD_BODIES: dict[str, tuple[str, str]] = {
    # name: (raw JSON body, the field the 422 must name)
    "lone-surrogate-task": ('{"task": "HOSTILE \\ud800 x"}', "task"),
    "lone-surrogate-field-name": ('{"task": "HOSTILE", "\\udc80": 1}', "body"),
    "huge-float-max-steps": ('{"task": "HOSTILE", "max_steps": 1e400}', "max_steps"),
    "nan-max-steps": ('{"task": "HOSTILE", "max_steps": NaN}', "max_steps"),
    "string-max-steps": ('{"task": "HOSTILE", "max_steps": "5"}', "max_steps"),
    "bool-max-steps": ('{"task": "HOSTILE", "max_steps": true}', "max_steps"),
    "float-max-steps": ('{"task": "HOSTILE", "max_steps": 2.0}', "max_steps"),
    "string-wait": ('{"task": "HOSTILE", "wait": "no"}', "wait"),
    "number-task": ('{"task": 12}', "task"),
    "blank-task": ('{"task": " \\n\\t\\u3000 "}', "task"),
    "blank-model": ('{"task": "HOSTILE", "model": "  "}', "model"),
    "list-task": ('{"task": ["HOSTILE"]}', "task"),
    "long-task": (json.dumps({"task": "HOSTILE " + "x" * 100_000}), "task"),
    "metadata-list": ('{"task": "HOSTILE", "metadata": [1, 2]}', "metadata"),
    "long-unknown-field": (json.dumps({"task": "HOSTILE", "k" * 10_000: 1}), "kkkk"),
}


@pytest.mark.parametrize("raw, field", BAD_BODIES.values(), ids=list(BAD_BODIES))
def test_a_body_the_service_cannot_take_is_a_422_naming_the_field(
    start_agent: StartAgent, llm: ScriptedLLM, raw: str, field: str
) -> None:
    agent = start_agent()
    response = httpx.post(
        f"{agent.url}/agent/run",
        content=raw.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and field in detail
    assert len(detail) < 2_000  # the value sent is not echoed back
    assert llm.requests == []  # nothing ran
    assert agent.run(task="HOSTILE after").status_code == 200  # the service still serves


def _completion(message: Any) -> str:
    return json.dumps(
        {
            "id": "chatcmpl-hostile",
            "object": "chat.completion",
            "created": 1,
            "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )


GARBAGE_MESSAGES: dict[str, tuple[Any, str]] = {
    # name: (the "message" the model server sends, what the error says)
    "content-object": ({"role": "assistant", "content": {"text": 1}}, "content is an object"),
    "content-number": ({"role": "assistant", "content": 42}, "content is a number"),
    "content-parts-without-text": (
        {"role": "assistant", "content": [{"type": "image"}]},
        "content part is an object without text",
    ),
    "message-string": ("just text", "message is a string"),
    "tool-calls-string": (
        {"role": "assistant", "content": None, "tool_calls": "docker_ps"},
        "tool_calls is a string",
    ),
    "tool-call-number": (
        {"role": "assistant", "content": None, "tool_calls": [7]},
        "tool call 0 is a number",
    ),
    "function-list": (
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": [1]}]},
        "function that is a list",
    ),
}


@pytest.mark.parametrize("message, problem", GARBAGE_MESSAGES.values(), ids=list(GARBAGE_MESSAGES))
def test_an_answer_of_the_wrong_shape_fails_the_run_naming_the_problem(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, message: Any, problem: str
) -> None:
    agent = start_agent()
    llm.script("GARBAGE", [Turn(raw_body=_completion(message))])
    response = agent.run(task="GARBAGE answer")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert "sent an unusable answer" in body["error"] and problem in body["error"]
    run = tracing.run(body["run_id"])
    assert run["status"] == "failed"
    assert [(s["action_type"], s["status"]) for s in run["steps"]] == [("think", "error")]


def test_text_no_encoder_takes_is_repaired_not_a_500(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    registry = status_registry([])

    def shout(text: str) -> str:
        """Echo text back with a lone surrogate, as a careless tool might.

        Args:
            text: anything
        """
        return text + "\udc00"

    registry.register(shout)
    agent = start_agent(registry=registry)
    parts = {"role": "assistant", "content": [{"type": "text", "text": "part one \ud800, "}, "two"]}
    llm.script(
        "SURROGATES",
        [
            Turn(tool_calls=[ToolCall("shout", {"text": "hi"})]),
            Turn(raw_body=_completion(parts)),
        ],
    )
    response = agent.run(task="SURROGATES please")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["final_answer"] == "part one \ufffd, two"
    assert body["steps"][1]["result"] == "hi\ufffd"
    run = tracing.run(body["run_id"])
    assert run["final_answer"] == "part one \ufffd, two"
    assert [s["tool_result"] for s in run["steps"] if s["action_type"] == "tool_call"] == [
        "hi\ufffd"
    ]


def test_arguments_nested_past_the_parser_are_refused_and_recorded(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, tmp_path: Path
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    agent = start_agent(registry=status_registry([]))
    llm.script(
        "DEEP",
        [
            Turn(tool_calls=[ToolCall("container_status", raw_arguments=deep)]),
            answer("gave up"),
        ],
    )
    body = agent.run(task="DEEP arguments").json()
    assert body["status"] == "completed", body
    assert tool_messages(llm.requests_for("DEEP")[-1]) == [
        "error: arguments are nested too deeply to read"
    ]
    run = tracing.run(body["run_id"])
    [step] = [s for s in run["steps"] if s["action_type"] == "tool_call"]
    assert step["status"] == "error"

    # The SSH tools refuse them the same way, before any connection is tried.
    key = tmp_path / "id_ed25519"
    key.write_text("not a key")
    settings = SSHSettings(
        host="127.0.0.1", port=9, user="nobody", key_path=key, known_hosts_path=tmp_path / "kh"
    )
    with ServerTools(SSHConnection(settings)) as tools:
        text = tools.call_tool("docker_ps", deep)
    assert text == "error: refused by client policy: arguments are nested too deeply"


class RawModelServer:
    """A model server on a free loopback port that answers with raw bytes: ``Handler``
    writes what the OpenAI client must cope with."""

    def _serve(self, handler: type[socketserver.StreamRequestHandler]) -> None:
        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class DrippingModelServer(RawModelServer):
    """Answers every request one byte at a time, in its headers or its body, for minutes."""

    def __init__(self, *, in_headers: bool) -> None:
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9999\r\n\r\n"
        drip_from = 0 if in_headers else len(head)
        stop = threading.Event()
        self._stop = stop

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # the request's head; its body is left unread
                try:
                    self.wfile.write(head[:drip_from])
                    for byte in (head[drip_from:] + b" " * 9999)[:600]:
                        if stop.wait(0.2):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except OSError:
                    return

        self._serve(Handler)

    def stop(self) -> None:
        self._stop.set()
        super().stop()


@pytest.mark.parametrize("in_headers", [True, False], ids=["headers", "body"])
def test_a_model_server_that_drips_its_answer_fails_the_run_at_the_time_limit(
    start_agent: StartAgent, tracing: Tracing, in_headers: bool
) -> None:
    server = DrippingModelServer(in_headers=in_headers)
    try:
        # Each byte comes well within the time limit; the whole answer never does.
        agent = start_agent(llm_base_url=server.base_url, llm_timeout_s=2.0)
        response = agent.run(task="DRIP")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "failed"
        assert body["error"] == f"model server {server.base_url} did not answer within 2 s"
        assert tracing.run(body["run_id"])["status"] == "failed"
    finally:
        server.stop()


def test_an_answer_asking_for_hundreds_of_tool_calls_runs_a_bounded_number(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    asked = [ToolCall("container_status", {"name": f"c{i}"}) for i in range(500)]
    llm.script("FLOOD", [Turn(tool_calls=asked), answer("done")])
    body = agent.run(task="FLOOD of calls").json()
    assert body["status"] == "completed", body
    assert [c["name"] for c in calls] == [f"c{i}" for i in range(64)]  # the per-turn limit
    results = tool_messages(llm.requests_for("FLOOD")[-1])
    assert len(results) == 500  # every call the model made is answered
    not_run = "error: not run: 500 tool calls in one answer, at most 64 are run per answer"
    assert results[64:] == [not_run] * 436
    run = tracing.run(body["run_id"])
    tool_steps = [s for s in run["steps"] if s["action_type"] == "tool_call"]
    assert len(tool_steps) == 65
    skipped = tool_steps[-1]
    assert skipped["status"] == "error"
    assert [c["name"] for c in skipped["tool_args"]] == ["container_status"] * 436
    assert json.loads(skipped["tool_args"][-1]["arguments"]) == {"name": "c499"}


def test_a_body_past_the_limit_is_a_413_before_it_is_read(
    start_agent: StartAgent, llm: ScriptedLLM
) -> None:
    agent = start_agent()
    big = json.dumps({"task": "HOSTILE", "metadata": {"blob": "x" * (MAX_BODY_BYTES + 1)}})
    declared = httpx.post(
        f"{agent.url}/agent/run",
        content=big,
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert declared.status_code == 413, declared.text
    assert declared.json() == {"detail": f"request body larger than {MAX_BODY_BYTES} bytes"}

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        data = big.encode()
        for start in range(0, len(data), 65536):
            yield data[start : start + 65536]

    chunked = httpx.post(
        f"{agent.url}/agent/run",
        content=chunks(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert chunked.status_code == 413, chunked.text
    assert llm.requests == []  # nothing ran
    # A body just within the limit is read (and refused for what it says).
    within = json.dumps({"task": "HOSTILE", "metadata": {"blob": "x" * (MAX_BODY_BYTES - 100)}})
    assert httpx.post(
        f"{agent.url}/agent/run",
        content=within,
        headers={"content-type": "application/json"},
        timeout=30,
    ).status_code in (200, 422)


class FloodingModelServer(RawModelServer):
    """Answers every request with a JSON answer of ``size`` bytes (one huge content string),
    with its length declared or sent chunked; counts the bytes it got out."""

    def __init__(self, size: int, *, declared: bool) -> None:
        head = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "'
        tail = b'"}, "finish_reason": "stop"}]}'
        framing = f"content-length: {size}" if declared else "transfer-encoding: chunked"
        status = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
        block = b"x" * (1024 * 1024)
        self.sent = 0
        outer = self

        def frame(data: bytes) -> bytes:
            return data if declared else b"%x\r\n%s\r\n" % (len(data), data)

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                length = 0
                while (line := self.rfile.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                self.rfile.read(length)  # read whole: unread bytes would reset the connection
                try:
                    self.wfile.write(status.encode() + frame(head))
                    left = size - len(head) - len(tail)
                    while left > 0:
                        piece = block[:left]
                        self.wfile.write(frame(piece))
                        outer.sent += len(piece)
                        left -= len(piece)
                    self.wfile.write(frame(tail) + (b"" if declared else b"0\r\n\r\n"))
                except OSError:
                    return  # the client hung up

        self._serve(Handler)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_model_answer_past_the_size_limit_fails_the_run_without_being_read(
    start_agent: StartAgent, tracing: Tracing, declared: bool
) -> None:
    # 150 MB answered in full made the service hold some 2.5 GB and send the text back
    # three times (final answer, thinking, response step) in one HTTP answer.
    size = 150 * 1024 * 1024
    server = FloodingModelServer(size, declared=declared)
    try:
        agent = start_agent(llm_base_url=server.base_url, llm_timeout_s=60.0)
        response = agent.run(task="FLOODED answer")
        assert response.status_code == 200, response.text[:300]
        body = response.json()
        assert body["status"] == "failed", response.text[:300]
        limit_mib = MAX_ANSWER_BYTES // (1024 * 1024)
        assert body["error"] == (
            f"model server {server.base_url} sent an answer larger than {limit_mib} MiB; "
            "it was not read"
        )
        assert server.sent < size // 2  # the rest was never downloaded
        run = tracing.run(body["run_id"])
        assert run["status"] == "failed"
        assert [(s["action_type"], s["status"]) for s in run["steps"]] == [("think", "error")]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
def test_a_json_body_sent_as_another_type_is_a_415_naming_it(
    start_agent: StartAgent, llm: ScriptedLLM, content_type: str
) -> None:
    # It was a 422 saying the body "should be a valid dictionary", whatever the JSON held.
    agent = start_agent()
    response = httpx.post(
        f"{agent.url}/agent/run",
        content=b'{"task": "HOSTILE typed"}',
        headers={"content-type": content_type},
        timeout=30,
    )
    assert response.status_code == 415, response.text
    assert response.json()["detail"] == (
        f"the body must be JSON (Content-Type: application/json), not {content_type.split(';')[0]}"
    )
    assert llm.requests == []
