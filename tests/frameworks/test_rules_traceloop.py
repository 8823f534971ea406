"""The Traceloop SDK's rules (collector/rules/traceloop.py) and those of OpenLLMetry's model
calls (collector/rules/openllmetry_calls.py), one by one, on the shapes SPANS.md records;
end to end with the real SDK in test_venv_frameworks.py and test_venv_multi_agent.py."""

from __future__ import annotations

import json

from collector import frameworks
from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord
from collector.mapping import SpanClass, build_run, build_step, classify
from collector.rules import openllmetry_calls, traceloop
from tests.frameworks.test_rules import _span

OPENAI_SCOPE = "opentelemetry.instrumentation.openai.v1"


def _entity(kind: str, name: str, args: list, kwargs: dict, **extra: object) -> SpanRecord:
    attrs: dict = {
        "traceloop.span.kind": kind,
        "traceloop.entity.name": name,
        "traceloop.entity.input": json.dumps({"args": args, "kwargs": kwargs}),
    }
    output = extra.pop("output", None)
    if output is not None:
        attrs["traceloop.entity.output"] = json.dumps(output)
    extra.setdefault("parent_span_id", "0" * 16)
    return _span(f"{name}.{kind}", OLL.SDK_SCOPE, attrs, **extra)


def _legacy_call(span_id: str, *, parent: str, start: int, **attrs: object) -> SpanRecord:
    """A model call as OpenLLMetry wrote it before the GenAI message attributes."""
    base: dict = {
        "llm.request.type": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "asked-for",
        "gen_ai.response.model": "served",
        "gen_ai.usage.prompt_tokens": 50,
        "gen_ai.usage.completion_tokens": 10,
    }
    base.update(attrs)
    return _span(
        "openai.chat",
        OPENAI_SCOPE,
        base,
        span_id=span_id,
        parent_span_id=parent,
        start_ns=start,
        end_ns=start + 1,
    )


def test_workflows_and_agents_are_runs_tools_are_steps_tasks_group() -> None:
    assert traceloop.span_class(_entity("workflow", "report", [], {})) == "run"
    assert traceloop.span_class(_entity("agent", "researcher", [], {})) == "run"
    assert traceloop.span_class(_entity("tool", "get_weather", [], {})) == "tool_call"
    assert traceloop.span_class(_entity("task", "outline", [], {})) == "other"
    # A task with no parent span is the whole unit traced: its model calls need a run.
    assert traceloop.span_class(_entity("task", "outline", [], {}, parent_span_id=None)) == "run"
    # The SDK's own track_llm_call spans, in the older model-call shape.
    manual = _span("openai.chat", OLL.SDK_SCOPE, {"llm.request.type": "chat"})
    assert traceloop.span_class(manual) == "think"
    assert traceloop.span_class(_span("x", OLL.SDK_SCOPE, {})) is None
    # Through the mapping: an agent span carries no operation name, yet is a run.
    assert classify(_entity("agent", "researcher", [], {})) is SpanClass.RUN


def test_run_task_is_the_one_text_argument_and_the_answer_the_return_value() -> None:
    span = _entity("agent", "researcher", ["Why is the sky blue?"], {}, output="Rayleigh.")
    assert traceloop.run_fields(span) == {
        "agent_name": "researcher",
        "task": "Why is the sky blue?",
        "final_answer": "Rayleigh.",
    }
    by_name = _entity("workflow", "report", [], {"topic": "Paris"}, output={"pages": 2})
    assert traceloop.run_fields(by_name) == {
        "agent_name": "report",
        "task": "Paris",
        "final_answer": '{"pages": 2}',
    }
    # Several arguments (an object is written as its class name): no task from them.
    several = _entity("agent", "a", ["the task", "OpenAI"], {})
    assert "task" not in traceloop.run_fields(several)
    # A function that returned None gave no answer; the model calls may tell it.
    assert "final_answer" not in traceloop.run_fields(_entity("agent", "a", [], {}))


