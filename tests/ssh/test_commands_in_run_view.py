"""Which docker command ran where, and what came of it, reads from the run itself:
the API's run view, ``agent-audit show`` and ``/sql``, without opening the raw span."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.client import AuditClient
from instrumentation import agent_run
from ssh_tools.connection import SSHConnection
from ssh_tools.tools import ServerTools
from tests.ssh.conftest import SSHServer
from tests.support import wait_until

pytestmark = pytest.mark.sshd

REPO = Path(__file__).resolve().parents[2]


def _show(api_url: str, run_id: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("AGENT_AUDIT_API", None)
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "show", run_id, "--api", api_url],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_command_shows_its_argv_host_decision_and_exit_code(
    sshd: SSHServer,
    collector: Any,
    to_collector: None,
) -> None:
    calls_before = len(sshd.docker_calls())
    with ServerTools(SSHConnection(sshd.settings())) as tools:
        with agent_run("why is web down?", agent_name="ops", source="test") as run:
            tools.docker_ps(all=True)
            tools.run_on_server("docker rm -f db")
            tools.run_on_server("docker logs 'web; docker rm -f db'")
            failed = tools.docker_logs("missing", tail=5)
            run.finish(final_answer="db is missing")
    assert "No such container" in failed
    # What docker itself received on the server, word for word.
    ran = [["docker", *argv] for argv in sshd.docker_calls()[calls_before:]]
    assert [argv[:2] for argv in ran] == [["docker", "ps"], ["docker", "logs"]]
    host = f"{sshd.user}@{sshd.host}:{sshd.port}"

    api = AuditClient(collector.api_url)
    wait_until(
        lambda: sum(s["is_final"] for s in api.get_run(run.id)["steps"]) == 4,
        timeout_s=15,
        what="4 steps stored",
    )
    steps = api.get_run(run.id)["steps"]
    shown = [
        (
            s["tool_name"],
            s["command"],
            s["command_host"],
            s["command_decision"],
            s["command_exit_code"],
        )
        for s in steps
    ]
    assert shown == [
        ("docker_ps", shlex.join(ran[0]), host, "allowed", 0),
        ("run_on_server", "docker rm -f db", host, "refused", None),
        ("run_on_server", "docker logs 'web; docker rm -f db'", host, "refused", None),
        ("docker_logs", shlex.join(ran[1]), host, "allowed", 1),
    ]
    assert steps[1]["command_reason"] == "docker subcommand 'rm' is not allowed"
    # A command line that never parsed is shown as it was given.
    assert steps[2]["command_reason"] == 'character "\'" is not allowed'
    # The step's own duration and output stay where they were.
    assert steps[3]["duration_ms"] > 0 and "No such container" in steps[3]["tool_result"]

    printed = _show(collector.api_url, run.id)
    assert f"$ {shlex.join(ran[0])}" in printed
    assert f"on {host}  |  allowed  |  why: allowed by policy  |  exit code 0" in printed
    assert "$ docker rm -f db" in printed
    assert f"on {host}  |  REFUSED  |  why: docker subcommand 'rm' is not allowed" in printed
    assert "$ docker logs 'web; docker rm -f db'" in printed
    assert "exit code 1" in printed

    refused = api.sql(
        "SELECT command FROM agent_steps WHERE command_decision = 'refused' "
        f"AND agent_run_id = '{run.id}' ORDER BY step_number"
    )
    assert refused.rows == [["docker rm -f db"], ["docker logs 'web; docker rm -f db'"]]
