"""A throwaway PostgreSQL cluster (one per test session) and a fresh lake per test."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.pg_cluster import PG_BIN, PostgresCluster, postgres_available, start_postgres
from tests.support import require_or_skip

_databases = itertools.count(1)


@dataclass(frozen=True)
class Lake:
    """Where one test's lake lives: a catalog database and a data directory."""

    cluster: PostgresCluster
    dbname: str
    data_path: Path

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.cluster.port} dbname={self.dbname} user=postgres"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.cluster.port}/{self.dbname}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    require_or_skip(
        postgres_available() and shutil.which("runuser") is not None,
        f"PostgreSQL server binaries not found in {PG_BIN} (Debian package postgresql)",
    )
    cluster = start_postgres(dbname="postgres_fixture")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def lake(postgres: PostgresCluster, tmp_path: Path) -> Lake:
    """A new, empty catalog database in the session's cluster, and a data directory."""
    name = f"lake_{next(_databases)}"
    subprocess.run(
        [
            str(PG_BIN / "psql"),
            "-h",
            "127.0.0.1",
            "-p",
            str(postgres.port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            f"CREATE DATABASE {name}",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    data = tmp_path / "lake-data"
    data.mkdir()
    return Lake(cluster=postgres, dbname=name, data_path=data)
