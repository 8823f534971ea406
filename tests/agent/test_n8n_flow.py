"""The n8n workflow's requests, rendered from the example file, against the running agent.

Without n8n (tests/deploy/test_n8n_real.py runs the real one), this test plays n8n's
part node by node: the webhook item goes through the Set nodes, the HTTP Request
node's URL, JSON body and time limit are rendered
from the file's expressions (by Node.js) and sent to the real agent service with the
credential's header; the answer is formatted and posted to a recording chat webhook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.agent.conftest import AgentServer, Tracing
from tests.deploy.n8n import NODE, load_workflow, node_named, render, run_set_node
from tests.scripted_llm import ScriptedLLM, answer, call_tool
from tests.ssh.conftest import SSHServer
from tests.support import require_or_skip

StartAgent = Callable[..., AgentServer]
TOKEN = "n8n-test-token"


def test_workflow_request_runs_the_investigation_and_posts_the_answer(
    start_agent: StartAgent,
    llm: ScriptedLLM,
    tracing: Tracing,
    sshd: SSHServer,
    chat_webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    require_or_skip(NODE is not None, "node (Node.js) is needed to evaluate n8n expressions")
    agent = start_agent(ssh=sshd, token=TOKEN)
    notify_url, posted = chat_webhook
    workflow = load_workflow()
    before = len(sshd.docker_calls())
    llm.script(
        'The container "worker" on nas crashed',
        [
            call_tool("docker_ps", {"all": True}),
            call_tool("docker_logs", {"container": "worker", "tail": 100}),
            answer("worker exits with code 1 at start: its command is `sh -c 'exit 1'`."),
        ],
    )

    # Webhook -> "Read the alert" -> "Describe the crash" (agent_url, notify_url set there).
    webhook_item = {
        "headers": {"content-type": "application/json"},
        "params": {},
        "query": {},
        "body": {"container": "worker", "reason": "exited with code 1", "server": "nas"},
    }
    alert = run_set_node(node_named(workflow, "Read the alert"), {"json": webhook_item})
    described = alert | run_set_node(node_named(workflow, "Describe the crash"), {"json": alert})
    described |= {"agent_url": agent.url, "notify_url": notify_url}

    # "Ask the agent": the HTTP Request node, with its Header Auth credential.
    ask = node_named(workflow, "Ask the agent")["parameters"]
    context = {
        "json": described,
        "workflow": {"id": "wf-7", "name": "Container crash: agent analysis"},
        "execution": {"id": "42"},
    }
    url, body, timeout_ms = render(
        [(ask["url"], context), (ask["jsonBody"], context), (ask["options"]["timeout"], context)]
    )
    assert timeout_ms == 15 * 60_000
    response = httpx.request(
        ask["method"],
        url,
        content=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
        timeout=timeout_ms / 1000,
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "completed"

    # "Read the answer" -> "Format the report" -> "Post the report".
    nodes = {"Describe the crash": described}
    answer_read = run_set_node(
        node_named(workflow, "Read the answer"), {"json": result, "nodes": nodes}
    )
    report = run_set_node(
        node_named(workflow, "Format the report"), {"json": answer_read, "nodes": nodes}
    )
    post = node_named(workflow, "Post the report")["parameters"]
    post_url, post_body = render(
        [(post["url"], {"json": report, "nodes": nodes}), (post["jsonBody"], {"json": report})]
    )
    assert post_url == notify_url
    assert httpx.post(post_url, content=post_body, timeout=10).status_code == 200
    (message,) = posted
    assert message["text"].startswith(f"agent-audit run {result['run_id']}: completed (worker)")
    assert "exits with code 1 at start" in message["text"]

    # The investigation really ran, and the trail says who asked.
    assert sshd.docker_calls()[before:] == [["ps", "--all"], ["logs", "--tail", "100", "worker"]]
    run = tracing.run(result["run_id"])
    assert run["source"] == "n8n"
    assert run["triggered_by"] == "n8n workflow wf-7 execution 42"
    assert run["metadata"] == {
        "workflow": "Container crash: agent analysis",
        "container": "worker",
        "server": "nas",
    }
    assert run["task"].startswith('The container "worker" on nas crashed (exited with code 1).')
    assert [s["tool_name"] for s in run["steps"] if s["action_type"] == "tool_call"] == [
        "docker_ps",
        "docker_logs",
    ]
