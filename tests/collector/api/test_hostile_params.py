"""Hostile query parameters get a 400 or an answer, never a 500.

Found from outside: an offset past 2^63 overflowed DuckDB, and a ``q`` of a
few hundred characters became a run-id prefix regex that tantivy refused.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta

import httpx
import pytest
from opentelemetry.trace import Tracer

from collector.api import MAX_OFFSET
from collector.api_filters import MAX_Q_CHARS
from instrumentation import attributes as A
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle


@pytest.mark.parametrize(
    "params",
    [
        {"offset": str(10**20)},
        {"offset": str(MAX_OFFSET + 1)},
        {"offset": "-1"},
        {"q": "a" * (MAX_Q_CHARS + 1)},
    ],
    ids=["offset past 2^64", "offset past the bound", "negative offset", "q too long"],
)
def test_out_of_range_parameters_are_a_400_naming_them(
    collector: CollectorHandle, params: dict[str, str]
) -> None:
    response = httpx.get(f"{collector.api_url}/agent/runs", params=params, timeout=30)
    assert response.status_code == 400, response.text
    assert next(iter(params)) in response.json()["detail"]


@pytest.mark.parametrize(
    "q",
    ["a" * 500, "a b " * 200, ".*+?()[]{}|^$\\" * 30, "ab" * (MAX_Q_CHARS // 2)],
    ids=["one long word", "many words", "regex syntax", "at the bound"],
)
def test_long_text_queries_are_answered(collector: CollectorHandle, q: str) -> None:
    response = httpx.get(f"{collector.api_url}/agent/runs", params={"q": q}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []


def test_an_offset_at_the_bound_is_answered(collector: CollectorHandle) -> None:
    response = httpx.get(
        f"{collector.api_url}/agent/runs", params={"offset": str(MAX_OFFSET)}, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []


# --- times at the ends of the calendar ------------------------------------------------
# Found from outside: until=0001-01-01 (with a run stored) and a cursor at year 1 made
# the page window reach before year 1 (OverflowError, 500); a time whose offset moves it
# out of years 1-9999 in UTC, and a cursor of nested JSON, were 500s too.


def _one_run(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent ops") as span:
        span.set_attribute(A.GEN_AI_OPERATION_NAME, "invoke_agent")
        span.set_attribute(A.RUN_TASK, "calendar edges")


@pytest.fixture(scope="module")
def with_a_run(module_collector: CollectorHandle) -> CollectorHandle:
    export("http-protobuf", module_collector, record_spans(_one_run))
    return module_collector


def _cursor(document: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


YEAR_ONE_MICROS = (datetime(1, 1, 1) - datetime(1970, 1, 1)) // timedelta(microseconds=1)


@pytest.mark.parametrize("route", ["/agent/runs", "/agent/runs/stats", "/agent/costs"])
@pytest.mark.parametrize(
    "params",
    [
        {"until": "0001-01-01"},
        {"until": "0001-01-02T00:00:00"},
        {"since": "0001-01-01", "until": "0001-01-01T00:00:01"},
        {"until": "9999-12-31T23:59:59.999999"},
        {"since": "9999-12-31T23:59:59.999999"},
        {"until": "0001-01-01", "q": "calendar"},
    ],
    ids=["until year 1", "until day 2", "second of year 1", "until 9999", "since 9999", "with q"],
)
def test_times_at_the_ends_of_the_calendar_are_answered(
    with_a_run: CollectorHandle, route: str, params: dict[str, str]
) -> None:
    response = httpx.get(f"{with_a_run.api_url}{route}", params=params, timeout=30)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", ["/agent/runs", "/agent/runs/stats", "/agent/costs"])
@pytest.mark.parametrize(
    ("name", "value"),
    [("since", "0001-01-01T00:00:00+01:00"), ("until", "9999-12-31T23:59:59-01:00")],
    ids=["before year 1 in UTC", "after 9999 in UTC"],
)
def test_a_time_out_of_range_in_utc_is_a_400_naming_it(
    with_a_run: CollectorHandle, route: str, name: str, value: str
) -> None:
    response = httpx.get(f"{with_a_run.api_url}{route}", params={name: value}, timeout=30)
    assert response.status_code == 400, response.text
    assert name in response.json()["detail"]


def test_a_cursor_at_year_one_is_answered(with_a_run: CollectorHandle) -> None:
    cursor = _cursor([YEAR_ONE_MICROS, "z"])
    response = httpx.get(f"{with_a_run.api_url}/agent/runs", params={"cursor": cursor}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []


def test_a_cursor_of_deeply_nested_json_is_a_400(with_a_run: CollectorHandle) -> None:
    cursor = base64.urlsafe_b64encode(b"[" * 5000).decode()
    response = httpx.get(f"{with_a_run.api_url}/agent/runs", params={"cursor": cursor}, timeout=30)
    assert response.status_code == 400, response.text
    assert "cursor" in response.json()["detail"]