def test_a_run_without_text_argument_or_model_call_takes_its_arguments_as_task() -> None:
    flow = _entity("workflow", "report", [], {"city": "Paris", "days": 2})
    assert traceloop.derive_run_fields(flow, []) == {"task": '{"city": "Paris", "days": 2}'}
    call = _legacy_call("c" * 16, parent=flow.span_id, start=5)
    assert traceloop.derive_run_fields(flow, [call]) == {}  # its first user message tells it
    one = _entity("workflow", "report", ["Paris"], {})
    assert traceloop.derive_run_fields(one, []) == {}  # run_fields has it


def test_tool_arguments_and_result_come_from_the_decorated_call() -> None:
    span = _entity("tool", "add", [], {"a": 2, "b": 3}, output=5)
    assert traceloop.step_fields(span, "tool_call") == {
        "tool_name": "add",
        "tool_args": {"a": 2, "b": 3},
        "tool_result": "5",
    }
    positional = _entity("tool", "get_weather", ["Paris"], {}, output="sunny")
    assert traceloop.step_fields(positional, "tool_call")["tool_args"] == ["Paris"]
    both = _entity("tool", "t", ["x"], {"n": 1})
    assert traceloop.step_fields(both, "tool_call")["tool_args"] == {"args": ["x"], "n": 1}
    row = build_step(span, SpanClass.TOOL, "run-1")
    assert (row.tool_name, json.loads(row.tool_args or ""), row.tool_result) == (
        "add",
        {"a": 2, "b": 3},
        "5",
    )


def test_a_raising_tool_is_a_failed_step() -> None:
    event = {
        "name": "exception",
        "attributes": {"exception.type": "ValueError", "exception.message": "x must be 2"},
    }
    span = _entity(
        "tool", "flaky", [], {"x": 1}, status_code=2, status_message="x must be 2", events=[event]
    )
    row = build_step(span, SpanClass.TOOL, "run-1")
    assert (row.status, row.error, json.loads(row.tool_args or "")) == (
        "error",
        "x must be 2",
        {"x": 1},
    )
    assert row.tool_result is None


def test_older_model_calls_are_told_by_their_request_type() -> None:
    call = _legacy_call(
        "c" * 16,
        parent="a" * 16,
        start=1,
        **{
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.name": "web_search",
        },
    )
    assert openllmetry_calls.span_class(call) == "think"
    assert classify(call) is SpanClass.LLM
    row = build_step(call, SpanClass.LLM, "run-1")
    assert (row.model, row.input_tokens, row.output_tokens) == ("served", 50, 10)
    assert json.loads(row.finish_reasons or "") == ["tool_calls"]
    embedding = _span("openai.embeddings", OPENAI_SCOPE, {"llm.request.type": "embedding"})
    assert openllmetry_calls.span_class(embedding) is None
    assert classify(embedding) is SpanClass.OTHER


def test_an_agent_over_older_model_calls_gets_their_task_answer_and_models() -> None:
    agent = _entity("agent", "researcher", ["the task", "OpenAI"], {}, span_id="a" * 16)
    first = _legacy_call(
        "c" * 16,
        parent=agent.span_id,
        start=5,
        **{
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Be brief.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Why is the sky blue?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.tool_calls.0.name": "web_search",
        },
    )
    last = _legacy_call(
        "d" * 16,
        parent=agent.span_id,
        start=9,
        **{
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "Why is the sky blue?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Rayleigh scattering.",
        },
    )
    derived = frameworks.derive_run_fields(
        agent, [agent, first, last], is_run=lambda s: classify(s) is SpanClass.RUN
    )
    assert derived == {
        "task": "Why is the sky blue?",
        "final_answer": "Rayleigh scattering.",
        "model_requested": "asked-for",
        "model_used": "served",
        "provider": "openai",
    }
    run = build_run(agent, None)
    assert (run.agent_name, run.status, run.task) == ("researcher", "completed", None)
