"""POST /sql against a real collector: results, refusals, limits, and nothing changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.api.conftest import Agents, RunSpec, ToolCall
from tests.conftest import CollectorHandle, start_test_collector


def test_the_store_opens_duckdb_without_external_access(collector: CollectorHandle) -> None:
    # /sql relies on it: the parser check is not the only wall (see collector/sql_guard.py).
    rows = collector.query("SELECT current_setting('enable_external_access')")
    assert rows == [(False,)]


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path / "limits.duckdb", sql_timeout_s=1.0, sql_max_rows=50)
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def sql_agents(module_agents: Agents) -> Agents:
    module_agents.send(
        [
            RunSpec("one", tools=(ToolCall("docker_ps"), ToolCall("df", error="denied"))),
            RunSpec("two", status="failed", tools=(ToolCall("df", error="denied again"),)),
            RunSpec("three", tools=(ToolCall("docker_ps"),)),
        ]
    )
    return module_agents


def sql(client: httpx.Client, query: str, **extra: Any) -> httpx.Response:
    return client.post("/sql", json={"sql": query, **extra})


def snapshot(handle: CollectorHandle) -> list[Any]:
    return [
        handle.query(f"SELECT count(*), hash(list(t ORDER BY ALL)) FROM {table} t")
        for table in ("agent_runs", "agent_steps", "spans", "cancel_requests")
    ] + [handle.query("SELECT count(*) FROM duckdb_tables()"), handle.query("PRAGMA database_list")]


def test_select_returns_columns_types_rows(sql_agents: Agents) -> None:
    response = sql(
        sql_agents.api,
        "SELECT tool_name, count(*) FILTER (WHERE status = 'error') AS errors, count(*) AS calls "
        "FROM agent_steps WHERE tool_name IS NOT NULL GROUP BY 1 ORDER BY errors DESC, 1",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["columns"] == ["tool_name", "errors", "calls"]
    assert body["types"] == ["VARCHAR", "BIGINT", "BIGINT"]
    assert body["rows"] == [["df", 2, 2], ["docker_ps", 0, 2]]
    assert body["row_count"] == 2 and body["truncated"] is False
    assert body["elapsed_ms"] >= 0


@pytest.mark.parametrize(
    "query",
    [
        "WITH f AS (SELECT * FROM agent_runs WHERE status = 'failed') SELECT count(*) FROM f",
        "DESCRIBE agent_runs",
        "SHOW TABLES",
        "SUMMARIZE agent_steps",
        "EXPLAIN SELECT * FROM agent_runs",
        "EXPLAIN ANALYZE SELECT count(*) FROM agent_steps",
        "FROM agent_runs SELECT task, started_at, metadata LIMIT 1",
        "SELECT now() AS t, INTERVAL 1 DAY AS i, 1.5::DECIMAL(4,2) AS d, 'x'::BLOB AS b, "
        "[1, 2] AS l, {'a': 1} AS s, 'nan'::DOUBLE AS n, 12345678901234567890::HUGEINT AS h",
    ],
)
def test_read_only_forms_are_allowed(sql_agents: Agents, query: str) -> None:
    response = sql(sql_agents.api, query)
    assert response.status_code == 200, response.text
    assert response.json()["row_count"] >= 1


def test_values_become_json(sql_agents: Agents) -> None:
    body = sql(
        sql_agents.api,
        "SELECT TIMESTAMP '2025-01-31 12:00:00' AS t, TIMESTAMPTZ '2025-01-31 14:00:00+02' AS tz, "
        "'nan'::DOUBLE AS n, 'ab'::BLOB AS b, 1.25::DECIMAL(4,2) AS d, [1, 2] AS l",
    ).json()
    assert body["rows"] == [
        [
            "2025-01-31T12:00:00.000000Z",
            "2025-01-31T12:00:00.000000Z",
            "NaN",
            "base64:YWI=",
            1.25,
            [1, 2],
        ]
    ]


REFUSED = [
    ("INSERT INTO agent_runs (id, status, updated_at) VALUES ('x', 'running', now())", "INSERT"),
    ("DELETE FROM agent_runs", "DELETE"),
    ("UPDATE agent_runs SET status = 'completed'", "UPDATE"),
    ("DROP TABLE agent_steps", "DROP"),
    ("CREATE TABLE evil AS SELECT 1", "CREATE"),
    ("ATTACH '/tmp/evil.duckdb' AS evil", "ATTACH"),
    ("COPY agent_runs TO '/tmp/agent-audit-leak.csv'", "COPY"),
    ("EXPORT DATABASE '/tmp/agent-audit-leak'", "EXPORT"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM '/etc/passwd'", "file"),
    ("SELECT * FROM glob('/etc/*')", "glob"),
    ("INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("PRAGMA database_list", "PRAGMA"),
    ("SET threads = 1", "SET"),
    ("CALL checkpoint()", "CALL"),
    ("SELECT * FROM checkpoint()", "checkpoint"),
    ("SELECT 1; SELECT 2", "one statement"),
    ("SELECT 1; DELETE FROM agent_runs", "one statement"),
    ("WITH gone AS (DELETE FROM agent_runs RETURNING *) SELECT count(*) FROM gone", "DELETE"),
    ("EXPLAIN ANALYZE DELETE FROM agent_steps", "EXPLAIN"),
    ("SELECT * FROM query('DELETE FROM agent_runs')", "query"),
    ("BEGIN TRANSACTION", "BEGIN"),
    ("SELEC 1", "parse"),
    ("", "empty"),
]


def test_refused_statements_change_nothing(sql_agents: Agents) -> None:
    before = snapshot(sql_agents.collector)
    for query, reason in REFUSED:
        response = sql(sql_agents.api, query)
        assert response.status_code == 400, (query, response.text)
        assert reason.lower() in response.json()["detail"].lower(), (query, response.json())
    assert snapshot(sql_agents.collector) == before
    assert not Path("/tmp/agent-audit-leak.csv").exists()
    assert not Path("/tmp/evil.duckdb").exists()
    # Ingest still works afterwards.
    (later,) = sql_agents.send([RunSpec("after the attempts")])
    assert sql_agents.get(f"/agent/runs/{later}")["status"] == "completed"


def test_external_access_is_off_even_past_the_parser_check(sql_agents: Agents) -> None:
    # A reader the name check does not know: DuckDB itself must refuse the file.
    response = sql(sql_agents.api, "SELECT * FROM parquet_scan('/etc/passwd')")
    assert response.status_code == 400
    cursor_level = sql_agents.collector.query("SELECT current_setting('enable_external_access')")
    assert cursor_level == [(False,)]


def test_row_cap_and_truncated_flag(small_limits: CollectorHandle) -> None:
    with httpx.Client(base_url=small_limits.api_url) as client:
        capped = sql(client, "SELECT * FROM range(1000000000)").json()
        assert capped["row_count"] == 50 and capped["truncated"] is True
        assert capped["rows"][:3] == [[0], [1], [2]]
        smaller = sql(client, "SELECT * FROM range(100)", max_rows=10).json()
        assert smaller["row_count"] == 10 and smaller["truncated"] is True
        larger = sql(client, "SELECT * FROM range(100)", max_rows=5000).json()
        assert larger["row_count"] == 50, "a request cannot raise the server's cap"
        exact = sql(client, "SELECT * FROM range(50)").json()
        assert exact["row_count"] == 50 and exact["truncated"] is False


def test_runaway_query_is_interrupted_and_harms_nothing(small_limits: CollectorHandle) -> None:
    before = snapshot(small_limits)
    with httpx.Client(base_url=small_limits.api_url, timeout=30) as client:
        started = time.monotonic()
        response = sql(
            client,
            "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b",
        )
        elapsed = time.monotonic() - started
        assert response.status_code == 400, response.text
        assert "time limit" in response.json()["detail"]
        assert elapsed < 8, f"the 1 s limit took {elapsed:.1f} s to act"
        assert sql(client, "SELECT 42").json()["rows"] == [[42]]
        assert client.get("/agent/runs").status_code == 200
    assert snapshot(small_limits) == before


def test_concurrent_queries_beyond_the_limit_get_429(small_limits: CollectorHandle) -> None:
    slow = "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b"
    answers: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=small_limits.api_url, timeout=30) as client:
            answers.append(sql(client, slow).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(answers) == [400, 400, 429, 429], answers


def test_malformed_body(sql_agents: Agents) -> None:
    assert sql_agents.api.post("/sql", json={"query": "SELECT 1"}).status_code in (400, 422)
    assert sql_agents.api.post("/sql", json={"sql": "SELECT 1", "max_rows": 0}).status_code in (
        400,
        422,
    )
