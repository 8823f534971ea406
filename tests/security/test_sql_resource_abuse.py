"""Queries built to exhaust time or memory end bounded, and nothing else slows down.

One query of each class that costs without bound if left alone: a huge
``range``, a cross join, a string grown to gigabytes (``repeat``, ``lpad``,
``printf``, doubling in a recursive CTE), an aggregate of gigabytes
(``string_agg``, ``list`` of a billion), a recursion with no end, rows without
end (``repeat_row``), nesting DuckDB binds in superlinear time, JSON nested past
any parser's stack. Each gets its answer (a 400 naming the limit, a 503 when it
took the worker down, or rows cut at the cap) within the time limit plus the
worker's grace; meanwhile ``/healthz`` and the run list answer at once, spans
sent are stored, and what was stored reads as before. The collector's own memory
(the worker is another process) does not grow with the queries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector import api as collector_api
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle, start_test_collector
from tests.support import wait_until

TIMEOUT_S = 2.0
GRACE_S = 5.0  # collector.sql_worker_process.SandboxLimits.grace_s
# A busy 2-core machine (other test processes) adds this to every answer.
SLACK_S = 20.0

ABUSE = {
    "huge range": "SELECT count(*) FROM range(1000000000000)",
    "cross join": "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b",
    "2 GB repeat": "SELECT length(repeat('x', 2000000000))",
    "2 GB lpad": "SELECT lpad('x', 2000000000, 'y')",
    "2 GB printf": "SELECT printf('%2000000000d', 1)",
    "string_agg of 10 GB": (
        "SELECT length(string_agg(repeat('x', 1000), ',')) FROM range(10000000)"
    ),
    "list of a billion": "SELECT len(list_sort(range(1000000000)))",
    "endless recursion": (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r"
    ),
    "doubling recursion": (
        "WITH RECURSIVE r(s) AS (SELECT 'x' UNION ALL SELECT s || s FROM r) "
        "SELECT max(length(s)) FROM r"
    ),
    "rows without end": "SELECT * FROM repeat_row('x', num_rows := 1000000000000)",
    "wide rows without end": "SELECT repeat('y', 100000) FROM range(1000000000)",
    "400 nested calls": "SELECT " + "abs(" * 400 + "1" + ")" * 400,
    "JSON 100,000 deep": "SELECT json_structure(repeat('[', 100000) || repeat(']', 100000))",
    "recursive join blow-up": (
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT r.n + 1 FROM r, range(10)) "
        "SELECT count(*) FROM r"
    ),
}

# Answered with one row when it binds within the time limit (a quiet machine does).
ONE_ROW = frozenset({"400 nested calls"})


@pytest.fixture
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    """A collector of its own for each test: the abuse leaves its query worker rebuilding."""
    collector = start_test_collector(
        tmp_path_factory.mktemp("abuse") / "audit.duckdb",
        sql_timeout_s=TIMEOUT_S,
        sql_max_bytes=256 * 1024,
        sql_memory_mb=128,
        sql_temp_mb=32,
        sql_address_space_mb=3072,
    )
    try:
        yield collector
    finally:
        collector.stop()


class Probe:
    """Polls /healthz and the run list on a thread; keeps the slowest answer of each."""

    def __init__(self, api_url: str) -> None:
        self.slowest: dict[str, float] = {"/healthz": 0.0, "/agent/runs": 0.0}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api_url,), daemon=True)

    def _run(self, api_url: str) -> None:
        with httpx.Client(base_url=api_url, timeout=60) as client:
            while not self._stop.wait(0.1):
                for path in self.slowest:
                    started = time.monotonic()
                    answer = client.get(path, params={"limit": 50} if "runs" in path else None)
                    took = time.monotonic() - started
                    self.slowest[path] = max(self.slowest[path], took)
                    if answer.status_code != 200:
                        self.failures.append(f"{path}: {answer.status_code} {answer.text[:200]}")

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _sql(client: httpx.Client, query: str) -> httpx.Response:
    return client.post("/sql", json={"sql": query})


def _ready(client: httpx.Client) -> Any:
    """The answer to a trivial query once the worker's copy is up to date."""

    def answered() -> Any:
        answer = _sql(client, "SELECT count(*) FROM spans")
        return answer.json() if answer.status_code == 200 else None

    return wait_until(answered, timeout_s=120, interval_s=0.2, what="the /sql worker ready")


def _runs(handle: CollectorHandle) -> dict[str, Any]:
    answer = httpx.get(f"{handle.api_url}/agent/runs", params={"limit": 1000}, timeout=30)
    assert answer.status_code == 200, answer.text
    return {run["id"]: run for run in answer.json()["runs"]}


