"""A throwaway PostgreSQL cluster on a free loopback port (tests and benchmarks).

Uses Debian's server binaries (``initdb``, ``pg_ctl``). PostgreSQL refuses to run
as root, so as root the cluster runs as ``nobody`` in a directory it owns.
Authentication is ``trust`` on 127.0.0.1 only: a scratch catalog, never a real one.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PG_BIN", "PostgresCluster", "postgres_available", "start_postgres"]

PG_BIN = Path(os.environ.get("AGENT_AUDIT_PG_BIN", "/usr/lib/postgresql/15/bin"))


def postgres_available() -> bool:
    """True when initdb and pg_ctl are installed."""
    return (PG_BIN / "initdb").exists() and (PG_BIN / "pg_ctl").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class PostgresCluster:
    """A running cluster; ``dsn`` is libpq's key=value form that DuckLake accepts."""

    root: Path
    port: int
    dbname: str = "lake"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname={self.dbname} user=postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its files."""
        subprocess.run(
            _as_owner([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "stop"]),
            capture_output=True,
            check=False,
            timeout=60,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres(*, dbname: str = "lake", max_connections: int = 100) -> PostgresCluster:
    """initdb + pg_ctl start on a free 127.0.0.1 port; returns once it accepts connections."""
    root = Path(tempfile.mkdtemp(prefix="agent-audit-pg-"))
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data, "nobody", "nogroup")
    subprocess.run(
        _as_owner(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ]
        ),
        capture_output=True,
        check=True,
        timeout=120,
    )
    port = _free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
        f"-c max_connections={max_connections} -c shared_buffers=64MB"
    )
    log = root / "server.log"
    if os.geteuid() == 0:
        log.touch()
        shutil.chown(log, "nobody", "nogroup")
    subprocess.run(
        _as_owner(
            [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]
        ),
        capture_output=True,
        check=True,
        timeout=120,
    )
    cluster = PostgresCluster(root=root, port=port, dbname=dbname)
    _create_database(cluster)
    return cluster


def _create_database(cluster: PostgresCluster) -> None:
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(cluster.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                f"CREATE DATABASE {cluster.dbname}",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"cannot create database {cluster.dbname}: {done.stderr}")
        time.sleep(0.1)  # the server is still starting; pg_ctl -w has already waited
