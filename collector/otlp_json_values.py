"""Refuse OTLP/JSON values that protobuf's JSON parser would quietly turn into others.

``json_format.ParseDict`` (with ``ignore_unknown_fields``, which OTLP/JSON requires
for unknown *field names*) also drops or coerces values it should refuse: an enum
name it does not know (``"kind": "NOPE"``) becomes 0, a bool becomes an enum number
or a double, ``bytesValue`` is base64-decoded leniently (characters outside the
alphabet are skipped), a string where an object belongs (``"status": "x"``) is
ignored, and Python's ``int()`` reads ``"1_000"`` and non-ASCII digits. A span that
arrives like this would be stored with values its sender never wrote.

So each resource, scope and span is walked against its protobuf descriptor before
it is parsed, and the first value of the wrong JSON type, an enum value outside the
enum, or a ``bytesValue`` that is not base64 (standard or URL-safe, padding
optional: the proto3 JSON mapping, https://protobuf.dev/programming-guides/json/)
raises ValueError naming the field; the caller rejects that part alone. Trace and
span ids are hex in OTLP/JSON and are checked where they are rewritten
(collector/decode.py). Enum names are still accepted when known: the OTLP spec asks
senders for integers, but older senders wrote names. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from functools import cache
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

__all__ = ["check_json_part"]

_INTEGER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
    }
)
_FLOAT_TYPES = frozenset({FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT})
# A number written as a JSON string (proto3 JSON allows it for 64-bit integers and
# doubles): ASCII digits only, so "1_000", " 1" and "١٢" are refused.
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INT_TEXT = re.compile(r"-?[0-9]{1,19}")
_FLOAT_WORDS = frozenset({"NaN", "Infinity", "-Infinity"})
_BASE64_STANDARD = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BASE64_URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")
# Past this many levels the walk stops: deeper values are refused by the span checks
# (collector/span_checks.py) or the parser, and a walk that deep would only recurse.
_MAX_WALK_DEPTH = 100
# An attribute value of the common shapes, whose type is checked without a walk.
_SIMPLE_TYPES = {
    "stringValue": (str,),
    "boolValue": (bool,),
    "intValue": (int,),
    "doubleValue": (float, int),
}


def check_json_part(descriptor: Descriptor, document: Any) -> None:
    """Raise ValueError naming the first value in ``document`` (a parsed OTLP/JSON
    resource, scope or span) that ``descriptor``'s message cannot hold as written."""
    if document is None:
        return
    problem = _message_problem(descriptor, document)
    if problem is not None:
        raise ValueError(problem)


@cache
def _fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """A message's fields by both of their JSON spellings."""
    by_name: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        by_name[field.name] = field
        by_name[field.json_name] = field
    return by_name


def _message_problem(
    descriptor: Descriptor, document: Any, path: str = "", depth: int = 0
) -> str | None:
    if depth > _MAX_WALK_DEPTH:
        return None
    if not isinstance(document, dict):
        return f"{path or descriptor.name}: {_shown(document)} is not a JSON object"
    fields = _fields(descriptor)
    for key, value in document.items():
        field = fields.get(key)
        if field is None or value is None:
            continue  # unknown names are ignored (OTLP/JSON), null is the default
        where = f"{path}.{key}" if path else key
        if field.is_repeated:
            problem = _repeated_problem(field, value, where, depth)
        else:
            problem = _value_problem(field, value, where, depth)
        if problem is not None:
            return problem
    return None


def _repeated_problem(field: FieldDescriptor, value: Any, where: str, depth: int) -> str | None:
    if not isinstance(value, list):
        return f"{where}: {_shown(value)} is not a JSON array"
    attributes = field.name == "attributes"
    for index, item in enumerate(value):
        if item is None or (attributes and _simple_attribute(item)):
            continue
        problem = _value_problem(field, item, f"{where}[{index}]", depth)
        if problem is not None:
            return problem
    return None


def _simple_attribute(item: Any) -> bool:
    """Whether ``item`` is ``{"key": str, "value": {one plain value of its type}}``."""
    if not isinstance(item, dict) or len(item) != 2 or not isinstance(item.get("key"), str):
        return False
    value = item.get("value")
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((name, inner),) = value.items()
    types = _SIMPLE_TYPES.get(name)
    if types is not None and type(inner) in types:
        return True
    # proto3 JSON writes 64-bit integers as strings: the usual intValue.
    return name == "intValue" and type(inner) is str and _INT_TEXT.fullmatch(inner) is not None


def _value_problem(field: FieldDescriptor, value: Any, where: str, depth: int) -> str | None:
    kind = field.type
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return _message_problem(field.message_type, value, where, depth + 1)
    if kind == FieldDescriptor.TYPE_ENUM:
        return _enum_problem(field, value, where)
    if kind == FieldDescriptor.TYPE_BYTES:
        return _bytes_problem(value, where)
    if kind == FieldDescriptor.TYPE_STRING:
        return None if isinstance(value, str) else f"{where}: {_shown(value)} is not a string"
    if kind == FieldDescriptor.TYPE_BOOL:
        return None if isinstance(value, bool) else f"{where}: {_shown(value)} is not true or false"
    if kind in _INTEGER_TYPES:
        return None if _is_integer(value) else f"{where}: {_shown(value)} is not an integer"
    if kind in _FLOAT_TYPES:
        return None if _is_number(value) else f"{where}: {_shown(value)} is not a number"
    return None


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if isinstance(value, float):
        return math.isfinite(value) and value.is_integer()
    return isinstance(value, str) and _NUMBER_TEXT.fullmatch(value) is not None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and (
        value in _FLOAT_WORDS or _NUMBER_TEXT.fullmatch(value) is not None
    )


def _enum_problem(field: FieldDescriptor, value: Any, where: str) -> str | None:
    enum = field.enum_type
    if isinstance(value, str) and value in enum.values_by_name:
        return None
    number: int | None = None
    if _is_integer(value):
        try:
            as_float = float(value)
        except (OverflowError, ValueError):
            as_float = math.inf
        if math.isfinite(as_float) and as_float.is_integer():
            number = int(as_float)
    if number is not None and number in enum.values_by_number:
        return None
    known = sorted(enum.values_by_number)
    return (
        f"{where}: {_shown(value)} is not a {enum.name} value "
        f"(integers {known[0]}-{known[-1]}, or their names)"
    )


def _bytes_problem(value: Any, where: str) -> str | None:
    if not isinstance(value, str):
        return f"{where}: {_shown(value)} is not a base64 string"
    unpadded = len(value.rstrip("="))
    well_formed = (
        _BASE64_STANDARD.fullmatch(value) is not None or _BASE64_URL.fullmatch(value) is not None
    )
    padding_fits = value.endswith("=") is False or len(value) % 4 == 0
    if well_formed and padding_fits and unpadded % 4 != 1:
        return None
    return f"{where}: {_shown(value)} is not base64 (standard or URL-safe)"


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value[:limit] if isinstance(value, str | list) else value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"
