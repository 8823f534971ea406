"""Clocks that are wrong: an agent's clock set back while a run ran (spans that end before
they start), times before 1970 and far ahead. Every such span is stored as sent; runs and
steps read sanely (never ending before they began, never a negative duration), and the
run list and the stats still answer."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle, start_test_collector
from tests.security.test_otlp_partial_success import send

SECOND_NS = 10**9


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    collector = start_test_collector(tmp_path_factory.mktemp("clock") / "clock.duckdb")
    try:
        yield collector
    finally:
        collector.stop()


def _span(
    trace: bytes, span_id: bytes, parent: bytes, times: tuple[int, int], attrs: dict[str, Any]
) -> Span:
    start, end = times
    span = Span(
        trace_id=trace,
        span_id=span_id,
        parent_span_id=parent,
        name="span",
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    span.attributes.extend(kv(key, value) for key, value in attrs.items())
    return span


def _whole_run(run_id: str, run_times: tuple[int, int], *step_times: tuple[int, int]) -> Any:
    """A run span and its tool steps, with the given (start, end) nanoseconds."""
    trace, root = os.urandom(16), os.urandom(8)
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    run = {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.RUN_ID: run_id, A.RUN_STATUS: "completed"}
    spans.append(_span(trace, root, b"", run_times, run))
    tool = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "ps", A.RUN_ID: run_id}
    for times in step_times:
        spans.append(_span(trace, os.urandom(8), root, times, tool))
    return request, trace.hex()


def _parsed(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@pytest.mark.parametrize("protocol", ["grpc", "http-protobuf", "http-json"])
def test_a_run_whose_clock_was_set_back_while_it_ran_is_stored(
    handle: CollectorHandle, protocol: str
) -> None:
    # NTP steps the agent's clock back 5 s during the run: the run span and the step that
    # was running then end "before" they started; the step after is consistent again.
    run_id = f"setback-{os.urandom(4).hex()}"
    t0 = time.time_ns()
    request, trace = _whole_run(
        run_id,
        (t0, t0 - 4 * SECOND_NS),
        (t0 + SECOND_NS, t0 - 5 * SECOND_NS),
        (t0 - 4 * SECOND_NS, t0 - 3 * SECOND_NS),
    )
    # Before: the run span and the step were rejected (partial success), the run lost.
    assert send(handle, protocol, request) == (0, "")

    run = httpx.get(f"{handle.api_url}/agent/runs/{run_id}", timeout=10).json()
    assert run["status"] == "completed" and run["total_steps"] == 2, run
    started, completed = _parsed(run["started_at"]), _parsed(run["completed_at"])
    assert started is not None and completed == started
    assert run["duration_ms"] == 0.0
    steps = httpx.get(f"{handle.api_url}/agent/runs/{run_id}/steps", timeout=10).json()["steps"]
    assert sorted(step["duration_ms"] for step in steps) == [0.0, 1000.0]
    # The spans as sent: nothing repaired in the lossless record.
    stored = handle.query("SELECT start_ns, end_ns FROM spans WHERE trace_id = ?", [trace])
    assert sorted(stored) == sorted(
        [
            (t0, t0 - 4 * SECOND_NS),
            (t0 + SECOND_NS, t0 - 5 * SECOND_NS),
            (t0 - 4 * SECOND_NS, t0 - 3 * SECOND_NS),
        ]
    )


@pytest.mark.parametrize(
    ("label", "start_ns"),
    [
        ("the first nanosecond of 1970", 1),
        ("fifty years ahead", 3_376_684_800 * SECOND_NS),  # 2077-01-01
        ("the last second DuckDB can hold", (2**63 - 1) - 10 * SECOND_NS),
    ],
    ids=["1970", "2077", "2262"],
)
def test_runs_at_extreme_times_are_stored_and_lists_and_stats_answer(
    handle: CollectorHandle, label: str, start_ns: int
) -> None:
    run_id = f"extreme-{os.urandom(4).hex()}"
    request, _ = _whole_run(
        run_id,
        (start_ns, start_ns + 3 * SECOND_NS),
        (start_ns + SECOND_NS, start_ns + 2 * SECOND_NS),
    )
    assert send(handle, "http-protobuf", request) == (0, ""), label

    run = httpx.get(f"{handle.api_url}/agent/runs/{run_id}", timeout=10).json()
    assert (run["status"], run["total_steps"], run["duration_ms"]) == ("completed", 1, 3000.0)
    listed = httpx.get(f"{handle.api_url}/agent/runs", params={"limit": 500}, timeout=10)
    assert listed.status_code == 200 and run_id in {r["id"] for r in listed.json()["runs"]}
    everything = {"since": "1970-01-01T00:00:00Z"}
    for params in ({}, {"bucket": "day"}, everything, {**everything, "bucket": "hour"}):
        stats = httpx.get(f"{handle.api_url}/agent/runs/stats", params=params, timeout=30)
        assert stats.status_code == 200, (params, stats.text)
