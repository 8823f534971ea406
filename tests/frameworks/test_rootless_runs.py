"""A run whose run span never arrives is still a run (collector/rootless_runs.py).

Spans go through the real OpenTelemetry SDK and OTLP exporter to a real collector; the
run span is started but, as a framework that never ends a failed run's span (or a process
that dies) leaves it, not ended until the test says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from instrumentation.pending import PendingSpanProcessor
from tests.conftest import CollectorHandle, start_test_collector
from tests.frameworks.teams import derived_rows, rederived_rows
from tests.support import wait_until

TASK = "[rootless] What is the weather in Paris?"
TOOL_ERROR = "the weather service is down"


@pytest.fixture
def stalling_collector(tmp_path: Path) -> Iterator[CollectorHandle]:
    handle = start_test_collector(tmp_path / "audit.duckdb", lost_after_s=2.0)
    try:
        yield handle
    finally:
        handle.stop()


def _provider(collector: CollectorHandle) -> TracerProvider:
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _run_children(provider: TracerProvider) -> Any:
    """A run span, started and left open, with a model call and a failing tool call."""
    tracer = provider.get_tracer("framework-under-test")
    root = tracer.start_span(
        "invoke_agent weather_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    ctx = trace.set_span_in_context(root)
    with tracer.start_as_current_span(
        "chat scripted",
        context=ctx,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "scripted",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": TASK}]}]
            ),
        },
    ):
        pass
    with tracer.start_as_current_span(
        "execute_tool get_weather",
        context=ctx,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
    ) as tool:
        tool.set_status(Status(StatusCode.ERROR, TOOL_ERROR))
    return root


def _run(collector: CollectorHandle, span_id: str) -> dict[str, Any]:
    cols = ("id", "task", "status", "error", "total_steps", "agent_name", "is_final")
    rows = collector.query(f"SELECT {', '.join(cols)} FROM agent_runs WHERE span_id = ?", [span_id])
    return dict(zip(cols, rows[0], strict=True)) if rows else {}


def test_steps_without_their_run_span_are_a_running_run_then_failed(
    stalling_collector: CollectorHandle,
) -> None:
    provider = _provider(stalling_collector)
    root = _run_children(provider)
    span_id = format(root.get_span_context().span_id, "016x")
    run = wait_until(
        lambda: _run(stalling_collector, span_id) or None, timeout_s=15, what="the stand-in run"
    )
    assert run["status"] == "running" and run["task"] == TASK and run["total_steps"] == 2
    assert run["id"] == span_id  # the missing span's id, so the real span replaces it
    steps = stalling_collector.query(
        "SELECT count(*) FROM agent_steps WHERE agent_run_id = ?", [span_id]
    )
    assert steps[0][0] == 2
    # Silence: the stall rule settles it as failed, with the failing step's error.
    failed = wait_until(
        lambda: (r := _run(stalling_collector, span_id))["status"] != "running" and r,
        timeout_s=30,
        what="the stall rule",
    )
    assert failed["status"] == "failed" and TOOL_ERROR in (failed["error"] or ""), failed
    provider.shutdown()


def test_the_run_span_arriving_later_wins(collector: CollectorHandle) -> None:
    provider = _provider(collector)
    root = _run_children(provider)
    span_id = format(root.get_span_context().span_id, "016x")
    wait_until(lambda: _run(collector, span_id) or None, timeout_s=15, what="the stand-in run")
    root.end()
    done = wait_until(
        lambda: (r := _run(collector, span_id)).get("is_final") and r,
        timeout_s=15,
        what="the run span",
    )
    assert done["status"] == "completed" and done["agent_name"] == "weather_agent", done
    assert done["task"] == TASK and done["total_steps"] == 2
    assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == 1
    provider.shutdown()


def test_a_stand_in_one_level_up_takes_its_task_from_a_model_call_stored_earlier(
    collector: CollectorHandle,
) -> None:
    # The model call arrives first (its parent, a plain span, is missing: a stand-in for
    # that parent); then the plain span arrives, so the steps move up to a stand-in for
    # the run span, whose task is read from the model call stored by the earlier request.
    provider = _provider(collector)
    tracer = provider.get_tracer("framework-under-test")
    root = tracer.start_span(
        "invoke_agent weather_agent", attributes={"gen_ai.operation.name": "invoke_agent"}
    )
    middle = tracer.start_span("plan", context=trace.set_span_in_context(root))
    with tracer.start_as_current_span(
        "chat scripted",
        context=trace.set_span_in_context(middle),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": TASK}]}]
            ),
        },
    ):
        pass
    middle_id = format(middle.get_span_context().span_id, "016x")
    wait_until(lambda: _run(collector, middle_id) or None, timeout_s=15, what="the first stand-in")
    middle.end()
    root_id = format(root.get_span_context().span_id, "016x")
    run = wait_until(
        lambda: _run(collector, root_id) or None, timeout_s=15, what="the stand-in above"
    )
    assert run["status"] == "running" and run["task"] == TASK and run["total_steps"] == 1, run
    assert _run(collector, middle_id) == {}  # the emptied stand-in is gone
    provider.shutdown()


@pytest.mark.parametrize("interrupted", [True, False])
def test_steps_below_a_span_never_ended_belong_to_the_run_ctrl_c_cut(
    collector: CollectorHandle, interrupted: bool
) -> None:
    # Strands' shape: Ctrl-C in a tool ends the run span (cancelled) but never the cycle
    # span between it and its model call and the cut tool. Those steps are the cancelled
    # run's. A run that ended otherwise does not take them: they stay a stand-in's.
    provider = _provider(collector)
    tracer = provider.get_tracer("framework-under-test")
    root = tracer.start_span(
        "invoke_agent weather_agent",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    cycle = tracer.start_span("cycle", context=trace.set_span_in_context(root))
    with tracer.start_as_current_span(
        "chat scripted",
        context=trace.set_span_in_context(cycle),
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "scripted",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": TASK}]}]
            ),
        },
    ):
        pass
    with tracer.start_as_current_span(
        "execute_tool get_weather",
        context=trace.set_span_in_context(cycle),
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
    ):
        pass
    cycle_id = format(cycle.get_span_context().span_id, "016x")
    wait_until(lambda: _run(collector, cycle_id) or None, timeout_s=15, what="the stand-in")
    if interrupted:
        root.record_exception(KeyboardInterrupt("Oslo"))
        root.set_status(Status(StatusCode.ERROR, "KeyboardInterrupt: Oslo"))
    root.end()
    root_id = format(root.get_span_context().span_id, "016x")
    done = wait_until(
        lambda: (r := _run(collector, root_id)).get("is_final") and r,
        timeout_s=15,
        what="the run span",
    )
    if interrupted:
        assert done["status"] == "cancelled" and done["error"] is None, done
        assert done["total_steps"] == 2, done
        wait_until(lambda: _run(collector, cycle_id) == {}, timeout_s=15, what="no stand-in")
        assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == 1
    else:
        assert done["status"] == "completed" and done["total_steps"] == 0, done
        assert _run(collector, cycle_id)["total_steps"] == 2
    provider.shutdown()


def _agents_sdk_cut_by_ctrl_c(provider: TracerProvider) -> tuple[Any, Any]:
    """The OpenAI Agents SDK's spans (OpenInference) when Ctrl-C hits a tool of the second
    turn and asyncio's clean-up never ends the rest: a turn that ended with a model call
    and a tool, then a turn left open with a model call and the cut tool (OK, no output);
    the turn, agent and workflow spans stay open. Returns (the agent span, the open turn)."""
    tracer = provider.get_tracer("openinference.instrumentation.openai_agents")
    root = tracer.start_span("Agent workflow", attributes={"openinference.span.kind": "AGENT"})
    workflow = tracer.start_span(
        "Agent workflow",
        context=trace.set_span_in_context(root),
        attributes={"openinference.span.kind": "CHAIN"},
    )
    agent = tracer.start_span(
        "weather_agent",
        context=trace.set_span_in_context(workflow),
        attributes={"openinference.span.kind": "AGENT"},  # agent.name is set at its end
    )
    turns = []
    for tool_name, output in (("get_weather", "sunny in Oslo"), ("interrupt", None)):
        turn = tracer.start_span(
            "turn",
            context=trace.set_span_in_context(agent),
            attributes={"openinference.span.kind": "CHAIN"},
        )
        inside = trace.set_span_in_context(turn)
        with tracer.start_as_current_span(
            "generation",
            context=inside,
            attributes={
                "openinference.span.kind": "LLM",
                "llm.model_name": "scripted",
                "input.value": "[]",
                "output.value": "{}",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": TASK,
                "llm.token_count.prompt": 120,
                "llm.token_count.completion": 30,
            },
        ):
            pass
        tool_attrs = {"openinference.span.kind": "TOOL", "tool.name": tool_name}
        with tracer.start_as_current_span(tool_name, context=inside, attributes=tool_attrs) as t:
            if output is not None:
                t.set_attribute("output.value", output)
        turns.append(turn)
    turns[0].end()
    return agent, turns[1]


@pytest.mark.parametrize("exits", [True, False])
def test_a_run_whose_spans_never_ended_is_one_run_cancelled_at_exit(
    tmp_path: Path, exits: bool
) -> None:
    """The pending copies say where the open turn sits (under the agent span), so both turns'
    steps are one stand-in run, named after the agent; the process shutting its tracing down
    with the agent span open (its last copy says so) makes it ``cancelled``. A process that
    dies sends no such copy: the run stays ``running`` (then ``lost``)."""
    db = tmp_path / "audit.duckdb"
    collector = start_test_collector(db)
    try:
        provider = TracerProvider()
        exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
        processor = PendingSpanProcessor(SimpleSpanProcessor(exporter), delay_s=0)
        provider.add_span_processor(processor)
        agent, _ = _agents_sdk_cut_by_ctrl_c(provider)
        agent_id = format(agent.get_span_context().span_id, "016x")
        if exits:
            provider.shutdown()
        want = "cancelled" if exits else "running"
        run = wait_until(
            lambda: (
                (r := _run(collector, agent_id)).get("status") == want
                and r.get("total_steps") == 4
                and r
            ),
            timeout_s=15,
            what=f"a {want} run with four steps",
        )
        assert (run["task"], run["error"], run["agent_name"]) == (TASK, None, "weather_agent")
        assert collector.query("SELECT count(*) FROM agent_runs")[0][0] == 1
        steps = collector.query(
            "SELECT action_type, tool_name, tool_result, error FROM agent_steps "
            "WHERE agent_run_id = ? ORDER BY step_number",
            [run["id"]],
        )
        assert steps == [
            ("think", None, None, None),
            ("tool_call", "get_weather", "sunny in Oslo", None),
            ("think", None, None, None),
            ("tool_call", "interrupt", None, None),
        ]
        tokens = collector.query(
            "SELECT input_tokens, output_tokens FROM agent_runs WHERE id = ?", [run["id"]]
        )
        assert tokens == [(240, 60)]
        before = derived_rows(collector.query)
        if not exits:
            provider.shutdown()  # not to export at interpreter exit, the collector gone
    finally:
        collector.stop()
    if exits:  # the same from the stored spans (a run left running comes back as it was)
        assert rederived_rows(db) == before


@pytest.mark.parametrize("last_step_failed", [True, False])
def test_a_run_open_at_exit_failed_if_its_last_step_did_else_cancelled(
    collector: CollectorHandle, last_step_failed: bool
) -> None:
    """A run span the framework never ended (a failed smolagents run without the wrapper),
    shown live by its pending copy: at the process's exit a failing last step is why it
    stopped (``failed``, that step's error); after a step that went well it was cut off."""
    provider = TracerProvider()
    exporter = OTLPSpanExporter(endpoint=collector.grpc_endpoint, insecure=True)
    provider.add_span_processor(PendingSpanProcessor(SimpleSpanProcessor(exporter), delay_s=0))
    root = _run_children(provider)  # a model call, then a failing tool
    if not last_step_failed:
        tracer = provider.get_tracer("framework-under-test")
        with tracer.start_as_current_span(
            "execute_tool get_weather",
            context=trace.set_span_in_context(root),
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "get_weather"},
        ):
            pass
    root_id = format(root.get_span_context().span_id, "016x")
    provider.shutdown()
    want = ("failed", TOOL_ERROR) if last_step_failed else ("cancelled", None)
    run = wait_until(
        lambda: (r := _run(collector, root_id)).get("status") == want[0] and r,
        timeout_s=15,
        what=f"a {want[0]} run",
    )
    assert (run["status"], run["error"], run["is_final"]) == (*want, False)
    assert run["total_steps"] == (2 if last_step_failed else 3)
