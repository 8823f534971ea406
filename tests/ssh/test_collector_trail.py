"""Every attempt, allowed or refused, lands in the real collector with its decision."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

from instrumentation import agent_run
from ssh_tools.connection import SSHConnection
from ssh_tools.tools import ServerTools
from tests.ssh.conftest import SpanTap, SSHServer
from tests.support import wait_until

pytestmark = pytest.mark.sshd


@pytest.fixture
def to_collector(span_tap: SpanTap, collector: Any) -> Iterator[None]:
    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    span_tap.exporters.append(exporter)
    try:
        yield
    finally:
        span_tap.exporters.remove(exporter)
        exporter.shutdown()


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
