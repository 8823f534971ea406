"""The agent service end to end with Python-registered tools: edges of the loop.

Real uvicorn serving the agent, the scripted OpenAI-compatible server, the real
collector receiving the spans over OTLP/gRPC and answering through its REST API.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from agent.registry import ToolRegistry
from instrumentation import current_run
from tests.agent.conftest import AgentServer, Tracing
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool
from tests.support import free_port, poll_until, wait_until

StartAgent = Callable[..., AgentServer]


def status_registry(calls: list[dict[str, Any]]) -> ToolRegistry:
    """A registry with ``container_status`` (records its calls) and ``flaky`` (raises)."""
    registry = ToolRegistry()

    def container_status(name: str, verbose: bool = False) -> dict[str, Any]:
        """Status of one container.

        Args:
            name: the container's name
            verbose: include the restart count
        """
        calls.append({"name": name, "verbose": verbose})
        return {"name": name, "state": "exited", "exit_code": 137}

    def flaky() -> str:
        """A tool that always fails."""
        raise RuntimeError("disk quota exceeded")

    registry.register(container_status)
    registry.register(flaky)
    return registry


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_answer_with_registered_tool_is_traced(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    llm.script(
        "PY-TOOL",
        [
            call_tool(
                "container_status",
                {"name": "worker"},
                reasoning="The worker may have been killed; check its state.",
                input_tokens=200,
                output_tokens=20,
            ),
            answer("worker was killed (exit 137, OOM).", input_tokens=260, output_tokens=15),
        ],
    )
    response = agent.run(
        task="PY-TOOL why did worker stop?",
        source="test",
        triggered_by="pytest",
        working_directory="/srv",
        metadata={"ticket": 42},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed"
    assert body["final_answer"] == "worker was killed (exit 137, OOM)."
    assert body["error"] is None
    assert [s["action_type"] for s in body["steps"]] == ["think", "tool_call", "think", "response"]
    assert calls == [{"name": "worker", "verbose": False}]

    first, second = llm.requests_for("PY-TOOL")
    assert first["model"] == "qwen2.5-coder"
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert set(offered) == {"container_status", "flaky"}
    assert offered["container_status"]["parameters"]["required"] == ["name"]
    assert first["messages"][0]["role"] == "system"
    assert "docker" in first["messages"][0]["content"]
    assert json.loads(tool_messages(second)[0])["exit_code"] == 137

    run = tracing.run(body["run_id"])
    assert run["status"] == "completed"
    assert run["final_answer"] == "worker was killed (exit 137, OOM)."
    assert (run["source"], run["triggered_by"], run["working_directory"]) == (
        "test",
        "pytest",
        "/srv",
    )
    assert run["metadata"] == {"ticket": 42}
    assert run["model_requested"] == "qwen2.5-coder"
    assert run["model_used"] == llm.served_model
    assert run["agent_name"] == "container-ops"
    assert run["backend"] == "test-gpu"
    assert (run["input_tokens"], run["output_tokens"]) == (460, 35)
    steps = run["steps"]
    assert [s["action_type"] for s in steps] == ["think", "tool_call", "think", "response"]
    think = steps[0]
    assert think["thinking"] == "The worker may have been killed; check its state."
    assert (think["input_tokens"], think["output_tokens"]) == (200, 20)
    assert think["model"] == llm.served_model
    tool_step = steps[1]
    assert tool_step["tool_name"] == "container_status"
    assert tool_step["tool_args"] == {"name": "worker"}  # as the model sent them
    assert json.loads(tool_step["tool_result"])["exit_code"] == 137
    assert tool_step["status"] == "ok"
    assert steps[3]["tool_result"] == "worker was killed (exit 137, OOM)."


def test_unknown_tool_and_bad_arguments_go_back_to_the_model(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    llm.script(
        "BAD-CALLS",
        [
            call_tool("format_disk", {"device": "/dev/sda"}),
            Turn(tool_calls=[ToolCall("container_status", raw_arguments='{"name": "web"')]),
            Turn(tool_calls=[ToolCall("container_status", raw_arguments='["web"]')]),
            call_tool("container_status", {"name": 5}),
            call_tool("container_status", {"nme": "web"}),
            call_tool("flaky"),
            answer("could not check"),
        ],
    )
    response = agent.run(task="BAD-CALLS check web")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert calls == []  # no malformed call reached the function

    last_request = llm.requests_for("BAD-CALLS")[-1]
    results = tool_messages(last_request)
    assert len(results) == 6
    assert results[0].startswith("error: unknown tool 'format_disk'")
    assert "container_status" in results[0]  # the model is told what exists
    assert results[1].startswith("error: arguments are not valid JSON")
    assert results[2] == "error: arguments must be a JSON object"
    assert "'name' must be string" in results[3]
    assert "unexpected argument(s) nme" in results[4]
    assert results[5] == "error: RuntimeError: disk quota exceeded"

    run = tracing.run(body["run_id"])
    assert run["status"] == "completed"
    tool_steps = [s for s in run["steps"] if s["action_type"] == "tool_call"]
    assert [s["tool_name"] for s in tool_steps] == ["format_disk"] + ["container_status"] * 4 + [
        "flaky"
    ]
    assert all(s["status"] == "error" for s in tool_steps)
    assert tool_steps[0]["error"].startswith("unknown tool 'format_disk'")
    assert tool_steps[0]["tool_args"] == {"device": "/dev/sda"}
    assert tool_steps[1]["tool_args"] == '{"name": "web"'  # kept as sent
    assert "disk quota exceeded" in tool_steps[5]["error"]


def test_max_steps_ends_the_run(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    calls: list[dict[str, Any]] = []
    agent = start_agent(registry=status_registry(calls))
    llm.script("LOOPING", [], then_repeat=call_tool("container_status", {"name": "web"}))
    response = agent.run(task="LOOPING keep checking", max_steps=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "max_steps"
    assert body["final_answer"] is None
    # The caller (n8n's report) learns why there is no answer.
    assert body["error"] == "stopped after 3 model calls without a final answer (max_steps)"
    assert len(llm.requests_for("LOOPING")) == 3
    assert len(calls) == 3

    run = tracing.run(body["run_id"])
    assert run["status"] == "max_steps"
    actions = [s["action_type"] for s in run["steps"]]
    assert actions == ["think", "tool_call"] * 3 + ["terminate"]
    assert "max_steps" in run["steps"][-1]["tool_result"]


def test_max_steps_over_the_limit_is_refused(start_agent: StartAgent, llm: ScriptedLLM) -> None:
    agent = start_agent(max_steps_limit=20)
    response = agent.run(task="anything", max_steps=21)
    assert response.status_code == 422
    assert "max_steps 21" in response.json()["detail"]
    assert agent.run(task="anything", max_step=2).status_code == 422  # typo: unknown field
    assert llm.requests == []


def test_cancel_through_the_collector(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    registry = ToolRegistry()
    watching = threading.Event()

    def watch_logs(container: str) -> str:
        """Follow a container's logs until the run is cancelled (cooperatively)."""
        watching.set()
        run = current_run()
        if run is not None:  # polls the flag, as a long tool would
            poll_until(lambda: run.cancel_requested, timeout_s=15)
        return "stopped watching"

    registry.register(watch_logs)
    agent = start_agent(registry=registry)
    llm.script(
        "CANCEL-ME", [call_tool("watch_logs", {"container": "web"})], then_repeat=answer("x")
    )
    response = agent.run(task="CANCEL-ME watch web", wait=False)
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]
    assert response.json()["status"] == "running"
    assert watching.wait(10)

    api = tracing.collector.api_url

    def running_in_collector() -> bool:
        found = httpx.get(f"{api}/agent/runs/{run_id}", timeout=5)
        return found.status_code == 200 and found.json()["status"] == "running"

    wait_until(running_in_collector, timeout_s=10, what="run visible as running")
    cancel = httpx.post(
        f"{api}/agent/runs/{run_id}/cancel",
        json={"requested_by": "pytest", "reason": "enough"},
        timeout=5,
    )
    assert cancel.status_code == 202, cancel.text

    run = tracing.run(run_id)
    assert run["status"] == "cancelled"
    assert run["cancel_requested_by"] == "pytest"
    assert [s["action_type"] for s in run["steps"]] == ["think", "tool_call"]
    assert len(llm.requests_for("CANCEL-ME")) == 1  # no model call after the cancel
    wait_until(lambda: agent.service.active_runs == 0, timeout_s=5, what="worker freed")


