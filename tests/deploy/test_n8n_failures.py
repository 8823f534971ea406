"""The example workflow in a real n8n when things go wrong around it.

An agent busy with other executions, an agent (or what answers at its URL) that
gives no run, docker commands that fail, hang or never reach the server, names
docker would not take, and n8n killed in the middle of a run. Each time the chat
gets a report that says what happened, the collector has every run and every
command, and nothing hangs. One n8n serves all of them (tests/deploy/n8n_shared.py).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest

from tests.agent.conftest import AgentServer, Tracing
from tests.deploy.n8n_shared import TERMINAL, TOKEN, SharedN8n
from tests.scripted_llm import ScriptedLLM, answer, call_tool
from tests.ssh.conftest import SSHServer
from tests.support import free_port, holds_for, serving, wait_until

pytestmark = pytest.mark.xdist_group("n8n")  # one worker, one n8n for all of them

StartAgent = Callable[..., AgentServer]

# What answers at a misconfigured agent URL, by the first segment of the request path.
NOT_A_RUN = {
    "crashing": (500, "application/json", b'{"detail":"internal boom"}'),
    "locked": (401, "application/json", b'{"detail":"missing or wrong bearer token"}'),
    "busy": (429, "application/json", b'{"detail":"the agent is running 4 runs"}'),
    "truncated": (200, "application/json", b'{"run_id": "4f1c", "stat'),
    "statusless": (200, "application/json", b'{"run_id": "r-1"}'),
}


@pytest.fixture
def not_an_agent() -> Iterator[tuple[str, list[str]]]:
    """``(url, paths)``: answers ``POST /<kind>/agent/run`` as ``NOT_A_RUN[kind]`` says."""
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # name fixed by http.server
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            requested.append(self.path)
            status, content_type, body = NOT_A_RUN[self.path.split("/")[1]]
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    with serving(Handler) as url:
        yield url, requested


def _last_finished(n8n: SharedN8n, workflow: dict[str, Any]) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        executions = n8n.workflow_executions(workflow["id"])
        return executions[0] if executions and executions[0]["status"] in TERMINAL else None

    found = wait_until(finished, timeout_s=90, interval_s=0.5, what="the execution to end")
    assert found is not None
    return found


def _error_message(n8n: SharedN8n, execution: dict[str, Any]) -> str:
    data = n8n.server.execution_data(str(execution["id"]))
    return str(data["resultData"]["error"]["message"])


def _run_of(posted: dict[str, Any], tracing: Tracing) -> dict[str, Any]:
    match = re.match(r"agent-audit run ([0-9a-f-]{36}): ", posted["text"])
    assert match, posted["text"]
    return tracing.run(match.group(1))


def _tool_calls(run: dict[str, Any], tracing: Tracing) -> list[dict[str, Any]]:
    """The run's tool steps with the SSH attributes of their spans (collector REST API)."""
    calls = []
    for step in run["steps"]:
        if step["action_type"] != "tool_call":
            continue
        span = httpx.get(
            f"{tracing.collector.api_url}/spans/{step['trace_id']}/{step['span_id']}", timeout=10
        )
        assert span.status_code == 200, span.text
        attributes = span.json()["attributes"]
        argv = attributes.get("ssh.argv")
        calls.append(
            {
                "tool": step["tool_name"],
                "status": step["status"],
                "argv": json.loads(argv) if argv else None,
                "decision": attributes.get("ssh.decision"),
                "result": step["tool_result"],
            }
        )
    return calls


