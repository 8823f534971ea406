"""A /sql query that runs the query worker out of memory does not leave it holding that
memory for the queries after it.

Found from outside (a real collector, `demo` runs): after
``SELECT len(list_transform(range(100000), x -> repeat('x', 100000)))`` answered 400
"Out of Memory Error", the worker stayed at 1.5 GB resident, its address space
within a few MB of its 2 GB limit, for as long as it lived; a plain
``SELECT [[1,2],[3]]`` a few queries later was answered 400 "can't start new thread"
(no room for the thread of its time limit) and other queries failed with "bad
allocation" where a fresh worker answered. Now a worker that holds more than its
DuckDB memory limit plus a margin (or most of its address space) after a query
answers it and is replaced; the new worker takes over the copy on disk.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.sql_worker_memory import MemoryHeld, held_memory, spent_reason
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.sql_client import post_sql
from tests.support import wait_until

MEMORY_MB = 128
ADDRESS_SPACE_MB = 2048
# Each builds a list of strings past the worker's address space in one call (10 GB,
# 1 GB), which DuckDB fails with "Out of Memory" and then keeps (1.5 GB resident here).
EXHAUSTING = [
    "SELECT len(list_transform(range(100000), x -> repeat('x', 100000)))",
    "SELECT len(list_transform(range(20000000), x -> x::VARCHAR || repeat('b', 40)))",
]


def _resident_mb(pid: int) -> float | None:
    """The resident memory of process ``pid``, or None once it is gone."""
    return held_memory(Path(f"/proc/{pid}/statm")).resident_mb if _alive(pid) else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


def _a_run() -> Any:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span(
            "invoke_agent ops",
            attributes={
                "gen_ai.operation.name": "invoke_agent",
                "agent_run.id": "memory-run",
                "agent_run.task": "kept",
            },
        ):
            for tool in ("probe", "fix", "check"):
                tracer.start_span(
                    f"execute_tool {tool}",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
                ).end()

    return record_spans(build)


@pytest.fixture
def handle(tmp_path: Path) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path / "memory.duckdb",
        sql_memory_mb=MEMORY_MB,
        sql_address_space_mb=ADDRESS_SPACE_MB,
        sql_timeout_s=30.0,
    )
    try:
        yield collector
    finally:
        collector.stop()


@pytest.mark.parametrize("query", EXHAUSTING)
def test_memory_a_failed_query_took_is_given_back(handle: CollectorHandle, query: str) -> None:
    export("http-protobuf", handle, _a_run())
    runs_before = httpx.get(f"{handle.api_url}/agent/runs", timeout=30).json()["runs"]
    assert [run["id"] for run in runs_before] == ["memory-run"]
    assert post_sql(handle.api_url, "SELECT count(*) FROM agent_steps").json()["rows"] == [[3]]
    app: Any = handle.running.http_server.config.app
    sandbox = app.state.sql_sandbox
    worker = sandbox.worker_pid
    assert worker is not None

    slowest = [0.0]
    stop = threading.Event()

    def poll_health() -> None:
        with httpx.Client(base_url=handle.api_url, timeout=10) as client:
            while not stop.is_set():
                started = time.monotonic()
                assert client.get("/healthz").status_code == 200
                slowest[0] = max(slowest[0], time.monotonic() - started)
                stop.wait(0.1)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    try:
        answer = post_sql(handle.api_url, query)
    finally:
        stop.set()
        poller.join(30)
    assert answer.status_code == 400, answer.text
    assert "Out of Memory" in answer.json()["detail"]
    assert slowest[0] < 10.0

    # The worker that ran it no longer holds the memory it took: it was replaced.
    # (Before: the same worker kept 1.5 GB resident.)
    wait_until(
        lambda: (_resident_mb(worker) or 0.0) < MEMORY_MB + 512,
        timeout_s=30,
        what="the worker to give back the memory of the failed query",
    )
    assert not _alive(worker)
    resumed = sandbox.resumed
    # The next queries are answered by a fresh worker on the same copy, nothing lost.
    for _ in range(3):
        assert post_sql(handle.api_url, "SELECT [[1, 2], [3]] AS l").json()["rows"] == [
            [[[1, 2], [3]]]
        ]
    assert post_sql(handle.api_url, "SELECT count(*) FROM agent_steps").json()["rows"] == [[3]]
    assert sandbox.resumed == resumed + 1  # the copy on disk was taken over, not rebuilt
    fresh = sandbox.worker_pid
    assert fresh not in {None, worker}
    assert (_resident_mb(fresh) or 0.0) < MEMORY_MB + 512
    runs_after = httpx.get(f"{handle.api_url}/agent/runs", timeout=30).json()["runs"]
    assert runs_after == runs_before


def test_an_honest_query_keeps_its_worker(handle: CollectorHandle) -> None:
    assert post_sql(handle.api_url, "SELECT 1").json()["rows"] == [[1]]
    app: Any = handle.running.http_server.config.app
    sandbox = app.state.sql_sandbox
    worker, restarts = sandbox.worker_pid, sandbox.restarts
    queries = [
        "SELECT count(*) FROM (SELECT DISTINCT 'y' || i FROM range(2000000) t(i))",
        "SELECT max(s) FROM (SELECT 'x' || i AS s FROM range(1000000) t(i) ORDER BY s DESC)",
        "SELECT * FROM range(5000)",
    ]
    for query in queries:
        assert post_sql(handle.api_url, query).status_code == 200
    assert (sandbox.worker_pid, sandbox.restarts) == (worker, restarts)


@pytest.mark.parametrize(
    ("held", "spent"),
    [
        (MemoryHeld(resident_mb=170, address_mb=520), False),
        (MemoryHeld(resident_mb=MEMORY_MB + 511, address_mb=1600), False),
        (MemoryHeld(resident_mb=1500, address_mb=1600), True),
        (MemoryHeld(resident_mb=300, address_mb=0.81 * ADDRESS_SPACE_MB), True),
        (None, False),
    ],
)
def test_which_workers_are_spent(held: MemoryHeld | None, spent: bool) -> None:
    reason = spent_reason(held, memory_mb=MEMORY_MB, address_space_mb=ADDRESS_SPACE_MB)
    assert (reason is not None) == spent
    # Without an address-space limit only the resident memory counts.
    unlimited = spent_reason(held, memory_mb=MEMORY_MB, address_space_mb=0)
    assert (unlimited is not None) == (held is not None and held.resident_mb > MEMORY_MB + 512)
