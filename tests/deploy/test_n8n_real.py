"""The example workflow in a real n8n: import, publish, webhook, agent, SSH tools, report.

n8n is the pinned version that ``scripts/install-n8n.sh`` installs (``.ci/run`` runs
it; off CI the test skips until it is installed), started once for all real-n8n
tests (tests/deploy/n8n_shared.py). The workflow file is imported as shipped, with
only the values the README tells a user to set (the agent's URL and the chat
webhook) and the Header Auth credential the README names. The agent is the real
service with the scripted model, its SSH tools go through the real sshd and gateway
to the recording docker, its spans to the real collector.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

from tests.agent.conftest import AgentServer, Tracing
from tests.deploy.n8n import node_named
from tests.deploy.n8n_server import N8nServer
from tests.deploy.n8n_shared import TERMINAL, TOKEN, SharedN8n
from tests.scripted_llm import ScriptedLLM, answer, call_tool, fail
from tests.ssh.conftest import SSHServer
from tests.support import free_port, holds_for, wait_until

pytestmark = pytest.mark.xdist_group("n8n")  # one worker, one n8n for all of them

StartAgent = Callable[..., AgentServer]

WORKFLOW_PATH = "/webhook/container-crash"


def _execution_id(run: dict[str, Any], workflow_id: str) -> str:
    match = re.fullmatch(rf"n8n workflow {workflow_id} execution (\d+)", run["triggered_by"])
    assert match, run["triggered_by"]
    return match.group(1)


def _finished_execution(server: N8nServer, workflow_id: str, execution_id: str) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        for execution in server.executions(workflow_id):
            if str(execution["id"]) == execution_id and execution["status"] in TERMINAL:
                return execution
        return None

    found = wait_until(finished, timeout_s=60, interval_s=0.5, what=f"execution {execution_id}")
    assert found is not None
    return found


def test_real_n8n_webhook_runs_the_agent_and_reports_and_a_failed_run_fails_the_execution(
    n8n: SharedN8n,
    start_agent: StartAgent,
    llm: ScriptedLLM,
    tracing: Tracing,
    sshd: SSHServer,
) -> None:
    # The workflow imported and published with n8n's CLI before n8n started (README).
    start_agent(ssh=sshd, token=TOKEN, port=n8n.agent_port)
    workflow_id, server, posted = n8n.workflow_id, n8n.server, n8n.posted
    docker_before, gateway_before = len(sshd.docker_calls()), len(sshd.gateway_entries())

    # 1. A crash report, as the README's curl line sends it.
    llm.script(
        'The container "worker" on nas crashed',
        [
            call_tool("docker_ps", {"all": True}),
            call_tool("docker_logs", {"container": "worker", "tail": 100}),
            answer("worker exits with code 1 at start: its command is `sh -c 'exit 1'`."),
        ],
    )
    response = httpx.post(
        f"{server.url}{WORKFLOW_PATH}",
        json={"container": "worker", "reason": "exited with code 1", "server": "nas"},
        timeout=30,
    )
    assert response.status_code == 202, response.text  # answered at once; the agent works on
    wait_until(lambda: len(posted) == 1, timeout_s=90, interval_s=0.2, what="the report")
    message = posted[0]["text"]
    match = re.match(r"agent-audit run ([0-9a-f-]{36}): completed \(worker\)\n\n", message)
    assert match, message
    assert "exits with code 1 at start" in message

    # The run in the collector: who asked, the task, the SSH tool steps.
    run = tracing.run(match.group(1))
    assert run["status"] == "completed" and run["source"] == "n8n"
    assert run["metadata"] == {
        "workflow": "Container crash: agent analysis",
        "container": "worker",
        "server": "nas",
    }
    assert run["task"].startswith('The container "worker" on nas crashed (exited with code 1).')
    tool_steps = [s for s in run["steps"] if s["action_type"] == "tool_call"]
    assert [(s["tool_name"], s["status"]) for s in tool_steps] == [
        ("docker_ps", "ok"),
        ("docker_logs", "ok"),
    ]
    assert 'GET /health HTTP/1.1" 200 2 worker' in tool_steps[1]["tool_result"]
    # What reached the server: the gateway's audit records and the docker it ran.
    assert sshd.docker_calls()[docker_before:] == [
        ["ps", "--all"],
        ["logs", "--tail", "100", "worker"],
    ]
    gateway = sshd.gateway_entries()[gateway_before:]
    assert [(e["decision"], e["argv"], e["exit_code"]) for e in gateway] == [
        ("allowed", ["docker", "ps", "--all"], 0),
        ("allowed", ["docker", "logs", "--tail", "100", "worker"], 0),
    ]
    # n8n's own record: the execution named in the run, successful, started by the webhook.
    execution_id = _execution_id(run, workflow_id)
    execution = _finished_execution(server, workflow_id, execution_id)
    assert (execution["status"], execution["mode"]) == ("success", "webhook")

    # 2. The model fails: the report still goes out, and the n8n execution fails.
    llm.script('The container "db" on nas crashed', [fail(500, "model server crashed")])
    response = httpx.post(
        f"{server.url}{WORKFLOW_PATH}",
        json={"container": "db", "reason": "exited with code 137", "server": "nas"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    wait_until(lambda: len(posted) == 2, timeout_s=90, interval_s=0.2, what="the second report")
    match = re.match(r"agent-audit run ([0-9a-f-]{36}): failed \(db\)", posted[1]["text"])
    assert match, posted[1]["text"]
    failed_run = tracing.run(match.group(1))
    assert failed_run["status"] == "failed" and failed_run["source"] == "n8n"
    assert sshd.docker_calls()[docker_before:][2:] == []  # no tool ran for this one
    execution_id = _execution_id(failed_run, workflow_id)
    execution = _finished_execution(server, workflow_id, execution_id)
    assert execution["status"] == "error", execution
    details = server.execution(execution_id)
    assert f"agent-audit run {failed_run['id']} ended failed" in details["data"]
    assert "Fail the execution" in details["data"]  # the node that stopped it

    # 3. Several containers in one call: one agent run and one report each.
    llm.script(
        'The container "web" on nas crashed',
        [
            call_tool("docker_logs", {"container": "web", "tail": 20}),
            answer("web was restarted by its health check; nothing to fix."),
        ],
    )
    llm.script('The container "proxy" on box-2 crashed', [answer("proxy: no such container.")])
    response = httpx.post(
        f"{server.url}{WORKFLOW_PATH}",
        json={
            "containers": [
                {"container": "web", "reason": "unhealthy", "server": "nas"},
                {"container": "proxy", "reason": "exited with code 1", "server": "box-2"},
            ]
        },
        timeout=30,
    )
    assert response.status_code == 202, response.text
    wait_until(lambda: len(posted) == 4, timeout_s=120, interval_s=0.2, what="two more reports")
    reports = [re.match(r"agent-audit run (\S+): (\w+) \((\S+)\)", p["text"]) for p in posted[2:]]
    # One container at a time, in the order of the list.
    assert [(m.group(2), m.group(3)) for m in reports if m] == [
        ("completed", "web"),
        ("completed", "proxy"),
    ]
    runs = [tracing.run(m.group(1)) for m in reports if m]
    assert sorted(r["task"].split(".")[0] for r in runs) == [
        'The container "proxy" on box-2 crashed (exited with code 1)',
        'The container "web" on nas crashed (unhealthy)',
    ]
    # Both runs came from one n8n execution, which succeeded.
    (execution_id,) = {_execution_id(r, workflow_id) for r in runs}
    assert _finished_execution(server, workflow_id, execution_id)["status"] == "success"
    assert sshd.docker_calls()[docker_before:][2:] == [["logs", "--tail", "20", "web"]]


def _run_with_task(tracing: Tracing, task_start: str) -> dict[str, Any]:
    # The report can reach the chat before the agent's spans reach the collector.
    def found() -> list[Any]:
        return tracing.collector.query(
            "SELECT DISTINCT id FROM agent_runs WHERE starts_with(task, ?)", [task_start]
        )

    rows = wait_until(found, timeout_s=30, interval_s=0.2, what=f"the run of {task_start!r}")
    assert len(rows) == 1, rows
    return tracing.run(rows[0][0])


def test_real_n8n_runs_one_container_at_a_time_and_reports_an_agent_it_cannot_reach(
    n8n: SharedN8n,
    start_agent: StartAgent,
    llm: ScriptedLLM,
    tracing: Tracing,
    sshd: SSHServer,
) -> None:
    # An agent that runs one investigation at a time: more at once would be refused (429).
    agent = start_agent(ssh=sshd, token=TOKEN, max_concurrent=1)
    server, posted, alert = n8n.server, n8n.posted, n8n.alert
    main = n8n.add(agent.url)
    down = n8n.add(f"http://127.0.0.1:{free_port()}")
    # A user who waits 3 seconds at most (the default is 15 minutes).
    impatient = n8n.add(agent.url, agent_timeout_minutes=0.05)

    def last_execution(workflow: dict[str, Any], count: int) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            executions = n8n.workflow_executions(workflow["id"])
            done = [e for e in executions if e["status"] in TERMINAL]
            # The newest one, once it has finished too (n8n may list it before it ends).
            newest_done = bool(executions) and executions[0] in done
            return executions[0] if len(done) >= count and newest_done else None

        found = wait_until(finished, timeout_s=90, interval_s=0.5, what="the execution")
        assert found is not None
        return found

    # 1. Three crashed containers, names alone or objects: one run at a time, in order.
    gates = {name: threading.Event() for name in ("s1", "s2", "s3")}
    for name, gate in gates.items():
        llm.script(f'The container "{name}"', [answer(f"{name}: out of memory", gate=gate)])
    alert(main, {"containers": ["s1", {"container": "s2", "reason": {"exit": 137}}, "s3"]})
    wait_until(lambda: len(llm.requests) == 1, timeout_s=60, what="the first run")
    holds_for(lambda: len(llm.requests) == 1, for_s=2, what="one run at a time")
    for number, gate in enumerate(gates.values(), start=1):
        gate.set()
        wait_until(partial(_has_at_least, posted, number), timeout_s=60, what=f"report {number}")
    headers = [p["text"].split("\n")[0] for p in posted]
    assert [h.split(": ", 1)[1] for h in headers] == [
        "completed (s1)",
        "completed (s2)",
        "completed (s3)",
    ]
    assert [p["text"].split("\n\n", 1)[1] for p in posted] == [
        f"{name}: out of memory" for name in gates
    ]
    s2 = _run_with_task(tracing, 'The container "s2"')
    assert s2["task"].startswith('The container "s2" on the home server crashed ({"exit":137}).')
    assert last_execution(main, 1)["status"] == "success"

    # 2. An empty list: nothing crashed, nothing runs, nothing is posted.
    requests_before = len(llm.requests)
    alert(main, {"containers": []})
    assert last_execution(main, 2)["status"] == "success"
    assert len(llm.requests) == requests_before and len(posted) == 3

    # 3. A name with shell metacharacters and a newline: quoted in the task and the report;
    # the model's docker_logs call with it is refused, recorded, and the run goes on.
    odd = 'web"; docker rm -f db\nx'
    llm.script(
        "docker rm -f db",
        [
            call_tool("docker_logs", {"container": odd, "tail": 10}),
            answer("That is no container name docker accepts."),
        ],
    )
    docker_before = len(sshd.docker_calls())
    alert(main, {"container": odd, "reason": "exited\nwith code 1"})
    wait_until(lambda: len(posted) == 4, timeout_s=60, what="the report on the odd name")
    assert posted[3]["text"].split("\n\n")[0].endswith(': completed ("web\\"; docker rm -f db x")')
    # The model's answer, and the tool call it could not make (whatever the model says of it).
    assert (
        posted[3]["text"]
        .split("\n\n")[2]
        .startswith("1 of 1 tool calls failed: docker_logs: error: refused by client policy")
    )
    run = _run_with_task(tracing, 'The container "web\\"; docker rm -f db x"')
    assert "crashed (exited with code 1)." in run["task"]
    logs_step = next(s for s in run["steps"] if s["tool_name"] == "docker_logs")
    assert logs_step["status"] == "error"
    assert logs_step["tool_result"].startswith("error: refused by client policy")
    assert run["status"] == "completed"
    assert sshd.docker_calls()[docker_before:] == []
    assert last_execution(main, 3)["status"] == "success"

    # 4. The agent is down: the report says so, the execution fails naming why.
    alert(down, {"container": "web"})
    wait_until(lambda: len(posted) == 5, timeout_s=60, what="the report of the agent down")
    assert posted[4]["text"] == (
        f"agent-audit: no answer from the agent at {node_url(down)} (web)\n\n"
        "nothing answers there (connection refused): is the agent service running?"
    )
    failed = last_execution(down, 1)
    assert failed["status"] == "error"
    error = server.execution_data(str(failed["id"]))["resultData"]["error"]
    assert error["message"] == (
        "no answer from the agent about web: nothing answers there (connection refused): "
        "is the agent service running?"
    )

    # 5. The agent is slower than the user waits: n8n gives up and says so, and the agent,
    # its caller gone, cancels the run.
    slow_gate = threading.Event()
    llm.script('The container "slowpoke"', [answer("too late", gate=slow_gate)])
    alert(impatient, {"container": "slowpoke"})
    wait_until(lambda: len(posted) == 6, timeout_s=60, what="the report of the slow agent")
    assert posted[5]["text"] == (
        f"agent-audit: no answer from the agent at {agent.url} (slowpoke)\n\n"
        "it did not answer within 0.05 minutes; the agent cancels a run whose caller gave up"
    )
    slow_gate.set()
    cancelled = _run_with_task(tracing, 'The container "slowpoke"')
    assert cancelled["status"] == "cancelled"
    assert [s["action_type"] for s in cancelled["steps"]] == ["think", "terminate"]
    assert cancelled["steps"][-1]["tool_result"] == (
        "cancelled: the client that asked for this run disconnected before it ended"
    )
    assert last_execution(impatient, 1)["status"] == "error"


def _has_at_least(posted: list[dict[str, Any]], count: int) -> bool:
    return len(posted) >= count


def node_url(workflow: dict[str, Any]) -> str:
    assignments = node_named(workflow, "Describe the crash")["parameters"]["assignments"]
    return str(next(a["value"] for a in assignments["assignments"] if a["name"] == "agent_url"))
