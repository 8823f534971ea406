"""Every attempt, allowed or refused, lands in the real collector with its decision."""

from __future__ import annotations

import json
from typing import Any

import pytest

from instrumentation import agent_run
from ssh_tools.connection import SSHConnection
from ssh_tools.tools import ServerTools
from tests.ssh.conftest import SSHServer
from tests.ssh.fake_docker import COLORED_SECRETS
from tests.support import wait_until

pytestmark = pytest.mark.sshd


def test_allowed_and_refused_commands_are_steps_in_the_collector(
    sshd: SSHServer,
    collector: Any,
    to_collector: None,
) -> None:
    with ServerTools(SSHConnection(sshd.settings())) as tools:
        with agent_run("why is web slow?", agent_name="ops", source="test") as run:
            listing = tools.docker_ps()
            refused = tools.run_on_server("docker rm -f db")
            injected = tools.docker_logs("web; docker rm -f db")
            run.finish(final_answer="looked around")
    assert "web" in listing
    assert refused.startswith("error: refused") and injected.startswith("error: refused")

    def steps() -> list[tuple[object, ...]]:
        return collector.query(
            "SELECT step_number, tool_name, status, span_id FROM agent_steps "
            "WHERE agent_run_id = ? AND is_final ORDER BY step_number",
            [run.id],
        )

    wait_until(lambda: len(steps()) == 3, timeout_s=15, what="3 steps stored")
    rows = steps()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (1, "docker_ps", "ok"),
        (2, "run_on_server", "error"),
        (3, "docker_logs", "error"),
    ]
    decisions = []
    for row in rows:
        sql = "SELECT attributes FROM spans WHERE span_id = ?"
        (attributes,) = collector.query(sql, [row[3]])[0]
        recorded = json.loads(attributes) if isinstance(attributes, str) else attributes
        decisions.append((recorded["ssh.decision"], recorded["ssh.reason"]))
    assert decisions == [
        ("allowed", "allowed by policy"),
        ("refused", "docker subcommand 'rm' is not allowed"),
        ("refused", "argument 'web; docker rm -f db': character ';' is not allowed"),
    ]


def test_coloured_and_binary_logs_reach_agent_and_trail_as_plain_text_without_secrets(
    sshd: SSHServer,
    collector: Any,
    to_collector: None,
) -> None:
    with ServerTools(SSHConnection(sshd.settings())) as tools:
        with agent_run("why does the app fail to log in?", agent_name="ops") as run:
            coloured = tools.docker_logs("colorful", tail=20)
            binary = tools.docker_logs("binary", tail=20)
            run.finish(final_answer="bad database password")
    # What the agent reads: the log as a person sees it on a terminal, no codes.
    assert coloured.splitlines()[:4] == [
        "2025-11-24T10:00:01Z [error    ] database login failed "
        f"password={COLORED_SECRETS[0]} user=app",
        f"WARN retrying with api_token: {COLORED_SECRETS[1]}",
        "downloading 10%",
        "downloading 100%",
    ]
    assert binary.splitlines()[0] == "core dumped: " + "\ufffd" * 4 + "2J tail"

    def results() -> list[str]:
        rows = collector.query(
            "SELECT tool_result FROM agent_steps WHERE agent_run_id = ? AND is_final "
            "ORDER BY step_number",
            [run.id],
        )
        return [row[0] for row in rows]

    wait_until(lambda: len(results()) == 2, timeout_s=15, what="2 steps stored")
    stored_coloured, stored_binary = results()
    # The trail: the secrets redacted (the codes no longer split key from value).
    assert stored_coloured.splitlines()[:2] == [
        "2025-11-24T10:00:01Z [error    ] database login failed password=[REDACTED] user=app",
        "WARN retrying with api_token: [REDACTED]",
    ]
    for secret in COLORED_SECRETS:
        assert secret not in json.dumps(collector.query("SELECT * FROM spans", []), default=str)
    assert stored_binary == binary
