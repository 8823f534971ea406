"""One call building a huge value (``repeat``, ``lpad``, ``rpad``, ``list_resize``,
``array_resize``, ``replace``, a width or precision in ``printf`` or ``format``) is
refused at once with the limit named, by the same worker, which answers the next query;
smaller values and the ``repeat`` table function are as DuckDB makes them
(collector/sql_string_sizes.py, collector/sql_format_widths.py). Before, each ran
until the worker's grace kill."""

from __future__ import annotations

import time
from collections.abc import Iterator

import duckdb
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
        "SELECT len(list_resize([1], 999999999))",
        "SELECT length(replace(repeat('a', 1000), 'a', repeat('b', 1000000)))",
        "SELECT length(replace(replace(repeat('a', 9000), 'a', repeat('b', 9000)), 'b', 'cc'))",
        "SELECT len(list_resize([1], 999999999, 0))",
        "SELECT len(array_resize([1], 999999999))",
        "SELECT length(printf('%999999999d', 1))",
        "SELECT length(printf('%-0999999999d', 1))",
        "SELECT length(printf('%.999999999f', 1.0))",
        "SELECT length(printf('%d %5.999999999s', 1, 'x'))",
        "SELECT length(printf('%%%999999999d', 1))",
        "SELECT length(printf('%99999999999999999999999d', 1))",
        "SELECT length(format('{:>999999999}', 'x'))",
        "SELECT length(format('{0:*^999999999}', 'x'))",
        "SELECT length(format('{:.999999999f}', 1.0))",
        "SELECT length(format('{{}} {:999999999}', 1))",
        "SELECT length(format(CAST('{:>999999999}' AS VARCHAR), 'x'))",
    ],
)
def test_a_huge_value_in_one_call_is_refused_at_once(handle: CollectorHandle, query: str) -> None:
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
    pid, restarts = _sandbox(handle).worker_pid, _sandbox(handle).restarts
    started = time.monotonic()
    answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=120)
    took = time.monotonic() - started
    assert answer.status_code == 400, answer.text
    assert f"{MAX_BUILT_CHARS:,} characters" in answer.json()["detail"], answer.text
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


@pytest.mark.parametrize(
    ("query", "refusal"),
    [
        ("SELECT printf('%*d', 999999999, 1)", "taken from an argument"),
        ("SELECT printf('%.*f', 999999999, 1.0)", "taken from an argument"),
        ("SELECT format('{:>{}}', 'x', 999999999)", "taken from an argument"),
        ("SELECT format('{:.{}f}', 1.0, 999999999)", "taken from an argument"),
        ("SELECT printf(name, 1) FROM spans", "format written out as a string literal"),
        ("SELECT format('{:' || '>999999999}', 'x')", "format written out as a string literal"),
    ],
)
def test_a_format_the_check_cannot_read_is_refused(
    handle: CollectorHandle, query: str, refusal: str
) -> None:
    answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=60)
    assert answer.status_code == 400, answer.text
    assert refusal in answer.json()["detail"], answer.text


def test_formats_under_the_bound_are_duckdb_s_own(handle: CollectorHandle) -> None:
    query = (
        "SELECT printf('%5d|%-4s|%.2f|%%|%05.1f', 42, 'ab', 3.14159, 2.5), "
        "format('{:>6}|{:<3}|{:.3f}|{{}}|{:0>4}', 'x', 'yz', 2.0, 7), format('{1}{0}', 'a', 'b'), "
        "length(printf('%100000d', 1)), length(format('{:>100000}', 'q')), "
        "len(list_resize([1, 2], 4)), list_resize([1], 3, 9), array_resize([1], 2), "
        "replace('abcb', 'b', 'xx'), replace('aXa', 'X', ''), replace('aaa', '', 'z'), "
        "replace(NULL, 'a', 'b'), length(replace(repeat('a', 100000), 'a', 'bb'))"
    )
    answer = post_sql(handle.api_url, query)
    assert answer.status_code == 200, answer.text
    own = duckdb.connect().execute(query).fetchall()
    assert answer.json()["rows"] == [list(own[0])]
    assert answer.json()["rows"][0][:5] == [
        "   42|ab  |3.14|%|002.5",
        "     x|yz |2.000|{}|0007",
        "ba",
        100000,
        100000,
    ]
