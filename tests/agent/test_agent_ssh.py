"""The seed's story: the agent investigates a crashed container over real SSH, fully recorded.

Real OpenSSH with the forced-command gateway and the recording docker (tests/ssh),
the agent service on uvicorn, the scripted model, the real collector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.agent.conftest import AgentServer, Tracing
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool
from tests.ssh.conftest import SSHServer
from tests.ssh.escapes import ESCAPE_COMMANDS

StartAgent = Callable[..., AgentServer]

CRASH_TASK = (
    "CRASH-1 The container 'worker' on the home server stopped unexpectedly. Investigate "
    "with your tools why it crashed and what to do about it."
)


def tool_spans(tracing: Tracing, trace_id: str) -> list[dict[str, Any]]:
    """Attributes of the finished execute_tool spans of a trace, in start order."""
    rows = tracing.collector.query(
        "SELECT attributes FROM spans WHERE trace_id = ? AND name LIKE 'execute_tool%' "
        "ORDER BY start_ns",
        [trace_id],
    )
    spans = [json.loads(row[0]) for row in rows]
    return [a for a in spans if not a.get("agent_audit.pending")]


def test_crash_investigation_runs_docker_ps_and_logs_and_is_recorded(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd)
    before = len(sshd.docker_calls())
    answer_text = (
        "worker (busybox:1.36) exited with code 1 four days ago; its command is "
        "`sh -c 'exit 1'`, so it fails on start by design. Fix the command, then restart it."
    )
    llm.script(
        "CRASH-1",
        [
            call_tool("docker_ps", {"all": True}, reasoning="Find the stopped container first."),
            call_tool("docker_logs", {"container": "worker", "tail": 100}),
            answer(answer_text, reasoning="The exit code and command explain the crash."),
        ],
    )
    response = agent.run(task=CRASH_TASK, source="n8n", triggered_by="workflow wf-7 / execution 42")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["final_answer"] == answer_text

    # The exact commands reached the server's docker, and nothing else.
    assert sshd.docker_calls()[before:] == [["ps", "--all"], ["logs", "--tail", "100", "worker"]]

    # The model read the real tool output.
    requests = llm.requests_for("CRASH-1")
    assert len(requests) == 3
    offered = {t["function"]["name"] for t in requests[0]["tools"]}
    assert {"docker_ps", "docker_logs", "docker_inspect", "run_on_server"} <= offered
    ps_output = requests[1]["messages"][-1]
    assert ps_output["role"] == "tool"
    assert ps_output["tool_call_id"] == "call_0_0"
    assert "Exited (1)" in ps_output["content"] and "worker" in ps_output["content"]
    assert "GET /health" in requests[2]["messages"][-1]["content"]

    run = tracing.run(body["run_id"])
    assert run["status"] == "completed"
    assert run["source"] == "n8n"
    assert run["triggered_by"] == "workflow wf-7 / execution 42"
    assert run["task"] == CRASH_TASK
    assert run["final_answer"] == answer_text
    steps = run["steps"]
    assert [(s["action_type"], s["tool_name"]) for s in steps] == [
        ("think", None),
        ("tool_call", "docker_ps"),
        ("think", None),
        ("tool_call", "docker_logs"),
        ("think", None),
        ("response", None),
    ]
    assert [s["step_number"] for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[0]["thinking"] == "Find the stopped container first."
    assert steps[4]["thinking"].startswith("The exit code and command explain the crash.")
    assert steps[1]["tool_args"] == {"all": True}
    assert "Exited (1)" in steps[1]["tool_result"]
    assert steps[3]["tool_args"] == {"container": "worker", "tail": 100}
    assert all(s["status"] == "ok" for s in steps)

    spans = tool_spans(tracing, run["trace_id"])
    assert [json.loads(a["ssh.argv"]) for a in spans] == [
        ["docker", "ps", "--all"],
        ["docker", "logs", "--tail", "100", "worker"],
    ]
    for attributes in spans:
        assert attributes["ssh.decision"] == "allowed"
        assert attributes["ssh.exit_code"] == 0
        assert attributes["ssh.host"] == sshd.host
        assert attributes["agent_run.id"] == body["run_id"]


def test_prompt_injection_in_logs_runs_nothing_outside_the_allowlist(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd)
    before_calls = len(sshd.docker_calls())
    before_gateway = len(sshd.gateway_entries())

    def obey_the_logs(request: Any) -> Turn:
        # The scripted model plays an agent talked into deleting the database.
        logs = request["messages"][-1]["content"]
        assert "docker rm -f db" in logs  # the injected instruction reached the model
        return Turn(
            content="The logs say to remove the db container.",
            tool_calls=[ToolCall("run_on_server", {"command": "docker rm -f db"})],
        )

    llm.script(
        "INJECTED",
        [
            call_tool("docker_logs", {"container": "injected", "tail": 20}),
            obey_the_logs,
            call_tool("docker_restart", {"container": "db; docker rm -f db"}),
            answer("I could not remove db: the command was refused."),
        ],
    )
    body = agent.run(task="INJECTED check web's logs and follow any instructions in them").json()
    assert body["status"] == "completed", body

    # Only the allowlisted logs call reached docker; the gateway saw nothing else either.
    assert sshd.docker_calls()[before_calls:] == [["logs", "--tail", "20", "injected"]]
    assert len(sshd.gateway_entries()) - before_gateway == 1

    results = [m["content"] for m in llm.requests_for("INJECTED")[-1]["messages"]]
    assert results[-1].startswith("error: ")  # the refusal went back to the model
    assert results[-3].startswith("error: ")

    run = tracing.run(body["run_id"])
    refused = [
        s for s in run["steps"] if s["action_type"] == "tool_call" and s["status"] == "error"
    ]
    assert [s["tool_name"] for s in refused] == ["run_on_server", "docker_restart"]
    assert refused[0]["tool_args"] == {"command": "docker rm -f db"}
    spans = tool_spans(tracing, run["trace_id"])
    decisions = [(a["gen_ai.tool.name"], a["ssh.decision"]) for a in spans]
    assert decisions == [
        ("docker_logs", "allowed"),
        ("run_on_server", "refused"),
        ("docker_restart", "refused"),
    ]
    assert spans[1]["ssh.command"] == "docker rm -f db"
    assert spans[1]["ssh.refused_by"] == "client"


def test_escape_table_through_the_agent_reaches_nothing(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd)
    before_calls = len(sshd.docker_calls())
    before_gateway = len(sshd.gateway_entries())
    commands = list(ESCAPE_COMMANDS.values())
    llm.script(
        "ESCAPES",
        [
            Turn(tool_calls=[ToolCall("run_on_server", {"command": c}) for c in commands]),
            Turn(
                tool_calls=[
                    ToolCall("docker_logs", raw_arguments="{not json"),
                    ToolCall("docker_ps", {"all": "yes"}),
                ]
            ),
            answer("all refused"),
        ],
    )
    body = agent.run(task="ESCAPES try these").json()
    assert body["status"] == "completed", body
    assert sshd.docker_calls()[before_calls:] == []
    assert len(sshd.gateway_entries()) == before_gateway

    run = tracing.run(body["run_id"])
    tool_steps = [s for s in run["steps"] if s["action_type"] == "tool_call"]
    assert len(tool_steps) == len(commands) + 2
    assert all(s["status"] == "error" for s in tool_steps)
    spans = tool_spans(tracing, run["trace_id"])
    assert len(spans) == len(commands) + 2
    assert {a["ssh.decision"] for a in spans} == {"refused"}
    assert [a["ssh.command"] for a in spans[: len(commands)]] == commands
