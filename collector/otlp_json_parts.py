"""OTLP/JSON parts into protobuf messages, attributes by a fast path.

protobuf's ``json_format.ParseDict`` is pure Python: a span of 10^5 attributes
took 20 s under a profiler (2.5 s CPU without), holding the GIL that every other
request of the collector needs. An attribute of the usual shape (``{"key": k,
"value": {"stringValue" | "boolValue" | "intValue" | "doubleValue": v}}``, v of
the right JSON type) is built here directly; any other attribute, and every
other field, still goes through ParseDict, so what is accepted and what is
refused does not change.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["parse_part"]

M = TypeVar("M", bound=Message)

_INT64 = re.compile(r"-?[0-9]{1,19}")
_NESTED = ("events", "links")  # repeated parts that carry attributes of their own


def _simple_int(value: Any) -> int | None:
    if isinstance(value, str) and _INT64.fullmatch(value):
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None


def _simple_value(value: Any) -> AnyValue | None:
    """``value`` as an AnyValue when it has the usual shape, else None."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    ((name, item),) = value.items()
    if name == "stringValue" and isinstance(item, str):
        return AnyValue(string_value=item)
    if name == "boolValue" and isinstance(item, bool):
        return AnyValue(bool_value=item)
    if name == "intValue":
        number = _simple_int(item)
        return None if number is None else AnyValue(int_value=number)
    if name == "doubleValue" and isinstance(item, float):
        return AnyValue(double_value=item) if math.isfinite(item) else None
    if name == "doubleValue" and type(item) is int and abs(item) < 2**53:
        return AnyValue(double_value=float(item))
    return None


def _simple_attribute(item: Any) -> KeyValue | None:
    if not isinstance(item, dict) or len(item) != 2 or not isinstance(item.get("key"), str):
        return None
    value = _simple_value(item.get("value"))
    return None if value is None else KeyValue(key=item["key"], value=value)


def _fill(document: dict[str, Any], part: Message) -> None:
    fields = part.DESCRIPTOR.fields_by_name
    rest = dict(document)
    attributes = rest.pop("attributes", None) if "attributes" in fields else None
    nested = {
        name: rest.pop(name)
        for name in _NESTED
        if name in fields and isinstance(rest.get(name), list)
    }
    json_format.ParseDict(rest, part, ignore_unknown_fields=True)
    if isinstance(attributes, list):
        target = part.attributes  # type: ignore[attr-defined]
        for item in attributes:
            simple = _simple_attribute(item)
            if simple is not None:
                target.append(simple)
            else:
                target.extend(_by_parse_dict(part, "attributes", item))
    elif attributes is not None:
        json_format.ParseDict({"attributes": attributes}, part, ignore_unknown_fields=True)
    for name, items in nested.items():
        repeated = getattr(part, name)
        for item in items:
            if isinstance(item, dict):
                _fill(item, repeated.add())
            else:
                repeated.extend(_by_parse_dict(part, name, item))


def _by_parse_dict(part: Message, name: str, item: Any) -> Any:
    """One item of repeated field ``name`` as ParseDict reads it (and refuses it)."""
    scratch = type(part)()
    json_format.ParseDict({name: [item]}, scratch, ignore_unknown_fields=True)
    return getattr(scratch, name)


def parse_part(cls: type[M], document: Any) -> M:
    """``document`` (a resource, scope or span as parsed JSON) as a ``cls`` message."""
    part = cls()
    if isinstance(document, dict):
        _fill(document, part)
    elif document is not None:
        json_format.ParseDict(document, part, ignore_unknown_fields=True)
    return part
