"""The framework rules (collector/rules/) one by one, on the value shapes SPANS.md records
from the real packages; the end-to-end checks with the real frameworks are in
test_collector_frameworks.py."""

from __future__ import annotations

import json

from collector.decode import SpanRecord
from collector.mapping import SpanClass, build_run, build_step, classify
from collector.rules import (
    google_adk,
    langchain_messages,
    langchain_openinference,
    langchain_openllmetry,
    smolagents,
)
from collector.rules.common import first_line, python_literal, text_blocks
from tests.records import span_record


def _span(name: str, scope: str, attributes: dict, **extra: object) -> SpanRecord:
    fields: dict = {"span_id": "1" * 16, "trace_id": "t" * 32, "scope_name": scope, **extra}
    return span_record(name=name, attributes=attributes, **fields)


def test_a_traceback_after_the_message_is_cut() -> None:
    raw = "ValueError('x must be 2')Traceback (most recent call last):\n  File ..."
    assert first_line(raw) == "ValueError('x must be 2')"
    assert first_line("plain message") == "plain message"


def test_langchain_input_str_is_a_python_repr() -> None:
    assert python_literal("{'city': 'Paris'}") == {"city": "Paris"}
    assert python_literal("__import__('os')") is None  # never evaluated


def test_bedrock_style_blocks_are_read_as_text() -> None:
    assert text_blocks('[{"text": "sunny in Paris"}]') == "sunny in Paris"
    assert text_blocks("It is sunny\n") == "It is sunny"


def test_langchain_messages_in_every_serialised_shape() -> None:
    invoke_input = {"messages": [{"role": "user", "content": "the task"}]}
    assert langchain_messages.first_user_text(json.dumps(invoke_input)) == "the task"
    state = {
        "messages": [
            {"type": "human", "data": {"content": "the task"}},
            {"type": "ai", "data": {"content": "", "tool_calls": [{"name": "add"}]}},
            {"type": "tool", "data": {"content": "5", "status": "success"}},
            {"type": "ai", "data": {"content": "the answer", "tool_calls": []}},
        ]
    }
    assert langchain_messages.final_answer(json.dumps(state)) == "the answer"
    dumped = {
        "outputs": {
            "messages": [
                {"lc": 1, "id": ["langchain", "schema", "messages", "AIMessage"],
                 "kwargs": {"content": "", "tool_calls": [{"name": "add"}]}}
            ]
        }
    }  # fmt: skip
    assert langchain_messages.final_answer(json.dumps(dumped)) is None  # still calling tools


def test_openllmetry_langgraph_wrapper_and_create_agent_are_not_runs() -> None:
    scope = "opentelemetry.instrumentation.langchain"
    built = _span("create_agent a", scope, {"gen_ai.operation.name": "create_agent"})
    wrapper = _span("invoke_agent a", scope, {"gen_ai.operation.name": "invoke_agent"})
    graph = _span(
        "a.workflow",
        scope,
        {"gen_ai.operation.name": "invoke_agent", "traceloop.span.kind": "workflow"},
    )
    nested = _span(
        "execute_task child",
        scope,
        {
            "gen_ai.operation.name": "execute_task",
            "traceloop.entity.name": "child",
            "traceloop.association.properties.lc_agent_name": "child",
        },
    )
    node = _span(
        "execute_task model",
        scope,
        {
            "gen_ai.operation.name": "execute_task",
            "traceloop.entity.name": "model",
            "traceloop.association.properties.lc_agent_name": "child",
        },
    )
    assert [classify(s) for s in (built, wrapper, graph, nested, node)] == [
        SpanClass.OTHER,
        SpanClass.OTHER,
        SpanClass.RUN,
        SpanClass.RUN,
        SpanClass.OTHER,
    ]
    assert langchain_openllmetry.span_class(graph) == "run"


def test_openllmetry_tool_arguments_and_result() -> None:
    tool = _span(
        "execute_tool get_weather",
        "opentelemetry.instrumentation.langchain",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.arguments": json.dumps({"input_str": "{'city': 'Paris'}"}),
            "gen_ai.tool.call.result": json.dumps(
                {"output": {"lc": 1, "id": ["ToolMessage"],
                            "kwargs": {"content": "sunny", "status": "success"}}}
            ),
        },
    )  # fmt: skip
    step = build_step(tool, SpanClass.TOOL, "run")
    assert json.loads(step.tool_args or "") == {"city": "Paris"}
    assert step.tool_result == "sunny" and step.error is None


def test_langgraph_step_limit_is_max_steps_with_its_message() -> None:
    run = _span(
        "weather_agent",
        "openinference.instrumentation.langchain",
        {"openinference.span.kind": "AGENT"},
        status_code=2,
        status_message="GraphRecursionError('Recursion limit of 5 reached')Traceback ...",
        events=[
            {
                "name": "exception",
                "attributes": {
                    "exception.type": "langgraph.errors.GraphRecursionError",
                    "exception.message": "Recursion limit of 5 reached",
                },
            }
        ],
    )
    row = build_run(run, None)
    assert row.status == "max_steps"
    assert row.error == "GraphRecursionError: Recursion limit of 5 reached"
    assert row.agent_name == "weather_agent"


def test_adk_spans_by_name_and_its_step_limit() -> None:
    scope = "gcp.vertex.agent"
    assert classify(_span("agent_run [weather_agent]", scope, {})) is SpanClass.RUN
    assert classify(_span("call_llm", scope, {})) is SpanClass.LLM
    assert classify(_span("invocation", scope, {})) is SpanClass.OTHER
    assert classify(_span("execute_tool flaky", scope, {})) is SpanClass.TOOL
    run = _span(
        "agent_run [weather_agent]",
        scope,
        {},
        status_code=2,
        events=[{"name": "exception", "attributes": {
            "exception.type": "google.adk.agents.invocation_context.LlmCallsLimitExceededError",
            "exception.message": "Max number of llm calls limit of `2` exceeded"}}],
    )  # fmt: skip
    assert google_adk.run_status(run) == "max_steps"
    assert build_run(run, None).agent_name == "weather_agent"


def test_smolagents_final_answer_is_the_response_step() -> None:
    call = _span(
        "FinalAnswerTool",
        "openinference.instrumentation.smolagents",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "final_answer",
            "input.value": json.dumps({"args": [], "kwargs": {"answer": "42"}}),
            "output.value": "42",
        },
    )
    step = build_step(call, SpanClass.TOOL, "run")
    assert step.action_type == "response" and step.tool_name is None
    assert step.tool_result == "42" and json.loads(step.tool_args or "") == {"answer": "42"}
    assert "final_answer" in smolagents.TERMINAL_TOOLS


def test_a_streamed_langchain_call_names_its_served_model_only_in_its_result() -> None:
    result = {"generations": [[{"text": "", "generation_info": {"model_name": "served-1"}}]]}
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "asked-for",
        "llm.invocation_parameters": json.dumps({"model": "asked-for"}),
        "output.value": json.dumps(result),
    }
    call = _span("ChatOpenAI", "openinference.instrumentation.langchain", attrs)
    assert langchain_messages.served_model(attrs["output.value"]) == "served-1"
    assert langchain_openinference.step_fields(call, "think") == {"model": "served-1"}
    run = _span("weather_agent", "openinference.instrumentation.langchain", {})
    assert langchain_openinference.derive_run_fields(run, [call]) == {
        "model_requested": "asked-for",
        "model_used": "served-1",
    }
    assert langchain_messages.served_model(json.dumps({"generations": [[{}]]})) is None
