"""``agent-audit up``: the collector and the dashboard together, stopped together.

The collector runs as ``python -m collector.cli collector ...``; once its
``/healthz`` answers, the dashboard starts against it. Ctrl-C or SIGTERM stops
the dashboard, then the collector (which commits what is in flight). If either
one exits by itself, the other is stopped and ``up`` exits non-zero.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

import httpx

from dashboard.cli import dashboard_env, streamlit_command
from dashboard.processes import Supervisor
from instrumentation import env as E

__all__ = ["add_arguments", "run"]

READY_TIMEOUT_S = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``agent-audit up``; the collector's defaults come from its AGENT_AUDIT_* vars."""
    parser.add_argument(
        "--db", type=Path, help=f"DuckDB file (default: ${E.DB.name} or ./{E.DB.default})"
    )
    parser.add_argument(
        "--host", help=f"address both servers bind (default: ${E.HOST.name} or {E.HOST.default})"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        help=f"OTLP/gRPC port (default: ${E.GRPC_PORT.name} or {E.GRPC_PORT.default})",
    )
    parser.add_argument(
        "--http-port",
        type=int,
        help=f"OTLP/HTTP and REST API port (default: ${E.HTTP_PORT.name} or {E.HTTP_PORT.default})",
    )
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")


def _chosen(flag: int | None, variable: E.Variable) -> int:
    # The flag wins, then the collector's own variable (read by the collector's rule).
    if flag is not None:
        return flag
    return int(variable.read())


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


def _wait_until_healthy(supervisor: Supervisor, api_url: str) -> bool:
    headers = {}
    token = E.TOKEN.read()
    if token:
        headers["Authorization"] = f"Bearer {token}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    with httpx.Client(timeout=2.0, headers=headers) as http:
        while time.monotonic() < deadline and not supervisor.stop_requested:
            if supervisor.exited() is not None:
                return False
            try:
                if http.get(f"{api_url}/healthz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
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
        grpc_port = _port(_chosen(args.grpc_port, E.GRPC_PORT))
        http_port = _port(_chosen(args.http_port, E.HTTP_PORT))
    except E.EnvError as exc:
        print(f"agent-audit up: {exc}", file=sys.stderr)
        return 2
    host = args.host or E.HOST.read()
    api_url = f"http://{_connect_host(host)}:{http_port}"
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    env = dashboard_env(api_url)  # also puts this package on PYTHONPATH for the collector
    supervisor.start("collector", collector_command(args, host, grpc_port, http_port), env=env)
    if not _wait_until_healthy(supervisor, api_url):
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
    supervisor.start("dashboard", streamlit_command(host, args.port), env=env)
    print(
        f"agent-audit up: dashboard http://{host}:{args.port} · REST API and OTLP/HTTP "
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
