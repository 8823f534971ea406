"""Hostile values an agent hands to the tracing API never break the agent, and lose nothing.

Values whose ``__str__``, ``__repr__``, ``__bool__`` or iteration raise, cyclic
structures, bytes, lone surrogates, NaN and infinities, integers past int64, and
strings larger than the collector takes in one request: each call returns, and the
run and its steps reach the real collector with their status.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import instrumentation
from instrumentation import agent_run, tool_step, traced_tool
from tests.conftest import CollectorHandle
from tests.support import wait_until


class BrokenText:
    """Every conversion to text or truth raises."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")

    def __repr__(self) -> str:
        raise RuntimeError("__repr__ is broken")

    def __format__(self, spec: str) -> str:
        raise RuntimeError("__format__ is broken")

    def __bool__(self) -> bool:
        raise RuntimeError("__bool__ is broken")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("__eq__ is broken")

    __hash__ = None  # type: ignore[assignment]


class BrokenError(Exception):
    """An exception whose message cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError("__str__ is broken")


class BrokenList(list[int]):
    def __iter__(self) -> Iterator[int]:
        raise RuntimeError("__iter__ is broken")


def _cyclic() -> dict[str, Any]:
    value: dict[str, Any] = {"name": "loop"}
    value["self"] = value
    return value


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation.shutdown(timeout_s=5)
    instrumentation.configure(tracer_provider=provider, cancel_poll_s=None)
    yield exporter
    instrumentation.shutdown(timeout_s=5)
    provider.shutdown()


def _by_name(exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    return {span.name.split(" ")[0]: span for span in exporter.get_finished_spans()}


HOSTILE_VALUES: dict[str, Any] = {
    "broken-text": BrokenText(),
    "broken-iteration": BrokenList([1]),
    "cyclic": _cyclic(),
    "bytes": b"\xff\xfe\x00",
    "lone-surrogate": "a\ud800b",
    "nan": math.nan,
    "infinity": -math.inf,
    "int-past-int64": 2**70,
    "non-string-keys": {(1, 2): "tuple key", None: 1},
}


@pytest.mark.parametrize("value", HOSTILE_VALUES.values(), ids=list(HOSTILE_VALUES))
def test_any_value_anywhere_in_the_api_returns_and_ends_every_span(
    spans: InMemorySpanExporter, value: Any
) -> None:
    with agent_run(
        "hostile values",
        agent_name=value,
        source=value,
        triggered_by=value,
        model_requested=value,
        metadata=value,
    ) as run:
        run.set_model_used(value)
        run.set_attribute("hostile", value)
        with run.step("think", model=value) as think:
            think.set_model(value)
            think.set_thinking(value)
            think.set_attribute("hostile", value)
        with tool_step(value, value, tool_call_id=value) as tool:
            tool.set_result(value)
            tool.set_attribute("hostile", value)
            tool.set_attribute("hostile-list", [value, value])
        run.finish(final_answer=value)
    ended = _by_name(spans)
    assert set(ended) == {"invoke_agent", "chat", "execute_tool"}
    assert all(span.status.status_code is StatusCode.UNSET for span in ended.values())


def test_an_exception_with_a_broken_message_still_ends_and_fails_run_and_step(
    spans: InMemorySpanExporter,
) -> None:
    @traced_tool
    def explode() -> None:
        raise BrokenError()

    with pytest.raises(BrokenError), agent_run("broken error"):
        explode()
    ended = _by_name(spans)
    assert set(ended) == {"invoke_agent", "execute_tool"}
    for span in ended.values():
        assert span.status.status_code is StatusCode.ERROR
        assert str((span.attributes or {})["error.type"]).endswith("BrokenError")
        assert [event.name for event in span.events] == ["exception"]


def test_finish_with_a_broken_error_and_set_error_still_fail_the_spans(
    spans: InMemorySpanExporter,
) -> None:
    with agent_run("broken finish") as run:
        with run.step("think") as think:
            think.set_error(BrokenError())
        run.finish(status="failed", error=BrokenError())
    ended = _by_name(spans)
    assert ended["invoke_agent"].status.status_code is StatusCode.ERROR
    assert ended["chat"].status.status_code is StatusCode.ERROR
    assert (ended["invoke_agent"].attributes or {})["agent_run.error"] == "BrokenError"


# --- end to end: what the collector stores ------------------------------------------------

HUGE_CHARS = 20 * 1024 * 1024  # past the collector's 16 MiB request limit on its own


def _stored_steps(collector: CollectorHandle, run_id: str) -> list[tuple[Any, ...]]:
    return collector.query(
        "SELECT tool_name, status, tool_result FROM agent_steps WHERE agent_run_id = ?"
        " ORDER BY step_number",
        [run_id],
    )


def _run_with(collector: CollectorHandle, protocol: str, body: Callable[[Any], None]) -> str:
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    instrumentation.shutdown(timeout_s=5)
    instrumentation.configure(
        endpoint=endpoint, protocol=protocol, api_url=collector.api_url, cancel_poll_s=None
    )
    try:
        with agent_run("hostile values over the wire", agent_name="ops\ud800") as run:
            body(run)
    except BrokenError:
        pass
    assert instrumentation.shutdown(timeout_s=20)
    return run.id


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_numbers_and_text_otlp_cannot_carry_reach_the_collector_as_text(
    module_collector: CollectorHandle, protocol: str
) -> None:
    def body(run: Any) -> None:
        with tool_step("measure", {"score": math.nan}) as step:
            step.set_attribute("score", math.nan)
            step.set_attribute("scores", [1.0, math.inf])
            step.set_attribute("count", 2**70)
            step.set_attribute("key\udc80", "value\ud800")
            step.set_result("fine\udfff")
        run.finish(final_answer="done")

    run_id = _run_with(module_collector, protocol, body)
    wait_until(lambda: _stored_steps(module_collector, run_id), timeout_s=10, what="steps")
    assert _stored_steps(module_collector, run_id) == [("measure", "ok", "fine\ufffd")]
    [(attributes,)] = module_collector.query(
        "SELECT attributes FROM spans WHERE name = 'execute_tool measure' AND trace_id ="
        " (SELECT trace_id FROM agent_runs WHERE id = ?)",
        [run_id],
    )
    stored = json.loads(attributes)
    assert stored["score"] == "NaN"
    assert json.loads(stored["scores"].replace("Infinity", '"Infinity"')) == [1.0, "Infinity"]
    assert stored["count"] == "1180591620717411303424"
    assert stored["key\ufffd"] == "value\ufffd"


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_value_larger_than_a_request_is_cut_and_its_batch_stored(
    module_collector: CollectorHandle, protocol: str
) -> None:
    huge = "y" * HUGE_CHARS

    def body(run: Any) -> None:
        with tool_step("small", {"n": 1}) as step:
            step.set_result("small result")
        with tool_step("huge", {"blob": huge}) as step:
            step.set_result(huge)
            step.set_attribute("lines", [huge[:1000]] * 20_000)
        with run.step("think") as think:
            think.set_error(RuntimeError(huge))
        raise BrokenError()

    run_id = _run_with(module_collector, protocol, body)

    def stored() -> list[tuple[Any, ...]]:
        return module_collector.query(
            "SELECT status, error, total_steps FROM agent_runs WHERE id = ? AND status = 'failed'",
            [run_id],
        )

    [(status, error, total_steps)] = wait_until(stored, timeout_s=15, what="the failed run")
    assert (status, error, total_steps) == ("failed", "BrokenError", 3)
    steps = _stored_steps(module_collector, run_id)
    assert [s[:2] for s in steps] == [("small", "ok"), ("huge", "ok"), (None, "error")]
    assert steps[0][2] == "small result"
    assert steps[1][2].startswith("y" * 4000)
    assert f"truncated by agent-audit: {HUGE_CHARS} bytes" in steps[1][2]
