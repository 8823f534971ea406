"""The escape table through every tool, run_on_server, and a raw SSH channel to the gateway.

Nothing may reach the recording docker. Through the tools, each attempt is refused
before anything is sent and recorded as a refused step; sent raw, the gateway
refuses it (exit 126, one line on stderr) and logs the refusal.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import paramiko
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ssh_tools import attributes as keys
from ssh_tools.connection import SSHConnection
from ssh_tools.protocol import EXIT_REFUSED, REFUSED_PREFIX
from ssh_tools.tools import ServerTools
from tests.ssh.conftest import SSHServer
from tests.ssh.escapes import ESCAPE_COMMANDS, ESCAPE_VALUES

pytestmark = pytest.mark.sshd

# (tool, the argument the escape goes into, the other arguments)
SLOTS: list[tuple[str, str, dict[str, Any]]] = [
    ("docker_ps", "all", {}),
    ("docker_logs", "container", {}),
    ("docker_logs", "since", {"container": "web"}),
    ("docker_logs", "tail", {"container": "web"}),
    ("docker_inspect", "container", {}),
    ("docker_stats", "container", {}),
    ("docker_restart", "container", {}),
]


@pytest.fixture(scope="module")
def tools(sshd: SSHServer) -> Iterator[ServerTools]:
    server_tools = ServerTools(SSHConnection(sshd.settings()))
    try:
        yield server_tools
    finally:
        # Every escape was refused on the client: no connection was ever needed.
        assert server_tools.connection.connects == 0
        server_tools.close()


def assert_refused_on_the_client(
    sshd: SSHServer, spans: InMemorySpanExporter, before: tuple[int, int], result: str
) -> dict[str, Any]:
    assert result.startswith("error: refused by client policy: "), result
    assert (len(sshd.docker_calls()), len(sshd.gateway_entries())) == before
    (span,) = spans.get_finished_spans()
    recorded = dict(span.attributes or {})
    assert recorded[keys.SSH_DECISION] == keys.DECISION_REFUSED
    assert recorded[keys.SSH_REFUSED_BY] == "client"
    assert recorded[keys.SSH_REASON] and str(recorded[keys.SSH_REASON]) in result
    assert keys.SSH_EXIT_CODE not in recorded  # nothing ran
    return recorded


@pytest.mark.parametrize("value_name", list(ESCAPE_VALUES))
@pytest.mark.parametrize(("tool", "slot", "others"), SLOTS, ids=lambda v: str(v) or "-")
def test_escape_values_through_each_tool_are_refused_and_recorded(
    tools: ServerTools,
    sshd: SSHServer,
    spans: InMemorySpanExporter,
    tool: str,
    slot: str,
    others: dict[str, Any],
    value_name: str,
) -> None:
    value = ESCAPE_VALUES[value_name]
    before = (len(sshd.docker_calls()), len(sshd.gateway_entries()))
    result = getattr(tools, tool)(**others, **{slot: value})
    recorded = assert_refused_on_the_client(sshd, spans, before, result)
    argv = json.loads(recorded[keys.SSH_ARGV])
    if slot != "all":  # the exact argv that was asked for and refused
        assert value in argv


@pytest.mark.parametrize("name", list(ESCAPE_COMMANDS))
def test_escape_commands_through_run_on_server_are_refused_and_recorded(
    tools: ServerTools, sshd: SSHServer, spans: InMemorySpanExporter, name: str
) -> None:
    command = ESCAPE_COMMANDS[name]
    before = (len(sshd.docker_calls()), len(sshd.gateway_entries()))
    result = tools.run_on_server(command)
    recorded = assert_refused_on_the_client(sshd, spans, before, result)
    assert recorded[keys.SSH_COMMAND] == command
    assert recorded["gen_ai.tool.name"] == "run_on_server"


class RawSession:
    """A paramiko connection with the gateway's key, sending command text as is."""

    def __init__(self, server: SSHServer) -> None:
        self._server = server
        self._client = server.raw_client()

    def send(self, command: str) -> tuple[int, bytes, bytes] | None:
        """(exit status, stdout, stderr); None if the server dropped the request."""
        transport = self._client.get_transport()
        if transport is None or not transport.is_active():
            self._client.close()
            self._client = self._server.raw_client()
            transport = self._client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=10)
        try:
            channel.settimeout(30)
            channel.exec_command(command)
            stdout = channel.makefile("rb").read()
            stderr = channel.makefile_stderr("rb").read()
            return channel.recv_exit_status(), stdout, stderr
        except (EOFError, paramiko.SSHException):
            return None  # sshd refuses some requests outright (a NUL inside the command)
        finally:
            channel.close()

    def close(self) -> None:
        self._client.close()


