"""LangChain's ``chain.batch([...])`` under OpenLLMetry: each input's run beside the others,
not nested in the previous input's (the rule's ``run_parents``, collector/rule_parents.py).
The real LangChain and instrumentation, the spans sent to the real collector."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.runnables import RunnableLambda
from opentelemetry.instrumentation.langchain import LangchainInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from collector.decode import SpanRecord
from collector.rules.langchain_openllmetry import run_parents
from tests.collector.ingest.otlp import to_request
from tests.conftest import start_test_collector
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.records import span_record
from tests.span_items import request_of, span_items
from tests.support import wait_until

INPUTS = ("one", "two", "three")


@pytest.fixture(scope="module")
def batch_spans() -> Iterator[list[ReadableSpan]]:
    """The spans of ``(lambda | lambda).batch(INPUTS)``, as OpenLLMetry traces them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    instrumentor = LangchainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        chain = RunnableLambda(lambda text: f"{text} a") | RunnableLambda(str.upper)
        # In a copy of the context: OpenLLMetry makes each input's span current in the
        # calling thread and ends it in a pool thread, so the attached spans are never
        # detached here; they would become the parent of every span this process makes.
        done = contextvars.copy_context().run(chain.batch, list(INPUTS))
        assert done == [f"{text.upper()} A" for text in INPUTS]
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    yield list(memory.get_finished_spans())


def test_the_spans_nest_each_input_s_run_in_the_previous_one_s(
    batch_spans: list[ReadableSpan],
) -> None:
    """What SPANS.md records of OpenLLMetry 0.62: one trace, each ``workflow`` span the
    child of the previous input's (if this changes, so may the rule)."""
    workflows = [s for s in batch_spans if s.name == "RunnableSequence.workflow"]
    assert len(workflows) == len(INPUTS)
    ids = {s.context.span_id for s in workflows}
    nested = [s for s in workflows if s.parent is not None and s.parent.span_id in ids]
    assert len(nested) == len(INPUTS) - 1
    assert len({s.context.trace_id for s in batch_spans}) == 1


def _record(span_id: str, parent: str | None, kind: str) -> SpanRecord:
    return span_record(
        span_id, name=f"RunnableSequence.{kind}", parent_span_id=parent,
        attributes={"traceloop.span.kind": kind}, trace_id="t" * 32, kind=0, start_ns=0,
        end_ns=1, scope_name="opentelemetry.instrumentation.langchain",
    )  # fmt: skip


def test_each_input_s_run_goes_beside_the_first_one_s() -> None:
    app, first, second, third = "0" * 16, "1" * 16, "2" * 16, "3" * 16
    spans = [
        _record(first, app, "workflow"),  # below the application's span
        _record(second, first, "workflow"),
        _record(third, second, "workflow"),
        _record("4" * 16, third, "task"),  # a task stays where it is
    ]
    assert run_parents(spans) == {second: app, third: app}
    # Before the first input's span arrived, the third goes below the first (not stored yet).
    assert run_parents(spans[1:]) == {third: first}
    assert run_parents([_record(first, None, "workflow"), spans[1]]) == {second: None}


def test_a_batch_stores_one_top_level_run_per_input_in_any_order(
    batch_spans: list[ReadableSpan], tmp_path: Path
) -> None:
    """Each span in a request of its own, the last input's first (each nested one before the
    span it hangs below): three top-level runs, each its input's, and ``rederive`` agrees."""
    items = span_items(to_request(batch_spans).SerializeToString())
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        with httpx.Client(base_url=collector.http_endpoint, timeout=30) as http:
            for item in reversed(items):
                response = http.post(
                    "/v1/traces",
                    content=request_of([item]).SerializeToString(),
                    headers={"content-type": "application/x-protobuf"},
                )
                assert response.status_code == 200, response.text
        wait_until(collector.store.await_applied, timeout_s=60, what="every request applied")
        runs = collector.query(
            "SELECT task, final_answer, parent_run_id FROM agent_runs ORDER BY started_at"
        )
        assert runs == [(text, f"{text.upper()} A", None) for text in INPUTS]
        before = derived_rows(collector.query)
    finally:
        collector.stop()
    assert rederived_rows(db) == before
