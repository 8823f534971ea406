"""A /sql query whose rows take longer to render than the time limit is a 400, and the
worker lives on.

Found from outside: ``SELECT range(3000) FROM range(1000000)`` with a short time
limit. DuckDB's interrupt fires while Python renders the first batch of wide
rows; reading the next batch then raised pyarrow's ``OSError: INTERRUPT Error``,
not a ``duckdb.Error``, which nothing caught: the query worker exited (code 1),
the client got 503 "the query worker exited" instead of the time limit, and the
next query waited for a new worker and a new copy of the tables. Rendering did
not look at the clock either, so a query ran on for as long as its batch took.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from collector.query_sql import SqlTimeout, run_read_only
from collector.sql_guard import check_read_only
from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql

TIME_LIMIT_S = 0.5
# Lists of thousands of numbers: a batch of 2,048 such rows renders for seconds.
WIDE_ROWS = [
    "SELECT range(3000) AS wide FROM range(1000000)",
    "SELECT list_transform(range(2000), x -> x::VARCHAR) AS wide FROM range(1000000)",
    "SELECT [struct_pack(a := r) for r in range(1500)] AS wide FROM range(1000000)",
]


@pytest.mark.parametrize("query", WIDE_ROWS)
def test_the_time_limit_ends_rendering_with_a_timeout(query: str) -> None:
    connection = duckdb.connect(config={"threads": 1})
    try:
        with pytest.raises(SqlTimeout):
            run_read_only(
                connection.cursor(),
                check_read_only(query),
                max_rows=10_000,
                timeout_s=TIME_LIMIT_S,
            )
        # The connection is still usable: the transaction was rolled back.
        assert connection.execute("SELECT 42").fetchone() == (42,)
    finally:
        connection.close()


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path / "render.duckdb", sql_timeout_s=TIME_LIMIT_S)
    try:
        yield collector
    finally:
        collector.stop()


def test_the_api_answers_the_time_limit_and_keeps_its_worker(handle: CollectorHandle) -> None:
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
    app: Any = handle.running.http_server.config.app
    sandbox = app.state.sql_sandbox
    worker, restarts = sandbox.worker_pid, sandbox.restarts
    for query in WIDE_ROWS:
        response = post_sql(handle.api_url, query)
        assert response.status_code == 400, response.text
        assert f"{TIME_LIMIT_S:g} s time limit" in response.json()["detail"]
    assert (sandbox.worker_pid, sandbox.restarts) == (worker, restarts)
    assert post_sql(handle.api_url, "SELECT 2").json()["rows"] == [[2]]
