"""/sql answers times and bit strings with their exact value, not Python's nearest.

Found from outside (a real collector): ``'12:34:56+05:30'::TIMETZ`` came back as
``"12:34:56"`` (the offset dropped), ``'24:00:00'::TIME`` and the largest
``TIME_NS`` as ``"00:00:00"``, ``TIME_NS`` and ``TIMESTAMP_NS`` cut to
microseconds, and ``'101010'::BIT`` as ``"base64:Auo="`` (DuckDB's internal bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path: Path = tmp_path_factory.mktemp("times") / "times.duckdb"
    collector = start_test_collector(path)
    try:
        yield collector
    finally:
        collector.stop()


def _row(handle: CollectorHandle, query: str) -> dict[str, Any]:
    response = post_sql(handle.api_url, query, timeout_s=30)
    assert response.status_code == 200, response.text
    body = response.json()
    return dict(zip(body["columns"], body["rows"][0], strict=True))


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("'12:34:56+05:30'::TIMETZ", "12:34:56+05:30"),
        ("'23:00:00-15:59'::TIMETZ", "23:00:00-15:59"),
        ("'24:00:00-15:59:59'::TIMETZ", "24:00:00-15:59:59"),
        ("'24:00:00'::TIME", "24:00:00"),
        ("'24:00:00'::TIME_NS", "24:00:00"),
        ("'12:34:56.123456789'::TIME_NS", "12:34:56.123456789"),
        ("'2020-01-01 00:00:00.123456789'::TIMESTAMP_NS", "2020-01-01T00:00:00.123456789Z"),
        ("'2262-04-11 23:47:16.854775806'::TIMESTAMP_NS", "2262-04-11T23:47:16.854775806Z"),
        ("'2020-01-01 00:00:00'::TIMESTAMP_NS", "2020-01-01T00:00:00.000000000Z"),
        ("'infinity'::TIMESTAMP_NS", "infinity"),
        ("'101010'::BIT", "101010"),
        ("'0'::BIT", "0"),
        ("NULL::TIMETZ", None),
        ("NULL::BIT", None),
    ],
)
def test_a_value_comes_back_exact(handle: CollectorHandle, literal: str, expected: Any) -> None:
    assert _row(handle, f"SELECT {literal} AS v")["v"] == expected


def test_nested_values_come_back_exact(handle: CollectorHandle) -> None:
    row = _row(
        handle,
        "SELECT ['12:34:56+05:30'::TIMETZ, NULL] AS l, {'t': '24:00:00'::TIME} AS s, "
        "MAP {'b': '0110'::BIT} AS m, ['2020-01-01 00:00:00.123456789'::TIMESTAMP_NS] AS n",
    )
    assert row["l"] == ["12:34:56+05:30", None]
    assert row["s"] == {"t": "24:00:00"}
    assert row["m"] == {"b": "0110"}
    assert row["n"] == ["2020-01-01 00:00:00.123456789"]


def test_other_times_keep_their_shape(handle: CollectorHandle) -> None:
    row = _row(
        handle,
        "SELECT TIMESTAMP '2020-01-01 12:00:00' AS t, "
        "TIMESTAMPTZ '2020-01-01 00:00:00+14' AS tz, "
        "['2020-01-01 00:00:00+14'::TIMESTAMPTZ] AS ltz, "
        "DATE '2020-01-01' AS d, TIME '12:00:00' AS tm",
    )
    assert row == {
        "t": "2020-01-01T12:00:00.000000Z",
        "tz": "2019-12-31T10:00:00.000000Z",
        "ltz": ["2019-12-31T10:00:00.000000Z"],
        "d": "2020-01-01",
        "tm": "12:00:00",
    }
