"""Rows as Arrow tables in the declared column types (collector/columns.py).

Rows go into DuckDB as Arrow tables: columnar inserts are far faster than
row-by-row SQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from collector.columns import SPANS, arrow_schema
from collector.decode import SpanRecord

__all__ = ["SPAN_SCHEMA", "dumps_json", "spans_table", "rows_table"]

SPAN_SCHEMA = arrow_schema(SPANS)


def dumps_json(value: Any) -> str:
    # orjson: about 3x faster than json here, and this runs on the single writer thread.
    try:
        return orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):  # e.g. an int beyond 64 bits
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def spans_table(spans: Sequence[SpanRecord], now: datetime) -> pa.Table:
    columns: dict[str, list[Any]] = {name: [] for name in SPAN_SCHEMA.names}
    for s in spans:
        columns["trace_id"].append(s.trace_id)
        columns["span_id"].append(s.span_id)
        columns["parent_span_id"].append(s.parent_span_id)
        columns["name"].append(s.name)
        columns["kind"].append(s.kind)
        columns["start_ns"].append(s.start_ns)
        columns["end_ns"].append(s.end_ns)
        columns["status_code"].append(s.status_code)
        columns["status_message"].append(s.status_message)
        columns["service_name"].append(s.service_name)
        columns["scope_name"].append(s.scope_name)
        columns["scope_version"].append(s.scope_version)
        columns["resource"].append(dumps_json(s.resource))
        columns["attributes"].append(dumps_json(s.attributes))
        columns["events"].append(dumps_json(s.events))
        columns["links"].append(dumps_json(s.links))
        columns["received_at"].append(now)
    return pa.table(columns, schema=SPAN_SCHEMA)


def rows_table(rows: Iterable[Any], schema: pa.Schema, extra: dict[str, Any]) -> pa.Table:
    names = [n for n in schema.names if n not in extra]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    count = 0
    for row in rows:
        count += 1
        for name in names:
            columns[name].append(getattr(row, name))
    for name, value in extra.items():
        columns[name] = [value] * count
    return pa.table(columns, schema=schema)
