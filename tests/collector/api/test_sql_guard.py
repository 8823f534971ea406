"""The read-only SQL check and runner on their own, over a real DuckDB file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from collector.query_sql import SqlFailed, SqlTimeout, external_access_enabled, run_read_only
from collector.schema import migrate
from collector.sql_guard import SqlRefused, check_read_only

ALLOWED = [
    ("SELECT 1", "SELECT"),
    ("select 1;", "SELECT"),
    ("WITH a AS (SELECT 1 AS x) SELECT x FROM a", "SELECT"),
    (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) FROM r",
        "SELECT",
    ),
    ("FROM agent_runs", "SELECT"),
    ("DESCRIBE agent_runs", "SELECT"),
    ("SHOW TABLES", "SELECT"),
    ("SUMMARIZE agent_steps", "SELECT"),
    ("EXPLAIN SELECT 1", "EXPLAIN"),
    ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN"),
    ("EXPLAIN (FORMAT json) SELECT 1", "EXPLAIN"),
    ("SELECT 'DELETE FROM agent_runs; read_csv(''/etc/passwd'')' AS text", "SELECT"),
    ("SELECT * FROM agent_runs WHERE task LIKE '%; DROP TABLE x; --%'", "SELECT"),
    ("SELECT * FROM main.agent_runs -- DELETE", "SELECT"),
]

REFUSED = [
    ("INSERT INTO t VALUES (1)", "INSERT statements are not allowed"),
    ("DELETE FROM t", "DELETE statements"),
    ("DROP TABLE t", "DROP statements"),
    ("ATTACH 'x.db'", "ATTACH statements"),
    ("DETACH x", "DETACH statements"),
    ("COPY t TO 'x.csv'", "COPY statements"),
    ("COPY (SELECT 1) TO 'x.csv'", "COPY statements"),
    ("INSTALL httpfs", "INSTALL statements"),
    ("LOAD httpfs", "LOAD statements"),
    ("PRAGMA database_list", "PRAGMA statements"),
    ("SET threads = 1", "SET statements"),
    ("RESET threads", "RESET statements"),
    ("USE memory", "USE statements"),
    ("CALL pragma_version()", "CALL statements"),
    ("CHECKPOINT", "CHECKPOINT statements"),
    ("VACUUM", "VACUUM statements"),
    ("ANALYZE", "ANALYZE statements"),
    ("analyse agent_runs", "ANALYSE statements"),
    ("FORCE CHECKPOINT", "FORCE statements"),
    ("COMMENT ON TABLE agent_runs IS 'x'", "COMMENT statements"),
    ("CREATE SECRET (TYPE s3)", "CREATE statements"),
    ("PIVOT agent_runs ON status", "PIVOT statements are not allowed (DuckDB runs"),
    ("PREPARE p AS SELECT 1", "PREPARE statements"),
    ("UPDATE EXTENSIONS", "UPDATE statements"),
    ("SELECT 1; SELECT 2", "exactly one statement is allowed, got 2"),
    (";", "exactly one statement is allowed, got 0"),
    ("   ", "empty query"),
    ("SELEC 1", "could not parse"),
    ("SELECT $1", "parameters"),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() reads files"),
    ("SELECT * FROM read_csv_auto('x')", "read_csv_auto() reads files"),
    ("SELECT * FROM read_parquet('x')", "read_parquet() reads files"),
    ("SELECT * FROM parquet_metadata('x')", "parquet_metadata() reads files"),
    ("SELECT * FROM glob('*')", "glob() reads files"),
    ("SELECT * FROM sqlite_scan('x', 't')", "sqlite_scan() reads files"),
    ("SELECT 1 WHERE 1 IN (SELECT 1 FROM read_text('/etc/passwd'))", "read_text() reads files"),
    ("SELECT * FROM '/etc/passwd'", "looks like a file"),
    ("SELECT * FROM 'https://example.com/x.csv'", "looks like a file"),
    ("SELECT * FROM query('SELECT 1')", "query() runs SQL text"),
    ("SELECT * FROM checkpoint()", "checkpoint() changes or reveals settings"),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets() reveals secrets"),
    ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "DELETE inside a query"),
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", "INSERT inside"),
    ("WITH x AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM x", "UPDATE inside"),
    ("EXPLAIN DELETE FROM t", "EXPLAIN is allowed only for SELECT"),
    ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN is allowed only for SELECT"),
    ("EXPLAIN ANALYZE (FORMAT json) INSERT INTO t VALUES (1)", "only for SELECT"),
    ("EXPLAIN ANALYZE SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
]


@pytest.mark.parametrize(("query", "kind"), ALLOWED)
def test_allowed(query: str, kind: str) -> None:
    assert check_read_only(query).statement_type == kind


@pytest.mark.parametrize(("query", "reason"), REFUSED)
def test_refused_with_a_reason(query: str, reason: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        check_read_only(query)
    assert reason in refused.value.reason


@pytest.fixture
def locked_db(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(tmp_path / "g.duckdb"), config={"enable_external_access": False})
    migrate(con)
    con.execute(
        "INSERT INTO agent_runs (id, status, updated_at) VALUES ('r1', 'running', now()::TIMESTAMP)"
    )
    yield con
    con.close()


def test_the_read_only_transaction_stops_writes_the_check_would_miss(
    locked_db: duckdb.DuckDBPyConnection,
) -> None:
    # Bypass the parser check on purpose: the second wall must hold on its own.
    from collector.sql_guard import CheckedSql

    # (DuckDB 1.5 no longer parses a DELETE inside a CTE, so a bare DELETE stands in.)
    sneaky = CheckedSql("DELETE FROM agent_runs", "SELECT")
    with pytest.raises(SqlFailed, match="read-only"):
        run_read_only(locked_db.cursor(), sneaky, max_rows=10, timeout_s=5)
    assert locked_db.execute("SELECT count(*) FROM agent_runs").fetchone() == (1,)


def test_disabled_external_access_stops_file_reads_the_check_would_miss(
    locked_db: duckdb.DuckDBPyConnection,
) -> None:
    from collector.sql_guard import CheckedSql

    assert not external_access_enabled(locked_db.cursor())
    sneaky = CheckedSql("SELECT * FROM read_csv('/etc/passwd')", "SELECT")
    with pytest.raises(SqlFailed, match="disabled by configuration"):
        run_read_only(locked_db.cursor(), sneaky, max_rows=10, timeout_s=5)


def test_time_limit_interrupts(locked_db: duckdb.DuckDBPyConnection) -> None:
    cursor = locked_db.cursor()
    runaway = check_read_only("SELECT count(*) FROM range(1000000000) a, range(1000000000) b")
    with pytest.raises(SqlTimeout):
        run_read_only(cursor, runaway, max_rows=10, timeout_s=0.3)
    # The same cursor is usable afterwards, outside any transaction.
    result = run_read_only(cursor, check_read_only("SELECT 7"), max_rows=10, timeout_s=5)
    assert result.rows == [[7]]


def test_rows_beyond_the_cap_are_never_read(locked_db: duckdb.DuckDBPyConnection) -> None:
    huge = check_read_only("SELECT range AS n FROM range(10000000000)")
    result = run_read_only(locked_db.cursor(), huge, max_rows=3, timeout_s=5)
    assert result.rows == [[0], [1], [2]] and result.truncated
    assert result.columns == ["n"] and result.types == ["BIGINT"]
