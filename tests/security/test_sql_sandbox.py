"""Attacks on POST /sql: the allowlist, the worker process, and the caps.

Each test would fail on the deny-list guard that ran queries on the
collector's own connection.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.sql_allowlist import FUNCTIONS, TABLE_FUNCTIONS
from collector.sql_guard import SqlRefused, check_read_only
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path / "sandbox.duckdb",
        sql_timeout_s=1.0,
        sql_max_bytes=64 * 1024,
        sql_memory_mb=128,
        sql_temp_mb=16,
    )
    try:
        yield collector
    finally:
        collector.stop()


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[CollectorHandle]:
    """A collector whose time limit leaves room to act while a query runs."""
    collector = start_test_collector(tmp_path / "patient.duckdb", sql_timeout_s=4.0)
    try:
        yield collector
    finally:
        collector.stop()


def post_sql(collector: CollectorHandle, query: str, timeout_s: float = 60) -> httpx.Response:
    """POST /sql, asked again while the worker's copy is built or refreshed (a 503 with
    Retry-After that a busy machine makes last seconds); any other answer is returned."""

    def answered() -> httpx.Response | None:
        answer = httpx.post(collector.api_url + "/sql", json={"sql": query}, timeout=timeout_s)
        detail = str(answer.json().get("detail", "")) if answer.status_code == 503 else ""
        copying = detail.startswith(("the /sql copy of the tables", "refreshing"))
        return None if copying else answer

    return wait_until(answered, timeout_s=120, interval_s=0.2, what=f"an answer to {query}")


def one_span(name: str) -> Any:
    return record_spans(lambda tracer: tracer.start_span(name).end())


def stored_span_names(collector: CollectorHandle) -> set[str]:
    return {row[0] for row in collector.query("SELECT name FROM spans")}


# Paths from a read-only statement to side effects, internal state or files,
# none of them named in the guard's code: each must be refused by name.
SIDE_DOORS = [
    ("SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))", "json_"),
    ("SELECT * FROM query_table('spans')", "query_table"),
    ("SELECT * FROM enable_profiling()", "enable_profiling"),
    ("SELECT * FROM force_checkpoint()", "force_checkpoint"),
    ("SELECT current_setting('memory_limit')", "current_setting"),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
    ("SELECT * FROM duckdb_databases()", "duckdb_databases"),
    ("SELECT * FROM pragma_database_size()", "pragma_database_size"),
    ("SELECT getvariable('x')", "getvariable"),
    ("SELECT setseed(0.5)", "setseed"),
    ("SELECT * FROM span_chain", "span_chain"),
    ("SELECT hash FROM chain_anchor", "chain_anchor"),
    ("SELECT * FROM schema_version", "schema_version"),
    ("SELECT * FROM information_schema.tables", "tables"),
    ("SELECT * FROM main.retention_log", "retention_log"),
    ("SELECT * FROM duckdb_logs", "duckdb_logs"),
    ("WITH s AS (SELECT * FROM span_chain) SELECT * FROM s", "span_chain"),
    ("SELECT (SELECT max(seq) FROM span_chain)", "span_chain"),
    ("SELECT sleep_ms(100000)", "sleep_ms"),
    ("SELECT [write_log('x') for x in [1]]", "write_log"),
    ("SELECT count(*) OVER (PARTITION BY nextval('s'))", "nextval"),
    ("SELECT * FROM read_json_objects('/etc/hosts')", "read_json_objects"),
    ("SELECT * FROM read_blob('/etc/hosts')", "read_blob"),
    ("SHOW databases", "databases"),
    ("SHOW ALL TABLES", "show"),
    ("PRAGMA version", "PRAGMA"),
    ("SELECT * FROM parquet_full_metadata('x')", "parquet_full_metadata"),
]


@pytest.mark.parametrize(("query", "named"), SIDE_DOORS)
def test_side_doors_are_refused_by_name(query: str, named: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        check_read_only(query)
    assert named.lower() in refused.value.reason.lower(), refused.value.reason


def _catalog_functions() -> tuple[list[str], list[str]]:
    con = duckdb.connect()
    rows = con.execute(
        "SELECT DISTINCT function_name, function_type FROM duckdb_functions() "
        "WHERE function_name SIMILAR TO '[a-z_][a-z0-9_]*'"
    ).fetchall()
    con.close()
    scalar = sorted({n for n, t in rows if t in ("scalar", "aggregate", "macro")})
    table = sorted({n for n, t in rows if t in ("table", "table_macro")})
    return scalar, table


_SCALARS, _TABLE_FNS = _catalog_functions()

# Places a function call can hide inside an otherwise plain query.
_SCALAR_SHAPES = [
    "SELECT {f}(1)",
    "SELECT 1 WHERE {f}(1) IS NULL",
    "WITH a AS (SELECT {f}(1) AS x) SELECT x FROM a",
    "SELECT (SELECT {f}(1))",
    "SELECT [{f}(x) for x in [1, 2]]",
    "SELECT count(*) FILTER (WHERE {f}(1) IS NULL) FROM agent_runs",
    "SELECT 1 FROM agent_runs ORDER BY {f}(1)",
    "SELECT sum(1) OVER (PARTITION BY {f}(1))",
    "EXPLAIN ANALYZE SELECT {f}(1)",
    "SELECT * FROM range(3) r JOIN range(2) s ON {f}(r.range) = 1",
    "SELECT 1 UNION ALL SELECT {f}(2)",
    "DESCRIBE SELECT {f}(1)",
]
_TABLE_SHAPES = [
    "SELECT * FROM {f}()",
    "SELECT * FROM agent_runs, {f}()",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n FROM r, {f}()) SELECT * FROM r",
    "SELECT * FROM (SELECT * FROM {f}()) t",
    "SELECT 1 WHERE EXISTS (FROM {f}())",
    "SUMMARIZE SELECT * FROM {f}()",
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(_SCALARS),
    shape=st.sampled_from(_SCALAR_SHAPES),
    case=st.sampled_from([str.lower, str.upper]),
)
def test_fuzz_a_scalar_runs_only_when_it_is_on_the_allowlist(
    name: str, shape: str, case: Any
) -> None:
    query = shape.format(f=case(name))
    try:
        check_read_only(query)
    except SqlRefused:
        return
    assert name in FUNCTIONS, f"{query!r} was accepted but {name}() is not on the allowlist"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_TABLE_FNS), shape=st.sampled_from(_TABLE_SHAPES))
def test_fuzz_a_table_function_runs_only_when_it_is_on_the_allowlist(name: str, shape: str) -> None:
    query = shape.format(f=name)
    try:
        check_read_only(query)
    except SqlRefused:
        return
    assert name in TABLE_FUNCTIONS, f"{query!r} was accepted but {name}() is not allowed"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("SELECT FROM();'\"*,.$?-/ 1aAxX_\n")), max_size=60))
def test_fuzz_arbitrary_text_is_accepted_or_refused_never_crashes(text: str) -> None:
    try:
        checked = check_read_only(text)
    except SqlRefused as refused:
        assert refused.reason
    else:
        assert checked.statement_type in {"SELECT", "EXPLAIN"}


def test_only_the_documented_tables_are_there(handle: CollectorHandle) -> None:
    response = post_sql(handle, "SHOW TABLES")
    assert response.status_code == 200, response.text
    names = {row[0] for row in response.json()["rows"]}
    documented_tables = {"agent_runs", "agent_steps", "spans", "cancel_requests"}
    cost_and_annotations = {"annotations", "model_prices", "step_costs", "run_costs"}
    assert names == documented_tables | cost_and_annotations


def test_new_spans_are_visible_to_the_next_query(handle: CollectorHandle) -> None:
    export("http-protobuf", handle, one_span("first"))
    assert post_sql(handle, "SELECT name FROM spans").json()["rows"] == [["first"]]
    export("http-protobuf", handle, one_span("second"))
    rows = post_sql(handle, "SELECT name FROM spans ORDER BY name").json()["rows"]
    assert rows == [["first"], ["second"]]


def test_result_bytes_are_capped_with_a_flag(handle: CollectorHandle) -> None:
    body = post_sql(handle, "SELECT repeat('x', 1000) AS text FROM range(100000)").json()
    assert body["truncated"] is True and body["truncated_by"] == "bytes"
    assert 60 <= body["row_count"] <= 66, body["row_count"]  # 64 KiB of ~1 KB rows
    assert len(httpx.Response(200, json=body).content) < 80 * 1024


def test_a_sort_past_the_memory_and_spill_caps_fails_cleanly(
    handle: CollectorHandle, tmp_path: Path
) -> None:
    before = set(tmp_path.rglob("*"))
    response = post_sql(
        handle,
        "SELECT md5(range::VARCHAR) || repeat('y', 200) AS k FROM range(3000000) ORDER BY k DESC",
    )
    assert response.status_code == 400, response.text
    detail = response.json()["detail"].lower()
    assert "memory" in detail or "temp" in detail or "time limit" in detail, detail
    # Nothing spilled next to the database.
    assert set(tmp_path.rglob("*")) - before <= {p for p in tmp_path.rglob("*.wal")}
    assert post_sql(handle, "SELECT 1").json()["rows"] == [[1]]


def _sandbox(handle: CollectorHandle) -> Any:
    return handle.running.http_server.config.app.state.sql_sandbox


def _run_in_thread(handle: CollectorHandle, query: str) -> tuple[threading.Thread, list[Any]]:
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(post_sql(handle, query)))
    thread.start()
    return thread, answers


@pytest.mark.parametrize("hard_failure", [signal.SIGABRT, signal.SIGSEGV, signal.SIGKILL])
def test_a_query_that_kills_duckdb_leaves_ingest_running(
    patient: CollectorHandle, hard_failure: signal.Signals
) -> None:
    handle = patient
    export("http-protobuf", handle, one_span("before"))
    assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[1]]
    sandbox = _sandbox(handle)
    first_pid = sandbox.worker_pid
    slow = "SELECT count(*) FROM range(1000000000) a, range(1000000000) b"
    baseline = _cpu_ticks(first_pid)
    thread, answers = _run_in_thread(handle, slow)
    # What DuckDB does when it aborts or crashes, delivered while the query runs.
    wait_until(lambda: _cpu_ticks(first_pid) > baseline + 5, what="the query to run")
    os.kill(first_pid, hard_failure)
    export("http-protobuf", handle, one_span("during"))
    thread.join(30)
    (answer,) = answers
    assert answer.status_code == 503, answer.text
    assert "ingest was not affected" in answer.json()["detail"]
    export("http-protobuf", handle, one_span("after"))
    assert stored_span_names(handle) == {"before", "during", "after"}
    rows = post_sql(handle, "SELECT name FROM spans ORDER BY name").json()["rows"]
    assert rows == [["after"], ["before"], ["during"]]
    assert sandbox.worker_pid != first_pid


def test_a_hung_query_is_killed_after_its_grace_and_ingest_runs(
    patient: CollectorHandle,
) -> None:
    handle = patient
    post_sql(handle, "SELECT 1")
    sandbox = _sandbox(handle)
    pid = sandbox.worker_pid
    baseline = _cpu_ticks(pid)
    thread, answers = _run_in_thread(
        handle, "SELECT count(*) FROM range(1000000000) a, range(1000000000) b"
    )
    wait_until(lambda: _cpu_ticks(pid) > baseline + 5, what="the query to run")
    os.kill(pid, signal.SIGSTOP)  # a hang no interrupt reaches
    try:
        export("grpc", handle, one_span("while hung"))
        assert stored_span_names(handle) == {"while hung"}
        thread.join(30)
    finally:
        if sandbox.worker_pid == pid:
            os.kill(pid, signal.SIGCONT)
    (answer,) = answers
    assert answer.status_code == 400 and "time limit" in answer.json()["detail"]
    assert sandbox.worker_pid != pid
    assert post_sql(handle, "SELECT name FROM spans").json()["rows"] == [["while hung"]]


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process, in clock ticks (100 a second)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_the_copy_follows_inserts_and_removals(handle: CollectorHandle) -> None:
    for index in range(3):
        export("http-protobuf", handle, one_span(f"span {index}"))
        rows = post_sql(handle, "SELECT count(*) FROM spans").json()["rows"]
        assert rows == [[index + 1]]
    # Retention removes rows: the copy must not keep them.
    handle.store.write(lambda con: con.execute("DELETE FROM spans WHERE name = 'span 0'"))
    export("http-protobuf", handle, one_span("span 3"))
    names = post_sql(handle, "SELECT name FROM spans ORDER BY name").json()["rows"]
    assert names == [["span 1"], ["span 2"], ["span 3"]]
    assert post_sql(handle, "SELECT count(*) FROM agent_steps").status_code == 200


def _run_spans(run_id: str, steps: int, *, status_error: bool = False) -> Any:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span(
            "invoke_agent",
            attributes={"agent_run.id": run_id, "gen_ai.operation.name": "invoke_agent"},
        ) as root:
            for index in range(steps):
                tracer.start_span(
                    f"execute_tool t{index}",
                    attributes={
                        "gen_ai.operation.name": "execute_tool",
                        "gen_ai.tool.name": f"t{index}",
                    },
                ).end()
            if status_error:
                from opentelemetry.trace import StatusCode

                root.set_status(StatusCode.ERROR, "boom")

    return record_spans(build)


def test_runs_and_steps_are_refreshed_row_by_row(handle: CollectorHandle) -> None:
    """Only changed runs and steps travel to the worker; any change reaches it, whichever
    write path made it (even one that leaves updated_at alone), and removals too."""
    sandbox = handle.running.http_server.config.app.state.sql_sandbox
    for index in range(4):
        export("http-protobuf", handle, _run_spans(f"run-{index}", 3))
    count = "SELECT (SELECT count(*) FROM agent_runs), (SELECT count(*) FROM agent_steps)"
    assert post_sql(handle, count).json()["rows"] == [[4, 12]]
    assert sandbox.last_refresh["agent_runs"] == 4  # the first copy is whole

    export("http-protobuf", handle, _run_spans("run-4", 2))
    assert post_sql(handle, count).json()["rows"] == [[5, 14]]
    assert sandbox.last_refresh["agent_runs"] == 1 and sandbox.last_refresh["agent_steps"] == 2

    # A change that does not move updated_at still reaches the copy.
    handle.store.write(
        lambda con: con.execute("UPDATE agent_runs SET task = 'edited' WHERE id = 'run-1'")
    )
    handle.store.write(
        lambda con: con.execute(
            "DELETE FROM agent_steps WHERE agent_run_id = 'run-2' AND tool_name = 't0'"
        )
    )
    handle.store.write(lambda con: con.execute("DELETE FROM agent_runs WHERE id = 'run-3'"))
    # (Removals move the fingerprint that decides whether to refresh at all.)
    rows = post_sql(
        handle,
        "SELECT id, task, (SELECT count(*) FROM agent_steps s WHERE s.agent_run_id = r.id) "
        "FROM agent_runs r ORDER BY id",
    ).json()["rows"]
    assert [r[0] for r in rows] == ["run-0", "run-1", "run-2", "run-4"]
    assert rows[1][1] == "edited" and rows[2][2] == 2
    assert sandbox.last_refresh["agent_runs"] == 1 and sandbox.last_refresh["agent_steps"] == 0
