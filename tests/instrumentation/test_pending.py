"""Pending copies at span start, and heartbeats of open runs."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import instrumentation
from instrumentation import agent_run
from instrumentation.pending import PendingSpanProcessor
from tests.instrumentation.conftest import Spans
from tests.support import poll_until, wait_until


def test_a_pending_copy_of_an_open_run_and_step_is_exported_soon_after_start(
    spans: Spans,
) -> None:
    with agent_run("t", agent_name="ops") as run:
        with run.step("tool_call", tool_name="docker_ps", tool_args={"all": True}):
            # exported while both are still open: that is what makes them live
            wait_until(lambda: len(spans.pending()) == 2, timeout_s=10, what="pending copies")
            assert spans.real() == []
            pending_step, pending_run = sorted(spans.pending(), key=lambda s: s.name)
    real_run = spans.named("invoke_agent ops")
    real_step = spans.named("execute_tool docker_ps")
    for pending, real in ((pending_run, real_run), (pending_step, real_step)):
        assert pending.name == real.name
        assert pending.context.trace_id == real.context.trace_id
        assert pending.context.span_id != real.context.span_id
        assert pending.parent is not None
        assert pending.parent.span_id == real.context.span_id
        assert pending.start_time == real.start_time
        assert pending.end_time == pending.start_time  # zero length
        assert pending.resource == real.resource
        assert pending.instrumentation_scope == real.instrumentation_scope
        attrs = dict(pending.attributes or {})
        assert attrs.pop("agent_audit.pending") is True
        assert attrs.pop("agent_audit.pending_parent_id") == format(real.context.span_id, "016x")
        # The real span's own parent, so what is below a span that never ends is placed.
        real_parent = format(real.parent.span_id, "016x") if real.parent else None
        assert attrs.pop("agent_audit.pending_real_parent_id", None) == real_parent
        real_attrs = real.attributes or {}
        assert all(real_attrs.get(k) == v for k, v in attrs.items() if k != "agent_run.status")
    assert (pending_run.attributes or {})["agent_run.status"] == "running"
    assert (pending_step.attributes or {})["gen_ai.tool.call.arguments"] == '{"all": true}'
    assert (pending_step.attributes or {})["agent_run.id"] == run.id


def test_a_step_that_ended_before_its_copy_was_due_gets_none(spans: Spans) -> None:
    with agent_run("t") as run:
        with run.step("response"):
            pass
        spans.provider.force_flush()  # sends the copies due: only the run is still open
        assert [s.name for s in spans.pending()] == ["invoke_agent"]


def test_with_no_delay_the_copy_is_sent_in_on_start() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(PendingSpanProcessor(SimpleSpanProcessor(exporter), delay_s=0))
    instrumentation.configure(tracer_provider=provider, cancel_poll_s=None)
    with agent_run("t") as run, run.step("response"):
        assert [s.name for s in exporter.get_finished_spans()] == ["invoke_agent", "response"]
    provider.shutdown()


def test_spans_of_other_instrumentations_get_no_pending_copy(spans: Spans) -> None:
    tracer = spans.provider.get_tracer("httpx")
    with tracer.start_as_current_span("GET /api", attributes={"http.method": "GET"}):
        spans.provider.force_flush()
    with tracer.start_as_current_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}):
        spans.provider.force_flush()
    assert [s.name for s in spans.pending()] == ["chat gpt-4o"]
    assert sorted(spans.names()) == ["GET /api", "chat gpt-4o"]


@pytest.fixture
def fast_heartbeat() -> Iterator[tuple[InMemorySpanExporter, PendingSpanProcessor]]:
    exporter = InMemorySpanExporter()
    processor = PendingSpanProcessor(SimpleSpanProcessor(exporter), heartbeat_s=0.05, delay_s=0)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    instrumentation.configure(tracer_provider=provider, cancel_poll_s=None)
    yield exporter, processor
    instrumentation.shutdown()
    provider.shutdown()


def _pending_runs(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("agent_audit.pending") and s.name.startswith("invoke_agent")
    ]


def test_an_open_run_sends_heartbeats_until_it_ends(
    fast_heartbeat: tuple[InMemorySpanExporter, PendingSpanProcessor],
) -> None:
    exporter, processor = fast_heartbeat
    with agent_run("long step") as run, run.step("tool_call", tool_name="docker_logs") as step:
        step.set_attribute("progress", "half")
        wait_until(lambda: len(_pending_runs(exporter)) >= 3, timeout_s=10)
        beats = _pending_runs(exporter)
    first, *later = beats
    assert first.end_time == first.start_time
    assert len({s.context.span_id for s in beats}) == len(beats)  # a new id each time
    for beat in later:
        assert beat.start_time == first.start_time  # the real run's start
        assert beat.end_time is not None and first.end_time is not None
        assert beat.end_time > first.end_time  # when it was sent
        assert (beat.attributes or {})["agent_audit.pending_parent_id"] == (
            (first.attributes or {})["agent_audit.pending_parent_id"]
        )
        assert (beat.attributes or {})["agent_run.id"] == run.id
    # once the run ended, a beat sends nothing for it
    assert processor.beat() == 0


def test_shutdown_stops_the_heartbeat_thread(
    fast_heartbeat: tuple[InMemorySpanExporter, PendingSpanProcessor],
) -> None:
    exporter, processor = fast_heartbeat
    with agent_run("t"):
        wait_until(lambda: len(_pending_runs(exporter)) >= 2, timeout_s=10)
        processor.shutdown()
        thread = processor._thread
        assert thread is not None
        thread.join(5)
        assert not thread.is_alive()
        assert processor.beat() == 0


def test_a_forked_child_still_sends_pending_copies(spans: Spans) -> None:
    with agent_run("parent"):
        wait_until(lambda: spans.pending(), timeout_s=10)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own run must become visible without help
        try:
            before = len(spans.pending())
            with agent_run("child"):
                poll_until(lambda: len(spans.pending()) > before, timeout_s=10, interval_s=0.01)
            os.write(write_end, b"ok" if len(spans.pending()) > before else b"no")
        finally:
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 2)
    os.waitpid(pid, 0)
    assert answer == b"ok"


def test_a_run_still_open_at_shutdown_gets_a_last_copy_marked_open_at_exit() -> None:
    """A process that shuts tracing down with a run open (Ctrl-C in a framework that never
    ends its spans) says so: the collector makes the run ``cancelled``, not ``lost``."""
    exporter = InMemorySpanExporter()
    processor = PendingSpanProcessor(SimpleSpanProcessor(exporter), delay_s=0)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("framework")
    run_attrs = {"gen_ai.operation.name": "invoke_agent"}
    with tracer.start_as_current_span("invoke_agent done", attributes=run_attrs):
        pass
    left_open = tracer.start_span("invoke_agent cut", attributes=run_attrs)
    step = tracer.start_span(
        "chat m",
        context=trace.set_span_in_context(left_open),
        attributes={"gen_ai.operation.name": "chat"},
    )
    provider.shutdown()
    at_exit = [s for s in exporter.get_finished_spans() if (s.attributes or {}).get(
        "agent_audit.pending_open_at_exit")]  # fmt: skip
    assert [s.name for s in at_exit] == ["invoke_agent cut"]  # runs only, open ones only
    (last,) = at_exit
    assert last.parent is not None and last.parent.span_id == left_open.get_span_context().span_id
    assert last.end_time is not None and last.start_time is not None
    assert last.end_time > last.start_time  # when the process shut down
    # The step's copy names its real parent: the run span that never ended.
    (step_copy,) = [s for s in exporter.get_finished_spans() if s.name == "chat m"]
    assert (step_copy.attributes or {})["agent_audit.pending_real_parent_id"] == format(
        left_open.get_span_context().span_id, "016x"
    )
    assert step.end_time is None


@pytest.mark.parametrize(
    "at_start",
    [{}, {"gen_ai.agent.name": "weather_agent", "traceloop.workflow.name": "report"}],
    ids=["bare", "context-keys-only"],
)
def test_a_run_whose_kind_is_set_just_after_its_start_gets_its_copy(
    at_start: dict[str, str],
) -> None:
    """Strands starts its spans bare, the Traceloop SDK with only its context's keys; the
    kind comes a moment later. A run span told so when its copy is due gets it (with the
    events it has so far: Strands logs the request as one) and its open-at-exit copy; a step
    told so gets none (it needs to arrive only when it ends), nor does a span that is no
    agent's."""
    exporter = InMemorySpanExporter()
    # A delay longer than the test: the copies are sent by send_pending() below.
    processor = PendingSpanProcessor(SimpleSpanProcessor(exporter), delay_s=60)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("framework")
    run = tracer.start_span("invoke_agent weather_agent", attributes=at_start)
    run.set_attribute("gen_ai.operation.name", "invoke_agent")
    run.add_event("gen_ai.user.message", {"content": '[{"text": "Weather in Oslo?"}]'})
    inside = trace.set_span_in_context(run)
    step = tracer.start_span("chat", context=inside, attributes=at_start)
    step.set_attribute("gen_ai.operation.name", "chat")
    other = tracer.start_span("db query", context=inside, attributes=at_start)
    processor.send_pending()
    (copy,) = exporter.get_finished_spans()
    assert (copy.attributes or {})["agent_audit.pending"] is True
    assert [e.name for e in copy.events] == ["gen_ai.user.message"]
    provider.shutdown()
    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["invoke_agent weather_agent"] * 2  # the copy, and the one at exit
    assert step.end_time is None and other.end_time is None
