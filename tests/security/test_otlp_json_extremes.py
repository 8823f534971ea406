"""OTLP/JSON text that Python's JSON parser or json_format cannot hold costs
only the span it is in.

Found from outside: a span field written ``Infinity`` or ``NaN`` where an
integer belongs raised OverflowError (500); an integer literal of 4,301 digits
or more made ``json.loads`` itself raise (500); a value nested a few hundred
levels deep made the whole body "nested too deeply" (400), the good spans next
to it lost. Each hostile span goes with 99 good ones; the answer must be a
success with ``rejected_spans == 1`` (or 0 where the hostile part is ignored)
and the good spans stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import Tracer

from bench.reliability.otlp_requests import to_otlp_json
from tests.collector.ingest.otlp import record_spans, to_request
from tests.conftest import CollectorHandle

VICTIM = 37
RAW = "@@raw-json@@"  # a placeholder string; its quoted form is replaced by raw text
HUGE_DIGITS = "9" * 5000


def _hundred(tracer: Tracer) -> None:
    with tracer.start_as_current_span("agent.run"):
        for index in range(1, 100):
            with tracer.start_as_current_span(f"tool step-{index:02d}") as span:
                span.set_attribute("tool.name", f"tool-{index}")


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def _document() -> tuple[dict[str, Any], str]:
    request: ExportTraceServiceRequest = to_request(record_spans(_hundred, service="extremes"))
    document: dict[str, Any] = to_otlp_json(request)
    return document, request.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()


def _post(handle: CollectorHandle, body: str) -> tuple[int, str]:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text[:500]
    partial = response.json().get("partialSuccess", {})
    return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")


def _stored(handle: CollectorHandle, trace_id: str) -> list[str]:
    rows = handle.query("SELECT name FROM spans WHERE trace_id = ?", [trace_id])
    return [row[0] for row in rows]


def _deep(kind: str, depth: int) -> str:
    """An AnyValue nested ``depth`` levels (kvlist or array), as raw JSON text."""
    if kind == "kvlist":
        opening, closing = '{"kvlistValue":{"values":[{"key":"k","value":', "}]}}"
    else:
        opening, closing = '{"arrayValue":{"values":[', "]}}"
    return opening * depth + '{"stringValue":"leaf"}' + closing * depth


def _field(key: str, raw: str) -> Callable[[dict[str, Any]], str]:
    def spoil(span: dict[str, Any]) -> str:
        span[key] = RAW
        return raw

    return spoil


def _attribute(raw_value: str) -> Callable[[dict[str, Any]], str]:
    def spoil(span: dict[str, Any]) -> str:
        span["attributes"][0]["value"] = RAW
        return raw_value

    return spoil


SPOILERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "kind Infinity": _field("kind", "Infinity"),
    "kind -Infinity": _field("kind", "-Infinity"),
    "dropped count NaN": _field("droppedAttributesCount", "NaN"),
    "start time Infinity": _field("startTimeUnixNano", "Infinity"),
    "flags 1e400": _field("flags", "1e400"),
    "kind of 5000 digits": _field("kind", HUGE_DIGITS),
    "dropped count of -5000 digits": _field("droppedAttributesCount", "-" + HUGE_DIGITS),
    "int value of 5000 digits": _attribute('{"intValue": ' + HUGE_DIGITS + "}"),
    "int value Infinity": _attribute('{"intValue": Infinity}'),
    "double value of 5000 digits": _attribute('{"doubleValue": ' + HUGE_DIGITS + "}"),
    "event time NaN": _field("events", '[{"name": "tick", "timeUnixNano": NaN}]'),
    "NaN under a 100,000-character key": _field(
        "attributes", '[{"key": "' + "k" * 100_000 + '", "value": {"doubleValue": "NaN"}}]'
    ),
    "array value 2000 deep": _attribute(_deep("array", 2000)),
    "kvlist value 1000 deep": _attribute(_deep("kvlist", 1000)),
    "array value 300 deep": _attribute(_deep("array", 300)),
    "event attribute 2000 deep": _field(
        "events",
        '[{"name": "tick", "attributes": [{"key": "k", "value": ' + _deep("array", 2000) + "}]}]",
    ),
}


@pytest.mark.parametrize("case", sorted(SPOILERS))
def test_a_json_span_out_of_the_parsers_reach_costs_only_itself(
    handle: CollectorHandle, case: str
) -> None:
    document, trace_id = _document()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    victim_name, victim_id = spans[VICTIM]["name"], spans[VICTIM]["spanId"]
    raw = SPOILERS[case](spans[VICTIM])
    body = json.dumps(document).replace(json.dumps(RAW), raw)
    rejected, message = _post(handle, body)
    assert rejected == 1, message
    # Named by its position (did not parse) or by its id (parsed, then refused).
    assert f"span {VICTIM} does not parse" in message or victim_id in message, message
    assert len(message) < 1000, message
    names = _stored(handle, trace_id)
    assert len(names) == 99 and victim_name not in names


def test_a_deep_value_in_a_field_otlp_does_not_have_is_ignored(handle: CollectorHandle) -> None:
    document, trace_id = _document()
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[VICTIM]["vendorExtension"] = RAW
    body = json.dumps(document).replace(json.dumps(RAW), "[" * 3000 + "]" * 3000)
    assert _post(handle, body) == (0, "")
    assert len(_stored(handle, trace_id)) == 100


def test_a_deep_resource_attribute_costs_only_that_resources_spans(
    handle: CollectorHandle,
) -> None:
    good, good_trace = _document()
    bad, bad_trace = _document()
    spoiled = bad["resourceSpans"][0]
    spoiled["resource"]["attributes"].append({"key": "deep", "value": RAW})
    good["resourceSpans"].append(spoiled)
    body = json.dumps(good).replace(json.dumps(RAW), _deep("array", 2000))
    rejected, message = _post(handle, body)
    assert rejected == 100 and "resource 1 does not parse" in message, message
    assert len(_stored(handle, good_trace)) == 100
    assert _stored(handle, bad_trace) == []


def test_a_body_that_is_only_deep_nesting_is_refused(handle: CollectorHandle) -> None:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=("[" * 100_000 + "]" * 100_000).encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["code"] == 3  # INVALID_ARGUMENT
