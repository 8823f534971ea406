"""Every DuckDB type a /sql query can return comes back as valid JSON, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql


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
    response = post_sql(handle.api_url, query, timeout_s=30)
    assert response.status_code == 200, response.text
    body = strict_json(response)
    assert isinstance(body, dict) and body["row_count"] >= 1


def test_special_values_keep_their_meaning(handle: CollectorHandle) -> None:
    response = post_sql(
        handle.api_url,
        "SELECT 'infinity'::DATE AS d, ['nan'::DOUBLE] AS l, "
        "12345678901234567890123456789012345678::DECIMAL(38,0) AS big",
        timeout_s=30,
    )
    (row,) = strict_json(response)["rows"]  # type: ignore[index]
    assert row[0] == "infinity"
    assert row[1] == ["NaN"]
    assert row[2] == 12345678901234567890123456789012345678


EXACT = [
    # (expression, the JSON value it must come back as)
    ("170141183460469231731687303715884105727::HUGEINT", 170141183460469231731687303715884105727),
    ("-170141183460469231731687303715884105727::HUGEINT - 1", -(2**127)),
    ("340282366920938463463374607431768211455::UHUGEINT", 2**128 - 1),
    ("9007199254740993::HUGEINT", 2**53 + 1),
    ("'99999999999999999999999999999999999999'::DECIMAL(38,0)", 10**38 - 1),
    (
        "'-1234567890123456789012345678.0123456789'::DECIMAL(38,10)",
        "-1234567890123456789012345678.0123456789",
    ),
    ("'0.30000000000000000001'::DECIMAL(38,20)", "0.30000000000000000001"),
    ("'0.1'::DECIMAL(38,10)", 0.1),
    ("'-2.50'::DECIMAL(5,2)", -2.5),
    ("[2**100::HUGEINT, NULL]", [2**100, None]),
    (
        "{'x': '0.30000000000000000001'::DECIMAL(38,20), 'n': 'nan'::DOUBLE}",
        {"x": "0.30000000000000000001", "n": "NaN"},
    ),
    ("NULL::UHUGEINT", None),
]


@pytest.mark.parametrize(("expression", "expected"), EXACT, ids=[e for e, _ in EXACT])
def test_wide_numbers_come_back_exact(
    handle: CollectorHandle, expression: str, expected: object
) -> None:
    # Integers of any size are exact JSON integers; a fraction a double cannot
    # hold exactly is a string of its digits. Also after an ORDER BY and with
    # duplicate column names around it.
    response = post_sql(
        handle.api_url,
        f"SELECT 1 AS a, {expression} AS v, 2 AS a FROM range(2) ORDER BY 1",
        timeout_s=30,
    )
    assert response.status_code == 200, response.text
    body = strict_json(response)
    assert body["rows"] == [[1, expected, 2]] * 2  # type: ignore[index]


def test_every_refusal_names_the_statement_sent(handle: CollectorHandle) -> None:
    for sent in ("ANALYZE", "analyze agent_runs", "CHECKPOINT", "INSTALL httpfs", "USE memory"):
        response = post_sql(handle.api_url, sent, timeout_s=30)
        assert response.status_code == 400, response.text
        detail = response.json()["detail"]
        assert detail.startswith(f"{sent.split()[0].upper()} statements are not allowed"), detail
