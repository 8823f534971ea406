"""Fields of an OTLP protobuf request sent with a wire type their field does not have.

A protobuf parser (upb here; Go's and Java's alike) keeps a field whose wire type
does not match the schema as an unknown field and carries on: a span whose start
time came as a varint, whose status came as a number or whose attribute came as
a fixed32 parsed without error, the field simply missing. Stored, it read as a
span starting in 1970, a failed step with no error, an attribute never sent; and
a scope's spans sent as a group were dropped unseen while the request was
acknowledged whole. A field number the schema does not know is a newer schema's
field and stays ignored, as protobuf asks; a number it knows, with the wrong
wire type, is a broken sender: the span holding it is rejected, named by field
(OTLP "Partial Success"), and a resource or scope holding it costs its spans.

Finding them walks messages, so it runs only when a cheap check says a request
has unknown fields at all, only through the spans holding some, and not past
``MAX_CHECKED_UNKNOWN_BYTES`` of them: each unknown field costs the walk a Python
object (a span of 5,000,000 took 3.5 s and 500 MB), and a sender gains nothing by
hiding a misplaced field there, which only a broken encoder sends. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

M = TypeVar("M", bound=Message)

__all__ = [
    "MAX_CHECKED_UNKNOWN_BYTES",
    "Misplaced",
    "first_misplaced",
    "find_misplaced",
    "own_misplaced",
    "unknown_bytes",
]

# Unknown field bytes a request (or a span taken apart) may hold and still be
# walked field by field: at most 128k fields, some 15 MB of Python objects.
MAX_CHECKED_UNKNOWN_BYTES = 256 * 1024

_WIRE_NAMES = {
    0: "varint",
    1: "64-bit",
    2: "length-delimited",
    3: "group",
    4: "group end",
    5: "32-bit",
}
_T = FieldDescriptor
_FIXED64 = frozenset({_T.TYPE_FIXED64, _T.TYPE_SFIXED64, _T.TYPE_DOUBLE})
_FIXED32 = frozenset({_T.TYPE_FIXED32, _T.TYPE_SFIXED32, _T.TYPE_FLOAT})
_DELIMITED = frozenset({_T.TYPE_MESSAGE, _T.TYPE_STRING, _T.TYPE_BYTES})


@dataclass
class Misplaced:
    """Where a request holds fields of the wrong wire type, by position.

    ``spans``: (resource, scope, span) -> reason; ``scopes``: (resource, scope) ->
    reason, for every span of that scope; ``resources``: resource -> reason, for
    every span of it; ``unread``: fields of the request itself, whose spans (if
    any) could not be read, let alone counted."""

    spans: dict[tuple[int, int, int], str] = field(default_factory=dict)
    scopes: dict[tuple[int, int], str] = field(default_factory=dict)
    resources: dict[int, str] = field(default_factory=dict)
    unread: list[str] = field(default_factory=list)


def unknown_bytes(message: Message) -> int:
    """About how many bytes of ``message`` are unknown fields (0: none), measured
    in C on a copy that drops them."""
    return message.ByteSize() - _stripped(message).ByteSize()


def find_misplaced(request: ExportTraceServiceRequest, body: bytes | None) -> Misplaced | None:
    """The parts of ``request`` holding a known field of the wrong wire type, or None
    when there are none or more unknown fields than are checked.

    ``body``: what ``request`` was parsed from. Then the common case costs one pass
    in C: ``request`` loses its unknown fields (nothing reads them) and what is
    left serialises to the body's length exactly when the sender encoded it as
    protobuf's own serialisers do and nothing was unknown. Otherwise (or with no
    body: a request put together by the salvage) the body is parsed again, and
    sizes with and without unknown fields say which spans to walk: a sender
    writing default values out (protobuf.js) pays the second parse, not the walk.
    About 0.2 µs a message, against some 1-5 µs to decode one."""
    if body is None:
        original, stripped = request, _stripped(request)
    else:
        request.DiscardUnknownFields()
        if request.ByteSize() == len(body):
            return None
        original, stripped = ExportTraceServiceRequest(), request
        original.ParseFromString(body)
    unknown = original.ByteSize() - stripped.ByteSize()
    if not 0 < unknown <= MAX_CHECKED_UNKNOWN_BYTES:
        return None
    return _misplaced_fields(original, stripped)


def _stripped(message: M) -> M:
    copy = type(message)()
    copy.CopyFrom(message)
    copy.DiscardUnknownFields()
    return copy


def _misplaced_fields(
    request: ExportTraceServiceRequest, stripped: ExportTraceServiceRequest
) -> Misplaced:
    """Every resource, scope and span of ``request`` holding a known field of the
    wrong wire type (in itself or in any message inside it). ``stripped``: the same
    request without unknown fields; only parts whose size differs are walked."""
    found = Misplaced()
    own = own_misplaced(request, "")
    if own is not None:
        found.unread.append(own)
    for r_index, resource_spans in enumerate(request.resource_spans):
        stripped_resource = stripped.resource_spans[r_index]
        where = f"resource {r_index}"
        problem = own_misplaced(resource_spans, f"{where}: ") or _walked(
            resource_spans.resource, stripped_resource.resource, f"{where}: resource."
        )
        if problem is not None:
            found.resources[r_index] = problem
            continue
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            stripped_scope = stripped_resource.scope_spans[s_index]
            where = f"resource {r_index}, scope {s_index}"
            problem = own_misplaced(scope_spans, f"{where}: ") or _walked(
                scope_spans.scope, stripped_scope.scope, f"{where}: scope."
            )
            if problem is not None:
                found.scopes[(r_index, s_index)] = problem
                continue
            for index, span in enumerate(scope_spans.spans):
                problem = _walked(span, stripped_scope.spans[index], "")
                if problem is not None:
                    found.spans[(r_index, s_index, index)] = problem
    return found


def _walked(message: Message, stripped: Message, path: str) -> str | None:
    # Equal sizes: no unknown field anywhere in it, nothing to walk.
    if message.ByteSize() == stripped.ByteSize():
        return None
    return first_misplaced(message, path)


def _expected_wire_type(descriptor: FieldDescriptor) -> int:
    if descriptor.type in _DELIMITED:
        return 2
    if descriptor.type in _FIXED64:
        return 1
    if descriptor.type in _FIXED32:
        return 5
    return 0


def own_misplaced(message: Message, path: str) -> str | None:
    """The first known field among ``message``'s own unknown fields, described."""
    by_number = message.DESCRIPTOR.fields_by_number
    for unknown in UnknownFieldSet(message):
        descriptor = by_number.get(unknown.field_number)
        if descriptor is not None:
            sent = _WIRE_NAMES.get(unknown.wire_type, str(unknown.wire_type))
            expected = _WIRE_NAMES[_expected_wire_type(descriptor)]
            return (
                f"{path}field {descriptor.name} ({unknown.field_number}) was sent as "
                f"{sent}, not {expected}"
            )
    return None


def first_misplaced(message: Message, path: str) -> str | None:
    """The first known field of the wrong wire type in ``message`` or below it."""
    problem = own_misplaced(message, path)
    if problem is not None:
        return problem
    for descriptor, value in message.ListFields():
        if descriptor.type != _T.TYPE_MESSAGE:
            continue
        if descriptor.is_repeated:
            for index, item in enumerate(value):
                problem = first_misplaced(item, f"{path}{descriptor.name}[{index}].")
                if problem is not None:
                    return problem
        else:
            problem = first_misplaced(value, f"{path}{descriptor.name}.")
            if problem is not None:
                return problem
    return None
