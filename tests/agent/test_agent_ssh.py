"""The seed's story: the agent investigates a crashed container over real SSH, fully recorded.

Real OpenSSH with the forced-command gateway and the recording docker (tests/ssh),
the agent service on uvicorn, the scripted model, the real collector.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ssh_tools.allowlist import DEFAULT_POLICY_DATA
from tests.agent.conftest import AgentServer, Tracing
from tests.scripted_llm import ScriptedLLM, ToolCall, Turn, answer, call_tool
from tests.ssh.conftest import GATEWAY_TIMEOUT_S, SSHServer
from tests.ssh.escapes import ESCAPE_COMMANDS
from tests.ssh.fake_docker import COLORED_SECRETS
from tests.support import free_port

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


def test_secrets_in_coloured_logs_are_redacted_in_the_answer_and_the_trail(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd)
    password, token = COLORED_SECRETS

    def quote_the_logs(request: Any) -> Turn:
        logs = request["messages"][-1]["content"]
        assert f"password={password}" in logs  # the model reads the log as it is, codes gone
        # A careless model quotes the secret in its answer.
        return answer(f"The app cannot log in with password={password} (from its log).")

    llm.script("COLOURED", [call_tool("docker_logs", {"container": "colorful"}), quote_the_logs])
    response = agent.run(task="COLOURED why can the app not log in?")
    body = response.json()
    assert body["status"] == "completed", body
    # The caller (n8n stores every answer, a chat gets the final one) holds no secret.
    assert body["final_answer"] == "The app cannot log in with password=[REDACTED] (from its log)."
    assert password not in response.text and token not in response.text
    assert "\x1b" not in response.text
    logs_step = body["steps"][1]
    assert logs_step["tool_name"] == "docker_logs"
    assert "password=[REDACTED] user=app" in logs_step["result"]

    run = tracing.run(body["run_id"])
    assert run["final_answer"] == body["final_answer"]
    assert "password=[REDACTED] user=app" in run["steps"][1]["tool_result"]
    stored = json.dumps(tracing.collector.query("SELECT * FROM spans", []), default=str)
    assert password not in stored and token not in stored


def test_ssh_failures_are_failed_steps_that_read_clearly_and_the_run_goes_on(
    start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer, tmp_path: Path
) -> None:
    # A client policy looser than the gateway's lets `docker exec` through to the server.
    loose_policy = tmp_path / "loose_policy.json"
    loose_policy.write_text(
        json.dumps(dict(DEFAULT_POLICY_DATA, subcommands={"exec": {"arguments": {"max": 0}}}))
    )
    changed_known_hosts = tmp_path / "known_hosts"  # another key pinned: the host key "changed"
    changed_known_hosts.write_text(
        f"[127.0.0.1]:{sshd.port} {(sshd.directory / 'wrong_key.pub').read_text().strip()}\n"
    )
    down_port = free_port()
    cases = [
        # (marker, the server's settings, the tool call, how its result starts)
        (
            "GATEWAY-REFUSES",
            sshd.settings(policy_path=loose_policy),
            ToolCall("run_on_server", {"command": "docker exec"}),
            "error: refused by gateway policy: docker subcommand 'exec' is not allowed",
        ),
        (
            "TIMES-OUT",
            sshd.settings(),
            ToolCall("docker_logs", {"container": "hang", "tail": 10}),
            f"error: command timed out after {GATEWAY_TIMEOUT_S:g} s "
            "(the gateway stopped it on the server)",
        ),
        (
            "KEY-CHANGED",
            sshd.settings(known_hosts_path=changed_known_hosts),
            ToolCall("docker_ps", {"all": True}),
            f"error: host key of 127.0.0.1:{sshd.port} does not match known_hosts (offered SHA256:",
        ),
        (
            "HOST-DOWN",
            sshd.settings(port=down_port, connect_timeout_s=2),
            ToolCall("docker_ps", {"all": True}),
            f"error: cannot connect to {sshd.user}@127.0.0.1:{down_port}: Connection refused",
        ),
    ]
    for marker, settings, call, expected in cases:
        agent = start_agent(ssh=settings)
        llm.script(
            marker,
            [Turn(tool_calls=[call]), answer(f"{marker}: the server could not be examined.")],
        )
        body = agent.run(task=f"{marker} why did worker crash?").json()
        # The failure went back to the model as the tool's result, and the run went on.
        assert body["status"] == "completed", body
        assert body["final_answer"] == f"{marker}: the server could not be examined."
        tool_result = llm.requests_for(marker)[1]["messages"][-1]["content"]
        assert tool_result.startswith(expected), (marker, tool_result)
        assert "\n" not in tool_result.strip(), tool_result  # one line a person can read
        run = tracing.run(body["run_id"])
        assert [(s["action_type"], s["status"]) for s in run["steps"]] == [
            ("think", "ok"),
            ("tool_call", "error"),
            ("think", "ok"),
            ("response", "ok"),
        ], marker
        assert run["steps"][1]["tool_result"] == tool_result
        assert run["steps"][1]["error"], marker
