"""Shared fixtures: a real collector on free loopback ports with a DuckDB file in tmp_path."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.server import RunningCollector, start_collector
from collector.settings import Settings
from tests import otel_state
from tests.stale_copies import remove_stale_copies


class CollectorHandle:
    """A running in-process collector plus what tests need to reach it."""

    def __init__(self, running: RunningCollector, db_path: Path) -> None:
        self.running = running
        self.store = running.store
        self.db_path = db_path
        self.grpc_port = running.grpc_port
        self.http_port = running.http_port
        self.grpc_endpoint = f"http://127.0.0.1:{running.grpc_port}"
        self.http_endpoint = f"http://127.0.0.1:{running.http_port}"
        self.api_url = self.http_endpoint

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Read through the collector's own store (the file is locked while it runs)."""
        return self.store.read(lambda cur: cur.execute(sql, params or []).fetchall())

    def stop(self) -> None:
        self.running.stop()


# The /sql copies of this test process's collectors, one workspace per store. In the
# machine-wide default folder, every collector's start reads every copy kept there (one per
# store of every run) to sweep the stale ones.
_SQL_COPIES_PREFIX = "agent-audit-sql-tests"
_SQL_COPIES = Path(tempfile.gettempdir()) / f"{_SQL_COPIES_PREFIX}.{os.getpid()}"


def sql_copies_of(db_path: Path) -> Path:
    """The ``/sql`` workspace of a test collector of ``db_path`` (the same after a restart)."""
    return _SQL_COPIES / hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]


@pytest.fixture(scope="session", autouse=True)
def _sql_copies_removed() -> Iterator[None]:
    # Those of earlier runs killed before their end too (tests/stale_copies.py).
    remove_stale_copies(_SQL_COPIES.parent, _SQL_COPIES_PREFIX)
    yield
    shutil.rmtree(_SQL_COPIES, ignore_errors=True)


# The state every test should find: none of this process's spans current, no global provider
# beyond what the session began with.
_CLEAN_OTEL_STATE = otel_state.snapshot()


@pytest.fixture(autouse=True)
def _opentelemetry_state_kept() -> Iterator[None]:
    """Fail a test that leaves a span current or a provider of its own installed globally.

    A span left current became the parent of every later span of the process: later tests
    shared its trace id. Found at setup, the change came from a fixture of a wider scope
    (or a test before it); found at teardown, from this test or its own fixtures. Either
    way the state is put back so that the tests after it start clean (tests/otel_state.py
    says why the provider ``instrumentation.configure()`` installs is put back unreported).
    """
    found = otel_state.snapshot()
    if otel_state.holds_a_shut_down_configuration(found):
        otel_state.restore(_CLEAN_OTEL_STATE)  # a wider fixture's configure(), ended since
        found = otel_state.snapshot()
    inherited = otel_state.describe_change(_CLEAN_OTEL_STATE, found)
    if inherited:
        otel_state.restore(_CLEAN_OTEL_STATE)
        pytest.fail("before this test (a wider fixture's doing): " + "; ".join(inherited))
    yield
    now = otel_state.snapshot()
    if now == found:
        return
    otel_state.restore(found)
    left = otel_state.describe_change(found, now)
    if left:
        pytest.fail("this test left: " + "; ".join(left))


def start_test_collector(db_path: Path, **overrides: Any) -> CollectorHandle:
    """A collector on free ports; overrides are Settings fields."""
    if str(db_path) != ":memory:":
        overrides.setdefault("sql_copy_dir", sql_copies_of(db_path))
    settings = Settings(db_path=db_path, grpc_port=0, http_port=0, **overrides)
    return CollectorHandle(start_collector(settings), db_path)


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def module_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    """One collector for a whole test module; its tests tell their data apart by trace id."""
    handle = start_test_collector(tmp_path_factory.mktemp("module") / "audit.duckdb")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep ``--dist loadgroup`` grouping under pytest 9.

    pytest-xdist (3.8) tells its scheduler a test's ``xdist_group`` by appending
    ``@<group>`` to the test's node id, which it writes to ``item._nodeid``; pytest 9
    reads the id from ``item._id`` instead, so every group was scattered over the
    workers. This copies the grouped id where pytest 9 reads it.
    """
    if not config.getoption("loadgroup", default=False):
        return
    for item in items:
        grouped = getattr(item, "_nodeid", None)
        if isinstance(grouped, str) and grouped != item.nodeid and "@" in grouped:
            # Only pytest 9 gets here (before it, _nodeid is the node id).
            from _pytest.nodeid import NodeId

            item._id = NodeId.parse(grouped)  # type: ignore[attr-defined]
