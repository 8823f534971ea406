"""Every integer query parameter of the REST API answers 200 or a 400 naming it, never a 500.

Found from outside: ``GET /agent/runs/{id}/steps?after_step=10^40`` was a 500
(DuckDB binds a Python int of at most 128 bits, and ``after_step`` had no
range). The parameters are read from the app's own OpenAPI document, so a
route or an integer parameter added later is attacked too.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.trace import Tracer

from instrumentation import attributes as A
from tests.collector.ingest.otlp import export, record_spans
from tests.conftest import CollectorHandle
from tests.support import wait_until

TASK = "integer parameters under attack"

# Past int64, past the 128 bits DuckDB binds, and far below zero.
OUT_OF_RANGE = [2**63, -(2**63) - 1, 2**127, 2**128, 10**40, -(10**40), 10**4000]


def _run_with_steps(tracer: Tracer) -> None:
    with tracer.start_as_current_span("invoke_agent ops") as run:
        run.set_attribute(A.GEN_AI_OPERATION_NAME, "invoke_agent")
        run.set_attribute(A.RUN_TASK, TASK)
        for index in range(3):
            with tracer.start_as_current_span(f"execute_tool t{index}") as step:
                step.set_attribute(A.GEN_AI_OPERATION_NAME, "execute_tool")
                step.set_attribute(A.GEN_AI_TOOL_NAME, f"t{index}")


@pytest.fixture(scope="module")
def run_id(module_collector: CollectorHandle) -> str:
    export("http-protobuf", module_collector, record_spans(_run_with_steps))

    def stored() -> str | None:
        runs = httpx.get(
            f"{module_collector.api_url}/agent/runs", params={"q": TASK}, timeout=30
        ).json()["runs"]
        return runs[0]["id"] if runs and runs[0]["total_steps"] == 3 else None

    found = wait_until(stored, timeout_s=30)
    assert isinstance(found, str)
    return found


def _is_integer(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "integer":
        return True
    return any(_is_integer(option) for option in schema.get("anyOf", []))


def integer_parameters(api_url: str, run_id: str) -> list[tuple[str, str]]:
    """(path with ids filled in, parameter) for every integer query parameter of a GET."""
    document = httpx.get(f"{api_url}/openapi.json", timeout=30).json()
    found = []
    for path, operations in document["paths"].items():
        get = operations.get("get")
        if get is None:
            continue
        for parameter in get.get("parameters", []):
            if parameter["in"] == "query" and _is_integer(parameter.get("schema", {})):
                filled = path.replace("{run_id}", run_id)
                found.append((filled, parameter["name"]))
    return found


def _answer(api_url: str, path: str, name: str, value: int) -> httpx.Response:
    # Sent as text: httpx would not write 4,000 digits through params= either way.
    return httpx.get(f"{api_url}{path}?{name}={value}", timeout=30)


def _assert_answered_or_named(response: httpx.Response, name: str) -> None:
    assert response.status_code in (200, 400), (response.status_code, response.text[:300])
    if response.status_code == 400:
        assert name in response.json()["detail"], response.text


@pytest.fixture(scope="module")
def targets(module_collector: CollectorHandle, run_id: str) -> list[tuple[str, str]]:
    return integer_parameters(module_collector.api_url, run_id)


def test_the_api_has_integer_parameters_to_attack(targets: list[tuple[str, str]]) -> None:
    names = {name for _, name in targets}
    # If this shrinks, the OpenAPI reading above stopped finding them.
    assert {"limit", "offset", "top", "after_step"} <= names, names


@pytest.mark.parametrize("value", OUT_OF_RANGE, ids=lambda v: f"{str(v)[:12]}({len(str(v))})")
def test_an_out_of_range_integer_is_a_400_naming_it(
    module_collector: CollectorHandle, targets: list[tuple[str, str]], value: int
) -> None:
    for path, name in targets:
        response = _answer(module_collector.api_url, path, name, value)
        assert response.status_code == 400, (path, name, response.status_code, response.text)
        assert name in response.json()["detail"], (path, response.text)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.one_of(st.integers(), st.integers(-(2**130), 2**130)))
def test_any_integer_is_answered_or_named(
    module_collector: CollectorHandle, targets: list[tuple[str, str]], value: int
) -> None:
    for path, name in targets:
        _assert_answered_or_named(_answer(module_collector.api_url, path, name, value), name)


def test_after_step_still_pages_the_steps(module_collector: CollectorHandle, run_id: str) -> None:
    url = f"{module_collector.api_url}/agent/runs/{run_id}/steps"
    every = httpx.get(url, params={"after_step": 0}, timeout=30).json()["steps"]
    assert [s["step_number"] for s in every] == [1, 2, 3]
    later = httpx.get(url, params={"after_step": 2}, timeout=30).json()["steps"]
    assert [s["step_number"] for s in later] == [3]
    beyond = httpx.get(url, params={"after_step": 2**31 - 1}, timeout=30)
    assert beyond.status_code == 200 and beyond.json()["steps"] == []
