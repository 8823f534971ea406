"""SSHConnection against the real sshd: host keys, keys, reuse, time limits, caps."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ssh_tools.allowlist import DEFAULT_POLICY_DATA, Policy
from ssh_tools.connection import SSHConnection
from ssh_tools.errors import (
    AuthenticationFailed,
    CommandTimeout,
    ConnectionFailed,
    HostKeyMismatch,
    NonZeroExit,
    PolicyRefused,
    SSHToolError,
    UnknownHostKey,
)
from ssh_tools.protocol import CUT_MARKER_PREFIX
from tests.ssh.conftest import GATEWAY_MAX_OUTPUT_BYTES, GATEWAY_TIMEOUT_S, SSHServer, serve_sshd
from tests.ssh.processes import children_of, process_alive
from tests.support import free_port, wait_until

pytestmark = pytest.mark.sshd


def test_commands_run_with_their_exact_argv_on_one_reused_connection(sshd: SSHServer) -> None:
    before = len(sshd.docker_calls())
    with SSHConnection(sshd.settings()) as connection:
        ps = connection.run(["docker", "ps", "--all"])
        logs = connection.run(["docker", "logs", "--tail", "3", "--since", "10m", "web"])
        assert connection.connects == 1
    assert ps.exit_code == 0 and "worker" in ps.text  # --all shows the exited container
    assert logs.text.count("\n") == 3
    assert logs.stderr == b"web: warning: slow upstream\n"
    assert not ps.stdout_cut and not logs.stdout_cut
    assert sshd.docker_calls()[before:] == [
        ["ps", "--all"],
        ["logs", "--tail", "3", "--since", "10m", "web"],
    ]


def test_non_zero_exit_is_a_typed_error_with_the_stderr(sshd: SSHServer) -> None:
    with SSHConnection(sshd.settings()) as connection:
        with pytest.raises(NonZeroExit) as caught:
            connection.run(["docker", "inspect", "missing"])
        result = connection.run(["docker", "inspect", "missing"], check=False)
    assert caught.value.exit_code == 1
    assert "No such container: missing" in str(caught.value)
    assert result.exit_code == 1


def test_client_refuses_before_sending(sshd: SSHServer) -> None:
    before_calls, before_log = len(sshd.docker_calls()), len(sshd.gateway_entries())
    connection = SSHConnection(sshd.settings())
    with pytest.raises(PolicyRefused) as caught:
        connection.run(["docker", "exec", "web", "sh"])
    assert caught.value.layer == "client"
    assert connection.connects == 0  # not even connected
    assert len(sshd.docker_calls()) == before_calls
    assert len(sshd.gateway_entries()) == before_log  # the gateway never heard of it


def test_gateway_refuses_what_a_looser_client_policy_lets_through(sshd: SSHServer) -> None:
    loose = dict(DEFAULT_POLICY_DATA, subcommands={"exec": {"arguments": {"max": 0}}})
    before = len(sshd.docker_calls())
    with SSHConnection(sshd.settings(), policy=Policy.from_data(loose)) as connection:
        with pytest.raises(PolicyRefused) as caught:
            connection.run(["docker", "exec"])
    assert caught.value.layer == "gateway"
    assert "subcommand 'exec' is not allowed" in caught.value.reason
    assert len(sshd.docker_calls()) == before
    last = sshd.gateway_entries()[-1]
    assert last["decision"] == "refused" and last["command"] == "docker exec"


def test_unknown_host_key_is_refused_and_never_learned(sshd: SSHServer, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    connection = SSHConnection(sshd.settings(known_hosts_path=empty))
    with pytest.raises(UnknownHostKey) as caught:
        connection.run(["docker", "ps"])
    assert caught.value.port == sshd.port
    assert empty.read_text() == ""
    with pytest.raises(UnknownHostKey):  # still refused the second time
        connection.run(["docker", "ps"])


def test_changed_host_key_is_refused(sshd: SSHServer, tmp_path: Path) -> None:
    other = sshd.directory / "wrong_key.pub"  # any other ed25519 key stands in for an impostor
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} {other.read_text().strip()}\n")
    before = len(sshd.gateway_entries())
    with pytest.raises(HostKeyMismatch, match="does not match known_hosts"):
        SSHConnection(sshd.settings(known_hosts_path=known)).run(["docker", "ps"])
    assert len(sshd.gateway_entries()) == before


def test_wrong_client_key_is_refused(sshd: SSHServer) -> None:
    connection = SSHConnection(sshd.settings(key_path=sshd.wrong_key))
    with pytest.raises(AuthenticationFailed) as caught:
        connection.run(["docker", "ps"])
    assert caught.value.user == sshd.user


def test_missing_known_hosts_file_is_a_clear_error(sshd: SSHServer, tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match="cannot read known_hosts"):
        SSHConnection(sshd.settings(known_hosts_path=tmp_path / "none")).run(["docker", "ps"])


def test_missing_key_file_is_a_clear_error(sshd: SSHServer, tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match="private key .* not found"):
        SSHConnection(sshd.settings(key_path=tmp_path / "none")).run(["docker", "ps"])


def test_nothing_listening_is_connection_failed(sshd: SSHServer) -> None:
    with pytest.raises(ConnectionFailed, match="cannot connect"):
        SSHConnection(sshd.settings(port=free_port(), connect_timeout_s=2)).run(["docker", "ps"])


def test_connection_is_reopened_after_the_server_side_dropped_it(sshd: SSHServer) -> None:
    with SSHConnection(sshd.settings()) as connection:
        connection.run(["docker", "version"])
        assert connection.connects == 1
        # Kill the per-connection sshd process serving us: a real broken connection.
        for pid in children_of(sshd.process.pid):
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not children_of(sshd.process.pid), timeout_s=5, what="session gone")
        result = connection.run(["docker", "version"])
        assert result.exit_code == 0
        assert connection.connects == 2


def test_gateway_time_limit_kills_the_hanging_command_on_the_server(sshd: SSHServer) -> None:
    seen = len(sshd.docker_records())
    started = time.monotonic()
    with SSHConnection(sshd.settings(timeout_s=30)) as connection:
        with pytest.raises(CommandTimeout) as caught:
            connection.run(["docker", "logs", "--tail", "1", "hang"])
    assert caught.value.on_server is True
    assert caught.value.timeout_s == GATEWAY_TIMEOUT_S
    assert time.monotonic() - started < GATEWAY_TIMEOUT_S + 10
    pids = [r["pid"] for r in sshd.docker_records()[seen:]]
    assert len(pids) == 2  # the fake docker and its sleep child
    wait_until(lambda: not any(process_alive(p) for p in pids), timeout_s=5, what="killed")
    assert sshd.gateway_entries()[-1]["timed_out"] is True


# The client's own limit must outlast the start of the hanging command (the gateway's and
# the fake docker's interpreters, then its child): on a loaded machine that takes seconds,
# and a client giving up earlier would leave no child to check. Its gateway's limit is far
# away, so only the client can be the one giving up.
CLIENT_LIMIT_S = 5.0
PATIENT_GATEWAY_S = 600


@pytest.fixture(scope="module")
def patient_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A gateway whose own time limit is far beyond the client's."""
    with serve_sshd(tmp_path_factory.mktemp("patient-sshd"), timeout_s=PATIENT_GATEWAY_S) as server:
        yield server


