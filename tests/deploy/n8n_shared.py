"""One real n8n for every real-n8n test module: n8n takes 40-60 s to start.

The ``shared_n8n`` fixture starts it once per test session (the modules that use
it are one ``xdist_group``, so one worker runs them all). Before the start it is
set up as the README says for the n8n CLI: the Header Auth credential and the
shipped workflow imported with ``n8n import:*`` and published with
``n8n publish:workflow``; its agent is the one a test starts on ``agent_port``.
A test adds its own copies of the workflow while n8n runs, as the editor's
Import from File and Publish do (``SharedN8n.add``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.deploy.chat import serve_chat
from tests.deploy.n8n import load_workflow, node_named
from tests.deploy.n8n_server import INSTALL_SCRIPT, N8nServer, n8n_launcher
from tests.support import free_port, require_or_skip

TOKEN = "n8n-real-test-token"  # noqa: S105 - a test value
CREDENTIAL = {
    "id": "agent-audit-token",
    "name": "agent-audit token",
    "type": "httpHeaderAuth",
    "data": {"name": "Authorization", "value": f"Bearer {TOKEN}"},
}
TERMINAL = {"success", "error", "crashed", "canceled"}


def as_the_user_sets_it_up(
    agent_url: str,
    notify_url: str,
    *,
    agent_timeout_minutes: float | None = None,
    copy: int = 0,
    schedule_every_s: int | None = None,
) -> dict[str, Any]:
    """The shipped workflow with the values the README says to set in "Describe the crash".

    ``copy`` N > 0 makes the N-th copy a user imports next to it: its own id, name and
    webhook path (``container-crash-N``). ``schedule_every_s`` enables the schedule
    trigger, as the README says to, with an interval a test can wait for.
    """
    workflow = load_workflow()
    values: dict[str, Any] = {"agent_url": agent_url, "notify_url": notify_url}
    if agent_timeout_minutes is not None:
        values["agent_timeout_minutes"] = agent_timeout_minutes
    assignments = node_named(workflow, "Describe the crash")["parameters"]["assignments"]
    for assignment in assignments["assignments"]:
        assignment["value"] = values.get(assignment["name"], assignment["value"])
    if copy:
        workflow["id"] += f"c{copy}"
        workflow["name"] += f" (copy {copy})"
        for node in workflow["nodes"]:
            if "webhookId" in node:  # unique across workflows: the copy in its 4th group
                node["webhookId"] = node["webhookId"][:19] + f"{copy:04x}" + node["webhookId"][23:]
        node_named(workflow, "Container crashed")["parameters"]["path"] += f"-{copy}"
    if schedule_every_s is not None:
        schedule = node_named(workflow, "Every 30 minutes")
        del schedule["disabled"]
        interval = {"field": "seconds", "secondsInterval": schedule_every_s}
        schedule["parameters"]["rule"]["interval"] = [interval]
    return workflow


def webhook_path(workflow: dict[str, Any]) -> str:
    return f"/webhook/{node_named(workflow, 'Container crashed')['parameters']['path']}"


@dataclass
class SharedN8n:
    """The running n8n, the recording chat its workflows post to, and the agent port
    the CLI-imported workflow (id ``workflow_id``) calls."""

    server: N8nServer
    chat_url: str
    posted: list[dict[str, Any]]
    agent_port: int
    workflow_id: str
    _copies: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def add(self, agent_url: str, *, notify_url: str = "", **options: Any) -> dict[str, Any]:
        """A new copy of the workflow, set up by the user, saved and published while n8n runs;
        its reports go to the recording chat unless ``notify_url`` says otherwise."""
        workflow = as_the_user_sets_it_up(
            agent_url, notify_url or self.chat_url, copy=next(self._copies), **options
        )
        self.server.add_workflow(workflow)
        return workflow

    def alert(self, workflow: dict[str, Any], body: Any) -> None:
        """POST ``body`` to the workflow's webhook; n8n answers 202 at once."""
        response = httpx.post(f"{self.server.url}{webhook_path(workflow)}", json=body, timeout=30)
        assert response.status_code == 202, response.text

    def workflow_executions(self, workflow_id: str) -> list[dict[str, Any]]:
        """The executions the workflow's triggers started (not its error-trigger runs)."""
        return [e for e in self.server.executions(workflow_id) if e["mode"] != "error"]


@pytest.fixture(scope="session")
def shared_n8n(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedN8n]:
    launcher = n8n_launcher()
    require_or_skip(launcher is not None, f"n8n is not installed: run {INSTALL_SCRIPT}")
    assert launcher is not None
    with serve_chat() as (chat_url, posted):
        server = N8nServer(launcher, tmp_path_factory.mktemp("n8n") / "home")
        agent_port = free_port()
        workflow = as_the_user_sets_it_up(f"http://127.0.0.1:{agent_port}", chat_url)
        try:
            # The README's CLI path: credential, workflow as shipped (a top-level id, nothing
            # added), publish, then start (a running n8n takes new webhooks only at start).
            server.import_json("credentials", [CREDENTIAL])
            server.import_json("workflow", workflow)
            server.cli("publish:workflow", f"--id={workflow['id']}")
            server.start()
            server.sign_in()
            yield SharedN8n(server, chat_url, posted, agent_port, workflow["id"])
        finally:
            server.stop()


@pytest.fixture
def n8n(shared_n8n: SharedN8n) -> SharedN8n:
    """The shared n8n, its chat emptied of earlier tests' reports."""
    shared_n8n.posted.clear()
    return shared_n8n