def _a_run() -> Any:
    def build(tracer: Any) -> None:
        with tracer.start_as_current_span(
            "invoke_agent ops",
            attributes={"gen_ai.operation.name": "invoke_agent", "agent_run.task": "kept"},
        ):
            for tool in ("probe", "fix"):
                tracer.start_span(
                    f"execute_tool {tool}",
                    attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool},
                ).end()

    return record_spans(build)


def _one_span(name: str) -> Any:
    return record_spans(lambda tracer: tracer.start_span(name).end())


@pytest.mark.timeout(900)
@pytest.mark.xdist_group("sql-abuse")
def test_every_abuse_class_is_bounded_and_nothing_else_slows(handle: CollectorHandle) -> None:
    export("http-protobuf", handle, _a_run())
    with httpx.Client(base_url=handle.api_url, timeout=120) as client:
        assert _ready(client)["rows"] == [[3]]
        before = _runs(handle)
        rss_before = _rss_mb()
        answers: dict[str, tuple[int, float, str]] = {}
        with Probe(handle.api_url) as probe:
            for index, (name, query) in enumerate(ABUSE.items()):
                _ready(client)
                started = time.monotonic()
                answer = _sql(client, query)
                took = time.monotonic() - started
                shown = answer.text[:300]
                if answer.status_code == 200:
                    shown = f"truncated={answer.json()['truncated']}"
                answers[name] = (answer.status_code, took, shown)
                # Ingest goes on whatever the last query did to the worker.
                export("grpc", handle, _one_span(f"after {index}"))
        for name, (status, took, text) in answers.items():
            assert status in (200, 400, 503), (name, status, text)
            assert took < TIMEOUT_S + GRACE_S + SLACK_S, (name, took)
            if status == 200:
                # A bounded answer: cut at the row limit, or the one row it has.
                whole = "truncated=False" if name in ONE_ROW else "truncated=True"
                assert text == whole, (name, text)
            else:
                assert text and "Internal Server Error" not in text, (name, text)
        assert probe.failures == [], probe.failures
        # /healthz and the run list never waited for a query (a stall would be the
        # whole query's time; the bound allows for the busy machine).
        assert max(probe.slowest.values()) < 5.0, probe.slowest
        # Every span sent meanwhile is stored, and readable through /sql too.
        expected = 3 + len(ABUSE)
        assert handle.query("SELECT count(*) FROM spans") == [(expected,)]
        assert _ready(client)["rows"] == [[expected]]
        after = _runs(handle)
        assert before and {run_id: after.get(run_id) for run_id in before} == before
    # The queries' memory was the worker's, never the collector's.
    assert _rss_mb() - rss_before < 300, (rss_before, _rss_mb())


def _both_slots_held() -> bool:
    # The collector runs in this process: its two running slots, read rather than probed (a
    # probe taking a free slot would hold it, queued behind the slow query in the worker).
    return collector_api._sql_slots._value == 0  # type: ignore[attr-defined]


@pytest.mark.xdist_group("sql-abuse")  # not beside the abuse classes: they take the cores
def test_two_abusive_queries_at_once_leave_a_third_refused_at_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """While two slow queries hold both running slots, a third is checked first, in slots
    of its own: a query the check refuses gets its 400, one it accepts a 429 at once."""
    collector = start_test_collector(
        tmp_path_factory.mktemp("slots") / "audit.duckdb", sql_timeout_s=10.0
    )
    try:
        with httpx.Client(base_url=collector.api_url, timeout=120) as client:
            _ready(client)
        answers: list[int] = []

        def send() -> None:
            with httpx.Client(base_url=collector.api_url, timeout=120) as client:
                answers.append(_sql(client, ABUSE["cross join"]).status_code)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        try:
            wait_until(_both_slots_held, timeout_s=60, interval_s=0.05, what="both slots held")
            # One the check takes a while over, too: checked, then no slot to run in.
            third = "SELECT 1 WHERE " + " AND ".join(["true"] * 1_000)
            third_answer = httpx.post(f"{collector.api_url}/sql", json={"sql": third}, timeout=30)
            refused = [
                httpx.post(f"{collector.api_url}/sql", json={"sql": query}, timeout=30)
                for query in REFUSED_AT_ONCE
            ]
            held_throughout = _both_slots_held()
        finally:
            for thread in threads:
                thread.join(120)
        assert held_throughout  # else the slow queries ended first: the answers prove nothing
        assert third_answer.status_code == 429, third_answer.text
        assert [answer.status_code for answer in refused] == [400] * len(REFUSED_AT_ONCE)
        assert "read_csv() reads files" in refused[1].json()["detail"]
        assert sorted(answers) == [400, 400], answers
    finally:
        collector.stop()


REFUSED_AT_ONCE = (
    "DELETE FROM spans",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT system.main.json_structure('[1]')",
)