def test_client_time_limit_gives_up_and_the_gateway_still_cleans_up(
    patient_gateway: SSHServer,
) -> None:
    sshd = patient_gateway
    seen, log_seen = len(sshd.docker_records()), len(sshd.gateway_entries())
    with SSHConnection(sshd.settings()) as connection:
        started = time.monotonic()
        with pytest.raises(CommandTimeout) as caught:
            connection.run(["docker", "logs", "--tail", "1", "hang"], timeout_s=CLIENT_LIMIT_S)
        assert time.monotonic() - started < PATIENT_GATEWAY_S
        assert caught.value.on_server is False
        assert caught.value.timeout_s == CLIENT_LIMIT_S
        # the connection is still usable after a client-side time-out
        assert connection.run(["docker", "version"]).exit_code == 0
    # The gateway logs its decision once it has killed the command's process group,
    # when it sees the client gone (the channel closed).
    wait_until(
        lambda: any(e.get("client_gone") for e in sshd.gateway_entries()[log_seen:]),
        timeout_s=30,
        what="the gateway to stop the abandoned command",
    )
    records = sshd.docker_records()[seen:]
    pids = [r["pid"] for r in records if r["kind"] == "child" or r["argv"][-1] == "hang"]
    assert len(pids) == 2, records  # the fake docker and its sleep child
    assert not any(process_alive(p) for p in pids)


