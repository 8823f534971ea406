"""The /sql sandbox checked against DuckDB's own catalogue, class by class.

Lists of known escapes miss what the next DuckDB adds. Here the pinned DuckDB
is asked what it has: every function (``duckdb_functions()``: scalar,
aggregate, macro, table, table macro, pragma), every setting
(``duckdb_settings()``), every catalog view, every database and schema, and
every statement type its parser knows. Each function must be on the allowlist
or in a refused class of :mod:`collector.sql_allowlist` (the test fails on one
in neither), and everything refused is sent to the real ``POST /sql`` of a
running collector: a 400 naming what was refused and why, never a 5xx, never a
row.
"""

from __future__ import annotations

from collections.abc import Iterator

import duckdb
import httpx
import pytest

from collector.sql_allowlist import FUNCTIONS, QUERYABLE, REFUSED, TABLE_FUNCTIONS, refusal_class
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until

# The worker's own configuration (collector/sql_replica.py): what its queries can reach.
_WORKER_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
}
_SCALAR_KINDS = {"scalar", "aggregate", "macro"}
_TABLE_KINDS = {"table", "table_macro"}


def _catalogue(sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(":memory:", config=_WORKER_CONFIG) as con:
        return con.execute(sql).fetchall()


_FUNCTIONS = [
    (str(name).lower(), str(kind))
    for name, kind in _catalogue(
        "SELECT DISTINCT function_name, function_type FROM duckdb_functions() ORDER BY ALL"
    )
]
# Operators (+, ||, ~~) are checked by the allowlist like any name; these are words.
_NAMED = [(n, k) for n, k in _FUNCTIONS if n.replace("_", "a").isalnum()]
_SETTINGS = [str(row[0]) for row in _catalogue("SELECT name FROM duckdb_settings() ORDER BY 1")]
_PRAGMAS = sorted({n for n, k in _FUNCTIONS if k == "pragma"})
_VIEWS = _catalogue("SELECT DISTINCT database_name, schema_name, view_name FROM duckdb_views()")
_SCHEMAS = _catalogue("SELECT DISTINCT database_name, schema_name FROM duckdb_schemas()")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    handle: CollectorHandle = start_test_collector(
        tmp_path_factory.mktemp("catalogue") / "audit.duckdb", sql_timeout_s=5.0
    )
    try:
        with httpx.Client(base_url=handle.api_url, timeout=60) as client:
            yield client
    finally:
        handle.stop()


def post(api: httpx.Client, query: str) -> httpx.Response:
    """POST /sql, retried while the worker's copy is (re)built: 503 with Retry-After
    is the documented answer then, and a busy machine makes it take seconds."""

    def answered() -> httpx.Response | None:
        answer = api.post("/sql", json={"sql": query})
        if answer.status_code == 503:
            assert "retry" in answer.json()["detail"] and answer.headers["retry-after"]
            return None
        return answer

    return wait_until(answered, timeout_s=120, interval_s=0.2, what=f"an answer to {query[:60]}")


def refusal(api: httpx.Client, query: str) -> str:
    """The reason /sql gives for refusing ``query`` (it must refuse it)."""
    answer = post(api, query)
    assert answer.status_code == 400, (query, answer.status_code, answer.text[:300])
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and detail, query
    return detail


# --- functions --------------------------------------------------------------------------
def test_every_function_in_the_catalogue_is_allowed_or_refused_for_a_reason() -> None:
    unclassified = []
    for name, kind in _NAMED:
        if kind == "pragma":
            continue  # reached only through PRAGMA and CALL, both refused (below)
        allowed = FUNCTIONS if kind in _SCALAR_KINDS else TABLE_FUNCTIONS
        if name not in allowed and refusal_class(name) is None:
            unclassified.append(f"{name} ({kind})")
    assert not unclassified, (
        "functions in DuckDB's catalogue in no class of collector/sql_allowlist.py: "
        + ", ".join(unclassified)
    )
    # No refused name is stale: each is still in the catalogue (a typo would hide one).
    catalogue = {name for name, _ in _NAMED}
    for kind, (_, names) in REFUSED.items():
        assert names <= catalogue, (kind, sorted(names - catalogue))


def test_every_aggregate_is_on_the_allowlist() -> None:
    # list_aggregate(list, 'name') calls an aggregate by a name in a string, which the
    # parse tree does not show: it may reach only aggregates that are allowed anyway.
    aggregates = {name for name, kind in _NAMED if kind == "aggregate"}
    assert aggregates and aggregates <= FUNCTIONS, sorted(aggregates - FUNCTIONS)


_REFUSED_SCALARS = sorted({n for n, k in _NAMED if k in _SCALAR_KINDS and n not in FUNCTIONS})
_REFUSED_TABLES = sorted({n for n, k in _NAMED if k in _TABLE_KINDS and n not in TABLE_FUNCTIONS})


def _reason(name: str) -> str:
    kind = refusal_class(name)
    assert kind is not None, name
    return REFUSED[kind][0]


def test_every_refused_scalar_is_refused_by_the_endpoint_with_its_reason(
    api: httpx.Client,
) -> None:
    assert len(_REFUSED_SCALARS) > 100  # the catalogue was read
    for name in _REFUSED_SCALARS:
        for query in (f"SELECT {name}(1)", f"SELECT 1 FROM agent_runs WHERE {name}(id) IS NULL"):
            detail = refusal(api, query)
            assert f"{name}()" in detail and _reason(name) in detail, (query, detail)


def test_every_refused_table_function_is_refused_by_the_endpoint_with_its_reason(
    api: httpx.Client,
) -> None:
    assert len(_REFUSED_TABLES) > 50
    for name in _REFUSED_TABLES:
        for query in (
            f"SELECT * FROM {name}()",
            f"SELECT count(*) FROM agent_runs WHERE EXISTS (FROM {name}('x'))",
        ):
            detail = refusal(api, query)
            assert f"{name}()" in detail and _reason(name) in detail, (query, detail)


def test_every_pragma_is_refused_as_a_statement_and_as_a_call(api: httpx.Client) -> None:
    assert "import_database" in _PRAGMAS and "version" in _PRAGMAS
    for name in _PRAGMAS:
        assert "PRAGMA statements are not allowed" in refusal(api, f"PRAGMA {name}")
        assert "PRAGMA statements are not allowed" in refusal(api, f"PRAGMA {name}('x')")
        assert "CALL statements are not allowed" in refusal(api, f"CALL {name}()")


# --- settings ---------------------------------------------------------------------------
def test_no_setting_can_be_read_set_or_reset(api: httpx.Client) -> None:
    assert {"enable_external_access", "lock_configuration", "secret_directory"} <= set(_SETTINGS)
    for name in _SETTINGS:
        for statement in (f"SET {name} = 1", f"SET GLOBAL {name} = 'x'", f"RESET {name}"):
            assert "statements are not allowed" in refusal(api, statement), statement
        assert "PRAGMA statements are not allowed" in refusal(api, f"PRAGMA {name} = 1")
        detail = refusal(api, f"SELECT current_setting('{name}')")
        assert "current_setting()" in detail, detail
    assert "SET statements are not allowed" in refusal(api, "SET VARIABLE x = 1")
    assert "getvariable()" in refusal(api, "SELECT getvariable('x')")


# --- catalog views, other databases and schemas -----------------------------------------
def test_no_catalog_view_and_no_other_database_or_schema_can_be_read(api: httpx.Client) -> None:
    assert len(_VIEWS) > 20 and len(_SCHEMAS) >= 4  # duckdb_*, pg_*, information_schema
    for database, schema, view in _VIEWS:
        for name in (f'"{view}"', f'"{schema}"."{view}"', f'"{database}"."{schema}"."{view}"'):
            detail = refusal(api, f"SELECT * FROM {name}")
            assert "is not available here" in detail, (name, detail)
    # A documented table is readable only as itself, never through another catalog.
    for database, schema in _SCHEMAS:
        for table in sorted(QUERYABLE):
            name = f'"{database}"."{schema}"."{table}"'
            assert "is not available here" in refusal(api, f"SELECT * FROM {name}"), name
    for other in ("system", "temp", "memory", "sqlite_master", "sqlite_schema"):
        assert "not available here" in refusal(api, f"SELECT * FROM {other}.main.spans")


# --- statement types --------------------------------------------------------------------
# At least one text per statement type DuckDB's parser gives, with the type it gives.
STATEMENTS: list[tuple[str, str]] = [
    ("INSERT INTO agent_runs (id) VALUES ('x')", "INSERT"),
    ("INSERT OR REPLACE INTO spans SELECT * FROM spans", "INSERT"),
    ("WITH a AS (SELECT 1) INSERT INTO agent_runs (id) SELECT 'x' FROM a", "INSERT"),
    ("UPDATE agent_runs SET task = 'x'", "UPDATE"),
    ("DELETE FROM spans", "DELETE"),
    ("TRUNCATE spans", "DELETE"),
    ("MERGE INTO spans USING spans s ON true WHEN MATCHED THEN DELETE", "MERGE_INTO"),
    ("CREATE TABLE t AS SELECT 1", "CREATE"),
    ("CREATE TEMP TABLE t AS SELECT 1", "CREATE"),
    ("CREATE VIEW v AS SELECT * FROM spans", "CREATE"),
    ("CREATE MACRO m(x) AS x", "CREATE"),
    ("CREATE OR REPLACE MACRO t() AS TABLE SELECT * FROM read_text('/etc/passwd')", "CREATE"),
    ("CREATE FUNCTION f(x) AS x", "CREATE"),
    ("CREATE SECRET s (TYPE http, BEARER_TOKEN 'x')", "CREATE"),
    ("CREATE SEQUENCE s", "CREATE"),
    ("CREATE TYPE t AS INT", "CREATE"),
    ("CREATE SCHEMA s", "CREATE"),
    ("ALTER TABLE spans ADD COLUMN x INT", "ALTER"),
    ("COMMENT ON TABLE spans IS 'x'", "ALTER"),
    ("DROP TABLE spans", "DROP"),
    ("DROP SECRET s", "DROP"),
    ("DEALLOCATE p", "DROP"),
    ("ATTACH ':memory:' AS x", "ATTACH"),
    ("ATTACH '/tmp/other.duckdb' (READ_ONLY)", "ATTACH"),
    ("ATTACH 'ducklake:/tmp/lake' AS l", "ATTACH"),
    ("ATTACH 'dbname=x' AS p (TYPE postgres)", "ATTACH"),
    ("DETACH x", "DETACH"),
    ("COPY spans TO '/tmp/spans.csv'", "COPY"),
    ("COPY (SELECT 1) TO '/tmp/one.parquet' (FORMAT parquet)", "COPY"),
    ("COPY spans FROM '/etc/passwd'", "COPY"),
    ("COPY FROM DATABASE memory TO other", "TRANSACTION"),  # then COPY_DATABASE
    ("EXPORT DATABASE '/tmp/export'", "EXPORT"),
    ("IMPORT DATABASE '/tmp/export'", ""),  # expanded while parsing: refused there
    ("INSTALL httpfs", "LOAD"),
    ("FORCE INSTALL fts FROM 'http://127.0.0.1:1'", "LOAD"),
    ("LOAD fts", "LOAD"),
    ("LOAD '/tmp/evil.duckdb_extension'", "LOAD"),
    ("UPDATE EXTENSIONS", "UNRECOGNISED"),
    ("SET memory_limit = '64GB'", "SET"),
    ("SET enable_external_access = true", "SET"),
    ("RESET lock_configuration", "SET"),
    ("SET VARIABLE v = (SELECT 1)", "SET"),
    ("USE memory", "SET"),
    ("PRAGMA memory_limit = '64GB'", "SET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("CHECKPOINT", "CALL"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("EXECUTE p", "EXECUTE"),
    ("BEGIN TRANSACTION", "TRANSACTION"),
    ("COMMIT", "TRANSACTION"),
    ("ROLLBACK", "TRANSACTION"),
    ("ABORT", "TRANSACTION"),
    ("VACUUM", "VACUUM"),
    ("ANALYZE spans", "VACUUM"),
    ("EXPLAIN INSERT INTO agent_runs (id) VALUES ('x')", "EXPLAIN"),
    ("EXPLAIN ANALYZE COPY spans TO '/tmp/x.csv'", "EXPLAIN"),
    ("EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1", "EXPLAIN"),
    ("PIVOT spans ON name USING count(*)", "CREATE"),  # then SELECT: MULTI
]
# Types no SQL text produces in DuckDB 1.5.5: made by the client API or internally.
NOT_FROM_TEXT = {
    "INVALID",
    "RELATION",
    "LOGICAL_PLAN",
    "CREATE_FUNC",
    "ANALYZE",
    "EXTENSION",
    "VARIABLE_SET",
    "MULTI",
    "SELECT",  # allowed, checked node by node (tests/security/test_sql_sandbox.py)
}


def _parsed_type(sql: str) -> str:
    with duckdb.connect(":memory:", config=_WORKER_CONFIG) as con:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error:
            return ""
    try:
        return str(statements[0].type).rsplit(".", 1)[-1]
    except ValueError:
        return "UNRECOGNISED"


def test_every_statement_type_of_the_parser_has_an_example() -> None:
    types = {name for name in dir(duckdb.StatementType) if name.isupper()}
    covered = {kind for _, kind in STATEMENTS} | {"COPY_DATABASE"}
    assert types - covered - NOT_FROM_TEXT == set(), "statement types with no refused example"
    for sql, kind in STATEMENTS:
        got = _parsed_type(sql)
        assert got == kind or (kind == "UNRECOGNISED" and got == "???"), (sql, got)


@pytest.mark.parametrize("sql", [sql for sql, _ in STATEMENTS])
def test_every_statement_but_a_read_is_refused_by_the_endpoint(api: httpx.Client, sql: str) -> None:
    detail = refusal(api, sql)
    opener = sql.split()[0].upper()
    if opener == "WITH":
        assert "INSERT statements are not allowed" in detail, detail
    elif opener == "EXPLAIN":
        assert "EXPLAIN is allowed only for SELECT queries, not" in detail, detail
    else:
        assert f"{opener} statements are not allowed" in detail, detail


# --- where a read could still reach a file ------------------------------------------
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM '/etc/passwd'",
        "FROM '/etc/hosts'",
        "SELECT * FROM 'https://127.0.0.1:1/x.parquet'",
        "SELECT * FROM 's3://bucket/x.csv'",
        "DESCRIBE '/etc/passwd'",
        "SUMMARIZE '/etc/passwd'",
        "SHOW '/etc/passwd'",
        "SELECT * FROM agent_runs, '~/.ssh/id_rsa'",
        'SELECT * FROM "x.csv"',
        "SELECT * FROM read_csv(['/etc/passwd'])",
        "SELECT 1 FROM agent_runs WHERE task IN (FROM glob('/*'))",
        "SELECT * FROM (PIVOT spans ON name USING count(*))",
        "SELECT $1",
        "SELECT getenv('HOME')",
    ],
)
def test_every_path_from_a_read_to_a_file_is_refused(api: httpx.Client, sql: str) -> None:
    detail = refusal(api, sql)
    assert "traceback" not in detail.lower()


