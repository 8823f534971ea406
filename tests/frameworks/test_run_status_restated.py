"""A run's status and error are restated from its span and the whole trace stored so far, in
any arrival order: what an earlier derivation said from part of the trace is withdrawn
when a later span shows otherwise (collector/foreign_runs.py, ``_status_and_error``).

pydantic-ai's spans, through the real collector: a model call left without its response
tells a cancelled run (tests/frameworks/test_rules_interrupted.py), unless a later call of
the same run answered (a retry): then the run completed with that answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.conventions import pydantic_ai as PAI
from tests.collector.ingest.otlp import export
from tests.conftest import CollectorHandle, start_test_collector

ANSWER = [{"role": "assistant", "parts": [{"type": "text", "content": "sunny"}]}]


def _retried_run() -> dict[str, ReadableSpan]:
    """A run whose first model call was cut off and whose second answered, by name."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "weather"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(PAI.SCOPE)
    run = tracer.start_span(
        "invoke_agent weather_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    inside = trace.set_span_in_context(run)
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
    tracer.start_span("chat m", context=inside, attributes={**chat, "n": "cut"}).end()
    tracer.start_span(
        "chat m",
        context=inside,
        attributes={
            **chat,
            "n": "answered",
            "gen_ai.response.model": "m-2",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.output.messages": json.dumps(ANSWER),
        },
    ).end()
    run.end()
    provider.shutdown()
    spans = {}
    for span in memory.get_finished_spans():
        spans[str((span.attributes or {}).get("n", "run"))] = span
    return spans


def _run_row(handle: CollectorHandle) -> tuple[object, ...]:
    (row,) = handle.query(
        "SELECT status, error, final_answer, model_used FROM agent_runs "
        "WHERE agent_name = 'weather_agent'"
    )
    return row


@pytest.mark.parametrize(
    "batches",
    [
        (("run", "cut"), ("answered",)),
        (("cut",), ("run",), ("answered",)),
        (("answered", "cut", "run"),),
        (("run", "answered"), ("cut",)),
    ],
    ids=["answer-last", "run-between", "one-batch", "cut-last"],
)
def test_a_later_answer_withdraws_the_cancellation_a_cut_call_told(
    tmp_path: Path, batches: Sequence[Sequence[str]]
) -> None:
    spans = _retried_run()
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        for batch in batches:
            export("http-protobuf", handle, [spans[name] for name in batch])
        assert _run_row(handle) == ("completed", None, "sunny", "m-2")
    finally:
        handle.stop()


def test_without_the_answer_the_run_stays_cancelled(tmp_path: Path) -> None:
    spans = _retried_run()
    handle = start_test_collector(tmp_path / "audit.duckdb")
    try:
        export("http-protobuf", handle, [spans["run"], spans["cut"]])
        assert _run_row(handle)[:3] == ("cancelled", None, None)
    finally:
        handle.stop()
