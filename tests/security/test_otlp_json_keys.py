"""Spans written with either spelling of OTLP/JSON's keys, or under a key named
twice, are stored, never acknowledged and dropped.

Found from outside: a request whose keys were protobuf's original field
names (``resource_spans``, ``scope_spans``, ``trace_id``; proto3's JSON
mapping allows them and the OpenTelemetry Collector reads them) was
answered 200 with nothing stored; ``{"resourceSpans": [A], "resourceSpans":
[B]}`` stored B only (Python's parser keeps the last of two equal keys; the
Collector keeps every element of a repeated field).
"""

from __future__ import annotations

import json
import os
from typing import Any

import httpx
import pytest

from tests.conftest import CollectorHandle

START_NS = 1_790_000_000_000_000_000


@pytest.fixture(scope="module")
def handle(module_collector: CollectorHandle) -> CollectorHandle:
    return module_collector


def _span(trace: str, number: int, *, snake: bool = False) -> dict[str, Any]:
    ids = {"traceId": trace, "spanId": f"{number:016x}"}
    link = {"traceId": "ab" * 16, "spanId": "cd" * 8}
    if snake:
        ids = {"trace_id": trace, "span_id": f"{number:016x}"}
        link = {"trace_id": "ab" * 16, "span_id": "cd" * 8}
        if number > 1:
            ids["parent_span_id"] = f"{1:016x}"
    elif number > 1:
        ids["parentSpanId"] = f"{1:016x}"
    return {
        **ids,
        "name": f"step {number}",
        "startTimeUnixNano": str(START_NS + number),
        "endTimeUnixNano": str(START_NS + 1000),
        "links": [link],
    }


def _post(handle: CollectorHandle, body: str) -> dict[str, Any]:
    response = httpx.post(
        handle.http_endpoint + "/v1/traces",
        content=body.encode(),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _stored(handle: CollectorHandle, trace: str) -> list[tuple[str, str | None, str]]:
    rows = handle.query(
        "SELECT span_id, parent_span_id, links FROM spans WHERE trace_id = ? ORDER BY span_id",
        [trace],
    )
    return [(row[0], row[1], row[2]) for row in rows]


def test_original_field_names_are_read_like_lower_camel_case(handle: CollectorHandle) -> None:
    trace = os.urandom(16).hex()
    document = {
        "resource_spans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"string_value": "s"}}]
                },
                "scope_spans": [
                    {
                        "scope": {"name": "snake"},
                        "spans": [_span(trace, n, snake=True) for n in (1, 2, 3)],
                    }
                ],
            }
        ]
    }
    answer = _post(handle, json.dumps(document))
    assert "partialSuccess" not in answer, answer
    stored = _stored(handle, trace)
    assert [row[0] for row in stored] == [f"{n:016x}" for n in (1, 2, 3)]
    assert [row[1] for row in stored] == [None, f"{1:016x}", f"{1:016x}"]
    assert all(json.loads(row[2])[0]["trace_id"] == "ab" * 16 for row in stored)
    service = handle.query("SELECT DISTINCT service_name FROM spans WHERE trace_id = ?", [trace])
    assert service == [("s",)]


def _raw(key: str, value: list[str]) -> str:
    return f'"{key}": [{", ".join(value)}]'


@pytest.mark.parametrize("level", ["resourceSpans", "scopeSpans", "spans", "both spellings"])
def test_a_key_named_twice_keeps_the_spans_of_both(handle: CollectorHandle, level: str) -> None:
    trace = os.urandom(16).hex()
    first, second = [json.dumps(_span(trace, n)) for n in (1, 2)]
    if level == "spans":
        scope = "{" + _raw("spans", [first]) + ", " + _raw("spans", [second]) + "}"
        body = "{" + _raw("resourceSpans", ["{" + _raw("scopeSpans", [scope]) + "}"]) + "}"
    elif level == "scopeSpans":
        scopes = [
            _raw("scopeSpans", ["{" + _raw("spans", [span]) + "}"]) for span in (first, second)
        ]
        body = "{" + _raw("resourceSpans", ["{" + ", ".join(scopes) + "}"]) + "}"
    else:
        resources = [
            "{" + _raw("scopeSpans", ["{" + _raw("spans", [span]) + "}"]) + "}"
            for span in (first, second)
        ]
        keys = ("resourceSpans", "resource_spans" if level == "both spellings" else "resourceSpans")
        body = "{" + ", ".join(_raw(key, [r]) for key, r in zip(keys, resources, strict=True)) + "}"
    _post(handle, body)
    assert [row[0] for row in _stored(handle, trace)] == [f"{1:016x}", f"{2:016x}"]


def test_a_key_name_inside_a_value_changes_nothing(handle: CollectorHandle) -> None:
    # The duplicate check counts key names in the raw bytes: a value spelling
    # one ("spans") makes it parse again, with the same result.
    trace = os.urandom(16).hex()
    span = _span(trace, 1)
    span["attributes"] = [{"key": "spans", "value": {"stringValue": "spans"}}]
    document = {"resourceSpans": [{"scopeSpans": [{"spans": [span, _span(trace, 2)]}]}]}
    _post(handle, json.dumps(document))
    assert len(_stored(handle, trace)) == 2
    (attributes,) = handle.query(
        "SELECT attributes FROM spans WHERE trace_id = ? AND span_id = ?", [trace, f"{1:016x}"]
    )[0]
    assert json.loads(attributes) == {"spans": "spans"}
