"""An SSH command that never stops talking, or never ends, costs the agent its time limit only.

The gateway's own limits may be set high (``--max-output-bytes``, ``--timeout-s``)
or the server may not be our gateway at all: the client's time limit and output
cap hold whatever the server sends, and the command left behind is stopped on the
server once the client has gone.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from ssh_tools.connection import SSHConnection
from ssh_tools.errors import CommandTimeout
from tests.ssh.conftest import SSHServer, serve_sshd
from tests.ssh.processes import process_alive
from tests.support import wait_until

CLIENT_TIMEOUT_S = 2.0
FLOOD_BYTES = 64 * 2**30  # far more than the time limit lets through


@pytest.fixture(scope="module")
def loose_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A gateway whose own caps are far away: a 10-minute limit, 100 GB of output."""
    with serve_sshd(
        tmp_path_factory.mktemp("loose-sshd"),
        timeout_s=600,
        max_output_bytes=100 * 2**30,
        docker_env={"FAKE_DOCKER_HUGE_BYTES": str(FLOOD_BYTES)},
    ) as server:
        yield server


def test_a_flood_of_output_stops_at_the_client_time_limit_with_bounded_memory(
    loose_gateway: SSHServer,
) -> None:
    settings = replace(loose_gateway.settings(), timeout_s=CLIENT_TIMEOUT_S, max_output_bytes=4096)
    seen = len(loose_gateway.docker_records())
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with SSHConnection(settings) as connection:
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as caught:
            connection.run(["docker", "logs", "--tail", "5", "huge"])
        took_s = time.monotonic() - started
        assert took_s < CLIENT_TIMEOUT_S + 3, took_s
        assert caught.value.on_server is False
        assert len(caught.value.output) < 4096 + 200  # the cap and its marker line
        # The connection still serves the next command.
        assert connection.run(["docker", "version"]).exit_code == 0
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    assert grown_kib < 200 * 1024, grown_kib
    # The gateway sees the client gone at its next write and stops the flood.
    pids = [r["pid"] for r in loose_gateway.docker_records()[seen:] if r["argv"][-1] == "huge"]
    assert len(pids) == 1
    wait_until(lambda: not process_alive(pids[0]), timeout_s=10, what="the flood stopped")


def test_a_silent_command_stops_on_the_server_soon_after_the_client_gives_up(
    loose_gateway: SSHServer,
) -> None:
    settings = replace(loose_gateway.settings(), timeout_s=CLIENT_TIMEOUT_S)
    seen, logged = len(loose_gateway.docker_records()), len(loose_gateway.gateway_entries())
    with SSHConnection(settings) as connection, pytest.raises(CommandTimeout):
        connection.run(["docker", "logs", "--tail", "1", "hang"])
    records = loose_gateway.docker_records()[seen:]
    pids = [r["pid"] for r in records if r["kind"] == "child" or r["argv"][-1] == "hang"]
    assert len(pids) == 2  # the fake docker and its sleep child
    # Not at the gateway's own 10-minute limit: soon after the channel closed.
    wait_until(
        lambda: not any(process_alive(p) for p in pids),
        timeout_s=10,
        what="the abandoned command stopped",
    )
    entry = wait_until(
        lambda: next(iter(loose_gateway.gateway_entries()[logged:]), None),
        timeout_s=10,
        what="the gateway's log line",
    )
    assert entry is not None
    assert entry["client_gone"] is True and entry["timed_out"] is False
