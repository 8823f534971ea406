"""The /sql worker's copy of a store larger than the worker's memory.

Each test fails on the sandbox that loaded the whole copy in one transaction,
on the first query, with the allocators' default reservations: there a copy
of this size needed about 2 GB of address space and the query got a 503;
and the first query of a large store waited for the whole copy.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.sql_workspace import SqlWorkspace
from collector.store import RunStore
from tests import sql_client
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, sql_copies_of, start_test_collector
from tests.support import wait_until


def copy_dir(path: Path) -> Path:
    return SqlWorkspace(sql_copies_of(path), keep_s=0).copy_path(path)


SPANS = 30_000
ATTRIBUTE_CHARS = 4096  # ~123 MB of attribute text: twice the worker's DuckDB memory
TIGHT = {"sql_memory_mb": 64, "sql_address_space_mb": 1024, "sql_temp_mb": 64}


def fill(store: RunStore, spans: int) -> None:
    """Spans with incompressible attributes, written in commits of 2,000 rows."""
    for start in range(0, spans, 2000):
        end = min(spans, start + 2000)
        store.write(
            lambda con, start=start, end=end: con.execute(
                "INSERT INTO spans (trace_id, span_id, name, start_ns, end_ns, attributes, "
                "received_at) SELECT md5(i::VARCHAR), lpad(i::VARCHAR, 16, '0'), 'big', i, "
                "i + 1, json_object('blob', (SELECT string_agg(md5((i * 1000 + j)::VARCHAR), '') "
                f"FROM range({ATTRIBUTE_CHARS // 32}) r(j))), now()::TIMESTAMP "
                f"FROM range({start}, {end}) t(i)"
            )
        )


@pytest.fixture
def big_store(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "big.duckdb"
    store = RunStore(path, startup_read_check=False)
    try:
        fill(store, SPANS)
    finally:
        store.close()
    yield path
    shutil.rmtree(copy_dir(path), ignore_errors=True)


@contextlib.contextmanager
def _start(path: Path, **overrides: Any) -> Iterator[CollectorHandle]:
    handle = start_test_collector(path, startup_read_check=False, **overrides)
    try:
        yield handle
    finally:
        handle.stop()


def post_sql(handle: CollectorHandle, query: str) -> httpx.Response:
    return sql_client.post_sql(handle.api_url, query, timeout_s=120)


def post_once(handle: CollectorHandle, query: str) -> httpx.Response:
    """One POST, a "copy being built" 503 included."""
    return httpx.post(handle.api_url + "/sql", json={"sql": query}, timeout=120)


def _sandbox(handle: CollectorHandle) -> Any:
    return handle.running.http_server.config.app.state.sql_sandbox


COUNT = "SELECT count(*), sum(length(attributes)) FROM spans WHERE name = 'big'"


def _expected(handle: CollectorHandle) -> list[list[int]]:
    return [list(row) for row in handle.query(COUNT)]


def test_a_copy_larger_than_the_worker_memory_loads_under_a_tight_address_space(
    big_store: Path,
) -> None:
    with _start(big_store, sql_copy_wait_s=120.0, **TIGHT) as handle:
        expected = _expected(handle)
        assert expected[0][1] > 100_000_000  # the copy exceeds the worker's 64 MB DuckDB memory
        answer = post_sql(handle, COUNT)
        assert answer.status_code == 200, answer.text
        assert answer.json()["rows"] == expected
        assert _sandbox(handle).restarts == 0  # no worker died on the way


def test_queries_during_the_first_copy_get_its_progress_while_ingest_goes_on(
    big_store: Path,
) -> None:
    with _start(big_store, sql_copy_wait_s=0.0, **TIGHT) as handle:
        expected = _expected(handle)
        first = post_once(handle, COUNT)
        assert first.status_code == 503, first.text
        assert "copy of the tables is being built" in first.json()["detail"]
        assert int(first.headers["Retry-After"]) >= 1
        sandbox = _sandbox(handle)
        # Ingest commits while the copy is built (the copy reads one snapshot).
        assert sandbox.progress() is not None
        export("http-protobuf", handle, record_spans(lambda t: t.start_span("during").end()))
        assert handle.query("SELECT count(*) FROM spans WHERE name = 'during'") == [(1,)]
        assert sandbox.progress() is not None, "the copy ended before the span was stored"

        details: list[str] = []

        def answered() -> httpx.Response | None:
            response = post_once(handle, COUNT)
            if response.status_code == 503:
                details.append(response.json()["detail"])
                return None
            return response

        final = wait_until(answered, timeout_s=120, interval_s=0.2, what="the copy")
        assert final.status_code == 200 and final.json()["rows"] == expected
        building = [d for d in details if "being built" in d]
        percents = [int(m.group(1)) for d in building if (m := re.search(r"(\d+)% done", d))]
        assert percents, details
        assert percents == sorted(percents)  # the first copy's progress never goes back
        # The span stored during the copy reaches it with the next refresh.
        during = wait_until(
            lambda: (
                (
                    r := post_sql(handle, "SELECT count(*) FROM spans WHERE name = 'during'")
                ).status_code
                == 200
                and r
            ),
            timeout_s=60,
            what="a refresh with the span stored during the copy",
        )
        assert during.json()["rows"] == [[1]]


def test_the_copy_can_be_built_at_start(tmp_path: Path) -> None:
    path = tmp_path / "small.duckdb"
    store = RunStore(path, startup_read_check=False)
    fill(store, 500)
    store.close()
    with _start(path, sql_copy_at_start=True) as handle:
        sandbox = _sandbox(handle)
        # No query asked for it: the copy is built in the background.
        wait_until(lambda: sandbox.last_refresh.get("spans") == 500, what="the copy at start")
        answer = post_sql(handle, "SELECT count(*) FROM spans")
        assert answer.json()["rows"] == [[500]]
        assert sandbox.last_refresh.get("spans") == 500  # no second copy for the query


def test_a_restarted_collector_takes_over_the_copy_it_kept(tmp_path: Path) -> None:
    path = tmp_path / "restart.duckdb"
    store = RunStore(path, startup_read_check=False)
    fill(store, 2000)
    store.close()
    kept = copy_dir(path)
    try:
        with _start(path) as handle:
            export("http-protobuf", handle, record_spans(lambda t: t.start_span("one").end()))
            assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[2001]]
            assert _sandbox(handle).last_refresh["spans"] == 2001  # the whole copy
        with _start(path) as handle:
            export("http-protobuf", handle, record_spans(lambda t: t.start_span("two").end()))
            names = "SELECT name, count(*) FROM spans GROUP BY name ORDER BY name"
            rows = post_sql(handle, names).json()["rows"]
            assert rows == [["big", 2000], ["one", 1], ["two", 1]]
            sandbox = _sandbox(handle)
            assert sandbox.resumed == 1
            assert sandbox.last_refresh["spans"] == 1  # only the span stored since
        # A copy whose last sync did not finish (no copy id) is not trusted.
        (kept / "copy-id").unlink()
        with _start(path) as handle:
            assert post_sql(handle, "SELECT count(*) FROM spans").json()["rows"] == [[2002]]
            sandbox = _sandbox(handle)
            assert sandbox.resumed == 0 and sandbox.last_refresh["spans"] == 2002
    finally:
        shutil.rmtree(kept, ignore_errors=True)
