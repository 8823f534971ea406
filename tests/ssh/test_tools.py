"""The agent's tools end to end on the real sshd, and what each call records."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from instrumentation import agent_run
from ssh_tools import attributes as keys
from ssh_tools.connection import SSHConnection
from ssh_tools.definitions import TOOL_NAMES
from ssh_tools.tools import ServerTools
from tests.ssh.conftest import GATEWAY_TIMEOUT_S, SSHServer

pytestmark = pytest.mark.sshd

SECRETS = ("hunter2-canary-secret", "sk-canary-0123456789abcdef")


@pytest.fixture
def tools(sshd: SSHServer) -> Iterator[ServerTools]:
    server_tools = ServerTools(SSHConnection(sshd.settings(timeout_s=GATEWAY_TIMEOUT_S + 10)))
    try:
        yield server_tools
    finally:
        server_tools.close()


def only_span(spans: InMemorySpanExporter) -> ReadableSpan:
    (span,) = spans.get_finished_spans()
    return span


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_recorded_allowed(span: ReadableSpan, tool: str, argv: list[str], result: str) -> None:
    a = attrs(span)
    assert span.name == f"execute_tool {tool}"
    assert a["gen_ai.tool.name"] == tool
    assert a[keys.SSH_HOST] == "127.0.0.1"
    assert a[keys.SSH_USER]
    assert json.loads(a[keys.SSH_ARGV]) == argv
    assert a[keys.SSH_DECISION] == keys.DECISION_ALLOWED
    assert a[keys.SSH_EXIT_CODE] == 0
    assert a[keys.SSH_DURATION_MS] > 0
    assert a[keys.SSH_OUTPUT_BYTES] == len(result.encode())
    assert a[keys.SSH_OUTPUT_SHA256] == hashlib.sha256(result.encode()).hexdigest()
    assert a["gen_ai.tool.call.result"] == result
    assert span.status.status_code != StatusCode.ERROR


CASES = [
    ("docker_ps", {}, ["docker", "ps"]),
    ("docker_ps", {"all": True}, ["docker", "ps", "--all"]),
    ("docker_logs", {"container": "web"}, ["docker", "logs", "--tail", "50", "web"]),
    (
        "docker_logs",
        {"container": "db", "tail": 5, "since": "2024-05-01T12:00:00Z"},
        ["docker", "logs", "--tail", "5", "--since", "2024-05-01T12:00:00Z", "db"],
    ),
    ("docker_inspect", {"container": "web"}, ["docker", "inspect", "web"]),
    ("docker_stats", {}, ["docker", "stats", "--no-stream"]),
    ("docker_stats", {"container": "db"}, ["docker", "stats", "--no-stream", "db"]),
    ("docker_restart", {"container": "worker"}, ["docker", "restart", "worker"]),
    ("run_on_server", {"command": "docker top web"}, ["docker", "top", "web"]),
    ("run_on_server", {"command": "docker ps -a -q"}, ["docker", "ps", "-a", "-q"]),
]


@pytest.mark.parametrize(("tool", "arguments", "argv"), CASES)
def test_each_tool_runs_exactly_its_argv_and_is_recorded(
    tools: ServerTools,
    sshd: SSHServer,
    spans: InMemorySpanExporter,
    tool: str,
    arguments: dict[str, Any],
    argv: list[str],
) -> None:
    before = len(sshd.docker_calls())
    result = getattr(tools, tool)(**arguments)
    assert not result.startswith("error:"), result
    assert sshd.docker_calls()[before:] == [argv[1:]]
    assert sshd.gateway_entries()[-1]["argv"] == argv
    assert_recorded_allowed(only_span(spans), tool, argv, result)


def test_tool_results_read_like_docker(tools: ServerTools) -> None:
    running = tools.docker_ps()
    assert "web" in running and "worker" not in running
    assert "worker" in tools.docker_ps(all=True)
    logs = tools.docker_logs("web", tail=3)
    lines, stderr = logs.split("\n--- stderr ---\n")
    assert len(lines.splitlines()) == 3 and stderr == "web: warning: slow upstream\n"
    assert tools.docker_restart("db") == "db\n"


@pytest.mark.parametrize(
    "call",
    [
        lambda tools: tools.docker_inspect("web"),
        lambda tools: tools.run_on_server("docker inspect --size web"),
        lambda tools: tools.call_tool("run_on_server", {"command": "docker inspect web"}),
    ],
    ids=["docker_inspect", "run_on_server", "call_tool"],
)
def test_inspect_hides_environment_values_from_agent_and_trail(
    tools: ServerTools, spans: InMemorySpanExporter, call: Any
) -> None:
    result = call(tools)
    env = json.loads(result)[0]["Config"]["Env"]
    assert env == ["POSTGRES_PASSWORD=***", "API_TOKEN=***", "PATH=***"]
    recorded = json.dumps(attrs(only_span(spans)))
    for secret in SECRETS:
        assert secret not in result and secret not in recorded


def test_a_failing_command_comes_back_as_text_and_is_recorded_as_an_error(
    tools: ServerTools, spans: InMemorySpanExporter
) -> None:
    result = tools.docker_logs("missing", tail=5)
    assert result.startswith("error: docker exited with status 1: ")
    assert "No such container: missing" in result
    span = only_span(spans)
    a = attrs(span)
    assert a[keys.SSH_DECISION] == keys.DECISION_ALLOWED and a[keys.SSH_EXIT_CODE] == 1
    assert a[keys.SSH_ERROR_TYPE] == "NonZeroExit"
    assert span.status.status_code == StatusCode.ERROR


def test_a_hanging_command_times_out_as_text(
    tools: ServerTools, spans: InMemorySpanExporter
) -> None:
    result = tools.docker_stats("hang")
    assert result.startswith(f"error: command timed out after {GATEWAY_TIMEOUT_S:g} s")
    a = attrs(only_span(spans))
    assert a[keys.SSH_EXIT_CODE] == 124 and a[keys.SSH_ERROR_TYPE] == "CommandTimeout"


def test_connection_errors_come_back_as_text(
    sshd: SSHServer, spans: InMemorySpanExporter, tmp_path: Any
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    tools = ServerTools(SSHConnection(sshd.settings(known_hosts_path=empty)))
    result = tools.docker_ps()
    assert result.startswith("error: host [127.0.0.1]:") and "not in known_hosts" in result
    assert attrs(only_span(spans))[keys.SSH_ERROR_TYPE] == "UnknownHostKey"


def test_restarts_of_one_container_are_rate_limited(
    sshd: SSHServer, spans: InMemorySpanExporter
) -> None:
    now = [1000.0]
    tools = ServerTools(
        SSHConnection(sshd.settings()), restart_min_interval_s=60, clock=lambda: now[0]
    )
    with tools:
        before = len(sshd.docker_calls())
        assert tools.docker_restart("web") == "web\n"
        now[0] += 30
        refused = tools.docker_restart("web")
        also_refused = tools.run_on_server("docker restart --time 1 web")
        other = tools.docker_restart("db")
        now[0] += 30
        again = tools.docker_restart("web")
        calls = sshd.docker_calls()[before:]
    assert refused.startswith("error: refused by client policy: web was restarted 30 s ago")
    assert "retry in 30 s" in refused and also_refused.startswith("error: refused")
    assert other == "db\n" and again == "web\n"
    assert calls == [["restart", "web"], ["restart", "db"], ["restart", "web"]]
    decisions = [attrs(s)[keys.SSH_DECISION] for s in spans.get_finished_spans()]
    assert decisions == ["allowed", "refused", "refused", "allowed", "allowed"]
    assert attrs(spans.get_finished_spans()[1])[keys.SSH_ERROR_TYPE] == "RateLimited"


def test_call_tool_dispatches_json_arguments_and_records_the_call_id(
    tools: ServerTools, sshd: SSHServer, spans: InMemorySpanExporter
) -> None:
    before = len(sshd.docker_calls())
    result = tools.call_tool("docker_logs", '{"container": "web", "tail": 2}', tool_call_id="c-1")
    assert len(result.split("\n--- stderr ---\n")[0].splitlines()) == 2
    assert tools.call_tool("docker_stats", {"container": None}).startswith("CONTAINER ID")
    assert sshd.docker_calls()[before:] == [
        ["logs", "--tail", "2", "web"],
        ["stats", "--no-stream"],
    ]
    first = attrs(spans.get_finished_spans()[0])
    assert first["gen_ai.tool.call.id"] == "c-1"
    assert json.loads(first["gen_ai.tool.call.arguments"]) == {"container": "web", "tail": 2}


@pytest.mark.parametrize(
    ("name", "arguments", "reason"),
    [
        ("docker_exec", '{"container": "web"}', "unknown tool 'docker_exec'"),
        ("docker_ps", "{not json", "arguments are not a JSON object"),
        ("docker_ps", "[1, 2]", "arguments are not a JSON object"),
        ("docker_ps", '{"all": true, "format": "{{json .}}"}', "unexpected argument(s) ['format']"),
        ("docker_logs", "{}", "missing ['container']"),
        ("docker_ps", '{"all": "yes; id"}', "'all' must be true or false"),
        ("docker_logs", '{"container": "web", "tail": 1.5}', "'tail' must be an integer"),
        ("docker_logs", '{"container": ["web"]}', "'container' must be a string"),
        ("", "{}", "unknown tool ''"),
        ("docker_ps", "[" * 100_000, "arguments are nested too deeply"),
        ("docker_ps", 5, "arguments are not a JSON object (got int)"),
        ("docker_ps", [{"all": True}], "arguments are not a JSON object (got list)"),
    ],
)
def test_bad_tool_calls_are_refused_as_text_and_recorded(
    tools: ServerTools,
    sshd: SSHServer,
    spans: InMemorySpanExporter,
    name: str,
    arguments: str,
    reason: str,
) -> None:
    before = len(sshd.docker_calls())
    result = tools.call_tool(name, arguments)
    assert result == f"error: refused by client policy: {reason}" or reason in result
    assert result.startswith("error: refused by client policy: ")
    assert len(sshd.docker_calls()) == before
    a = attrs(only_span(spans))
    assert a[keys.SSH_DECISION] == keys.DECISION_REFUSED and reason in a[keys.SSH_REASON]
    assert tools.connection.connects == 0


def test_openai_tool_definitions_match_the_methods_and_the_policy(tools: ServerTools) -> None:
    definitions = tools.openai_tools()
    json.dumps(definitions)  # plain JSON, ready to send
    assert [d["function"]["name"] for d in definitions] == list(TOOL_NAMES)
    for definition in definitions:
        function = definition["function"]
        assert definition["type"] == "function" and function["description"]
        parameters = function["parameters"]
        method = getattr(tools, function["name"])
        assert method.__doc__
        assert list(parameters["properties"]) == list(inspect.signature(method).parameters)
        assert parameters["additionalProperties"] is False
    logs = definitions[1]["function"]["parameters"]["properties"]
    assert (logs["tail"]["minimum"], logs["tail"]["maximum"]) == (0, 5000)
    pattern = re.compile(logs["container"]["pattern"])
    assert pattern.match("web-1") and not pattern.match("../etc") and not pattern.match("a;b")


def test_tool_calls_inside_a_run_are_steps_of_that_run(
    tools: ServerTools, spans: InMemorySpanExporter
) -> None:
    with agent_run("check the web container", agent_name="ops") as run:
        tools.docker_ps()
        tools.run_on_server("docker rm -f db")
        run.finish(final_answer="done")
    steps = [s for s in spans.get_finished_spans() if s.name.startswith("execute_tool")]
    assert [attrs(s)["agent_run.id"] for s in steps] == [run.id, run.id]
    assert [attrs(s)[keys.SSH_DECISION] for s in steps] == ["allowed", "refused"]
    refused = attrs(steps[1])
    assert refused[keys.SSH_COMMAND] == "docker rm -f db"
    assert json.loads(refused[keys.SSH_ARGV]) is None
    assert refused[keys.SSH_REASON] == "docker subcommand 'rm' is not allowed"
