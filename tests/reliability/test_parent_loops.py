"""Spans whose parents lead back to themselves, among good spans.

- A span naming itself as its parent is refused alone (OTLP partial success,
  with the reason), over every transport; the good spans of the same request
  are stored and make their run.
- A run span whose parent is one of its own steps (a loop through two spans,
  in one request or across two, in either order) is a run with no parent run,
  never its own parent, and still holds its step.
- Two runs each other's parent across requests: both stored, and every read of
  them answers.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.reliability.test_arrival_orders import TRANSPORTS
from tests.security.test_otlp_partial_success import send


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def _span(trace: bytes, span_id: bytes, parent: bytes | None, name: str, **attrs: Any) -> Span:
    start = time.time_ns()
    span = Span(
        trace_id=trace,
        span_id=span_id,
        parent_span_id=parent or b"",
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 1_000_000,
    )
    span.attributes.extend(kv(key, value) for key, value in attrs.items())
    return span


def _run(trace: bytes, span_id: bytes, parent: bytes | None, **attrs: Any) -> Span:
    return _span(
        trace,
        span_id,
        parent,
        "invoke_agent ops",
        **{A.GEN_AI_OPERATION_NAME: "invoke_agent", **attrs},
    )


def _tool(trace: bytes, span_id: bytes, parent: bytes | None, **attrs: Any) -> Span:
    return _span(
        trace,
        span_id,
        parent,
        "execute_tool ps",
        **{A.GEN_AI_OPERATION_NAME: "execute_tool", A.GEN_AI_TOOL_NAME: "ps", **attrs},
    )


def _request(spans: list[Span]) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    return request


def _reads_answer(handle: CollectorHandle, run_id: str) -> dict[str, Any]:
    for path in (f"/agent/runs/{run_id}/steps", "/agent/runs"):
        assert httpx.get(handle.api_url + path, timeout=10).status_code == 200
    response = httpx.get(handle.api_url + f"/agent/runs/{run_id}", timeout=10)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize("protocol", TRANSPORTS)
def test_a_span_that_is_its_own_parent_is_refused_alone(
    handle: CollectorHandle, protocol: str
) -> None:
    trace, root, selfish = os.urandom(16), os.urandom(8), os.urandom(8)
    spans = [
        _run(trace, root, None),
        _tool(trace, selfish, selfish),
        *(_tool(trace, os.urandom(8), root) for _ in range(3)),
    ]
    rejected, message = send(handle, protocol, _request(spans))
    assert rejected == 1, message
    assert f"span {selfish.hex()}: is its own parent" in message
    stored = handle.query("SELECT span_id FROM spans WHERE trace_id = ?", [trace.hex()])
    assert len(stored) == 4 and (selfish.hex(),) not in stored
    assert handle.query(
        "SELECT status, total_steps FROM agent_runs WHERE id = ?", [root.hex()]
    ) == [("completed", 3)]
    assert _reads_answer(handle, root.hex())["total_steps"] == 3


# How the run and its step arrive: together, step first, run first.
DELIVERIES = {"one request": [[0, 1]], "step first": [[1], [0]], "run first": [[0], [1]]}


@pytest.mark.parametrize("own_run_id", [False, True], ids=["foreign", "own"])
@pytest.mark.parametrize("delivery", sorted(DELIVERIES))
def test_a_run_under_its_own_step_is_no_run_s_child(
    handle: CollectorHandle, delivery: str, own_run_id: bool
) -> None:
    trace, run_span, step_span = os.urandom(16), os.urandom(8), os.urandom(8)
    run_id = f"loop-{os.urandom(4).hex()}" if own_run_id else run_span.hex()
    ours = {A.RUN_ID: run_id} if own_run_id else {}
    spans = [_run(trace, run_span, step_span, **ours), _tool(trace, step_span, run_span, **ours)]
    for part in DELIVERIES[delivery]:
        assert send(handle, "http-protobuf", _request([spans[i] for i in part]))[0] == 0
    assert handle.query(
        "SELECT parent_run_id, total_steps FROM agent_runs WHERE trace_id = ?", [trace.hex()]
    ) == [(None, 1)]
    assert handle.query(
        "SELECT agent_run_id FROM agent_steps WHERE trace_id = ?", [trace.hex()]
    ) == [(run_id,)]
    assert _reads_answer(handle, run_id)["parent_run_id"] is None


def test_two_runs_each_other_s_parent_across_requests_read_back(handle: CollectorHandle) -> None:
    trace, a, b = os.urandom(16), os.urandom(8), os.urandom(8)
    assert send(handle, "grpc", _request([_run(trace, a, b)]))[0] == 0
    assert send(handle, "http-json", _request([_run(trace, b, a)]))[0] == 0
    assert len(handle.query("SELECT id FROM agent_runs WHERE trace_id = ?", [trace.hex()])) == 2
    for run in (a, b):
        assert _reads_answer(handle, run.hex())["status"] == "completed"
