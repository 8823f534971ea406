"""JSON nested deeper than DuckDB's recursive JSON functions can walk gets a 400 naming the
limit, whether the query builds it or an outsider stored it in an attribute; the query
worker survives, keeps its copy, and answers the next query (collector/sql_deep_json.py).

Before the guard each of these took the worker down with SIGSEGV (a 503, then a new
worker), every time it was asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import duckdb
import httpx
import pytest

from collector.sql_deep_json import MAX_JSON_BRACKETS
from collector.sql_sandbox import SqlSandbox
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql

DEPTH = 100_000
DEEP = "[" * DEPTH + "]" * DEPTH
DEEP_OBJECT = '{"a":' * 60_000 + "1" + "}" * 60_000  # 360 KB: stored whole too
BUILT = f"(repeat('[', {DEPTH}) || repeat(']', {DEPTH}))"
SHALLOW = '{"a": [1, {"b": "x"}]}'
STORED = "(SELECT attributes->>'payload' FROM spans WHERE name = 'deep')"
STORED_OBJECT = "(SELECT attributes->>'payload' FROM spans WHERE name = 'deep object')"


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    # Attribute values stored whole, up to 512 KB: the deep documents are 200 KB.
    collector = start_test_collector(
        tmp_path_factory.mktemp("deep") / "audit.duckdb", max_attribute_bytes=512 * 1024
    )
    try:

        def build(tracer: Any) -> None:
            tracer.start_span("deep", attributes={"payload": DEEP}).end()
            tracer.start_span("deep object", attributes={"payload": DEEP_OBJECT}).end()
            tracer.start_span("shallow", attributes={"payload": SHALLOW}).end()

        export("http-protobuf", collector, record_spans(build))
        yield collector
    finally:
        collector.stop()


def _sandbox(handle: CollectorHandle) -> SqlSandbox:
    return handle.running.http_server.config.app.state.sql_sandbox  # type: ignore[no-any-return]


def _rows(handle: CollectorHandle, query: str) -> list[list[Any]]:
    answer = post_sql(handle.api_url, query, timeout_s=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["rows"]  # type: ignore[no-any-return]


def test_the_deep_documents_are_stored_whole(handle: CollectorHandle) -> None:
    rows = _rows(handle, f"SELECT length({STORED}), length({STORED_OBJECT})")
    assert rows == [[len(DEEP), len(DEEP_OBJECT)]]


DEEP_TEMPLATES = [
    "SELECT json_structure({doc})",
    "SELECT json_structure(CAST({doc} AS JSON))",
    "SELECT main.json_structure({doc})",
    "SELECT json_contains({doc}, '1')",
    "SELECT json_contains('[1]', {doc})",
    "SELECT json_group_structure(d) FROM (SELECT {doc} AS d)",
    "SELECT count(*) FROM json_tree({doc})",
    "SELECT count(*) FROM json_tree({doc}, '$[0]')",
    "SELECT count(*) FROM (SELECT {doc} AS d) t, json_tree(t.d)",
]
DEEP_REFUSAL = f"nested at most {MAX_JSON_BRACKETS:,} levels deep"
GROUPED = "FROM (SELECT '[1]' AS d, 1 AS k)"
# Every refusal: (query, what the 400 says). The deep documents under each guarded
# function; calls that would reach DuckDB's functions past the guard; structures too
# deep to build; and DISTINCT, FILTER, ORDER BY or OVER on a guarded name (a macro
# takes none; DuckDB's own message named no clause the user wrote).
REFUSALS: dict[str, tuple[str, str]] = {
    **{
        f"{template} / {name}": (template.format(doc=source), DEEP_REFUSAL)
        for template in DEEP_TEMPLATES
        for name, source in (("built", BUILT), ("stored", STORED), ("obj", STORED_OBJECT))
    },
    "system.main.json_structure": (
        "SELECT system.main.json_structure('[1]')",
        "by their name alone",
    ),
    "system.json_contains": ("SELECT system.json_contains('[1]', '1')", "by their name alone"),
    "system.main.json_tree": (
        "SELECT count(*) FROM system.main.json_tree('[1]')",
        "by their name alone",
    ),
    "deep structure": (
        "SELECT from_json('1', '" + "[" * 5_000 + '"JSON"' + "]" * 5_000 + "')",
        "nests more than 1,000 levels",
    ),
    "built structure": (
        "SELECT json_transform('1', repeat('[', 50000) || '\"JSON\"' || repeat(']', 50000))",
        "written out as a string literal",
    ),
    "group FILTER": (
        f"SELECT json_group_structure(d) FILTER (WHERE k = 1) {GROUPED}",
        "takes no FILTER: write json_group_structure(CASE WHEN",
    ),
    "group OVER": (
        f"SELECT json_group_structure(d) OVER (PARTITION BY k) {GROUPED}",
        "takes no OVER",
    ),
    "group DISTINCT": (f"SELECT json_group_structure(DISTINCT d) {GROUPED}", "takes no DISTINCT"),
    "group ORDER BY": (
        f"SELECT json_group_structure(d ORDER BY k) {GROUPED}",
        "takes no ORDER BY",
    ),
    "scalar FILTER": (
        f"SELECT json_structure(d) FILTER (WHERE k = 1) {GROUPED}",
        "json_structure() is not an aggregate function: FILTER",
    ),
    "scalar OVER": (
        f"SELECT json_contains(d, '1') OVER () {GROUPED}",
        "json_contains() is not an aggregate function: OVER",
    ),
    "repeat DISTINCT": ("SELECT repeat(DISTINCT 'a', 2)", "repeat() is not an aggregate"),
    "lpad ORDER BY": (f"SELECT lpad(d, 3, 'x' ORDER BY k) {GROUPED}", "lpad() is not an"),
    "list_resize OVER": (f"SELECT list_resize([k], 2) OVER () {GROUPED}", "not an aggregate"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_query_says_why_and_the_worker_lives(handle: CollectorHandle, case: str) -> None:
    query, refusal = REFUSALS[case]
    sandbox = _sandbox(handle)
    assert _rows(handle, "SELECT 1") == [[1]]
    pid, restarts = sandbox.worker_pid, sandbox.restarts
    answer = httpx.post(f"{handle.api_url}/sql", json={"sql": query}, timeout=120)
    assert answer.status_code == 400, answer.text
    detail = answer.json()["detail"]
    assert refusal in detail, detail
    # The same worker, with its copy, answers the next query.
    assert _rows(handle, "SELECT count(*) FROM spans") == [[3]]
    assert (sandbox.worker_pid, sandbox.restarts) == (pid, restarts)


def test_the_guarded_functions_answer_as_duckdb_s_own_below_the_limit(
    handle: CollectorHandle,
) -> None:
    nested = "[" * 10_000 + "]" * 10_000  # deep, yet under the limit
    template = (
        "SELECT json_structure({doc}), json_contains({doc}, '{{\"a\": [1]}}'), "
        "(SELECT count(*) FROM json_tree({doc})), "
        "(SELECT count(*) FROM json_tree({doc}, '$.a')), "
        f"length(json_structure('{nested}'))"
    )
    shallow = "(SELECT attributes->>'payload' FROM spans WHERE name = 'shallow')"
    rows = _rows(handle, template.format(doc=shallow))
    # DuckDB's own functions, unguarded, on the same document.
    own = duckdb.connect().execute(template.format(doc="'" + SHALLOW + "'")).fetchall()
    assert rows == [list(own[0])]
    assert rows[0][:2] == ['{"a":["JSON"]}', True] and rows[0][4] == 2 * 10_000 + 6
    grouped = _rows(
        handle,
        "SELECT json_group_structure(CAST(attributes->>'payload' AS JSON)) FROM spans "
        "WHERE name = 'shallow'",
    )
    assert grouped == [['{"a":["JSON"]}']]


def test_a_structure_written_out_still_works(handle: CollectorHandle) -> None:
    rows = _rows(
        handle,
        'SELECT from_json(\'{"a": [1, 2]}\', \'{"a": ["INTEGER"]}\') AS v, '
        "json_transform('[1]', '[\"VARCHAR\"]'::JSON) AS w",
    )
    assert rows == [[{"a": [1, 2]}, ["1"]]]


def test_the_suggested_forms_of_an_aggregate_over_deep_json_work(handle: CollectorHandle) -> None:
    rows = _rows(
        handle,
        "SELECT json_group_structure(CASE WHEN k = 1 THEN CAST(d AS JSON) END), "
        "(SELECT json_group_structure(CAST(d AS JSON)) FROM (VALUES ('[1]', 1)) v(d, k)) "
        "FROM (VALUES ('{\"a\": 1}', 1), ('[2]', 2)) t(d, k)",
    )
    assert rows == [['{"a":"UBIGINT"}', '["UBIGINT"]']]