def test_a_query_nested_past_the_checkers_depth_is_refused_not_a_server_error(
    api: httpx.Client,
) -> None:
    # Found from outside: about 400 nested calls made the check's JSON parser raise
    # RecursionError, answered 500.
    for depth in (450, 999):
        for shape in ("abs({})", "NOT {}", "[{}]", "CASE WHEN true THEN {} END"):
            query = "SELECT " + _nested(shape, depth, "1" if "NOT" not in shape else "true")
            answer = post(api, query)
            assert answer.status_code in (200, 400), (shape, depth, answer.text[:200])
            if answer.status_code == 400:
                # Refused by the check, by DuckDB's depth limit, or stopped at the time
                # limit (binding 450 nested calls takes DuckDB over 10 s).
                detail = answer.json()["detail"]
                assert any(
                    words in detail for words in ("nests too deeply", "depth", "time limit")
                ), detail


def _nested(shape: str, depth: int, leaf: str) -> str:
    text = leaf
    for _ in range(depth):
        text = shape.format(text)
    return text


def test_a_run_of_block_comments_is_refused_at_once(api: httpx.Client) -> None:
    # Found from outside: DuckDB's tokenizer is quadratic in a run of block comments;
    # 25,000 of them held the collector's CPU for minutes while the check parsed.
    query = "SELECT 1 " + "/**/" * 24_000
    answer = api.post("/sql", json={"sql": query}, timeout=10)
    assert answer.status_code == 400 and "block comments" in answer.json()["detail"]
    commented = "SELECT 1 /* a */ + /* b */ 1 -- c"
    assert post(api, commented).json()["rows"] == [[2]]
