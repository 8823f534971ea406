"""Keep 128-bit integers and wide decimals exact on their way from DuckDB to JSON.

Arrow carries HUGEINT and UHUGEINT as ``decimal128(38, 0)``: a HUGEINT past 2**53
became a rounded float in the answer, and a UHUGEINT past 10**38 does not fit at
all (2**128 - 1 came back as -1). Columns whose type holds one of these, or a
DECIMAL, are therefore read as DuckDB's own text (``CAST(... AS VARCHAR)`` at the
top level, ``to_json`` when nested) and turned back into numbers here:

- an integer of any size is an exact JSON integer (all its digits);
- a decimal fraction is a JSON number when a double holds it exactly (its
  shortest form reads back as the same value), else a string of its exact digits.

A client whose JSON parser reads every number as a double (JavaScript) should
cast to VARCHAR in the query to keep integers past 2**53.

Times and bits that Python's values cannot hold are read as DuckDB's text too:
``TIME WITH TIME ZONE`` lost its offset (``12:34:56+05:30`` came back as
``12:34:56``), ``TIME`` and ``TIME_NS`` of ``24:00:00`` came back as ``00:00:00``,
``TIME_NS`` and ``TIMESTAMP_NS`` lost their nanoseconds, and ``BIT`` came back as
the base64 of DuckDB's internal bytes. A ``BIT`` is its string of ``0`` and ``1``;
a time is DuckDB's text of it (``24:00:00-15:59:59``); a ``TIMESTAMP_NS`` is ISO
8601 like the other timestamps, with nine digits (``2020-01-01T00:00:00.123456789Z``).
Nested in a list, struct, map or union, these come as DuckDB's JSON of the whole value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from collector.serialize import json_value

__all__ = ["exact_value", "exact_projection", "from_text", "from_json_text", "parser_of"]

_WIDE = re.compile(r"\b(U?HUGEINT|DECIMAL)\b")
_SCALAR = re.compile(r"^(U?HUGEINT|DECIMAL\(\d+,\s*\d+\))$")
# Types Python's values misrepresent (offsets, 24:00:00, nanoseconds, bit strings).
_TEXTUAL_SCALAR = frozenset({"TIME", "TIME_NS", "TIME WITH TIME ZONE", "BIT"})
_TEXTUAL = re.compile(r"\b(TIME|TIME_NS|TIMESTAMP_NS|BIT)\b")
_TIMESTAMP_TZ = "TIMESTAMP WITH TIME ZONE"  # rendered exactly by Python: not textual
_NANOS_TEXT = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(\.\d+)?$")

TEXT = "text"  # the column arrives as CAST(... AS VARCHAR), a number in it
STRING = "string"  # the column arrives as CAST(... AS VARCHAR), kept as that text
NANOS = "nanos"  # a TIMESTAMP_NS column, as CAST(... AS VARCHAR)
JSON = "json"  # the column arrives as to_json(...)::VARCHAR


def exact_projection(
    relation: duckdb.DuckDBPyRelation, types: Sequence[str]
) -> tuple[duckdb.DuckDBPyRelation, dict[int, str]]:
    """``relation`` with wide-number columns read as text, and how each such column arrives."""
    how: dict[int, str] = {}
    expressions: list[str] = []
    for index, type_name in enumerate(types):
        reference = f"#{index + 1}"
        kind = _arrives_as(type_name)
        if kind is None:
            expressions.append(reference)
            continue
        how[index] = kind
        if kind == JSON:
            expressions.append(f"CAST(to_json({reference}) AS VARCHAR)")
        else:
            expressions.append(f"CAST({reference} AS VARCHAR)")
    if not how:
        return relation, how
    return relation.project(", ".join(expressions)), how


def _arrives_as(type_name: str) -> str | None:
    """How a column of ``type_name`` is read, or None for Python's own value of it."""
    if _SCALAR.match(type_name):
        return TEXT
    if type_name in _TEXTUAL_SCALAR:
        return STRING
    if type_name == "TIMESTAMP_NS":
        return NANOS
    if _WIDE.search(type_name) or _TEXTUAL.search(type_name.replace(_TIMESTAMP_TZ, "")):
        return JSON
    return None


def parser_of(kind: str) -> Callable[[str | None], Any]:
    """What turns DuckDB's text of a column read as ``kind`` into its JSON value."""
    return {TEXT: from_text, STRING: _as_is, NANOS: from_nanos_text, JSON: from_json_text}[kind]


def _as_is(text: str | None) -> str | None:
    return text


def from_nanos_text(text: str | None) -> str | None:
    """DuckDB's text of a TIMESTAMP_NS, as ISO 8601 in UTC with its nine digits."""
    if text is None:
        return None
    match = _NANOS_TEXT.match(text)
    if match is None:
        return text  # infinity, -infinity
    day, clock, fraction = match.groups()
    return f"{day}T{clock}{(fraction or '.').ljust(10, '0')}Z"


def exact_value(value: Decimal) -> int | float | str:
    """A decimal as an exact JSON value: integer, double that is exact, or its digits."""
    if not value.is_finite():
        return str(value)
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    try:
        if Decimal(repr(as_float)) == value:
            return as_float
    except InvalidOperation:
        pass
    digits = format(value, "f")  # exact; normalize() would round to 28 digits
    return digits.rstrip("0").rstrip(".") if "." in digits else digits


def from_text(text: str | None) -> int | float | str | None:
    """A value DuckDB wrote as text for a HUGEINT, UHUGEINT or DECIMAL column."""
    if text is None:
        return None
    try:
        return exact_value(Decimal(text))
    except InvalidOperation:
        return text


def _exact_json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return exact_value(value)
    if isinstance(value, dict):
        return {key: _exact_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_exact_json(item) for item in value]
    return json_value(value)  # NaN and Infinity become their strings


def from_json_text(text: str | None) -> Any:
    """A nested value DuckDB wrote with ``to_json``, its numbers kept exact."""
    if text is None:
        return None
    try:
        return _exact_json(json.loads(text, parse_float=Decimal))
    except ValueError:
        return text
