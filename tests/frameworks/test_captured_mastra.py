"""Mastra (Node) as its OpenTelemetry exporter really traced the captured agent
(``captured/capture_mastra.py``, which says the versions), sent over the wire to a real
collector: the shared agent and the failing run read as Mastra returned them (the checks of
test_captured_frameworks.py), and a streamed run (``agent.stream``) as well."""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import CollectorHandle
from tests.frameworks.test_captured_frameworks import _check_runs, _send
from tests.support import wait_until

CAPTURED = Path(__file__).parent / "captured"
EXPECTED = json.loads((CAPTURED / "mastra.expected.json").read_text())
STEPS = "action_type, tool_name, tool_args, tool_result, status, finish_reasons"


def _without_trace_of(body: bytes, task: str) -> bytes:
    """The request less the trace whose run span was given ``task``."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = [
        span
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    dropped = {
        s.trace_id
        for s in spans
        for a in s.attributes
        if a.key == "mastra.agent_run.input" and a.value.string_value == task
    }
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            kept = [s for s in scope.spans if s.trace_id not in dropped]
            del scope.spans[:]
            scope.spans.extend(kept)
    return request.SerializeToString()


def test_mastra_runs_read_as_mastra_returned_them(module_collector: CollectorHandle) -> None:
    body = (CAPTURED / "mastra.otlp").read_bytes()
    _send(module_collector, body)
    streamed = EXPECTED["streamed"]
    run_id = _check_runs(module_collector, _without_trace_of(body, streamed["task"]), EXPECTED)
    reasons = module_collector.query(
        "SELECT finish_reasons FROM agent_steps WHERE agent_run_id = ? AND action_type = 'think' "
        "ORDER BY step_number",
        [run_id],
    )
    calls = EXPECTED["success"]["model_calls"]
    assert [r[0] for r in reasons] == [json.dumps(["tool-calls"])] * (calls - 1) + [
        json.dumps(["stop"])
    ]

    def streamed_run() -> tuple[str, str, str] | None:
        rows = module_collector.query(
            "SELECT id, status, final_answer FROM agent_runs WHERE task = ? AND total_steps > 0",
            [streamed["task"]],
        )
        return rows[0] if rows and rows[0][1] != "running" else None

    run = wait_until(streamed_run, timeout_s=15, what="the streamed run")
    assert run[1:] == ("completed", streamed["answer"])
    steps = module_collector.query(
        f"SELECT {STEPS} FROM agent_steps WHERE agent_run_id = ? ORDER BY step_number", [run[0]]
    )
    assert [(s[0], s[1], s[4]) for s in steps] == [
        ("think", None, "ok"), ("tool_call", "to_fahrenheit", "ok"), ("think", None, "ok"),
    ]  # fmt: skip
    assert len(steps) == streamed["model_calls"] + 1
    assert (json.loads(steps[1][2]), steps[1][3]) == ({"celsius": 18}, "64.4")
