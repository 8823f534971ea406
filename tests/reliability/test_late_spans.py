"""Spans that come after the collector gave up on their run, or after a cancel.

A run silent for ``lost_after_s`` (by the collector's clock, whatever the
agent's clock says) is marked lost. What arrives later still counts: a step
makes it running again (it was not lost), its end makes it what the end says,
with every step, and a pending copy re-sent after the end changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle, start_test_collector
from tests.security.test_otlp_partial_success import send
from tests.support import wait_until

LOST_AFTER_S = 1.0
YEAR_NS = 365 * 86_400 * 10**9
# The agent's clock against the collector's: behind, right, ahead.
SKEWS = {"a year behind": -YEAR_NS, "right": 0, "a year ahead": YEAR_NS}


@pytest.fixture(scope="module")
def handle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorHandle]:
    collector = start_test_collector(
        tmp_path_factory.mktemp("late") / "late.duckdb", lost_after_s=LOST_AFTER_S
    )
    try:
        yield collector
    finally:
        collector.stop()


def _span(
    trace: bytes,
    span_id: bytes,
    parent: bytes | None,
    name: str,
    start: int,
    end: int,
    **attrs: Any,
) -> Span:
    span = Span(
        trace_id=trace,
        span_id=span_id,
        parent_span_id=parent or b"",
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )
    span.attributes.extend(kv(key, value) for key, value in attrs.items())
    return span


def _post(handle: CollectorHandle, *spans: Span) -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    assert send(handle, "http-protobuf", request) == (0, "")


def _run(handle: CollectorHandle, run_id: str) -> tuple[Any, ...]:
    (row,) = handle.query(
        "SELECT status, total_steps, completed_at IS NOT NULL FROM agent_runs WHERE id = ?",
        [run_id],
    )
    return row  # type: ignore[no-any-return]


def _becomes(handle: CollectorHandle, run_id: str, status: str) -> None:
    wait_until(lambda: _run(handle, run_id)[0] == status or None, timeout_s=20, what=status)


@pytest.mark.parametrize("skew", sorted(SKEWS))
def test_a_run_marked_lost_takes_its_late_steps_and_end(handle: CollectorHandle, skew: str) -> None:
    trace, real = os.urandom(16), os.urandom(8)
    run_id = f"late-{os.urandom(4).hex()}"
    t0 = time.time_ns() + SKEWS[skew]
    ours = {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.RUN_ID: run_id}
    pending = _span(
        trace,
        os.urandom(8),
        real,
        "invoke_agent ops",
        t0,
        t0,
        **ours,
        **{A.PENDING: True, A.PENDING_PARENT_ID: real.hex()},
    )
    _post(handle, pending)
    assert _run(handle, run_id)[0] == "running"
    _becomes(handle, run_id, "lost")

    tool = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "ps", A.RUN_ID: run_id}
    _post(handle, _span(trace, os.urandom(8), real, "execute_tool ps", t0 + 10, t0 + 20, **tool))
    assert _run(handle, run_id) == ("running", 1, False)
    _becomes(handle, run_id, "lost")  # silent again

    _post(handle, _span(trace, os.urandom(8), real, "execute_tool ps", t0 + 30, t0 + 40, **tool))
    _post(
        handle,
        _span(
            trace,
            real,
            None,
            "invoke_agent ops",
            t0,
            t0 + 100,
            **ours,
            **{A.RUN_STATUS: "completed"},
        ),
    )
    assert _run(handle, run_id) == ("completed", 2, True)
    _post(handle, pending)  # a heartbeat sent before the end, delivered after it
    assert _run(handle, run_id) == ("completed", 2, True)
    answer = httpx.get(f"{handle.api_url}/agent/runs/{run_id}", timeout=10).json()
    assert (answer["status"], answer["total_steps"]) == ("completed", 2)


def test_a_foreign_run_lost_before_its_span_came_is_what_the_span_says(
    handle: CollectorHandle,
) -> None:
    trace, root = os.urandom(16), os.urandom(8)
    t0 = time.time_ns()
    chat = {A.GEN_AI_OPERATION_NAME: "chat"}
    _post(handle, _span(trace, os.urandom(8), root, "chat m", t0 + 1, t0 + 2, **chat))
    ((stand_in,),) = handle.query("SELECT id FROM agent_runs WHERE trace_id = ?", [trace.hex()])
    _becomes(handle, stand_in, "lost")
    _post(handle, _span(trace, os.urandom(8), root, "chat m", t0 + 3, t0 + 4, **chat))
    assert _run(handle, stand_in)[:2] == ("running", 2)
    _post(
        handle,
        _span(
            trace,
            root,
            None,
            "invoke_agent x",
            t0,
            t0 + 100,
            **{A.GEN_AI_OPERATION_NAME: "invoke_agent"},
        ),
    )
    assert handle.query(
        "SELECT status, total_steps FROM agent_runs WHERE trace_id = ?", [trace.hex()]
    ) == [("completed", 2)]


def test_steps_after_a_cancel_request_are_kept_and_the_end_says_cancelled(
    handle: CollectorHandle,
) -> None:
    trace, real = os.urandom(16), os.urandom(8)
    run_id = f"cancel-{os.urandom(4).hex()}"
    t0 = time.time_ns()
    ours = {A.GEN_AI_OPERATION_NAME: "invoke_agent", A.RUN_ID: run_id}
    _post(
        handle,
        _span(
            trace,
            os.urandom(8),
            real,
            "invoke_agent ops",
            t0,
            t0,
            **ours,
            **{A.PENDING: True, A.PENDING_PARENT_ID: real.hex()},
        ),
    )
    response = httpx.post(f"{handle.api_url}/agent/runs/{run_id}/cancel", json={}, timeout=10)
    assert response.status_code == 202, response.text
    tool = {A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "ps", A.RUN_ID: run_id}
    for offset in (10, 20, 30):  # steps already under way when the cancel came
        _post(
            handle,
            _span(
                trace, os.urandom(8), real, "execute_tool ps", t0 + offset, t0 + offset + 5, **tool
            ),
        )
    assert _run(handle, run_id)[:2] == ("running", 3)
    _post(
        handle,
        _span(
            trace,
            real,
            None,
            "invoke_agent ops",
            t0,
            t0 + 100,
            **ours,
            **{A.RUN_STATUS: "cancelled"},
        ),
    )
    assert _run(handle, run_id) == ("cancelled", 3, True)
    # A second cancel of an ended run is refused, not recorded.
    again = httpx.post(f"{handle.api_url}/agent/runs/{run_id}/cancel", json={}, timeout=10)
    assert again.status_code == 409
