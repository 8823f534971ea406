"""Every DuckDB type a /sql query can return comes back as valid JSON, never a 500."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CollectorHandle, start_test_collector


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    path: Path = tmp_path_factory.mktemp("types") / "types.duckdb"
    collector = start_test_collector(path)
    try:
        yield collector
    finally:
        collector.stop()


def strict_json(response: httpx.Response) -> object:
    def refuse(name: str) -> object:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(response.text, parse_constant=refuse)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM test_all_types()",
        "SELECT INTERVAL 83 YEAR + INTERVAL 999 DAY + INTERVAL 1 MICROSECOND AS i",
        "SELECT 99999999999999999999999999999999999999::DECIMAL(38,0) AS d",
        "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, -0.0::DOUBLE AS z",
        "SELECT '\\x00\\xff'::BLOB AS b, 'goo\\u0000se' AS s",
        "SELECT MAP {[1, 2]: {'a': 'nan'::DOUBLE}} AS m",
        "SELECT ['inf'::DOUBLE, '-inf'::DOUBLE, 'nan'::FLOAT] AS l",
        "SELECT 'infinity'::DATE AS d, '-infinity'::TIMESTAMP AS t, '5881580-07-10'::DATE AS far",
        "SELECT [DATE 'infinity', NULL] AS dl, {'t': TIMESTAMP 'infinity'} AS ts",
        "SELECT union_value(k := 'nan'::DOUBLE) AS u, '101'::BIT AS bits",
    ],
)
def test_every_type_renders_as_valid_json(handle: CollectorHandle, query: str) -> None:
    response = httpx.post(handle.api_url + "/sql", json={"sql": query}, timeout=30)
    assert response.status_code == 200, response.text
    body = strict_json(response)
    assert isinstance(body, dict) and body["row_count"] >= 1


def test_special_values_keep_their_meaning(handle: CollectorHandle) -> None:
    response = httpx.post(
        handle.api_url + "/sql",
        json={
            "sql": "SELECT 'infinity'::DATE AS d, ['nan'::DOUBLE] AS l, "
            "12345678901234567890123456789012345678::DECIMAL(38,0) AS big"
        },
        timeout=30,
    )
    (row,) = strict_json(response)["rows"]  # type: ignore[index]
    assert row[0] == "infinity"
    assert row[1] == ["NaN"]
    assert row[2] == 12345678901234567890123456789012345678 or math.isclose(
        row[2], 1.2345678901234568e37
    )