def test_real_n8n_waits_while_the_agent_is_busy_and_runs_both_executions(
    n8n: SharedN8n, start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    # Two alerts at once, an agent that runs one investigation at a time: the second
    # execution is answered 429 while the first runs, waits, and runs after it.
    agent = start_agent(ssh=sshd, token=TOKEN, max_concurrent=1, llm_timeout_s=60.0)
    workflow = n8n.add(agent.url)
    first_gate = threading.Event()
    llm.script('The container "first-in"', [answer("first-in: out of memory", gate=first_gate)])
    llm.script(
        'The container "second-in"',
        [call_tool("docker_ps", {"all": True}), answer("second-in: exit 1 at start")],
    )
    n8n.alert(workflow, {"container": "first-in"})
    wait_until(lambda: llm.requests_for("first-in"), timeout_s=60, what="the first run")
    n8n.alert(workflow, {"container": "second-in"})
    wait_until(lambda: len(n8n.workflow_executions(workflow["id"])) == 2, timeout_s=30)
    holds_for(lambda: not n8n.posted, for_s=6, what="no report while the first run goes on")
    assert not llm.requests_for("second-in")
    first_gate.set()
    wait_until(lambda: len(n8n.posted) == 2, timeout_s=90, interval_s=0.2, what="two reports")
    headers = [p["text"].split("\n\n")[0] for p in n8n.posted]
    assert [h.split(": ", 1)[1] for h in headers] == [
        "completed (first-in)",
        "completed (second-in)",
    ]

    def both_ended() -> list[dict[str, Any]] | None:
        executions = n8n.workflow_executions(workflow["id"])
        return executions if all(e["status"] in TERMINAL for e in executions) else None

    executions = wait_until(both_ended, timeout_s=30, interval_s=0.5, what="both executions")
    assert executions is not None
    assert [e["status"] for e in executions] == ["success", "success"]
    second = _run_of(n8n.posted[1], tracing)
    assert second["status"] == "completed" and second["source"] == "n8n"
    calls = _tool_calls(second, tracing)
    assert [(c["tool"], c["argv"], c["status"]) for c in calls] == [
        ("docker_ps", ["docker", "ps", "--all"], "ok")
    ]
    # n8n asked again after the 429, through the wait.
    execution_id = second["triggered_by"].rsplit(" ", 1)[1]
    run_data = n8n.server.execution_data(execution_id)["resultData"]["runData"]
    assert len(run_data["Wait for a free slot"]) >= 1
    assert len(run_data["Ask the agent"]) == len(run_data["Wait for a free slot"]) + 1


def test_real_n8n_reports_each_answer_that_is_not_a_run(
    n8n: SharedN8n, not_an_agent: tuple[str, list[str]]
) -> None:
    url, requested = not_an_agent
    # A user who gives the agent 6 seconds: a busy agent is asked again 2 times, 5 s apart.
    workflows = {kind: n8n.add(f"{url}/{kind}", agent_timeout_minutes=0.1) for kind in NOT_A_RUN}
    for workflow in workflows.values():
        n8n.alert(workflow, {"container": "web"})
    wait_until(lambda: len(n8n.posted) == len(NOT_A_RUN), timeout_s=90, what="every report")
    reports = {p["text"].split("\n\n")[0]: p["text"].split("\n\n", 1)[1] for p in n8n.posted}
    expected = {
        "crashing": 'it answered HTTP 500: {"detail":"internal boom"}',
        "locked": 'it answered HTTP 401: {"detail":"missing or wrong bearer token"}',
        "busy": "it answered HTTP 429 for 0.1 minutes: it was running as many investigations"
        " as it may at once (AGENT_AUDIT_AGENT_MAX_CONCURRENT)",
        "truncated": "it answered something that is not a run's JSON"
        " (Invalid JSON in response body)",
    }
    for kind, why in expected.items():
        header = f"agent-audit: no answer from the agent at {url}/{kind} (web)"
        assert reports.get(header) == why, (kind, reports)
        failed = _last_finished(n8n, workflows[kind])
        assert failed["status"] == "error"
        assert _error_message(n8n, failed) == f"no answer from the agent about web: {why}"
    assert reports["agent-audit run r-1: unknown (web)"] == "no answer"
    assert requested.count("/busy/agent/run") == 3  # asked, then twice more after 5 s


def test_real_n8n_reports_failed_tool_calls_and_every_command_is_recorded(
    n8n: SharedN8n, start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd, token=TOKEN)
    no_server = start_agent(ssh=sshd.settings(port=free_port()), token=TOKEN)
    wrong_key = start_agent(ssh=sshd.settings(key_path=sshd.wrong_key), token=TOKEN)
    workflow = n8n.add(agent.url)
    llm.script(
        'The container "my web app"',
        [call_tool("docker_logs", {"container": "my web app", "tail": 5}), answer("spaces")],
    )
    llm.script(
        'The container "数据库-ü"',
        [call_tool("docker_inspect", {"container": "数据库-ü"}), answer("unicode")],
    )
    for number in (1, 2):
        llm.script(
            f'The container "dup" on nas crashed (restart {number})',
            [call_tool("docker_logs", {"container": "dup", "tail": 5}), answer(f"dup {number}")],
        )
    llm.script(
        'The container "missing"',  # listed, then gone before the inspect
        [
            call_tool("docker_ps", {"all": True}),
            call_tool("docker_inspect", {"container": "missing"}),
            answer("missing: removed meanwhile"),
        ],
    )
    llm.script(
        'The container "hang"',
        [call_tool("docker_logs", {"container": "hang", "tail": 5}), answer("hang: docker hangs")],
    )
    docker_before = len(sshd.docker_calls())
    entries: list[Any] = [
        "my web app",
        "数据库-ü",
        {"container": "dup", "server": "nas", "reason": "restart 1"},
        {"container": "dup", "server": "nas", "reason": "restart 2"},
        "missing",
        "hang",
    ]
    n8n.alert(workflow, {"containers": entries})
    wait_until(lambda: len(n8n.posted) == 6, timeout_s=120, interval_s=0.2, what="six reports")
    texts = [p["text"].split("\n\n") for p in n8n.posted]
    assert [t[0].split(": ", 1)[1] for t in texts] == [
        'completed ("my web app")',
        'completed ("数据库-ü")',
        "completed (dup)",
        "completed (dup)",
        "completed (missing)",
        "completed (hang)",
    ]
    assert [t[1] for t in texts[2:4]] == ["dup 1", "dup 2"]
    failures = {t[0].split("(", 1)[1][:-1]: t[2] if len(t) > 2 else "" for t in texts}
    assert failures['"my web app"'].startswith(
        "1 of 1 tool calls failed: docker_logs: error: refused by client policy"
    )
    assert failures['"数据库-ü"'].startswith("1 of 1 tool calls failed: docker_inspect: error:")
    assert failures["missing"] == (
        "1 of 2 tool calls failed: docker_inspect: error: docker exited with status 1:"
        " Error response from daemon: No such container: missing"
    )
    assert "docker_logs: error: command timed out after 3 s" in failures["hang"]
    # Every run is in the collector with its tool steps and the exact command of each.
    runs = [_run_of(p, tracing) for p in n8n.posted]
    (execution,) = {r["triggered_by"] for r in runs}  # one execution for the whole list
    commands = [
        [(c["argv"], c["decision"], c["status"]) for c in _tool_calls(r, tracing)] for r in runs
    ]
    assert commands == [
        [(["docker", "logs", "--tail", "5", "my web app"], "refused", "error")],
        [(["docker", "inspect", "数据库-ü"], "refused", "error")],
        [(["docker", "logs", "--tail", "5", "dup"], "allowed", "ok")],
        [(["docker", "logs", "--tail", "5", "dup"], "allowed", "ok")],
        [
            (["docker", "ps", "--all"], "allowed", "ok"),
            (["docker", "inspect", "missing"], "allowed", "error"),
        ],
        [(["docker", "logs", "--tail", "5", "hang"], "allowed", "error")],
    ]
    assert sshd.docker_calls()[docker_before:] == [
        ["logs", "--tail", "5", "dup"],
        ["logs", "--tail", "5", "dup"],
        ["ps", "--all"],
        ["inspect", "missing"],
        ["logs", "--tail", "5", "hang"],
    ]
    assert execution.startswith(f"n8n workflow {workflow['id']} execution ")

    # The SSH server down, or refusing the agent's key: the model may say anything,
    # the report names the failure.
    n8n.posted.clear()
    for name, server_agent in (("no-sshd", no_server), ("bad-key", wrong_key)):
        llm.script(
            f'The container "{name}"',
            [call_tool("docker_ps", {"all": True}), answer("All containers look healthy.")],
        )
        n8n.alert(n8n.add(server_agent.url), {"container": name})
        wait_until(lambda: len(n8n.posted) == 1, timeout_s=60, what=f"the report on {name}")
        text = n8n.posted.pop()["text"]
        assert text.split("\n\n")[1] == "All containers look healthy."
        assert text.split("\n\n")[2].startswith("1 of 1 tool calls failed: docker_ps: error: ")
        assert ("Connection refused" if name == "no-sshd" else "did not accept the key") in text


def test_real_n8n_chat_that_refuses_the_reports_stops_no_investigation(
    n8n: SharedN8n, start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd, token=TOKEN)
    chat_down = f"http://127.0.0.1:{free_port()}/hooks/agent"
    workflow = n8n.add(agent.url, notify_url=chat_down)
    for name in ("chat-a", "chat-b"):
        llm.script(f'The container "{name}"', [answer(f"{name}: out of memory")])
    n8n.alert(workflow, {"containers": ["chat-a", "chat-b"]})
    execution = _last_finished(n8n, workflow)
    assert execution["status"] == "error"
    message = _error_message(n8n, execution)
    port = chat_down.split(":")[2].split("/")[0]
    assert message == (
        f"the report on chat-a could not be posted to {chat_down}: connection refused at"
        f" 127.0.0.1:{port} (and 1 more that did not complete)"
    )
    # Both containers were investigated all the same.
    for name in ("chat-a", "chat-b"):

        def runs(name: str = name) -> list[Any]:
            return tracing.collector.query(
                "SELECT id FROM agent_runs WHERE starts_with(task, ?)", [f'The container "{name}"']
            )

        (row,) = wait_until(runs, timeout_s=30, what=f"the run on {name}")
        assert tracing.run(row[0])["status"] == "completed"
    assert not n8n.posted


def test_real_n8n_schedule_trigger_checks_the_whole_server(
    n8n: SharedN8n, start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd, token=TOKEN)
    llm.script(
        "Check the home server for containers",
        [call_tool("docker_ps", {"all": True}), answer("worker exited with code 1.")],
    )
    workflow = n8n.add(agent.url, schedule_every_s=5)  # enabled, as the README says to
    try:
        wait_until(lambda: n8n.posted, timeout_s=60, interval_s=0.2, what="the scheduled report")
    finally:
        response = n8n.server.http.post(f"/rest/workflows/{workflow['id']}/deactivate", json={})
        assert response.status_code == 200, response.text
    text = n8n.posted[0]["text"]
    assert re.match(r"agent-audit run \S+: completed \(server check\)\n\nworker exited", text)
    run = _run_of(n8n.posted[0], tracing)
    assert [c["argv"] for c in _tool_calls(run, tracing)] == [["docker", "ps", "--all"]]
    execution = _last_finished(n8n, workflow)
    assert (execution["mode"], execution["status"]) == ("trigger", "success")


def test_real_n8n_killed_mid_run_reports_the_crashed_execution_after_its_restart(
    n8n: SharedN8n, start_agent: StartAgent, llm: ScriptedLLM, tracing: Tracing, sshd: SSHServer
) -> None:
    agent = start_agent(ssh=sshd, token=TOKEN)
    workflow = n8n.add(agent.url)
    llm.script(
        'The container "hang"',
        [call_tool("docker_logs", {"container": "hang", "tail": 5}), answer("too late")],
    )
    docker_before = len(sshd.docker_calls())
    n8n.alert(workflow, {"container": "hang"})
    # n8n dies while the agent runs docker (which hangs until the gateway's 3 s limit).
    wait_until(
        lambda: ["logs", "--tail", "5", "hang"] in sshd.docker_calls()[docker_before:],
        timeout_s=60,
        what="docker logs on the server",
    )
    n8n.server.crash()
    try:

        def run_ids() -> set[str]:
            rows = tracing.collector.query(
                "SELECT id FROM agent_runs WHERE starts_with(task, 'The container \"hang\"')"
            )
            return {row[0] for row in rows}

        (run_id,) = wait_until(run_ids, timeout_s=30, what="the run in the collector")
        # The agent, its caller gone, cancels the run once the hanging command is stopped.
        cancelled = tracing.run(run_id, timeout_s=30)
        assert cancelled["status"] == "cancelled"
        assert [c["argv"] for c in _tool_calls(cancelled, tracing)] == [
            ["docker", "logs", "--tail", "5", "hang"]
        ]
        assert not n8n.posted
    finally:
        n8n.server.start()  # as after a reboot; the later tests need it too
    # The execution is found crashed at the start, and reported.
    wait_until(lambda: n8n.posted, timeout_s=90, interval_s=0.5, what="the crash report")
    execution_id = cancelled["triggered_by"].rsplit(" ", 1)[1]
    (text,) = [p["text"] for p in n8n.posted]
    assert text.startswith(
        f"agent-audit: n8n execution {execution_id} of {json.dumps(workflow['name'])}"
        " stopped at Ask the agent (webhook): "
    )
    assert f'triggered_by "n8n workflow {workflow["id"]} execution {execution_id}"' in text
    crashed = n8n.workflow_executions(workflow["id"])[0]
    assert (str(crashed["id"]), crashed["status"]) == (execution_id, "crashed")