def test_model_server_down_fails_fast_and_clearly(
    start_agent: StartAgent, tracing: Tracing
) -> None:
    dead_url = f"http://127.0.0.1:{free_port()}/v1"
    agent = start_agent(llm_base_url=dead_url, llm_max_retries=1)
    started = time.monotonic()
    response = agent.run(task="is anyone there?")
    elapsed_s = time.monotonic() - started
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert f"model server {dead_url} is unreachable" in body["error"]
    assert elapsed_s < 5, f"took {elapsed_s:.1f} s"

    run = tracing.run(body["run_id"])
    assert run["status"] == "failed"
    assert "unreachable" in run["error"]
    assert [(s["action_type"], s["status"]) for s in run["steps"]] == [("think", "error")]
    assert "unreachable" in run["steps"][0]["error"]


def test_model_server_error_answer_fails_the_run(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    agent = start_agent()
    body = agent.run(task="NO-SCRIPT for this task").json()  # the server answers 400
    assert body["status"] == "failed"
    assert "answered HTTP 400: no script for" in body["error"]
    assert tracing.run(body["run_id"])["status"] == "failed"


def test_concurrent_runs_beyond_the_limit_get_429(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    agent = start_agent(max_concurrent=1)
    gate, asked = threading.Event(), threading.Event()
    llm.script("SLOW-ONE", [answer("done slowly", gate=gate, arrived=asked)])
    llm.script("SECOND", [answer("done")])
    first = agent.run(task="SLOW-ONE", wait=False)
    assert first.status_code == 202
    assert asked.wait(10)

    refused = agent.run(task="SECOND")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "retry later" in refused.json()["detail"]
    assert agent.http.get("/healthz").json()["active_runs"] == 1

    gate.set()
    wait_until(lambda: agent.service.active_runs == 0, timeout_s=10, what="first run done")
    second = agent.run(task="SECOND")
    assert second.status_code == 200
    assert second.json()["final_answer"] == "done"
    assert tracing.run(first.json()["run_id"])["final_answer"] == "done slowly"


def test_token_is_required_when_configured(start_agent: StartAgent, llm: ScriptedLLM) -> None:
    agent = start_agent(token="s3cret-token")
    llm.script("AUTH", [answer("ok")])
    assert agent.run(task="AUTH").status_code == 401
    wrong = agent.http.post(
        "/agent/run", json={"task": "AUTH"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    assert llm.requests == []
    right = agent.http.post(
        "/agent/run", json={"task": "AUTH"}, headers={"Authorization": "Bearer s3cret-token"}
    )
    assert right.status_code == 200
    assert right.json()["final_answer"] == "ok"
    health = agent.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}  # nothing more without the token
    detailed = agent.http.get("/healthz", headers={"Authorization": "Bearer s3cret-token"})
    assert detailed.json()["tools"] == []
    assert detailed.json()["model"] == "qwen2.5-coder"


NO_ANSWER = "the model answered with neither text nor a tool call"
EMPTY_TURNS: dict[str, tuple[list[Turn], str]] = {
    # marker: (the turns, the run's error)
    "EMPTY-TEXT": ([Turn(content="")], f"{NO_ANSWER} (finish reason: stop)"),
    "EMPTY-NULL": ([Turn(content=None)], f"{NO_ANSWER} (finish reason: stop)"),
    "EMPTY-BLANK": ([Turn(content="  \n\t")], f"{NO_ANSWER} (finish reason: stop)"),
    "EMPTY-THINKING": (
        [Turn(content="<think>the logs say OOM</think>")],
        f"{NO_ANSWER} (finish reason: stop)",
    ),
    "EMPTY-LENGTH": (
        [Turn(content="", finish_reason="length")],
        f"{NO_ANSWER} (finish reason: length)",
    ),
    "EMPTY-FILTER": (
        [Turn(content=None, finish_reason="content_filter")],
        f"{NO_ANSWER} (finish reason: content_filter)",
    ),
    "EMPTY-AFTER-TOOL": (
        [
            Turn(content="Checking.", tool_calls=[ToolCall("container_status", {"name": "a"})]),
            Turn(content=""),
        ],
        f"{NO_ANSWER} (finish reason: stop)",
    ),
    "EMPTY-REFUSAL": (
        [Turn(content=None, refusal="I can't help with that request.")],
        "the model refused to answer: I can't help with that request.",
    ),
}


def test_a_model_turn_with_no_answer_fails_the_run_saying_why(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing
) -> None:
    """No text and no tool call is no answer: the run fails (it was completed with an empty
    answer, a refusal's text lost), its last step says why, the n8n report shows it."""
    agent = start_agent(registry=status_registry([]))
    for marker, (turns, error) in EMPTY_TURNS.items():
        llm.script(marker, turns)
        body = agent.run(task=f"{marker} why did web crash?").json()
        assert (body["status"], body["final_answer"], body["error"]) == ("failed", None, error)
        assert body["steps"][-1] == {"action_type": "terminate", "error": error}
        run = tracing.run(body["run_id"])
        assert run["status"] == "failed", marker
        assert error in run["error"], marker
        assert run["final_answer"] is None
        last = run["steps"][-1]
        assert (last["action_type"], last["status"]) == ("terminate", "error"), marker
        assert last["error"] == error
        assert "response" not in [s["action_type"] for s in run["steps"]]
        if marker == "EMPTY-THINKING":  # what the model thought stays in the think step
            assert body["steps"][0]["thinking"] == "the logs say OOM"
