"""``agent-audit up``: the collector and the dashboard together, stopped together.

Every port is checked first: one in use stops ``up`` with one line naming the
port, the process holding it (when /proc shows it) and how to choose another.
The collector runs as ``python -m collector.cli collector ...`` with a fresh
instance id; once ``/healthz`` answers with that id (not some other collector
on the same port), the dashboard starts against it. Ctrl-C or SIGTERM stops
the dashboard, then the collector (which commits what is in flight). If either
one exits by itself, the other is stopped and ``up`` exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from dashboard.cli import dashboard_env, streamlit_command
from dashboard.processes import Supervisor
from instrumentation import env as E
from instrumentation.ports import port_holder, port_in_use

__all__ = ["add_arguments", "collector_is_ours", "run"]

READY_TIMEOUT_S = 60.0
OFFSET_ENV = E.PORT_OFFSET.name
DASHBOARD_PORT_ENV = E.DASHBOARD_PORT.name


@dataclass(frozen=True)
class PortChoice:
    """One port ``up`` listens on, and how a user picks another."""

    role: str
    port: int
    flag: str
    env: str


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``agent-audit up``; the collector's defaults come from its AGENT_AUDIT_* vars."""
    parser.add_argument(
        "--db", type=Path, help="DuckDB file (default: $AGENT_AUDIT_DB or ./agent_audit.duckdb)"
    )
    parser.add_argument(
        "--host", help="address both servers bind (default: $AGENT_AUDIT_HOST or 127.0.0.1)"
    )
    parser.add_argument(
        "--grpc-port", type=int, help="OTLP/gRPC port (default: $AGENT_AUDIT_GRPC_PORT or 4317)"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        help="OTLP/HTTP and REST API port (default: $AGENT_AUDIT_HTTP_PORT or 4318)",
    )
    parser.add_argument(
        "--port", type=int, help=f"dashboard port (default: ${DASHBOARD_PORT_ENV} or 8501)"
    )
    parser.add_argument(
        "--port-offset",
        type=int,
        metavar="N",
        help=f"add N to every default port: 4317+N, 4318+N, 8501+N (default: ${OFFSET_ENV} or 0)",
    )


def _chosen(flag: int | None, variable: E.Variable, offset: int) -> int:
    # The flag wins, then the variable, then its default moved by the offset.
    if flag is not None:
        return flag
    if (os.environ.get(variable.name) or "").strip():
        return int(variable.read())
    return int(variable.default) + offset


def choose_ports(args: argparse.Namespace) -> list[PortChoice]:
    """The gRPC, HTTP and dashboard ports for these flags and the environment."""
    offset = args.port_offset if args.port_offset is not None else int(E.PORT_OFFSET.read())
    choices = [
        PortChoice("OTLP/gRPC", _chosen(args.grpc_port, E.GRPC_PORT, offset),
                   "--grpc-port", E.GRPC_PORT.name),
        PortChoice("REST API and OTLP/HTTP", _chosen(args.http_port, E.HTTP_PORT, offset),
                   "--http-port", E.HTTP_PORT.name),
        PortChoice("dashboard", _chosen(args.port, E.DASHBOARD_PORT, offset),
                   "--port", E.DASHBOARD_PORT.name),
    ]  # fmt: skip
    for choice in choices:
        if not 0 <= choice.port <= 65535:
            raise ValueError(f"{choice.role} port {choice.port} is not between 0 and 65535")
    return choices


def port_conflict(host: str, choices: list[PortChoice]) -> str | None:
    """One line about the first port already in use, or None when all are free."""
    for choice in choices:
        if choice.port == 0 or not port_in_use(host, choice.port):
            continue
        holder = port_holder(choice.port)
        by = f" by {holder.describe()}" if holder else ""
        return (
            f"port {choice.port} ({choice.role}) on {host} is in use{by}; choose another with "
            f"{choice.flag} PORT or {choice.env}=PORT, or move every port with "
            f"--port-offset N ({OFFSET_ENV}=N)"
        )
    return None


