"""One call building a huge value (``repeat``, ``lpad``, ``rpad``) is refused at once with
the limit named, by the same worker, which answers the next query; smaller values and the
``repeat`` table function are as DuckDB makes them (collector/sql_string_sizes.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from collector.sql_sandbox import SqlSandbox
from collector.sql_string_sizes import MAX_BUILT_CHARS
from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path_factory.mktemp("sizes") / "audit.duckdb", sql_timeout_s=2.0
    )
    try:
        yield collector
    finally:
        collector.stop()


def _sandbox(handle: CollectorHandle) -> SqlSandbox:
    return handle.running.http_server.config.app.state.sql_sandbox  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "query",
    [
        "SELECT length(repeat('x', 2000000000))",
        "SELECT length(repeat('abcd', 20000000))",
        "SELECT len(repeat([1, 2, 3], 100000000))",
        "SELECT length(repeat(repeat('y', 1000), 1000000))",
        "SELECT length(lpad('x', 2000000000, 'y'))",
        "SELECT length(rpad('x', 2000000000, 'y'))",
        "SELECT length(repeat('x', range * 100000000)) FROM range(3)",
    ],
)
def test_a_huge_value_in_one_call_is_refused_at_once(handle: CollectorHandle, query: str) -> None:
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
    pid, restarts = _sandbox(handle).worker_pid, _sandbox(handle).restarts
    started = time.monotonic()
    answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=120)
    took = time.monotonic() - started
    assert answer.status_code == 400, answer.text
    assert f"at most {MAX_BUILT_CHARS:,} characters" in answer.json()["detail"]
    # A refusal, not the 2 s time limit plus the worker's grace (a hang check, not a timing).
    assert took < 30, took
    assert post_sql(handle.api_url, "SELECT 2").json()["rows"] == [[2]]
    assert (_sandbox(handle).worker_pid, _sandbox(handle).restarts) == (pid, restarts)


def test_values_under_the_bound_are_duckdb_s_own(handle: CollectorHandle) -> None:
    answer = post_sql(
        handle.api_url,
        "SELECT repeat('ab', 3), repeat([1, 2], 2), lpad('7', 3, '0'), rpad('a', 3, '.'), "
        "repeat(NULL, 3), repeat('x', -1), length(repeat('z', 1000000)), "
        "(SELECT count(*) FROM repeat('row', 5))",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [["ababab", [1, 2, 1, 2], "007", "a..", None, "", 1000000, 5]]
