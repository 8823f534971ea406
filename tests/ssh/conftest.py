"""A real OpenSSH server on 127.0.0.1 whose only key runs the gateway, and a fake docker.

The ``sshd`` fixture (one per test session) starts ``/usr/sbin/sshd -D -e -f
<tmp>/sshd_config`` on a free port with a fresh ed25519 host key pinned in a
known_hosts file. The client key's authorized_keys line is
``restrict,command="<tmp>/gateway.sh"``; that wrapper puts the recording fake
docker first on PATH and execs ``python -m ssh_tools.gateway`` from this checkout.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paramiko
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from ssh_tools.settings import SSHSettings
from tests.support import free_port, require_or_skip, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SSHD = "/usr/sbin/sshd"
GATEWAY_TIMEOUT_S = 3.0
GATEWAY_MAX_OUTPUT_BYTES = 64 * 1024


@dataclass
class SSHServer:
    """The running test server and the files around it."""

    host: str
    port: int
    user: str
    directory: Path
    client_key: Path
    wrong_key: Path
    known_hosts: Path
    host_public_key: str
    record_path: Path
    gateway_log: Path
    process: subprocess.Popen[bytes]

    @property
    def profile_reads(self) -> list[str]:
        """The shell process ids that read the test home's ~/.bashrc, one per session."""
        path = self.directory / "profile_reads"
        return path.read_text().split() if path.exists() else []

    def settings(self, **overrides: Any) -> SSHSettings:
        """Client settings pointing at this server (fields overridable)."""
        base = SSHSettings(
            host=self.host,
            port=self.port,
            user=self.user,
            key_path=self.client_key,
            known_hosts_path=self.known_hosts,
            timeout_s=10.0,
            connect_timeout_s=5.0,
        )
        return replace(base, **overrides)

    def docker_calls(self) -> list[list[str]]:
        """Every argv the fake docker received, in order."""
        return [e["argv"] for e in self._records() if e["kind"] == "call"]

    def docker_records(self) -> list[dict[str, Any]]:
        """Every line the fake docker wrote (calls and children)."""
        return self._records()

    def gateway_entries(self) -> list[dict[str, Any]]:
        """Every decision the gateway logged, in order."""
        if not self.gateway_log.exists():
            return []
        return [json.loads(line) for line in self.gateway_log.read_text().splitlines()]

    def raw_client(self) -> paramiko.SSHClient:
        """A plain paramiko client logged in with the gateway key (host key checked)."""
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            self.host,
            port=self.port,
            username=self.user,
            key_filename=str(self.client_key),
            look_for_keys=False,
            allow_agent=False,
            timeout=5,
        )
        return client

    def _records(self) -> list[dict[str, Any]]:
        if not self.record_path.exists():
            return []
        return [json.loads(line) for line in self.record_path.read_text().splitlines()]


@dataclass
class FakeDocker:
    """The recording docker stand-in installed in ``bin_dir``."""

    bin_dir: Path
    record_path: Path

    @property
    def env(self) -> dict[str, str]:
        """Environment for running a gateway that finds this docker first on PATH."""
        return {
            "PATH": f"{self.bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(REPO_ROOT),
            "FAKE_DOCKER_RECORD": str(self.record_path),
        }

    def records(self) -> list[dict[str, Any]]:
        """Every line the fake docker wrote (``kind`` "call" or "child")."""
        if not self.record_path.exists():
            return []
        return [json.loads(line) for line in self.record_path.read_text().splitlines()]

    def calls(self) -> list[list[str]]:
        """Every argv it received, in order."""
        return [e["argv"] for e in self.records() if e["kind"] == "call"]


