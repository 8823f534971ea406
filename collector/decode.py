"""OTLP trace requests (protobuf or JSON) -> span records. Pure: no I/O.

One decoder shared by the gRPC and HTTP receivers. Invalid spans are rejected
one by one (reported through ``partial_success``); an undecodable request
raises ``InvalidRequest``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from collector.errors import CollectorError
from collector.json_depth import cut_deep_json
from collector.otlp_json_ids import prepare_json_span
from collector.otlp_json_keys import (
    hides_repeated_keys,
    merge_repeated_pairs,
    span_lists,
)
from collector.otlp_salvage import (
    Salvaged,
    has_surrogate_escape,
    repair_surrogates,
    repair_text,
    salvage_json,
    salvage_protobuf,
)
from collector.otlp_wire_types import Misplaced, find_misplaced
from collector.request_budget import (
    Counted,
    PartsInFlight,
    RequestBudget,
    count_json,
    count_protobuf,
)
from collector.span_checks import attributes_problem, span_problem

__all__ = [
    "InvalidRequest",
    "SpanRecord",
    "DecodedRequest",
    "decode_protobuf",
    "decode_json",
    "decode_message",
]

_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


class InvalidRequest(CollectorError, ValueError):
    """The request body is not a valid OTLP ExportTraceServiceRequest."""


@dataclass(frozen=True, slots=True)
class SpanRecord:
    """One span as received; ids are lowercase hex, times OTLP nanoseconds."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status_code: int  # 0 unset, 1 ok, 2 error
    status_message: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope_name: str = ""
    scope_version: str = ""

    @property
    def service_name(self) -> str | None:
        value = self.resource.get("service.name")
        return str(value) if value is not None else None


@dataclass(frozen=True, slots=True)
class DecodedRequest:
    """The valid spans of a request and why the others were rejected."""

    spans: list[SpanRecord]
    rejected: int = 0
    error_message: str = ""
    # Parts counted in a PartsInFlight for this request: the receiver gives
    # them back once the spans are stored (or not).
    held_parts: int = 0


def any_value(value: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (bytes become lowercase hex)."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        return value.double_value
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return None  # a value type newer than this decoder


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in key_values}


def _span_error(trace_id: str, span_id: str, parent: str) -> str | None:
    if len(trace_id) != 32 or trace_id == _ZERO_TRACE:
        return f"invalid trace_id {trace_id!r}"
    if len(span_id) != 16 or span_id == _ZERO_SPAN:
        return f"invalid span_id {span_id!r}"
    if parent and len(parent) != 16:
        return f"invalid parent_span_id {parent!r}"
    return None


def _shortened(reason: str, limit: int = 500) -> str:
    """A reason that quotes what was sent (a 1 MB attribute key) kept to a readable length."""
    if len(reason) <= limit:
        return reason
    return f"{reason[: limit // 2]} ... {reason[-limit // 2 :]}"


