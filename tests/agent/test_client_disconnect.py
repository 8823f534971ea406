"""A caller that disconnects before its run ends cancels the run (``wait`` true).

Nobody is left to read the answer, so the run must not go on using the model, the
tools and a slot of the service: it stops at its next step boundary, as
``cancelled``, with a ``terminate`` step saying why. A run started with
``"wait": false`` belongs to nobody's connection and runs on.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from tests.agent.conftest import AgentServer, Tracing
from tests.agent.test_agent_loop import status_registry
from tests.scripted_llm import ScriptedLLM, answer, call_tool
from tests.support import wait_until

StartAgent = Callable[..., AgentServer]


def _post_and_leave_open(agent: AgentServer, body: dict[str, Any]) -> socket.socket:
    """Send ``POST /agent/run`` on a raw connection and return it, unanswered."""
    payload = json.dumps(body).encode()
    host, port = agent.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(
        b"POST /agent/run HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def _read_answer(sock: socket.socket) -> str:
    """The whole answer on ``sock``: its head and as many body bytes as it declares (they
    may come in more than one segment)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    while length and len(body) < int(length.group(1)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def _cancelled_run_id(caplog: pytest.LogCaptureFixture) -> str | None:
    for record in caplog.records:
        if "the caller disconnected" in record.getMessage():
            return str(record.args[0]) if isinstance(record.args, tuple) else None
    return None


def test_a_caller_that_disconnects_cancels_its_run_before_the_next_step(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.app")
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    gate, asked = threading.Event(), threading.Event()
    # The model is thinking when the caller leaves; the tool call it then asks for never runs.
    llm.script(
        "LEAVING",
        [call_tool("container_status", {"name": "web"}, gate=gate, arrived=asked)],
        then_repeat=answer("web is fine"),
    )
    sock = _post_and_leave_open(agent, {"task": "LEAVING: is web up?", "source": "curl"})
    assert asked.wait(10), "the model was never asked"
    sock.close()

    run_id = wait_until(
        lambda: _cancelled_run_id(caplog), timeout_s=10, what="the service noticing the caller left"
    )
    gate.set()

    assert run_id is not None
    run = tracing.run(run_id)
    assert run["status"] == "cancelled"
    assert [(s["action_type"], s["status"]) for s in run["steps"]] == [
        ("think", "ok"),
        ("terminate", "ok"),
    ]
    assert run["steps"][-1]["tool_result"] == (
        "cancelled: the client that asked for this run disconnected before it ended"
    )
    assert calls == []  # the tool call asked for after the caller left never ran
    assert len(llm.requests_for("LEAVING")) == 1
    wait_until(lambda: agent.service.active_runs == 0, timeout_s=10, what="the slot freed")


def test_a_model_call_that_times_out_after_the_caller_left_ends_the_run_cancelled(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, caplog: pytest.LogCaptureFixture
) -> None:
    # The caller leaves while the model is thinking; the call then times out. Nobody is
    # waiting for that call any more: the run was stopped, not failed by the model server.
    caplog.set_level(logging.INFO, logger="agent.app")
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls), llm_timeout_s=4.0)
    never, asked = threading.Event(), threading.Event()
    llm.script(
        "STALLED",
        [call_tool("container_status", {"name": "web"}, gate=never, arrived=asked)],
        then_repeat=answer("web is fine"),
    )
    sock = _post_and_leave_open(agent, {"task": "STALLED: is web up?", "source": "curl"})
    try:
        assert asked.wait(10), "the model was never asked"
        sock.close()
        run_id = wait_until(
            lambda: _cancelled_run_id(caplog),
            timeout_s=10,
            what="the service noticing the caller left",
        )
        assert run_id is not None
        run = tracing.run(run_id, timeout_s=20)
    finally:
        never.set()

    assert run["status"] == "cancelled", run.get("error")
    steps = [(s["action_type"], s["status"]) for s in run["steps"]]
    assert steps == [("think", "error"), ("terminate", "ok")]
    assert "did not answer within 4 s" in (run["steps"][0]["error"] or "")  # what happened
    assert run["steps"][-1]["tool_result"] == (
        "cancelled: the client that asked for this run disconnected before it ended"
    )
    assert calls == []
    assert len(llm.requests_for("STALLED")) == 1
    wait_until(lambda: agent.service.active_runs == 0, timeout_s=10, what="the slot freed")


def test_a_run_started_without_waiting_runs_on_when_its_caller_leaves(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    gate, asked = threading.Event(), threading.Event()
    llm.script(
        "DETACHED",
        [call_tool("container_status", {"name": "db"}, gate=gate, arrived=asked)],
        then_repeat=answer("db exited with code 137"),
    )
    sock = _post_and_leave_open(agent, {"task": "DETACHED: why did db stop?", "wait": False})
    answer_head = _read_answer(sock)
    sock.close()
    assert answer_head.startswith("HTTP/1.1 202"), answer_head
    run_id = json.loads(answer_head.split("\r\n\r\n", 1)[1])["run_id"]
    assert asked.wait(10)
    gate.set()

    assert run_id is not None
    run = tracing.run(run_id)
    assert run["status"] == "completed"
    assert run["final_answer"] == "db exited with code 137"
    assert calls == [{"name": "db", "verbose": False}]
