"""JSON text a sender stored cannot make the API fail to answer.

Found from outside: a run span whose ``agent_run.metadata`` was the text
``{"a": NaN}`` (or ``Infinity``, or ``1e999``) was stored, and from then on
``GET /agent/runs`` answered 500 on every page holding that run, for
everyone: Python's parser accepts those constants, the response encoder
(strict JSON) refuses them. JSON text nested a few hundred levels deep
(valid, so stored as JSON) made the encoder recurse past Python's limit. A
text with an unpaired ``\\ud800`` escape, which Python reads as JSON and
DuckDB's JSON refuses, made the span fail to store after it was acknowledged.
The same holds for a step's tool arguments. Each value must come back, with
its meaning kept, as strict JSON, from every route that returns it.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bench.reliability.otlp_requests import kv
from instrumentation import attributes as A
from tests.conftest import CollectorHandle
from tests.support import wait_until

START_NS = 1_790_000_000_000_000_000

# (stored JSON text, what the API must return for it)
HOSTILE: dict[str, tuple[str, Any]] = {
    "nan": ('{"a": NaN}', {"a": "NaN"}),
    "infinities": ("[Infinity, -Infinity]", ["Infinity", "-Infinity"]),
    "out of double range": (
        '{"big": 1e999, "small": -1e400}',
        {"big": "Infinity", "small": "-Infinity"},
    ),
    "nested 150 deep": ("[" * 150 + "]" * 150, "[" * 150 + "]" * 150),
    "nested 990 deep": ("[" * 990 + "]" * 990, "[" * 990 + "]" * 990),
    # Python's parser reads an unpaired surrogate escape, DuckDB's JSON refuses it:
    # the span failed to store after it was acknowledged.
    "unpaired surrogate escape": ('{"a": "\\ud800", "b": "\\udc00\\ud800"}',) * 2,
    "huge integer": ('{"n": ' + "7" * 5000 + "}", '{"n": ' + "7" * 5000 + "}"),
}
NESTED_OK = "[" * 60 + "1" + "]" * 60  # shallow enough to come back parsed


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def strict(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text[:300]

    def refuse(name: str) -> object:
        raise AssertionError(f"{name} is not JSON")

    return json.loads(response.text, parse_constant=refuse)


def _send(handle: CollectorHandle, text: str) -> tuple[str, str, str]:
    """A run whose metadata, and whose one tool step's arguments, are ``text``."""
    trace, run_span, step_span = os.urandom(16), os.urandom(8), os.urandom(8)
    run_id = f"json-{trace.hex()[:12]}"
    request = ExportTraceServiceRequest()
    resource = request.resource_spans.add()
    resource.resource.attributes.append(kv(A.SERVICE_NAME, "stored-json"))
    resource.scope_spans.add().spans.extend(
        [
            Span(
                trace_id=trace,
                span_id=run_span,
                name="invoke_agent stored-json",
                start_time_unix_nano=START_NS,
                end_time_unix_nano=START_NS + 10**9,
                attributes=[
                    kv(A.GEN_AI_OPERATION_NAME, A.OP_INVOKE_AGENT),
                    kv(A.RUN_ID, run_id),
                    kv(A.RUN_METADATA, text),
                ],
            ),
            Span(
                trace_id=trace,
                span_id=step_span,
                parent_span_id=run_span,
                name="execute_tool probe",
                start_time_unix_nano=START_NS + 1,
                end_time_unix_nano=START_NS + 2,
                attributes=[
                    kv(A.GEN_AI_OPERATION_NAME, A.OP_EXECUTE_TOOL),
                    kv(A.GEN_AI_TOOL_NAME, "probe"),
                    kv(A.GEN_AI_TOOL_CALL_ARGUMENTS, text),
                ],
            ),
        ]
    )
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=request.SerializeToString(),
        headers={"content-type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    wait_until(
        lambda: (
            handle.query("SELECT count(*) FROM agent_steps WHERE agent_run_id = ?", [run_id])[0][0]
            == 1
        ),
        timeout_s=30,
    )
    return run_id, trace.hex(), run_span.hex()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_stored_json_text_comes_back_as_strict_json(handle: CollectorHandle, case: str) -> None:
    text, expected = HOSTILE[case]
    run_id, trace_id, span_id = _send(handle, text)

    page = strict(httpx.get(handle.api_url + "/agent/runs", params={"limit": 1000}, timeout=30))
    (listed,) = [run for run in page["runs"] if run["id"] == run_id]
    assert listed["metadata"] == expected

    run = strict(httpx.get(f"{handle.api_url}/agent/runs/{quote(run_id)}", timeout=30))
    assert run["metadata"] == expected
    (step,) = run["steps"]
    assert step["tool_args"] == expected
    steps = strict(httpx.get(f"{handle.api_url}/agent/runs/{quote(run_id)}/steps", timeout=30))
    assert steps["steps"][0]["tool_args"] == expected

    span = strict(httpx.get(f"{handle.api_url}/spans/{trace_id}/{span_id}", timeout=30))
    assert span["attributes"][A.RUN_METADATA] == text  # the attribute, as sent


def test_ordinary_nested_json_still_comes_back_parsed(handle: CollectorHandle) -> None:
    run_id, _, _ = _send(handle, NESTED_OK)
    run = strict(httpx.get(f"{handle.api_url}/agent/runs/{quote(run_id)}", timeout=30))
    value = run["metadata"]
    for _ in range(60):
        assert isinstance(value, list) and len(value) == 1
        value = value[0]
    assert value == 1