def _port(requested: int) -> int:
    # 0 means "any free port"; the dashboard must know the API's port before it starts.
    if requested:
        return requested
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _connect_host(bind_host: str) -> str:
    # Where to reach a server bound to ``bind_host``, as the host part of a URL.
    if bind_host in {"0.0.0.0", "::", ""}:  # noqa: S104 (compared, not bound)
        return "127.0.0.1"
    return f"[{bind_host}]" if ":" in bind_host else bind_host


def collector_is_ours(http: httpx.Client, api_url: str, instance_id: str) -> bool:
    """True when ``/healthz`` at ``api_url`` answers with our collector's instance id."""
    try:
        response = http.get(f"{api_url}/healthz")
    except httpx.TransportError:
        return False
    if response.status_code != 200:
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("instance_id") == instance_id


def _wait_until_healthy(supervisor: Supervisor, api_url: str, instance_id: str) -> bool:
    headers = {}
    token = E.TOKEN.read()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0, headers=headers) as http:
        while time.monotonic() < deadline and not supervisor.stop_requested:
            if supervisor.exited() is not None:
                return False
            if collector_is_ours(http, api_url, instance_id):
                return True
            time.sleep(0.2)  # start-up poll interval
    return False


def collector_command(
    args: argparse.Namespace, host: str, grpc_port: int, http_port: int
) -> list[str]:
    """The collector's command line for these flags."""
    command = [sys.executable, "-m", "collector.cli", "collector", "--host", host]
    command += ["--grpc-port", str(grpc_port), "--http-port", str(http_port)]
    if args.db is not None:
        command += ["--db", str(args.db)]
    return command


def run(args: argparse.Namespace) -> int:
    """Start both, print where they are, wait for Ctrl-C or a child's exit."""
    try:
        choices = choose_ports(args)
    except (ValueError, E.EnvError) as exc:
        print(f"agent-audit up: {exc}", file=sys.stderr)
        return 2
    host = args.host or E.HOST.read()
    try:
        conflict = port_conflict(host, choices)
    except OSError as exc:  # not "in use": a host this machine does not have, ...
        print(f"agent-audit up: cannot listen on {host}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if conflict is not None:
        print(f"agent-audit up: {conflict}", file=sys.stderr)
        return 1
    grpc_port, http_port, dashboard_port = (_port(choice.port) for choice in choices)
    api_url = f"http://{_connect_host(host)}:{http_port}"
    instance_id = uuid.uuid4().hex
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    env = dashboard_env(api_url)  # also puts this package on PYTHONPATH for the collector
    collector_env = env | {E.INSTANCE_ID.name: instance_id}
    command = collector_command(args, host, grpc_port, http_port)
    supervisor.start("collector", command, env=collector_env)
    if not _wait_until_healthy(supervisor, api_url, instance_id):
        stopped_by_user = supervisor.stop_requested
        codes = supervisor.stop_all()
        if stopped_by_user:
            return 0
        print(
            f"agent-audit up: the collector did not become healthy at {api_url} "
            f"(exit code {codes.get('collector')}); see its messages above.",
            file=sys.stderr,
        )
        return 1
    supervisor.start("dashboard", streamlit_command(host, dashboard_port), env=env)
    print(
        f"agent-audit up: dashboard http://{host}:{dashboard_port} · REST API and OTLP/HTTP "
        f"{api_url} · OTLP/gRPC {_connect_host(host)}:{grpc_port} · Ctrl-C stops both",
        flush=True,
    )
    ended = supervisor.wait()
    codes = supervisor.stop_all()
    if ended is None:
        return 0
    print(
        f"agent-audit up: {ended.name} exited with code {ended.code}; stopped the rest "
        f"({', '.join(f'{n}={c}' for n, c in codes.items())}).",
        file=sys.stderr,
    )
    return ended.code or 1