def test_output_over_the_gateway_cap_is_cut_with_the_marker(sshd: SSHServer) -> None:
    with SSHConnection(sshd.settings()) as connection:
        result = connection.run(["docker", "logs", "--tail", "5", "huge"])
    assert result.stdout_cut
    assert result.stdout[:GATEWAY_MAX_OUTPUT_BYTES] == (b"x" * 99 + b"\n") * 655 + b"x" * 36
    marker = result.stdout[GATEWAY_MAX_OUTPUT_BYTES:].decode()
    assert marker == f"\n{CUT_MARKER_PREFIX} at {GATEWAY_MAX_OUTPUT_BYTES} of 2097152 bytes]\n"


def test_output_over_the_client_cap_is_cut_with_the_marker(sshd: SSHServer) -> None:
    settings = replace(sshd.settings(), max_output_bytes=4096)
    with SSHConnection(settings) as connection:
        result = connection.run(["docker", "logs", "--tail", "5", "huge"])
    assert result.stdout_cut and len(result.stdout) < 4096 + 100
    assert result.stdout[:4096] == ((b"x" * 99 + b"\n") * 41)[:4096]
    assert result.stdout[4096:].decode().startswith(f"\n{CUT_MARKER_PREFIX} at 4096 of ")


def test_a_hanging_command_does_not_hold_up_the_commands_of_other_runs(
    patient_gateway: SSHServer,
) -> None:
    """Concurrent runs share the connection, each command on its own channel: one run's
    hanging docker (up to the 30 s limit, again at each retry of the model) held every
    other run's commands back behind a lock."""
    sshd = patient_gateway
    seen = len(sshd.docker_records())
    hung: list[BaseException] = []
    with SSHConnection(sshd.settings(timeout_s=120)) as connection:

        def hang() -> None:
            try:
                connection.run(["docker", "logs", "--tail", "1", "hang"])
            except SSHToolError as exc:  # the connection is closed under it, below
                hung.append(exc)

        hanging = threading.Thread(target=hang, name="hanging-run", daemon=True)
        hanging.start()
        wait_until(
            lambda: any(r["kind"] == "child" for r in sshd.docker_records()[seen:]),
            timeout_s=60,
            what="the hanging command running on the server",
        )
        result: list[int] = []
        other = threading.Thread(
            target=lambda: result.append(connection.run(["docker", "version"]).exit_code),
            name="other-run",
            daemon=True,
        )
        other.start()
        other.join(timeout=60)
        assert result == [0]
        assert hanging.is_alive()  # still hanging: the other command did not wait for it
    hanging.join(timeout=30)  # closing the connection ended it
    assert not hanging.is_alive()
    assert len(hung) == 1  # failed: the connection broke, or the gateway stopped it


def test_more_concurrent_commands_than_sshd_allows_channels_all_run(sshd: SSHServer) -> None:
    """OpenSSH serves 10 channels per connection (MaxSessions); more commands at once
    wait for a free one instead of failing, or of dropping the connection under the others."""
    exits: list[int] = []
    failures: list[BaseException] = []
    with SSHConnection(sshd.settings()) as connection:
        connection.run(["docker", "version"])  # connected before the crowd arrives
        start = threading.Barrier(16)

        def command() -> None:
            start.wait(timeout=30)
            try:
                exits.append(connection.run(["docker", "version"]).exit_code)
            except SSHToolError as exc:
                failures.append(exc)

        threads = [threading.Thread(target=command, daemon=True) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert failures == []
        assert exits == [0] * 16
        assert connection.connects == 1