@pytest.fixture(scope="module")
def raw(sshd: SSHServer) -> Iterator[RawSession]:
    session = RawSession(sshd)
    try:
        yield session
    finally:
        session.close()


@dataclass
class RawAnswers:
    """The escape table sent raw over one connection."""

    answers: dict[str, tuple[int, bytes, bytes] | None]
    docker_calls_before: int
    docker_calls_after: int
    log: list[dict[str, Any]]
    profile_reads: int  # sessions whose shell read the test home's ~/.bashrc


@pytest.fixture(scope="module")
def raw_answers(sshd: SSHServer, raw: RawSession) -> RawAnswers:
    calls_before, log_before = len(sshd.docker_calls()), len(sshd.gateway_entries())
    # sshd drops the whole connection on a NUL inside a command: send those last, alone.
    names = sorted(ESCAPE_COMMANDS, key=lambda n: "\x00" in ESCAPE_COMMANDS[n])
    concurrent = [n for n in names if "\x00" not in ESCAPE_COMMANDS[n]]
    # Sessions overlap, as an agent's do: each one's shell reads only the test sshd's
    # home (tests/ssh/conftest.py), nothing of the machine's profile.
    reads_before = len(sshd.profile_reads)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = pool.map(lambda n: raw.send(ESCAPE_COMMANDS[n]), concurrent)
        sent = dict(zip(concurrent, answers, strict=True))
    for name in names[len(concurrent) :]:
        sent[name] = raw.send(ESCAPE_COMMANDS[name])
    return RawAnswers(
        answers=sent,
        docker_calls_before=calls_before,
        docker_calls_after=len(sshd.docker_calls()),
        log=sshd.gateway_entries()[log_before:],
        profile_reads=len(sshd.profile_reads) - reads_before,
    )


def test_each_session_s_shell_reads_the_test_home_s_profile_only(
    raw_answers: RawAnswers,
) -> None:
    # One read per session that reached a shell (sshd drops a NUL before any shell runs):
    # the shell's HOME was the test home, so the machine's ~/.bashrc was never read.
    reached = [answer for answer in raw_answers.answers.values() if answer is not None]
    assert len(reached) > 4
    assert raw_answers.profile_reads == len(reached)


@pytest.mark.parametrize("name", list(ESCAPE_COMMANDS))
def test_escape_commands_sent_raw_are_refused_by_the_gateway(
    raw_answers: RawAnswers, name: str
) -> None:
    command = ESCAPE_COMMANDS[name]
    assert raw_answers.docker_calls_after == raw_answers.docker_calls_before
    answer = raw_answers.answers[name]
    entries = [e for e in raw_answers.log if e["command"] == command[:2048]]
    if answer is None:
        assert "\x00" in command  # only sshd's own protocol check drops a request
        assert entries == []
        return
    status, stdout, stderr = answer
    assert status == EXIT_REFUSED
    assert stdout == b""
    lines = stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(REFUSED_PREFIX)
    (entry,) = entries
    assert entry["decision"] == "refused"
    assert entry["reason"] == lines[0][len(REFUSED_PREFIX) :]


def test_non_utf8_bytes_sent_raw_are_refused(raw: RawSession, sshd: SSHServer) -> None:
    calls = len(sshd.docker_calls())
    answer = raw.send(b"docker ps \xff\xfe".decode("latin-1"))
    assert answer is not None and answer[0] == EXIT_REFUSED
    assert len(sshd.docker_calls()) == calls


def test_the_key_opens_no_shell_no_sftp_and_no_forwarding(sshd: SSHServer) -> None:
    calls = len(sshd.docker_calls())
    client = sshd.raw_client()
    try:
        transport = client.get_transport()
        assert transport is not None
        shell = transport.open_session()
        shell.invoke_shell()
        assert shell.recv_exit_status() == EXIT_REFUSED
        assert b"no command given" in shell.makefile_stderr("rb").read()
        with pytest.raises(paramiko.SSHException):
            client.open_sftp().listdir(".")
        with pytest.raises(paramiko.ChannelException):
            transport.open_channel("direct-tcpip", ("127.0.0.1", sshd.port), ("127.0.0.1", 1))
    finally:
        client.close()
    assert len(sshd.docker_calls()) == calls