def decode_message(
    request: ExportTraceServiceRequest,
    salvaged: Salvaged | None = None,
    misplaced: Misplaced | None = None,
) -> DecodedRequest:
    """Flatten a parsed request into span records, rejecting spans with bad ids.

    ``salvaged``: what taking the request apart already rejected and repaired;
    ``misplaced``: parts holding fields of the wrong wire type, rejected here."""
    spans: list[SpanRecord] = []
    first_of: dict[tuple[str, str], SpanRecord] = {}
    rejected = salvaged.rejected if salvaged else 0
    first_error = salvaged.first_error if salvaged else ""
    if misplaced is not None and misplaced.unread:
        # Spans sent where no reader finds them: not countable, but never a clean answer.
        rejected += len(misplaced.unread)
        first_error = first_error or f"{misplaced.unread[0]}; what it held was not read"
    for r_index, resource_spans in enumerate(request.resource_spans):
        lost = misplaced.resources.get(r_index) if misplaced is not None else None
        if lost is not None:
            count = sum(len(scope_spans.spans) for scope_spans in resource_spans.scope_spans)
            rejected += _lost_count(count)
            first_error = first_error or f"{lost}; its {count} readable span(s) rejected"
            continue
        resource = _attributes(resource_spans.resource.attributes)
        check_resource = attributes_problem(resource) is not None  # then per span, to report
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            scope_name = scope_spans.scope.name
            scope_version = scope_spans.scope.version
            lost = misplaced.scopes.get((r_index, s_index)) if misplaced is not None else None
            if lost is not None:
                count = len(scope_spans.spans)
                rejected += _lost_count(count)
                first_error = first_error or f"{lost}; its {count} readable span(s) rejected"
                continue
            for index, span in enumerate(scope_spans.spans):
                trace_id = span.trace_id.hex()
                span_id = span.span_id.hex()
                parent = span.parent_span_id.hex()
                error = _span_error(trace_id, span_id, parent)
                if error is None and not span.name:
                    error = f"span {span_id} has no name"
                if error is None and misplaced is not None:
                    wrong = misplaced.spans.get((r_index, s_index, index))
                    if wrong is not None:
                        error = f"span {span_id}: {wrong}"
                if error is not None:
                    rejected += 1
                    first_error = first_error or error
                    continue
                record = SpanRecord(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=parent if parent and parent != _ZERO_SPAN else None,
                    name=span.name,
                    kind=int(span.kind),
                    start_ns=int(span.start_time_unix_nano),
                    end_ns=int(span.end_time_unix_nano),
                    status_code=int(span.status.code),
                    status_message=span.status.message,
                    attributes=_attributes(span.attributes),
                    events=[
                        {
                            "name": event.name,
                            "time_ns": int(event.time_unix_nano),
                            "attributes": _attributes(event.attributes),
                        }
                        for event in span.events
                    ],
                    links=[
                        {
                            "trace_id": link.trace_id.hex(),
                            "span_id": link.span_id.hex(),
                            "attributes": _attributes(link.attributes),
                        }
                        for link in span.links
                    ],
                    resource=resource,
                    scope_name=scope_name,
                    scope_version=scope_version,
                )
                problem = span_problem(record, check_resource=check_resource)
                if problem is None:
                    problem = _reused_id(first_of, record)
                    if problem == "":
                        continue  # the same span twice: stored once, nothing lost
                if problem is not None:
                    rejected += 1
                    first_error = first_error or problem
                    continue
                first_of[(trace_id, span_id)] = record
                spans.append(record)
    notes = [f"{rejected} span(s) rejected; first: {_shortened(first_error)}"] if rejected else []
    if salvaged and salvaged.repaired:
        notes.append(
            f"{salvaged.repaired} invalid UTF-8 sequence(s) in text values are stored as U+FFFD"
        )
    return DecodedRequest(spans=spans, rejected=rejected, error_message="; ".join(notes))


def _reused_id(first_of: dict[tuple[str, str], SpanRecord], record: SpanRecord) -> str | None:
    """None for a span whose ids are new in this request, "" for a second copy of
    one, and why it is rejected when a different span came first with its ids.

    The store keeps the first span of an id (collector/ingest.py); a different
    second one was dropped there unseen while the request was acknowledged whole
    (a sender whose span ids wrap, or a forgery): it is rejected here, named."""
    first = first_of.get((record.trace_id, record.span_id))
    if first is None:
        return None
    if first == record:
        return ""
    return (
        f"span {record.span_id}: another span of trace {record.trace_id} came earlier in this"
        " request with the same span id (the first is kept)"
    )


def _lost_count(readable: int) -> int:
    """Spans counted rejected for a resource or scope holding a field of the wrong
    wire type: its readable spans, and at least one, since the field may have held
    spans no one can count (a scope's spans sent as a number)."""
    return max(readable, 1)


def _check_budget(problem: str | None) -> None:
    if problem is not None:
        raise InvalidRequest(problem)


def _admitted(
    counted: Counted, in_flight: PartsInFlight | None, decode: Callable[[], DecodedRequest]
) -> DecodedRequest:
    """``decode()`` once the request is within its budget and its parts are
    counted in ``in_flight`` (raises Overloaded when they do not fit)."""
    _check_budget(counted.problem)
    if in_flight is None:
        return decode()
    in_flight.take(counted.parts)
    try:
        decoded = decode()
    except BaseException:
        in_flight.give(counted.parts)
        raise
    return replace(decoded, held_parts=counted.parts)


