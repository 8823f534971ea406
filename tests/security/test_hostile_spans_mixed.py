"""Hostile spans mixed among good ones, generated, over gRPC, HTTP protobuf and HTTP JSON.

Each generated request holds a good run (a run span and its tool steps) and, in the
same resource and scope, spans carrying one to three hostile values of every class an
outsider can send: huge strings, JSON text nested thousands deep, NUL, invalid UTF-8
(in protobuf strings and JSON bodies), lone surrogate escapes (JSON), NaN and
infinities at any depth, int64 extremes, arrays of mixed types, kvlists nested shallow
and deep, duplicate keys, empty names, ids of the wrong length or all zeros, an end
before the start (stored: a clock set back), times of 0, 2^63 and 2^64-1. Whatever the mix:

- the answer is an OTLP success whose ``partial_success.rejected_spans`` is exactly
  the number of spans that break a rule (README, "One bad span costs only itself"),
  with a message when it is not zero;
- every other span is stored, the good run shows exactly its steps and results;
- a run stored before is read exactly as before, the collector stays healthy and
  ``verify`` still finds the hash chain intact.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from instrumentation import attributes as A
from tests.collector.ingest.otlp import to_otlp_json
from tests.conftest import CollectorHandle
from tests.security.test_trace_owned_ids import page, what_a_reader_sees
from tests.support import wait_until

PROTOCOLS = ("grpc", "http-protobuf", "http-json")
MAX_U64 = 2**64 - 1
_T0 = 1_750_000_000_000_000_000
# Replaced in the encoded body (same length): protobuf cannot carry them otherwise.
BAD_UTF8_MARKER = "@@bad-utf8@@"
BAD_UTF8 = b"ok\xc3(\xed\xa0\x80\xff\xfe\xf0\x9f\x98"
SURROGATE_MARKER = "@@surrogate@"
assert len(BAD_UTF8) == len(BAD_UTF8_MARKER) == len(SURROGATE_MARKER)


def _fill(out: AnyValue, value: Any) -> None:
    """Set ``out`` to ``value`` in place (copying a message nested past the parser's
    depth limit would parse it again, and fail)."""
    if isinstance(value, bool):
        out.bool_value = value
    elif isinstance(value, int):
        out.int_value = value
    elif isinstance(value, float):
        out.double_value = value
    elif isinstance(value, bytes):
        out.bytes_value = value
    elif isinstance(value, str):
        out.string_value = value
    elif isinstance(value, list):
        out.array_value.SetInParent()
        for item in value:
            _fill(out.array_value.values.add(), item)
    elif isinstance(value, dict):
        out.kvlist_value.SetInParent()
        for key, item in value.items():
            _fill(_add(out.kvlist_value.values, key), item)


def _add(key_values: Any, key: str) -> AnyValue:
    pair = key_values.add()
    pair.key = key
    return pair.value


def _set(span: Span, key: str, value: Any) -> None:
    _fill(_add(span.attributes, key), value)


def _nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"k": leaf}
    return leaf


def _event(span: Span, time_ns: int, **attributes: Any) -> None:
    event = span.events.add(name="hostile event", time_unix_nano=time_ns)
    for key, value in attributes.items():
        _fill(_add(event.attributes, key), value)


def _link(span: Span, trace_id: bytes, span_id: bytes, **attributes: Any) -> None:
    link = span.links.add(trace_id=trace_id, span_id=span_id)
    for key, value in attributes.items():
        _fill(_add(link.attributes, key), value)


@dataclass(frozen=True)
class Spoiler:
    """One hostile value class: how it spoils a span, and whether the span must be refused."""

    spoil: Callable[[Span], None]
    refused: bool


def _name(value: str) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        span.name = value

    return spoil


def _ids(**fields: bytes) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        for field, value in fields.items():
            setattr(span, field, value)

    return spoil


def _times(start: int | None = None, end: int | None = None) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        if start is not None:
            span.start_time_unix_nano = start
        if end is not None:
            span.end_time_unix_nano = end

    return spoil


def _attribute(key: str, value: Any) -> Callable[[Span], None]:
    return lambda span: _set(span, key, value)


def _duplicate_keys(span: Span) -> None:
    for value in ("first", 2, ["third"], {"fourth": 4.0}):
        _set(span, "hostile.twice", value)


def _status(code: int, message: str) -> Callable[[Span], None]:
    def spoil(span: Span) -> None:
        span.status.code = code  # type: ignore[assignment]
        span.status.message = message

    return spoil


STORED: dict[str, Callable[[Span], None]] = {
    "2 MB string": _attribute("hostile.huge", "x" * (2 << 20)),
    "1 MB name": _name("n" * (1 << 20)),
    "tool arguments nested 50,000 deep": _attribute(
        A.GEN_AI_TOOL_CALL_ARGUMENTS, "[" * 50_000 + "]" * 50_000
    ),
    "object text nested 5,000 deep": _attribute(
        "hostile.json", '{"a":' * 5_000 + "1" + "}" * 5_000
    ),
    "NUL in name": _name("ho\x00stile"),
    "NUL in key and value": _attribute("hostile\x00key", "va\x00lue"),
    "NUL in status": _status(2, "fail\x00ed"),
    "invalid UTF-8 in a value": _attribute("hostile.utf8", BAD_UTF8_MARKER),
    "invalid UTF-8 in a key": _attribute(BAD_UTF8_MARKER, "v"),
    "invalid UTF-8 in the name": _name(BAD_UTF8_MARKER),
    "lone surrogates (JSON escapes)": _attribute("hostile.surrogate", SURROGATE_MARKER),
    "int64 extremes": lambda s: (
        _set(s, A.GEN_AI_USAGE_INPUT_TOKENS, 2**63 - 1),
        _set(s, A.GEN_AI_USAGE_OUTPUT_TOKENS, -(2**63)),
    ),
    "mixed array": _attribute("hostile.mixed", [1, "a", True, 2.5, b"\x00\xff", {"k": [None]}]),
    "kvlist 8 deep": _attribute("hostile.deep", _nested(8, "leaf")),
    "duplicate keys": _duplicate_keys,
    "double extremes": lambda s: (
        _set(s, "hostile.max", 1.7976931348623157e308),
        _set(s, "hostile.tiny", 5e-324),
        _set(s, "hostile.negzero", -0.0),
    ),
    "empty key and value": _attribute("", ""),
    "all-zero parent id": _ids(parent_span_id=b"\0" * 8),
    "times 0": _times(0, 0),
    "start 0": _times(start=0),
    "end 2^63-1": _times(end=2**63 - 1),
    # A clock set back while the span ran: stored as sent (README, "Clock faults").
    "end before start": _times(start=_T0 + 5 * 10**9, end=_T0 + 4 * 10**9),
    "event at 0": lambda s: _event(s, 0),
    "link with empty ids": lambda s: _link(s, b"", b""),
}
REFUSED: dict[str, Callable[[Span], None]] = {
    "NaN": _attribute("hostile.nan", float("nan")),
    "inf in a kvlist": _attribute("hostile.inf", {"a": [1.0, float("inf")]}),
    "-inf in an event": lambda s: _event(s, _T0, cost=float("-inf")),
    "NaN in a link": lambda s: _link(s, os.urandom(16), os.urandom(8), w=float("nan")),
    "kvlist 40 deep": _attribute("hostile.deeper", _nested(40, "leaf")),
    "empty name": _name(""),
    "5-byte trace id": _ids(trace_id=b"\1" * 5),
    "17-byte trace id": _ids(trace_id=b"\1" * 17),
    "zero trace id": _ids(trace_id=b"\0" * 16),
    "3-byte span id": _ids(span_id=b"\1" * 3),
    "zero span id": _ids(span_id=b"\0" * 8),
    "4-byte parent id": _ids(parent_span_id=b"\1" * 4),
    "5-byte link trace id": lambda s: _link(s, b"\1" * 5, b"\2" * 8),
    "end 2^64-1": _times(end=MAX_U64),
    "start 2^64-1": _times(start=MAX_U64, end=MAX_U64),
    "end 2^63": _times(end=2**63),
    "event at 2^64-1": lambda s: _event(s, MAX_U64),
    # Numbers outside SpanKind and StatusCode: no reader knows what they mean (status
    # 99 would read as "not an error"), so the span is refused (collector/span_checks.py).
    "kind 99, status 99": lambda s: (setattr(s, "kind", 99), _status(99, "?")(s)),
}
SPOILERS = {
    **{name: Spoiler(fn, refused=False) for name, fn in STORED.items()},
    **{name: Spoiler(fn, refused=True) for name, fn in REFUSED.items()},
}


def _span(trace_id: bytes, parent: bytes | None, name: str, start_s: float, **attrs: Any) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=os.urandom(8),
        name=name,
        start_time_unix_nano=_T0 + int(start_s * 1e9),
        end_time_unix_nano=_T0 + int((start_s + 0.5) * 1e9),
    )
    if parent is not None:
        span.parent_span_id = parent
    for key, value in attrs.items():
        _set(span, key, value)
    return span


def good_run(
    trace_id: bytes, run_id: str | None, tools: int
) -> tuple[list[Span], bytes, list[str]]:
    """A run span and its tool steps; the run's span id and the steps' results."""
    run_attrs: dict[str, Any] = {
        A.GEN_AI_OPERATION_NAME: "invoke_agent",
        A.GEN_AI_AGENT_NAME: "ops",
        A.RUN_TASK: "good task",
    }
    if run_id is not None:
        run_attrs[A.RUN_ID] = run_id
    run = _span(trace_id, None, "invoke_agent ops", 0, **run_attrs)
    run.end_time_unix_nano = _T0 + 100 * 10**9
    results = [f"result {n}" for n in range(tools)]
    steps = [
        _span(
            trace_id,
            run.span_id,
            "execute_tool probe",
            1 + n,
            **{
                A.GEN_AI_OPERATION_NAME: "execute_tool",
                A.GEN_AI_TOOL_NAME: "probe",
                A.GEN_AI_TOOL_CALL_RESULT: result,
                **({A.RUN_ID: run_id} if run_id else {}),
            },
        )
        for n, result in enumerate(results)
    ]
    return [run, *steps], run.span_id, results


def encode(protocol: str, request: ExportTraceServiceRequest) -> bytes:
    """The body as sent, with the markers turned into what protobuf cannot carry."""
    if protocol == "http-json":
        document = to_otlp_json(request)
        for rs in document.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for span in ss.get("spans", []):
                    for link in span.get("links", []):  # hex in OTLP/JSON, as span ids
                        for key in ("traceId", "spanId"):
                            if link.get(key):
                                link[key] = base64.b64decode(link[key]).hex()
        body = json.dumps(document, allow_nan=True).encode()
        body = body.replace(SURROGATE_MARKER.encode(), b"a\\ud800b\\udfffc")
    else:
        body = request.SerializeToString()
        body = body.replace(SURROGATE_MARKER.encode(), BAD_UTF8)  # UTF-8 has no surrogates
    return body.replace(BAD_UTF8_MARKER.encode(), BAD_UTF8)


def export(handle: CollectorHandle, protocol: str, body: bytes) -> tuple[int, str]:
    """(rejected_spans, error_message) of an export that must succeed."""
    if protocol == "grpc":
        with grpc.insecure_channel(
            f"127.0.0.1:{handle.grpc_port}",
            options=[("grpc.max_send_message_length", 64 << 20)],
        ) as channel:
            call = channel.unary_unary(
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                request_serializer=None,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )
            answer = call(body, timeout=120)
        return answer.partial_success.rejected_spans, answer.partial_success.error_message
    kind = "application/json" if protocol == "http-json" else "application/x-protobuf"
    response = httpx.post(
        f"{handle.http_endpoint}/v1/traces",
        content=body,
        headers={"content-type": kind},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:2000]
    if protocol == "http-json":
        assert response.headers["content-type"].startswith("application/json")
        partial = response.json().get("partialSuccess", {})
        return int(partial.get("rejectedSpans", 0)), partial.get("errorMessage", "")
    assert response.headers["content-type"].startswith("application/x-protobuf")
    parsed = ExportTraceServiceResponse.FromString(response.content)
    return parsed.partial_success.rejected_spans, parsed.partial_success.error_message


@pytest.fixture(scope="module")
def earlier(module_collector: CollectorHandle) -> tuple[str, dict[str, Any]]:
    """A run stored before any hostile request: its id and what a reader sees."""
    run_id = str(uuid.uuid4())
    trace_id = os.urandom(16)
    spans, _, _ = good_run(trace_id, run_id, 3)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    assert export(module_collector, "http-protobuf", request.SerializeToString()) == (0, "")
    shown = wait_until(
        lambda: (p := page(module_collector, run_id)) and p["total_steps"] == 3 and p
    )
    return run_id, what_a_reader_sees(shown)


# Spoilers that set the same field exclude each other (the last would undo the first).
SLOTS = {
    **dict.fromkeys(
        ["1 MB name", "NUL in name", "invalid UTF-8 in the name", "empty name"], "name"
    ),
    **dict.fromkeys(
        [n for n in SPOILERS if n.startswith(("times", "start", "end", "event at"))], "times"
    ),
    **dict.fromkeys([n for n in SPOILERS if "trace id" in n and "link" not in n], "trace"),
    **dict.fromkeys(["3-byte span id", "zero span id"], "span"),
    **dict.fromkeys(["all-zero parent id", "4-byte parent id"], "parent"),
    **dict.fromkeys(["NUL in status", "kind 99, status 99"], "status"),
}
hostile_span = st.lists(
    st.sampled_from(sorted(SPOILERS)),
    min_size=1,
    max_size=3,
    unique_by=lambda name: SLOTS.get(name, name),
)


@pytest.mark.timeout(600)  # ten requests of up to 3 MB, each followed by a full verify
@pytest.mark.parametrize("protocol", PROTOCOLS)
@settings(
    max_examples=10,
    deadline=None,
    database=None,  # no .hypothesis directory in the tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    hostile=st.lists(hostile_span, min_size=1, max_size=6),
    positions=st.lists(st.integers(min_value=0, max_value=10), min_size=6, max_size=6),
    tools=st.integers(min_value=1, max_value=4),
    own_run_id=st.booleans(),
    in_good_trace=st.booleans(),
)
def test_hostile_spans_cost_only_themselves(
    module_collector: CollectorHandle,
    earlier: tuple[str, dict[str, Any]],
    protocol: str,
    hostile: list[list[str]],
    positions: list[int],
    tools: int,
    own_run_id: bool,
    in_good_trace: bool,
) -> None:
    trace_id = os.urandom(16)
    run_id = str(uuid.uuid4()) if own_run_id else None
    spans, run_span_id, results = good_run(trace_id, run_id, tools)
    # Spans of no agent class: in the good run's trace (its foreign run's fields are
    # derived over them) or in traces of their own.
    plain = [
        _span(trace_id if in_good_trace else os.urandom(16), run_span_id, "hostile", 2 + n)
        for n in range(len(hostile))
    ]
    if not in_good_trace:
        for span in plain:
            span.ClearField("parent_span_id")
    order = list(spans)
    for index, span in enumerate(plain):
        order.insert(positions[index] % (len(order) + 1), span)
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(order)
    # Spoiled in place: a copy of a value nested past the parser's limit would not parse.
    sent = request.resource_spans[0].scope_spans[0].spans
    refused = 0
    stored_ids: set[tuple[str, str]] = set()
    which = {id(span): classes for span, classes in zip(plain, hostile, strict=True)}
    for original, span in zip(order, sent, strict=True):
        classes = which.get(id(original), [])
        for name in classes:
            SPOILERS[name].spoil(span)
        if any(SPOILERS[name].refused for name in classes):
            refused += 1
        else:
            stored_ids.add((span.trace_id.hex(), span.span_id.hex()))

    rejected, message = export(module_collector, protocol, encode(protocol, request))

    assert rejected == refused, (hostile, message)
    assert bool(message) >= bool(refused), message
    traces = sorted({t for t, _ in stored_ids})
    found = set(
        module_collector.query(
            "SELECT trace_id, span_id FROM spans WHERE trace_id IN (SELECT unnest(?))", [traces]
        )
    )
    assert found == stored_ids, (hostile, found ^ stored_ids)
    good_id = run_id or run_span_id.hex()
    shown = wait_until(
        lambda: (p := page(module_collector, good_id)) and p["total_steps"] == tools and p
    )
    assert shown["task"] == "good task" and shown["status"] == "completed"
    assert [s["tool_result"] for s in shown["steps"]] == results
    # What was stored before reads as before; the collector is well.
    before_id, before = earlier
    now = page(module_collector, before_id)
    assert now is not None and what_a_reader_sees(now) == before
    health = httpx.get(f"{module_collector.api_url}/healthz", timeout=30)
    assert health.status_code == 200, health.text
    verdict = httpx.get(f"{module_collector.api_url}/verify", timeout=120).json()
    assert verdict["ok"], verdict["problem"]


@pytest.mark.parametrize(
    ("protocol", "what"),
    [("grpc", "attributes"), ("http-protobuf", "events"), ("http-json", "links")],
)
def test_a_span_with_100_000_attributes_events_or_links_is_stored_with_its_neighbours(
    module_collector: CollectorHandle,
    earlier: tuple[str, dict[str, Any]],
    protocol: str,
    what: str,
) -> None:
    """Within the parts budget (README: 500,000 a request), one span holding 10^5 of
    something is stored, and so are the good spans around it."""
    trace_id = os.urandom(16)
    spans, run_span_id, results = good_run(trace_id, None, 2)
    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    scope.spans.extend(spans[:2])
    many = scope.spans.add()
    many.CopyFrom(_span(trace_id, run_span_id, "many", 1.5))
    for n in range(100_000):
        if what == "attributes":
            _set(many, f"k{n}", n)
        elif what == "events":
            many.events.add(name="tick", time_unix_nano=many.start_time_unix_nano + n)
        else:
            many.links.add(trace_id=os.urandom(16), span_id=os.urandom(8))
    scope.spans.extend(spans[2:])

    assert export(module_collector, protocol, encode(protocol, request)) == (0, "")
    stored = module_collector.query(
        f"SELECT json_array_length({what}) FROM spans WHERE trace_id = ? AND span_id = ?"
        if what != "attributes"
        else "SELECT len(json_keys(attributes)) FROM spans WHERE trace_id = ? AND span_id = ?",
        [trace_id.hex(), many.span_id.hex()],
    )
    assert stored == [(100_000,)]
    shown = wait_until(
        lambda: (p := page(module_collector, run_span_id.hex())) and p["total_steps"] == 2 and p
    )
    assert [s["tool_result"] for s in shown["steps"]] == results
    before_id, before = earlier
    now = page(module_collector, before_id)
    assert now is not None and what_a_reader_sees(now) == before
