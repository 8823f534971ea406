"""Keep the good spans of an OTLP request that does not parse as a whole.

A protobuf or JSON parser refuses a whole request for one bad part: a string
that is not valid UTF-8 (an SDK that cut a multi-byte character in two), one
span whose JSON has a number where a string belongs, a span nested past the
parser's depth limit. OpenTelemetry's position (OTEP 0257, "Consistent
position towards UTF-8 validation") is that a receiver should repair invalid
UTF-8 with U+FFFD and, when it must drop data, drop single items counted in
``rejected_spans``, never the batch.

So when the strict parse fails, the request is taken apart and each span is
parsed on its own:

- protobuf: an outer schema whose resources, scopes and spans are opaque
  bytes splits the request without looking inside them; each part is then
  parsed strictly, and if that fails, parsed again with every string field
  read as bytes and decoded with U+FFFD in place of invalid sequences;
- JSON: invalid UTF-8 bytes and unpaired surrogate escapes (``\\ud800``) are
  replaced by U+FFFD, and each span dict is parsed on its own.

A part that still does not parse is rejected alone, with its position in the
message. A resource or scope that does not parse costs its own spans only.
Pure: no I/O. Used only after the strict parse failed, so well-formed traffic
pays nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector.otlp_json_keys import SPAN_LIST_KEYS, span_lists
from collector.otlp_json_parts import parse_part
from collector.otlp_json_values import check_json_part
from collector.otlp_wire_types import (
    MAX_CHECKED_UNKNOWN_BYTES,
    first_misplaced,
    own_misplaced,
    unknown_bytes,
)

__all__ = [
    "Salvaged",
    "salvage_protobuf",
    "salvage_json",
    "repair_text",
    "REPLACEMENT",
    "has_surrogate_escape",
    "repair_surrogates",
]

REPLACEMENT = "\ufffd"
_PARSE_ERRORS = (DecodeError, ValueError, RuntimeError)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# A JSON escape that can start or end a surrogate pair: only bodies that have
# one are walked for unpaired surrogates.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

M = TypeVar("M", bound=Message)


@dataclass
class Salvaged:
    """What was kept of a request, and what was lost or repaired."""

    request: ExportTraceServiceRequest
    rejected: int = 0
    first_error: str = ""
    repaired: int = 0  # invalid UTF-8 sequences (or lone surrogates) now U+FFFD

    def reject(self, count: int, error: str) -> None:
        self.rejected += count
        self.first_error = self.first_error or error


def repair_text(raw: bytes) -> tuple[str, int]:
    """``raw`` as text, each invalid UTF-8 sequence replaced by U+FFFD, and how
    many were."""
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        return text, text.count(REPLACEMENT) - raw.count(REPLACEMENT.encode())


# ---------------------------------------------------------------- protobuf


def _field_number(message: type[Message], name: str) -> int:
    number: int = message.DESCRIPTOR.fields_by_name[name].number
    return number


# The two schemas below are built at the first salvage, not at import: well-formed
# traffic never needs them, and descriptor_pb2 with the built pools cost an idle
# collector ~1.6 MB.
@functools.cache
def _outer_schema() -> type[Message]:
    """ExportTraceServiceRequest with resources, scopes and spans left as bytes.

    The field numbers are read from the real descriptors, so the split follows
    the OTLP schema the rest of the collector uses."""
    from google.protobuf import descriptor_pb2

    proto = descriptor_pb2.FileDescriptorProto(
        name="agent_audit/otlp_salvage_outer.proto", package="agent_audit.salvage"
    )
    proto.syntax = "proto3"

    def message(name: str, fields: Iterable[tuple[str, int, int, str | None]]) -> None:
        described = proto.message_type.add(name=name)
        for field_name, number, label, type_name in fields:
            added = described.field.add(name=field_name, number=number, label=label)
            if type_name is None:
                added.type = FieldDescriptor.TYPE_BYTES
            else:
                added.type = FieldDescriptor.TYPE_MESSAGE
                added.type_name = f".agent_audit.salvage.{type_name}"

    optional, repeated = FieldDescriptor.LABEL_OPTIONAL, FieldDescriptor.LABEL_REPEATED
    message(
        "Request",
        [
            (
                "resource_spans",
                _field_number(ExportTraceServiceRequest, "resource_spans"),
                repeated,
                "ResourceSpans",
            )
        ],
    )
    message(
        "ResourceSpans",
        [
            ("resource", _field_number(ResourceSpans, "resource"), optional, None),
            ("scope_spans", _field_number(ResourceSpans, "scope_spans"), repeated, "ScopeSpans"),
            ("schema_url", _field_number(ResourceSpans, "schema_url"), optional, None),
        ],
    )
    message(
        "ScopeSpans",
        [
            ("scope", _field_number(ScopeSpans, "scope"), optional, None),
            ("spans", _field_number(ScopeSpans, "spans"), repeated, None),
            ("schema_url", _field_number(ScopeSpans, "schema_url"), optional, None),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("agent_audit.salvage.Request")
    )


def _files_in_order(file: Any, seen: dict[str, Any]) -> None:
    for dependency in file.dependencies:
        _files_in_order(dependency, seen)
    seen.setdefault(file.name, file)


@functools.cache
def _loose_schemas() -> dict[str, type[Message]]:
    """The OTLP trace messages with every string field read as bytes, by full name."""
    from google.protobuf import descriptor_pb2

    files: dict[str, Any] = {}
    _files_in_order(ExportTraceServiceRequest.DESCRIPTOR.file, files)
    pool = descriptor_pool.DescriptorPool()
    for file in files.values():
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        stack = list(proto.message_type)
        while stack:
            described = stack.pop()
            stack.extend(described.nested_type)
            for field in described.field:
                if field.type == FieldDescriptor.TYPE_STRING:
                    field.type = FieldDescriptor.TYPE_BYTES
        pool.Add(proto)
    return {
        cls.DESCRIPTOR.full_name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(cls.DESCRIPTOR.full_name)
        )
        for cls in (Resource, InstrumentationScope, Span)
    }


def _copy_repairing(loose: Message, strict: Message) -> int:
    """Copy ``loose`` into ``strict``, decoding former string fields; returns how
    many invalid UTF-8 sequences were replaced."""
    repaired = 0
    fields = strict.DESCRIPTOR.fields_by_name
    for loose_field, value in loose.ListFields():
        field = fields[loose_field.name]
        target = getattr(strict, field.name)
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if repeated:
                for item in value:
                    repaired += _copy_repairing(item, target.add())
            else:
                target.SetInParent()
                repaired += _copy_repairing(value, target)
        elif field.type == FieldDescriptor.TYPE_STRING:
            texts = [repair_text(raw) for raw in (value if repeated else [value])]
            repaired += sum(count for _, count in texts)
            if repeated:
                target.extend(text for text, _ in texts)
            else:
                setattr(strict, field.name, texts[0][0])
        elif repeated:
            target.extend(value)
        else:
            setattr(strict, field.name, value)
    return repaired


def _parse_part(cls: type[M], raw: bytes) -> tuple[M, int]:
    """One resource, scope or span: strictly, else with its text repaired."""
    part = cls()
    try:
        part.ParseFromString(raw)
        return part, 0
    except _PARSE_ERRORS:
        pass
    loose = _loose_schemas()[cls.DESCRIPTOR.full_name]()
    loose.ParseFromString(raw)  # still failing: the part is malformed, not just its text
    # Copied field by field, unknown fields left behind: one of the wrong wire type
    # would be lost unseen (collector/otlp_wire_types.py).
    if 0 < unknown_bytes(loose) <= MAX_CHECKED_UNKNOWN_BYTES:
        misplaced = first_misplaced(loose, "")
        if misplaced is not None:
            raise ValueError(misplaced)
    part = cls()
    return part, _copy_repairing(loose, part)


def salvage_protobuf(body: bytes) -> Salvaged:
    """Split ``body`` and keep every resource, scope and span that parses.

    Raises DecodeError (or ValueError) when not even the outer structure parses."""
    outer = _outer_schema()()
    outer.ParseFromString(body)
    result = Salvaged(request=ExportTraceServiceRequest())
    # The outer schema has the real field numbers: a resource or scope list sent
    # with the wrong wire type is an unknown field here, its spans lost unseen.
    check = 0 < unknown_bytes(outer) <= MAX_CHECKED_UNKNOWN_BYTES
    misplaced = own_misplaced(outer, "") if check else None
    if misplaced is not None:
        result.reject(1, f"{misplaced}; what it held was not read")
    for r_index, resource_spans in enumerate(outer.resource_spans):  # type: ignore[attr-defined]
        kept_resource = result.request.resource_spans.add()
        misplaced = own_misplaced(resource_spans, f"resource {r_index}: ") if check else None
        if misplaced is not None:
            lost = sum(len(s.spans) for s in resource_spans.scope_spans)
            result.reject(max(lost, 1), f"{misplaced}; its {lost} readable span(s) rejected")
            continue
        try:
            resource, repaired = _parse_part(Resource, resource_spans.resource)
        except _PARSE_ERRORS as exc:
            lost = sum(len(s.spans) for s in resource_spans.scope_spans)
            result.reject(
                lost, f"resource {r_index} does not parse ({exc}); its {lost} span(s) dropped"
            )
            continue
        kept_resource.resource.CopyFrom(resource)
        result.repaired += repaired
        for s_index, scope_spans in enumerate(resource_spans.scope_spans):
            where = f"resource {r_index}, scope {s_index}"
            misplaced = own_misplaced(scope_spans, f"{where}: ") if check else None
            if misplaced is not None:
                lost = len(scope_spans.spans)
                result.reject(max(lost, 1), f"{misplaced}; its {lost} readable span(s) rejected")
                continue
            try:
                scope, repaired = _parse_part(InstrumentationScope, scope_spans.scope)
            except _PARSE_ERRORS as exc:
                lost = len(scope_spans.spans)
                result.reject(lost, f"{where} does not parse ({exc}); its {lost} span(s) dropped")
                continue
            kept_scope = kept_resource.scope_spans.add()
            kept_scope.scope.CopyFrom(scope)
            result.repaired += repaired
            for index, raw in enumerate(scope_spans.spans):
                try:
                    span, repaired = _parse_part(Span, raw)
                except _PARSE_ERRORS as exc:
                    result.reject(1, f"{where}, span {index} does not parse: {exc}")
                    continue
                kept_scope.spans.append(span)
                result.repaired += repaired
    return result


# -------------------------------------------------------------------- JSON


def has_surrogate_escape(body: bytes) -> bool:
    return _SURROGATE_ESCAPE.search(body) is not None


def repair_surrogates(value: Any) -> tuple[Any, int]:
    """``value`` (a parsed JSON document) with unpaired surrogates replaced."""
    if isinstance(value, str):
        fixed, count = _LONE_SURROGATE.subn(REPLACEMENT, value)
        return fixed, count
    if isinstance(value, list):
        total = 0
        for index, item in enumerate(value):
            value[index], count = repair_surrogates(item)
            total += count
        return value, total
    if isinstance(value, dict):
        total = 0
        for key in list(value):
            fixed_key, key_count = repair_surrogates(key)
            fixed_value, count = repair_surrogates(value.pop(key))
            value[fixed_key] = fixed_value
            total += key_count + count
        return value, total
    return value, 0


def _parse_dict(cls: type[M], document: Any) -> M:
    check_json_part(cls.DESCRIPTOR, document)
    return parse_part(cls, document)


def salvage_json(
    document: dict[str, Any], prepare_span: Callable[[dict[str, Any]], None]
) -> Salvaged:
    """Parse a JSON trace request part by part; ``prepare_span`` rewrites a
    span dict in place (the hex ids) and raises ValueError to reject it."""
    result = Salvaged(request=ExportTraceServiceRequest())
    # ArithmeticError: a number out of range (inf where an integer belongs);
    # RecursionError: a part nested past what the parser can follow.
    errors = (
        json_format.ParseError,
        ValueError,
        TypeError,
        AttributeError,
        ArithmeticError,
        RecursionError,
    )
    for r_index, resource_spans in enumerate(_items(document, 0)):
        try:
            scopes = _items(resource_spans, 1)
            resource = _parse_dict(Resource, _get(resource_spans, "resource"))
        except errors as exc:
            lost = _span_count(resource_spans)
            result.reject(
                lost, f"resource {r_index} does not parse ({_brief(exc)}); {lost} span(s) dropped"
            )
            continue
        kept_resource = result.request.resource_spans.add()
        kept_resource.resource.CopyFrom(resource)
        for s_index, scope_spans in enumerate(scopes):
            where = f"resource {r_index}, scope {s_index}"
            try:
                spans = _items(scope_spans, 2)
                scope = _parse_dict(InstrumentationScope, _get(scope_spans, "scope"))
            except errors as exc:
                lost = _span_count({"scopeSpans": [scope_spans]})
                result.reject(
                    lost, f"{where} does not parse ({_brief(exc)}); {lost} span(s) dropped"
                )
                continue
            kept_scope = kept_resource.scope_spans.add()
            kept_scope.scope.CopyFrom(scope)
            for index, span_document in enumerate(spans):
                sent_id = _sent_span_id(span_document)
                try:
                    if not isinstance(span_document, dict):
                        raise TypeError("not a JSON object")
                    prepare_span(span_document)
                    kept_scope.spans.append(_parse_dict(Span, span_document))
                except errors as exc:
                    reason = _brief(exc)
                    result.reject(1, f"{where}, span {index} does not parse{sent_id}: {reason}")
    return result


def _sent_span_id(span_document: Any) -> str:
    """`` (span_id ...)`` as the sender wrote it, when it wrote one, to name the span."""
    if not isinstance(span_document, dict):
        return ""
    sent = span_document.get("spanId", span_document.get("span_id"))
    return f" (span_id {sent[:32]!r})" if isinstance(sent, str) and sent else ""


def _brief(exc: BaseException, limit: int = 300) -> str:
    """The parser's reason, shortened: for a part nested 100 deep, json_format
    repeats "Failed to parse values field: " once per level before the cause."""
    text = str(exc)
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ... {text[-half:]}"


def _span_count(resource_spans: Any) -> int:
    """How many spans an unreadable resource held, as far as can be told (at
    least one: the part itself)."""
    scopes = span_lists(resource_spans, 1)
    if not isinstance(scopes, list):
        return 1
    spans = [span_lists(scope, 2) for scope in scopes]
    return max(1, sum(len(s) if isinstance(s, list) else 1 for s in spans))


def _get(document: Any, key: str) -> Any:
    return document.get(key) if isinstance(document, dict) else None


def _items(document: Any, level: int) -> list[Any]:
    """The list of the next level (resources, scopes, spans) under a JSON
    object, in either spelling of its key; a missing or null member is empty."""
    value = span_lists(document, level)
    if value is None:
        return []
    if not isinstance(value, list):
        raise TypeError(f"{SPAN_LIST_KEYS[level][0]} is not a list")
    return value
