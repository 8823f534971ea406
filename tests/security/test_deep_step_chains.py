"""A step belongs to its run however far below it the step is.

Found from outside: the walk up from a span to its nearest run stopped after
256 levels (a guard against parent cycles), so in a chain of 20,000 spans
under one run only 256 steps got the run; the rest were stored with none.
Now each answer of the walk is kept for the spans below (collector/nearest_runs.py):
any depth costs one walk, and a cycle is recognised when the walk meets itself.
"""

from __future__ import annotations

import os

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.support import wait_until

START_NS = 1_790_000_000_000_000_000
DEPTH = 600


def _chain(trace: bytes, ids: list[bytes], top_parent: bytes | None) -> list[Span]:
    """Tool steps each the child of the one before; the first under ``top_parent``."""
    return [
        Span(
            trace_id=trace,
            span_id=span_id,
            parent_span_id=ids[index - 1] if index else (top_parent or b""),
            name="execute_tool deep",
            start_time_unix_nano=START_NS + index + 1,
            end_time_unix_nano=START_NS + 10**9,
            attributes=[
                kv(A.GEN_AI_OPERATION_NAME, A.OP_EXECUTE_TOOL),
                kv(A.GEN_AI_TOOL_NAME, "deep"),
            ],
        )
        for index, span_id in enumerate(ids)
    ]


def _run_span(trace: bytes, span_id: bytes, run_id: str) -> Span:
    return Span(
        trace_id=trace,
        span_id=span_id,
        name="invoke_agent deep",
        start_time_unix_nano=START_NS,
        end_time_unix_nano=START_NS + 2 * 10**9,
        attributes=[kv(A.GEN_AI_OPERATION_NAME, A.OP_INVOKE_AGENT), kv(A.RUN_ID, run_id)],
    )


def _send(handle: CollectorHandle, spans: list[Span]) -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=120,
    )
    assert response.status_code == 200, response.text


def _steps_by_run(handle: CollectorHandle, trace: bytes) -> dict[str | None, int]:
    rows = handle.query(
        "SELECT agent_run_id, count(*) FROM agent_steps WHERE trace_id = ? GROUP BY ALL",
        [trace.hex()],
    )
    return {row[0]: row[1] for row in rows}


@pytest.mark.parametrize("arrival", ["one request", "chain first, run last", "in pieces"])
def test_every_step_of_a_deep_chain_belongs_to_its_run(
    collector: CollectorHandle, arrival: str
) -> None:
    trace, run_span = os.urandom(16), os.urandom(8)
    run_id = f"deep-{trace.hex()[:8]}"
    ids = [os.urandom(8) for _ in range(DEPTH)]
    steps = _chain(trace, ids, run_span)
    if arrival == "one request":
        _send(collector, [_run_span(trace, run_span, run_id), *steps])
    elif arrival == "chain first, run last":
        _send(collector, steps)
        _send(collector, [_run_span(trace, run_span, run_id)])
    else:
        _send(collector, [_run_span(trace, run_span, run_id)])
        for first in range(0, DEPTH, 100):
            _send(collector, steps[first : first + 100])
    wait_until(lambda: _steps_by_run(collector, trace) == {run_id: DEPTH}, timeout_s=60)
    total = collector.query("SELECT total_steps FROM agent_runs WHERE id = ?", [run_id])
    assert total == [(DEPTH,)]


def test_a_deep_chain_under_a_missing_span_gathers_under_one_stand_in(
    collector: CollectorHandle,
) -> None:
    trace, missing = os.urandom(16), os.urandom(8)
    _send(collector, _chain(trace, [os.urandom(8) for _ in range(DEPTH)], missing))
    wait_until(lambda: _steps_by_run(collector, trace) == {missing.hex(): DEPTH}, timeout_s=60)


def test_a_parent_cycle_belongs_to_no_run_and_does_not_stall(collector: CollectorHandle) -> None:
    trace, run_span = os.urandom(16), os.urandom(8)
    ids = [os.urandom(8) for _ in range(DEPTH)]
    cycle = _chain(trace, ids, ids[-1])  # the first step's parent is the last one
    _send(collector, [_run_span(trace, run_span, f"cycle-{trace.hex()[:8]}"), *cycle])
    wait_until(lambda: _steps_by_run(collector, trace) == {None: DEPTH}, timeout_s=60)
    after = _chain(trace, [os.urandom(8)], run_span)
    _send(collector, after)  # the next request is served as usual
    wait_until(lambda: _steps_by_run(collector, trace).get(f"cycle-{trace.hex()[:8]}") == 1)
