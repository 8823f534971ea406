"""The gateway as sshd runs it, but started directly: SSH_ORIGINAL_COMMAND in, exit code out."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssh_tools.protocol import (
    CUT_MARKER_PREFIX,
    EXIT_GATEWAY_ERROR,
    EXIT_NOT_FOUND,
    EXIT_REFUSED,
    EXIT_TIMEOUT,
    REFUSED_PREFIX,
    TIMEOUT_PREFIX,
)
from tests.ssh.conftest import REPO_ROOT, FakeDocker
from tests.ssh.processes import process_alive
from tests.support import wait_until


def run_gateway(
    fake: FakeDocker,
    command: str | None,
    *options: str,
    module: str = "ssh_tools.gateway",
) -> subprocess.CompletedProcess[bytes]:
    env = dict(fake.env)
    if command is not None:
        env["SSH_ORIGINAL_COMMAND"] = command
    argv = [sys.executable, "-S", "-m", module]
    if module != "ssh_tools.gateway":
        argv.append("gateway")
    return subprocess.run(
        [
            *argv,
            "--no-syslog",
            "--log",
            str(fake.record_path.parent / "gateway.jsonl"),
            "--state-dir",
            str(fake.record_path.parent / "gateway-state"),
            *options,
        ],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )


def log_entries(fake: FakeDocker) -> list[dict[str, object]]:
    path = fake.record_path.parent / "gateway.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_allowed_command_runs_with_exactly_its_argv(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, "docker logs --tail 2 web")
    assert done.returncode == 0
    assert done.stdout.decode().count("\n") == 2 and done.stdout.decode().endswith("web\n")
    assert done.stderr == b"web: warning: slow upstream\n"  # docker's stderr passes through
    assert fake_docker.calls() == [["logs", "--tail", "2", "web"]]
    (entry,) = log_entries(fake_docker)
    assert entry["decision"] == "allowed"
    assert entry["argv"] == ["docker", "logs", "--tail", "2", "web"]
    assert entry["exit_code"] == 0


def test_the_commands_own_failure_passes_through(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, "docker inspect missing")
    assert done.returncode == 1
    assert b"No such container: missing" in done.stderr
    assert log_entries(fake_docker)[0]["exit_code"] == 1


@pytest.mark.parametrize(
    "command",
    ["docker ps; id", "docker exec web sh", "docker run -v /:/host alpine", "dock\u0435r ps"],
)
def test_refused_command_runs_nothing_and_says_why_in_one_line(
    fake_docker: FakeDocker, command: str
) -> None:
    done = run_gateway(fake_docker, command)
    assert done.returncode == EXIT_REFUSED
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith(REFUSED_PREFIX)
    assert fake_docker.calls() == []
    (entry,) = log_entries(fake_docker)
    assert entry["decision"] == "refused" and entry["command"] == command
    assert entry["reason"] == lines[0][len(REFUSED_PREFIX) :]


def test_no_command_means_an_interactive_login_and_is_refused(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, None)
    assert done.returncode == EXIT_REFUSED
    assert b"no command given" in done.stderr
    assert fake_docker.calls() == []


def test_time_limit_kills_the_whole_process_group(fake_docker: FakeDocker) -> None:
    started = time.monotonic()
    done = run_gateway(fake_docker, "docker logs --tail 1 hang", "--timeout-s", "1")
    elapsed = time.monotonic() - started
    assert done.returncode == EXIT_TIMEOUT
    assert done.stderr.decode().startswith(TIMEOUT_PREFIX + "1 s")
    assert elapsed < 8, elapsed
    pids = [r["pid"] for r in fake_docker.records()]
    assert len(pids) == 2  # the fake docker and the sleep it started
    wait_until(lambda: not any(process_alive(p) for p in pids), timeout_s=5, what="group killed")
    entry = log_entries(fake_docker)[0]
    assert entry["timed_out"] is True and entry["exit_code"] == EXIT_TIMEOUT


def test_output_over_the_cap_is_cut_with_a_marker(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, "docker logs --tail 5 huge", "--max-output-bytes", "1000")
    assert done.returncode == 0  # the command finished; only the copy was cut
    body, marker = done.stdout[:1000], done.stdout[1000:].decode()
    assert body == b"x" * 99 + b"\n" + b"x" * 99 + b"\n" + body[200:]
    assert marker == f"\n{CUT_MARKER_PREFIX} at 1000 of {2 * 1024 * 1024} bytes]\n"
    assert log_entries(fake_docker)[0]["cut"] == ["stdout"]


def test_bad_policy_file_stops_the_gateway_with_one_line(
    fake_docker: FakeDocker, tmp_path: Path
) -> None:
    bad = tmp_path / "policy.json"
    bad.write_text('{"version": 1, "program": "docker", "subcommands": {"exec": []}}')
    done = run_gateway(fake_docker, "docker ps", "--policy", str(bad))
    assert done.returncode == EXIT_GATEWAY_ERROR
    assert len(done.stderr.splitlines()) == 1 and str(bad).encode() in done.stderr
    assert fake_docker.calls() == []


def test_policy_file_from_the_environment_is_ignored(
    fake_docker: FakeDocker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ssh_tools.allowlist import DEFAULT_POLICY_DATA

    data = json.loads(json.dumps(DEFAULT_POLICY_DATA))
    del data["subcommands"]["ps"]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(data))
    env = dict(fake_docker.env, SSH_ORIGINAL_COMMAND="docker ps", AGENT_AUDIT_SSH_POLICY=str(path))
    done = subprocess.run(
        [sys.executable, "-S", "-m", "ssh_tools.gateway", "--no-syslog"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    # The policy comes only from --policy in authorized_keys: a variable that sshd's
    # AcceptEnv could let a client set must not loosen or change it.
    assert done.returncode == 0, done.stderr
    assert fake_docker.calls() == [["ps"]]


def test_missing_docker_is_127(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, "docker ps", "--docker", "/nonexistent/docker")
    assert done.returncode == EXIT_NOT_FOUND
    assert b"not found" in done.stderr


def test_a_docker_that_cannot_run_is_a_gateway_error(fake_docker: FakeDocker) -> None:
    not_executable = fake_docker.bin_dir / "docker"
    not_executable.chmod(0o644)
    done = run_gateway(fake_docker, "docker ps", "--docker", str(not_executable))
    assert done.returncode == EXIT_GATEWAY_ERROR
    assert b"cannot run" in done.stderr and fake_docker.calls() == []


def test_syslog_logging_is_on_by_default_and_harmless(fake_docker: FakeDocker) -> None:
    env = dict(fake_docker.env, SSH_ORIGINAL_COMMAND="docker version")
    done = subprocess.run(
        [sys.executable, "-S", "-m", "ssh_tools.gateway"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == b""
    assert done.stdout.startswith(b"Client: Docker Engine")


def test_agent_audit_gateway_subcommand_runs_the_gateway(fake_docker: FakeDocker) -> None:
    done = run_gateway(fake_docker, "docker ps --all", module="collector.cli")
    assert done.returncode == 0, done.stderr
    assert b"worker" in done.stdout  # a stopped container: --all reached docker
    assert fake_docker.calls() == [["ps", "--all"]]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_stopping_the_gateway_stops_the_command(fake_docker: FakeDocker, sig: int) -> None:
    env = dict(fake_docker.env, SSH_ORIGINAL_COMMAND="docker logs --tail 1 hang")
    gateway = subprocess.Popen(
        [sys.executable, "-S", "-m", "ssh_tools.gateway", "--no-syslog", "--timeout-s", "60"],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(fake_docker.records()) == 2, timeout_s=15, what="hang started")
        gateway.send_signal(sig)
        assert gateway.wait(timeout=10) == 128 + sig
        pids = [r["pid"] for r in fake_docker.records()]
        wait_until(lambda: not any(process_alive(p) for p in pids), timeout_s=5, what="killed")
    finally:
        if gateway.poll() is None:
            gateway.kill()
            gateway.wait()
