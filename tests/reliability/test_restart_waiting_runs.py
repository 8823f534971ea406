"""A sub-agent run stored before the span linking it to its parent run still gets its
parent run when that span arrives after the collector restarted (stopped cleanly, or
killed with kill -9 after acknowledging the first request).

Each example takes a framework's captured trace holding a sub-agent, finds (through
a collector given the whole trace) a nested run and the span right above it, sends
every other span to a collector process, restarts it on the same file, sends the
withheld span and asks the REST API for the nested run's parent run.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

from bench.reliability.harness import CollectorProcess
from tests.conftest import start_test_collector
from tests.reliability.test_arrival_orders import BODIES
from tests.span_items import SpanItem as Item
from tests.span_items import request_of as _request
from tests.span_items import span_items as _items
from tests.support import wait_until

# Captures whose trace holds a sub-agent run below a span of its parent run.
NESTED = ("agent_framework", "ag2_agent", "langgraph_js")


def _nested_runs(tmp_path: Path, items: list[Item]) -> dict[str, tuple[str, str, str]]:
    """Nested run id -> (its parent run id, its trace id, its span's parent span id)."""
    handle = start_test_collector(tmp_path / "whole.duckdb")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{handle.grpc_port}") as channel:
            answer = TraceServiceStub(channel).Export(_request(items), timeout=30)
        assert answer.partial_success.rejected_spans == 0, answer.partial_success.error_message
        handle.store.await_applied(120)
        rows = handle.query(
            "SELECT r.id, r.parent_run_id, s.trace_id, s.parent_span_id FROM agent_runs r "
            "JOIN spans s ON s.trace_id = r.trace_id AND s.span_id = r.span_id "
            "WHERE r.parent_run_id IS NOT NULL ORDER BY r.id"
        )
    finally:
        handle.stop()
    return {run: (parent, trace, span) for run, parent, trace, span in rows}


def _export(collector: CollectorProcess, request: ExportTraceServiceRequest) -> None:
    """Export over gRPC; the answer acknowledges every span as stored."""
    with grpc.insecure_channel(collector.grpc_target) as channel:
        answer = TraceServiceStub(channel).Export(request, timeout=30)
    assert answer.partial_success.rejected_spans == 0, answer.partial_success.error_message


def _parent_run_id(collector: CollectorProcess, run_id: str) -> str | None:
    response = httpx.get(f"{collector.api_url}/agent/runs/{run_id}", timeout=30)
    assert response.status_code == 200, response.text
    return response.json()["parent_run_id"]


@pytest.mark.parametrize("stop", ["sigterm", "kill-9"])
@pytest.mark.parametrize("framework", NESTED)
def test_a_run_waiting_for_its_parent_link_is_linked_after_a_restart(
    tmp_path: Path, framework: str, stop: str
) -> None:
    items = _items(BODIES[framework])
    nested = _nested_runs(tmp_path, items)
    assert nested, f"{framework}'s capture should hold a sub-agent run"
    run_id, (parent_run, trace_hex, link_hex) = next(iter(nested.items()))
    trace_id, link_id = bytes.fromhex(trace_hex), bytes.fromhex(link_hex)
    withheld = [i for i in items if (i[2].trace_id, i[2].span_id) == (trace_id, link_id)]
    first = [i for i in items if (i[2].trace_id, i[2].span_id) != (trace_id, link_id)]
    assert len(withheld) == 1

    db = tmp_path / "audit.duckdb"
    collector = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    try:
        _export(collector, _request(first))  # acknowledged: stored
        assert _parent_run_id(collector, run_id) is None  # waiting for the withheld span
        if stop == "sigterm":
            assert collector.terminate(timeout_s=120) == 0, collector.stderr_text()[-3000:]
        else:
            collector.kill()
    finally:
        collector.kill()

    again = CollectorProcess(db, log_dir=tmp_path / "logs").start()
    try:
        _export(again, _request(withheld))
        wait_until(
            lambda: _parent_run_id(again, run_id) is not None,
            timeout_s=30,
            what="the nested run's parent run",
        )
        assert _parent_run_id(again, run_id) == parent_run
    finally:
        again.kill()