def decode_protobuf(
    body: bytes, budget: RequestBudget | None = None, in_flight: PartsInFlight | None = None
) -> DecodedRequest:
    """Decode an OTLP protobuf body (already decompressed).

    With a ``budget``, a request past it raises InvalidRequest before its spans
    are turned into records; with ``in_flight`` too, its parts are counted in
    there (``held_parts``) until the caller gives them back."""
    request = ExportTraceServiceRequest()
    salvaged: Salvaged | None = None
    try:
        request.ParseFromString(body)
    except (DecodeError, ValueError, RuntimeError) as strict_error:
        try:
            salvaged = salvage_protobuf(body)
        except Exception:  # noqa: BLE001 - whatever the salvage meets, the answer is a 400
            raise InvalidRequest(
                f"body is not an OTLP protobuf ExportTraceServiceRequest: {strict_error}"
            ) from None
        request = salvaged.request

    def decode() -> DecodedRequest:
        # Salvaged parts were parsed one by one, unknown fields kept: no body to compare.
        misplaced = find_misplaced(request, None if salvaged is not None else body)
        return decode_message(request, salvaged, misplaced)

    if budget is None:
        return decode()
    return _admitted(count_protobuf(request, budget), in_flight, decode)


# JSON nested deeper than this is cut out (collector/json_depth.py) when the parser
# gives up; a span's values are refused past 32 levels anyway (span_checks.py).
_MAX_JSON_DEPTH = 200
# Python refuses to turn more digits than this into an int (sys.get_int_max_str_digits).
_MAX_INT_DIGITS = 4000


def _json_int(digits: str) -> int | float:
    """A JSON integer literal; one too long to convert is infinite, so the span
    holding it is refused alone, like any other number out of range."""
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else float(digits)


def _parse_json(body: bytes, merge_repeated: bool) -> tuple[Any, int]:
    repaired = 0
    hook = merge_repeated_pairs if merge_repeated else None
    try:
        document = json.loads(body, parse_int=_json_int, object_pairs_hook=hook)
    except UnicodeDecodeError:
        text, repaired = repair_text(body)
        document = json.loads(text, parse_int=_json_int, object_pairs_hook=hook)
    if has_surrogate_escape(body):
        document, unpaired = repair_surrogates(document)
        repaired += unpaired
    return document, repaired


def _load_json(body: bytes, merge_repeated: bool = False) -> tuple[Any, int]:
    """The parsed body and how many strings in it had to be repaired.

    ``merge_repeated``: a span-holding key named twice in one object keeps
    both lists (collector/otlp_json_keys.py)."""
    try:
        try:
            return _parse_json(body, merge_repeated)
        except RecursionError:
            cut, _ = cut_deep_json(body, _MAX_JSON_DEPTH)
            return _parse_json(cut, merge_repeated)
    except RecursionError:
        raise InvalidRequest("body is JSON nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and numbers Python cannot read
        raise InvalidRequest(f"body is not JSON: {exc}") from None


def _json_span_count(document: dict[str, Any]) -> int:
    """Spans in a parsed OTLP/JSON document, counting only lists where lists belong."""
    count = 0
    for resource_spans in _json_list(span_lists(document, 0)):
        for scope_spans in _json_list(span_lists(resource_spans, 1)):
            count += len(_json_list(span_lists(scope_spans, 2)))
    return count


def _json_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def decode_json(
    body: bytes, budget: RequestBudget | None = None, in_flight: PartsInFlight | None = None
) -> DecodedRequest:
    """Decode an OTLP/HTTP JSON body (already decompressed), span by span: a
    span that does not parse is rejected alone. A request over ``budget``
    raises InvalidRequest before it is parsed (parts) or its spans are (spans);
    ``in_flight`` as for decode_protobuf."""
    if budget is None:
        return _decode_json(body, None)
    return _admitted(count_json(body, budget), in_flight, lambda: _decode_json(body, budget))


def _decode_json(body: bytes, budget: RequestBudget | None) -> DecodedRequest:
    document, repaired = _load_json(body)
    if not isinstance(document, dict):
        raise InvalidRequest("body is not a JSON object")
    if hides_repeated_keys(body, document):
        document, repaired = _load_json(body, merge_repeated=True)
    if budget is not None:
        _check_budget(budget.spans_problem(_json_span_count(document)))
    try:
        salvaged = salvage_json(document, prepare_json_span)
    except TypeError as exc:
        raise InvalidRequest(f"body is not an OTLP JSON trace request: {exc}") from None
    salvaged.repaired += repaired
    return decode_message(salvaged.request, salvaged)
