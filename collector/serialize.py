"""DuckDB values -> JSON values, as the REST API returns them.

Times are ISO 8601 UTC ending in ``Z``; JSON columns become JSON values;
anything JSON cannot hold (NaN, bytes, intervals, huge integers) gets a
faithful text form rather than an error.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from collector.columns import AGENT_RUNS, AGENT_STEPS
from collector.schema import RUN_COLUMNS, STEP_COLUMNS

__all__ = [
    "iso_utc",
    "parse_json_text",
    "json_value",
    "run_to_json",
    "step_to_json",
    "rows_to_dicts",
]

# Columns stored as JSON text that the API returns as JSON values.
_RUN_JSON_COLUMNS = frozenset(c.name for c in AGENT_RUNS if c.sql_type == "JSON")
_STEP_JSON_COLUMNS = frozenset(c.name for c in AGENT_STEPS if c.sql_type == "JSON")


def iso_utc(moment: datetime | None) -> str | None:
    """A UTC time as ``2025-01-31T12:00:00.123456Z``; naive times are taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds") + "Z"


# Stored JSON text is returned as text rather than parsed past this depth: the
# response's encoder recurses once per level and would fail (a 500) near
# Python's recursion limit, with every later page holding that row.
MAX_RETURNED_DEPTH = 100
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_CONSTANTS = {"NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity"}


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text`` (brackets in strings not counted)."""
    if text.count("[") + text.count("{") <= MAX_RETURNED_DEPTH:
        return 0  # cannot be deeper than that: skip the scan
    deepest = depth = 0
    for token in _BRACKETS.finditer(text):
        first = token.group()[0]
        if first in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif first in "]}":
            depth -= 1
    return deepest


def _finite_float(text: str) -> float | str:
    number = float(text)
    return number if math.isfinite(number) else json_value(number)


def parse_json_text(text: Any) -> Any:
    """JSON text -> value; text that is not JSON is returned unchanged.

    The result is always encodable as strict JSON: ``NaN``, ``Infinity`` and
    numbers past a double's range (which Python's parser accepts, and which
    a sender's JSON text may hold) become the strings ``json_value`` gives
    them, and text nested deeper than ``MAX_RETURNED_DEPTH`` stays text."""
    if not isinstance(text, str):
        return text
    if _nesting(text) > MAX_RETURNED_DEPTH:
        return text
    try:
        return json.loads(text, parse_constant=_CONSTANTS.__getitem__, parse_float=_finite_float)
    except (ValueError, RecursionError):
        return text


def json_value(value: Any) -> Any:
    """Any value DuckDB returns (directly or via Arrow) -> a JSON-serialisable value."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value).replace("inf", "Infinity").replace("nan", "NaN")
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        # Exact integers keep their digits; fractions become floats for charts.
        if value == value.to_integral_value() and abs(value) < 2**53:
            return int(value)
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "base64:" + base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(json_value(k)): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(v) for v in value]
    if hasattr(value, "months") and hasattr(value, "days") and hasattr(value, "nanoseconds"):
        # Arrow's MonthDayNano interval.
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    if hasattr(value, "isoformat"):  # e.g. a pandas Timestamp for TIMESTAMP_NS
        text = value.isoformat()
        return text + "Z" if getattr(value, "tzinfo", None) is None else text
    return str(value)


def rows_to_dicts(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Pair each row with the column names."""
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _record_to_json(record: Mapping[str, Any], json_columns: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in json_columns:
            out[key] = parse_json_text(value)
        else:
            out[key] = json_value(value)
    return out


def run_to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``agent_runs`` row (plus live fields) as the API's Run object."""
    out = _record_to_json(record, _RUN_JSON_COLUMNS)
    for name in RUN_COLUMNS:
        out.setdefault(name, None)
    return out


def step_to_json(record: Mapping[str, Any]) -> dict[str, Any]:
    """An ``agent_steps`` row as the API's Step object."""
    out = _record_to_json(record, _STEP_JSON_COLUMNS)
    for name in STEP_COLUMNS:
        out.setdefault(name, None)
    return out