def install_fake_docker(directory: Path) -> FakeDocker:
    """Write the recording ``docker`` into ``directory/bin``."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    fake_source = (Path(__file__).parent / "fake_docker.py").read_text()
    # -IS: stdlib only, and fast to start (no site-packages scan).
    _write_executable(bin_dir / "docker", f"#!{sys.executable} -IS\n{fake_source}")
    return FakeDocker(bin_dir=bin_dir, record_path=directory / "docker_calls.jsonl")


@pytest.fixture
def fake_docker(tmp_path: Path) -> FakeDocker:
    """A fresh recording docker in tmp_path (for gateway tests without sshd)."""
    return install_fake_docker(tmp_path)


def _keygen(path: Path, comment: str) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHServer]:
    """A real sshd on 127.0.0.1 forcing the gateway, with a recording fake docker."""
    with serve_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@contextmanager
def serve_sshd(
    directory: Path,
    *,
    timeout_s: float = GATEWAY_TIMEOUT_S,
    max_output_bytes: int = GATEWAY_MAX_OUTPUT_BYTES,
    docker_env: dict[str, str] | None = None,
) -> Iterator[SSHServer]:
    """An sshd in ``directory`` whose key runs the gateway with these limits.

    ``docker_env``: variables set for the gateway and passed on to the fake docker.
    """
    have_tools = Path(SSHD).exists() and shutil.which("ssh-keygen") is not None
    require_or_skip(have_tools, f"OpenSSH server not installed ({SSHD}, ssh-keygen)")
    require_or_skip(os.geteuid() == 0, "the test sshd needs root (it logs in as the same user)")

    user = pwd.getpwuid(os.getuid()).pw_name
    port = free_port()
    host_public = _keygen(directory / "host_key", "test-host")
    client_public = _keygen(directory / "client_key", "agent-audit-test")
    _keygen(directory / "wrong_key", "not-authorized")

    docker = install_fake_docker(directory)
    bin_dir, record_path = docker.bin_dir, docker.record_path
    gateway_log = directory / "gateway.jsonl"
    wrapper = directory / "gateway.sh"
    extra_env = docker_env or {}
    _write_executable(
        wrapper,
        "#!/bin/sh\n"
        f"PATH='{bin_dir}:/usr/local/bin:/usr/bin:/bin'\n"
        f"PYTHONPATH='{REPO_ROOT}'\n"
        f"FAKE_DOCKER_RECORD='{record_path}'\n"
        + "".join(f"{name}='{value}'\n" for name, value in extra_env.items())
        + f"export PATH PYTHONPATH FAKE_DOCKER_RECORD {' '.join(extra_env)}\n"
        # -S (no site-packages) also proves the gateway needs only the standard library.
        f"exec '{sys.executable}' -S -m ssh_tools.gateway"
        f" --policy '{REPO_ROOT / 'ssh_tools' / 'default_policy.json'}'"
        f" --timeout-s {timeout_s:g} --max-output-bytes {max_output_bytes}"
        + "".join(f" --pass-env {name}" for name in extra_env)
        + f" --log '{gateway_log}' --no-syslog"
        # Tests restart the same containers often; the server-side limit has its own tests.
        f" --restart-min-interval-s 0 --state-dir '{directory / 'gateway-state'}'\n",
    )
    (directory / "authorized_keys").write_text(f'restrict,command="{wrapper}" {client_public}\n')
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    # The sessions' home: sshd runs the forced command through the user's login shell,
    # and bash run by sshd reads ~/.bashrc even when not interactive. The machine's own
    # (root's, running `pyenv rehash`) printed a lock error into a command's stderr when
    # two sessions started at once. This one only notes that it was read.
    home = directory / "home"
    home.mkdir()
    (home / ".bashrc").write_text(f"echo $$ >> '{directory / 'profile_reads'}'\n")
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                "ListenAddress 127.0.0.1",
                f"Port {port}",
                f"HostKey {directory / 'host_key'}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                f"PidFile {directory / 'sshd.pid'}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                f"AllowUsers {user}",
                # Set by the server after the user's defaults, so it is the shell's HOME.
                f"SetEnv HOME={home}",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # sshd's privilege-separation dir
    log = (directory / "sshd.log").open("wb")
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
    server = SSHServer(
        host="127.0.0.1",
        port=port,
        user=user,
        directory=directory,
        client_key=directory / "client_key",
        wrong_key=directory / "wrong_key",
        known_hosts=known_hosts,
        host_public_key=host_public,
        record_path=record_path,
        gateway_log=gateway_log,
        process=process,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or _accepts(port),
            timeout_s=10,
            what="sshd listening",
        )
        if process.poll() is not None:
            raise AssertionError(f"sshd exited: {(directory / 'sshd.log').read_text()}")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class SpanTap(SpanProcessor):
    """Hands each ended span to the exporters plugged in at the moment (tests swap them)."""

    def __init__(self) -> None:
        self.exporters: list[SpanExporter] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        for exporter in list(self.exporters):
            exporter.export([span])

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@pytest.fixture(scope="session")
def _tap_provider() -> tuple[TracerProvider, SpanTap]:
    tap = SpanTap()
    provider = TracerProvider()
    provider.add_span_processor(tap)
    return provider, tap


@pytest.fixture
def span_tap(_tap_provider: tuple[TracerProvider, SpanTap]) -> Iterator[SpanTap]:
    """agent-audit's spans of this test pass through the tap.

    The tap's provider is handed to ``instrumentation.configure``, not installed
    globally: a global provider would outlive the test and make every later
    ``configure()`` in this worker adopt it instead of exporting.
    """
    provider, tap = _tap_provider
    instrumentation.shutdown(0)
    instrumentation.configure(tracer_provider=provider, cancel_poll_s=None)
    try:
        yield tap
    finally:
        instrumentation.shutdown(0)


@pytest.fixture
def spans(span_tap: SpanTap) -> Iterator[InMemorySpanExporter]:
    """Every span ended during the test, in memory."""
    exporter = InMemorySpanExporter()
    span_tap.exporters.append(exporter)
    try:
        yield exporter
    finally:
        span_tap.exporters.remove(exporter)


@pytest.fixture
def to_collector(span_tap: SpanTap, collector: Any) -> Iterator[None]:
    """This test's spans also go to the real collector over OTLP/gRPC."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    span_tap.exporters.append(exporter)
    try:
        yield
    finally:
        span_tap.exporters.remove(exporter)
        exporter.shutdown()
