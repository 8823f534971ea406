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
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import duckdb

from collector.serialize import json_value

__all__ = ["exact_value", "exact_projection", "from_text", "from_json_text"]

_WIDE = re.compile(r"\b(U?HUGEINT|DECIMAL)\b")
_SCALAR = re.compile(r"^(U?HUGEINT|DECIMAL\(\d+,\s*\d+\))$")

TEXT = "text"  # the column arrives as CAST(... AS VARCHAR)
JSON = "json"  # the column arrives as to_json(...)::VARCHAR


def exact_projection(
    relation: duckdb.DuckDBPyRelation, types: Sequence[str]
) -> tuple[duckdb.DuckDBPyRelation, dict[int, str]]:
    """``relation`` with wide-number columns read as text, and how each such column arrives."""
    how: dict[int, str] = {}
    expressions: list[str] = []
    for index, type_name in enumerate(types):
        reference = f"#{index + 1}"
        if _SCALAR.match(type_name):
            how[index] = TEXT
            expressions.append(f"CAST({reference} AS VARCHAR)")
        elif _WIDE.search(type_name):
            how[index] = JSON
            expressions.append(f"CAST(to_json({reference}) AS VARCHAR)")
        else:
            expressions.append(reference)
    if not how:
        return relation, how
    return relation.project(", ".join(expressions)), how


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
