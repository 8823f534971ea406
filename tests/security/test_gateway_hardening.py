"""The SSH gateway holds on the server whatever the client or its environment does.

Environment values of inspected containers never leave the server (JSON and
``--format`` output), the restart limit holds across connections, docker gets
a clean environment, and the policy comes only from the gateway's command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ssh_tools.allowlist import DEFAULT_POLICY_DATA
from ssh_tools.gateway_guard import EnvMask
from ssh_tools.protocol import EXIT_REFUSED
from tests.ssh.conftest import REPO_ROOT, FakeDocker, install_fake_docker
from tests.ssh.fake_docker import SECRET_ENV

SECRET_VALUES = [entry.split("=", 1)[1] for entry in SECRET_ENV]


@pytest.fixture
def docker(tmp_path: Path) -> FakeDocker:
    return install_fake_docker(tmp_path)


def _format_policy(tmp_path: Path) -> Path:
    data = json.loads(json.dumps(DEFAULT_POLICY_DATA))
    # Policies cannot allow braces, so no Go template gets through; "json" is docker's
    # own named format.
    data["shapes"]["format"] = {"pattern": "[a-z]+", "max_length": 10}
    data["subcommands"]["inspect"]["flags"]["--format"] = {"aliases": ["-f"], "value": "format"}
    path = tmp_path / "format-policy.json"
    path.write_text(json.dumps(data))
    return path


def gateway(
    docker: FakeDocker, command: str, *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            sys.executable,
            "-S",
            "-m",
            "ssh_tools.gateway",
            "--no-syslog",
            "--state-dir",
            str(docker.record_path.parent / "state"),
            *options,
        ],
        env={**docker.env, **(env or {}), "SSH_ORIGINAL_COMMAND": command},
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command",
    [
        "docker inspect web",
        "docker inspect --size web",
        "docker inspect --format json web",
        "docker inspect -f json web",
        "docker inspect --format=json web",
    ],
)
def test_environment_values_never_leave_the_server(
    docker: FakeDocker, tmp_path: Path, command: str
) -> None:
    done = gateway(docker, command, "--policy", str(_format_policy(tmp_path)))
    assert done.returncode == 0, done.stderr
    output = done.stdout.decode()
    assert "POSTGRES_PASSWORD" in output.upper() or "***" in output
    for value in SECRET_VALUES:
        assert value.lower() not in output.lower(), output


TEMPLATE_OUTPUTS = {
    "list": "[" + " ".join(SECRET_ENV) + " PATH=/usr/bin]\n",
    "lines": "".join(entry + "\n" for entry in SECRET_ENV),
    "upper": SECRET_ENV[0].upper() + "\n",
    "json escaped": json.dumps({"v": SECRET_VALUES[1] + "&"}),
    "value alone": f"password is {SECRET_VALUES[0]}.",
    "cut env list": '"Env": [\n "A=1",\n "' + SECRET_ENV[1][:20],
}


@pytest.mark.parametrize("shape", sorted(TEMPLATE_OUTPUTS))
def test_template_shaped_output_is_masked(shape: str) -> None:
    # What a --format template could print, were a policy ever to admit one.
    masked = EnvMask(SECRET_ENV).apply(TEMPLATE_OUTPUTS[shape])
    for value in SECRET_VALUES:
        assert value.lower() not in masked.lower(), masked
        assert value[:12].lower() not in masked.lower(), masked


def test_restart_limit_holds_across_connections(docker: FakeDocker) -> None:
    first = gateway(docker, "docker restart web", "--restart-min-interval-s", "300")
    assert first.returncode == 0, first.stderr
    second = gateway(docker, "docker restart web", "--restart-min-interval-s", "300")
    assert second.returncode == EXIT_REFUSED
    assert b"restarted" in second.stderr and b"300 s apart" in second.stderr
    other = gateway(docker, "docker restart db", "--restart-min-interval-s", "300")
    assert other.returncode == 0
    assert docker.calls() == [["restart", "web"], ["restart", "db"]]
    state = docker.record_path.parent / "state" / "restarts.json"
    assert oct(state.stat().st_mode & 0o777) == "0o600"


def test_restart_limit_counts_concurrent_connections_once(docker: FakeDocker) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-S", "-m", "ssh_tools.gateway", "--no-syslog", "--state-dir",
             str(docker.record_path.parent / "state"), "--restart-min-interval-s", "300"],
            env={**docker.env, "SSH_ORIGINAL_COMMAND": "docker restart web"},
            cwd=REPO_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(6)
    ]  # fmt: skip
    codes = sorted(run.wait(60) for run in runs)
    assert codes == [0] + [EXIT_REFUSED] * 5
    assert docker.calls() == [["restart", "web"]]


def _environment_seen_by_docker(
    docker: FakeDocker, tmp_path: Path, *options: str, env: dict[str, str]
) -> dict[str, str]:
    """Run ``docker ps`` through the gateway; return the environment docker got."""
    probe = docker.bin_dir / "docker"
    real = docker.bin_dir / "docker-real"
    probe.rename(real)
    dump = tmp_path / "env.json"
    probe.write_text(
        f"#!{sys.executable} -IS\nimport json, os, sys\n"
        f"open({str(dump)!r}, 'w').write(json.dumps(dict(os.environ)))\n"
        f"os.execv({str(real)!r}, [{str(real)!r}, *sys.argv[1:]])\n"
    )
    probe.chmod(0o755)
    done = gateway(docker, "docker ps", *options, env=env)
    assert done.returncode == 0, done.stderr
    seen: dict[str, str] = json.loads(dump.read_text())
    return seen


@pytest.mark.parametrize(
    "variable",
    ["DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT", "LD_PRELOAD", "PYTHONPATH", "BASH_ENV"],
)
def test_docker_gets_a_clean_environment(docker: FakeDocker, tmp_path: Path, variable: str) -> None:
    seen = _environment_seen_by_docker(docker, tmp_path, env={variable: "/tmp/evil"})
    assert variable not in seen
    assert set(seen) <= {"PATH", "LANG", "LC_ALL", "HOME"}
    assert docker.bin_dir.as_posix() not in seen["PATH"]


def test_an_admin_can_pass_a_variable_by_name(docker: FakeDocker, tmp_path: Path) -> None:
    seen = _environment_seen_by_docker(
        docker, tmp_path, "--pass-env", "DOCKER_HOST", env={"DOCKER_HOST": "unix:///run/d.sock"}
    )
    assert seen["DOCKER_HOST"] == "unix:///run/d.sock"


def test_the_policy_comes_only_from_the_command_line(docker: FakeDocker, tmp_path: Path) -> None:
    permissive = json.loads(json.dumps(DEFAULT_POLICY_DATA))
    permissive["subcommands"]["exec"] = {"flags": {}, "arguments": {"min": 1, "max": 3}}
    path = tmp_path / "evil-policy.json"
    path.write_text(json.dumps(permissive))
    done = gateway(docker, "docker exec web sh", env={"AGENT_AUDIT_SSH_POLICY": str(path)})
    assert done.returncode == EXIT_REFUSED
    assert docker.calls() == []
    assert os.environ.get("AGENT_AUDIT_SSH_POLICY") != str(path)
