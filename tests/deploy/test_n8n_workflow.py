"""The example n8n workflow file: an importable workflow that calls the agent as the README says."""

from __future__ import annotations

import json
import re

from tests.deploy.n8n import NODE, load_workflow, node_named, nodes_of_type, render, run_set_node
from tests.support import require_or_skip


def test_workflow_has_the_shape_n8n_imports() -> None:
    workflow = load_workflow()
    assert workflow["name"]
    names = [n["name"] for n in workflow["nodes"]]
    assert len(names) == len(set(names)), "node names must be unique"
    for node in workflow["nodes"]:
        assert {"parameters", "id", "name", "type", "typeVersion", "position"} <= set(node)
        assert node["type"].startswith("n8n-nodes-base.")
        assert len(node["position"]) == 2
    ids = [n["id"] for n in workflow["nodes"]]
    assert len(ids) == len(set(ids))
    for source, outputs in workflow["connections"].items():
        assert source in names
        for branch in outputs["main"]:
            for link in branch:
                assert link["node"] in names and link["type"] == "main"


def test_triggers_webhook_with_a_schedule_as_alternative() -> None:
    workflow = load_workflow()
    (webhook,) = nodes_of_type(workflow, "n8n-nodes-base.webhook")
    (schedule,) = nodes_of_type(workflow, "n8n-nodes-base.scheduleTrigger")
    assert webhook["parameters"]["httpMethod"] == "POST"
    assert webhook["parameters"]["path"] == "container-crash"
    assert webhook.get("webhookId")
    assert schedule.get("disabled") is True  # the alternative, off until chosen
    connections = workflow["connections"]
    first = connections[webhook["name"]]["main"][0][0]["node"]
    assert connections[schedule["name"]]["main"][0][0]["node"] == first


def test_http_node_calls_agent_run_one_container_at_a_time_and_reports_its_errors() -> None:
    workflow = load_workflow()
    (call,) = [
        n
        for n in nodes_of_type(workflow, "n8n-nodes-base.httpRequest")
        if "/agent/run" in n["parameters"]["url"]
    ]
    parameters = call["parameters"]
    assert parameters["method"] == "POST"
    assert parameters["url"].endswith("/agent/run")
    assert parameters["sendBody"] is True and parameters["specifyBody"] == "json"
    body = parameters["jsonBody"]
    assert "source: 'n8n'" in body
    assert "$workflow.id" in body and "$execution.id" in body
    assert "wait: true" in body
    # n8n sends the requests of one HTTP node's items all at once: a loop hands it one.
    connections = workflow["connections"]
    (loop,) = nodes_of_type(workflow, "n8n-nodes-base.splitInBatches")
    assert loop["parameters"]["batchSize"] == 1
    assert connections[loop["name"]]["main"][1][0]["node"] == call["name"]
    # An agent that cannot answer goes out of the error output to the same report; a busy
    # one (429) is asked again after a wait.
    assert call["onError"] == "continueErrorOutput"
    answered, failed = connections[call["name"]]["main"]
    assert answered[0]["node"] == "Read the answer"
    assert failed[0]["node"] == "Agent busy?"
    again, give_up = connections["Agent busy?"]["main"]
    assert give_up[0]["node"] == "Read the answer"
    assert node_named(workflow, again[0]["node"])["type"] == "n8n-nodes-base.wait"
    assert connections["Count the wait"]["main"][0][0]["node"] == call["name"]
    assert connections["Read the answer"]["main"][0][0]["node"] == "Format the report"
    post = connections["Format the report"]["main"][0][0]["node"]
    assert node_named(workflow, post)["type"] == "n8n-nodes-base.httpRequest"
    assert connections[post]["main"][0][0]["node"] == loop["name"]  # the next container
    assert "agent_timeout_minutes" in parameters["options"]["timeout"]


def test_task_prompt_asks_for_an_investigation_with_the_tools() -> None:
    workflow = load_workflow()
    describe = node_named(workflow, "Describe the crash")
    (task,) = [
        a["value"]
        for a in describe["parameters"]["assignments"]["assignments"]
        if a["name"] == "task"
    ]
    assert "Investigate with your tools" in task
    for word in ("logs", "exit code", "evidence", "root cause"):
        assert word in task
    forbidding = re.compile(r"(don't|do not|never)\s+(run|execute|use)\b[^.]*docker", re.I)
    assert not forbidding.search(task)


def test_expressions_render_for_webhook_and_schedule() -> None:
    require_or_skip(NODE is not None, "node (Node.js) is needed to evaluate n8n expressions")
    workflow = load_workflow()
    read = node_named(workflow, "Read the alert")
    describe = node_named(workflow, "Describe the crash")
    webhook_item = {"body": {"container": "db", "reason": "exited with code 137", "server": "nas"}}
    alert = run_set_node(read, {"json": webhook_item})
    assert alert == {"container": "db", "reason": "exited with code 137", "server": "nas"}
    from_webhook = alert | run_set_node(describe, {"json": alert})
    assert from_webhook["task"].startswith(
        'The container "db" on nas crashed (exited with code 137). Investigate with your tools'
    )
    assert from_webhook["agent_timeout_minutes"] == 15
    # One entry of a "containers" list: an object or just a name; odd values become text.
    assert run_set_node(read, {"json": {"crash": "web"}}) == {
        "container": "web",
        "reason": "",
        "server": "",
    }
    odd = run_set_node(read, {"json": {"crash": {"container": 7, "reason": {"code": 1}}}})
    assert odd == {"container": "7", "reason": '{"code":1}', "server": ""}
    from_schedule = run_set_node(read, {"json": {"timestamp": "2026-11-24T03:00:00Z"}})
    assert from_schedule == {"container": "", "reason": "", "server": ""}
    task = run_set_node(describe, {"json": from_schedule})["task"]
    assert task.startswith("Check the home server for containers that exited")

    call = node_named(workflow, "Ask the agent")
    context = {
        "json": from_webhook,
        "workflow": {"id": "wf1", "name": "Container crash"},
        "execution": {"id": "901"},
    }
    url, body = render(
        [(call["parameters"]["url"], context), (call["parameters"]["jsonBody"], context)]
    )
    assert url == "http://agent:8000/agent/run"
    request = json.loads(body)
    assert request == {
        "task": from_webhook["task"],
        "source": "n8n",
        "triggered_by": "n8n workflow wf1 execution 901",
        "metadata": {"workflow": "Container crash", "container": "db", "server": "nas"},
        "wait": True,
    }
