"""What each framework really emits (tests/frameworks/SPANS.md), and what
collector/frameworks.py reads from it. In-process, spans captured in memory."""

from __future__ import annotations

import asyncio
import json

from collector import frameworks
from collector.mapping import SpanClass
from tests.frameworks import scenario as S
from tests.frameworks import scenarios_openai_agents as oaa
from tests.frameworks import scenarios_pydantic_ai as pai
from tests.frameworks import scenarios_smolagents as smol
from tests.frameworks.conftest import SpanCapture
from tests.frameworks.spans import children, run_view, run_with_task, span_class, to_records
from tests.scripted_llm import ScriptedLLM


def _marker(task: str) -> str:
    return task.split("]")[0] + "]"


def test_instrument_enables_every_installed_framework(instrumented: SpanCapture) -> None:
    assert instrumented.enabled == ["pydantic-ai", "openai-agents", "smolagents"]


def test_pydantic_ai_success(capture: SpanCapture) -> None:
    expected = asyncio.run(pai.success())
    records = to_records(capture.spans())
    run = run_with_task(records, _marker(expected.task))
    assert run.name == "invoke_agent weather_agent"
    assert run.scope_name == "pydantic-ai"
    assert run.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run.attributes["final_result"] == S.SUCCESS_ANSWER
    view = run_view(run, records)
    assert view["task"] == expected.task
    assert view["final_answer"] == S.SUCCESS_ANSWER
    assert view["status"] == "completed"
    assert view["model_requested"] == pai.MODEL_NAME
    assert view["provider"] == pai.PROVIDER
    kids = children(records, run)
    assert [k.name for k in kids] == [
        "chat scripted-pai",
        "execute_tool get_weather",
        "chat scripted-pai",
        "execute_tool add",
        "chat scripted-pai",
    ]
    tool = kids[1]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == S.WEATHER_ARGS
    assert tool.attributes["gen_ai.tool.call.result"] == S.WEATHER_RESULT
    assert kids[0].attributes["gen_ai.response.finish_reasons"] == ["tool_call"]
    assert kids[-1].attributes["gen_ai.usage.output_tokens"] > 0


def test_pydantic_ai_retry_marks_the_tool_span_error(capture: SpanCapture) -> None:
    expected = asyncio.run(pai.tool_error_recovers())
    records = to_records(capture.spans())
    run = run_with_task(records, _marker(expected.task))
    assert run.status_code == 0
    first_try = [k for k in children(records, run) if k.name == "execute_tool flaky"][0]
    assert first_try.status_code == 2
    assert first_try.events[0]["attributes"]["exception.type"].endswith("ToolRetryError")
    assert first_try.attributes["gen_ai.tool.call.result"] == S.FLAKY_ERROR
    assert run_view(run, records)["status"] == "completed"


def test_pydantic_ai_failure_is_on_the_run_span(capture: SpanCapture) -> None:
    expected = asyncio.run(pai.fails())
    records = to_records(capture.spans())
    run = run_with_task(records, _marker(expected.task))
    assert run.status_code == 2
    assert run.status_message == f"RuntimeError: {S.MODEL_ERROR}"
    assert "error.type" not in run.attributes
    view = run_view(run, records)
    assert view["status"] == "failed"
    assert "final_answer" not in view


def test_openai_agents_run_is_the_agent_span(
    capture: SpanCapture, scripted_llm: ScriptedLLM
) -> None:
    expected = asyncio.run(oaa.success(scripted_llm))
    records = to_records(capture.spans())
    roots = [r for r in records if r.parent_span_id is None]
    assert [r.name for r in roots] == ["Agent workflow"]
    assert roots[0].attributes == {"openinference.span.kind": "AGENT"}
    assert span_class(roots[0]) is SpanClass.OTHER
    run = run_with_task(records, _marker(expected.task))
    assert run.name == "weather_agent"
    assert run.attributes["agent.name"] == "weather_agent"
    # The agent span says nothing of the task or answer: its model calls do.
    assert "input.value" not in run.attributes and "output.value" not in run.attributes
    view = run_view(run, records)
    assert view["task"] == expected.task
    assert view["final_answer"] == S.SUCCESS_ANSWER
    assert view["model_requested"] == oaa.MODEL_NAME
    assert view["provider"] == "openai"
    tools = [r for r in records if span_class(r) is SpanClass.TOOL]
    assert [t.attributes["tool.name"] for t in tools] == ["get_weather", "add"]
    fields = frameworks.step_fields(tools[0], "tool_call")
    assert json.loads(fields["tool_args"]) == S.WEATHER_ARGS
    assert fields["tool_result"] == S.WEATHER_RESULT


def test_openai_agents_failure_leaves_the_root_ok(
    capture: SpanCapture, scripted_llm: ScriptedLLM
) -> None:
    expected = asyncio.run(oaa.fails(scripted_llm))
    records = to_records(capture.spans())
    root = next(r for r in records if r.parent_span_id is None)
    assert root.status_code == 1  # OK although the run raised
    run = run_with_task(records, _marker(expected.task))
    assert run.status_code == 2
    assert S.MODEL_ERROR in run.status_message
    assert run.events == []  # no exception event, no error.type
    view = run_view(run, records)
    assert view["status"] == "failed"
    assert "final_answer" not in view


def test_openai_agents_tool_error_is_redacted(
    capture: SpanCapture, scripted_llm: ScriptedLLM
) -> None:
    asyncio.run(oaa.tool_error_recovers(scripted_llm))
    records = to_records(capture.spans())
    failed = [r for r in records if r.name == "flaky" and r.status_code == 2]
    assert len(failed) == 1
    assert "Error details are redacted" in failed[0].status_message
    assert S.FLAKY_ERROR not in failed[0].status_message


def test_smolagents_success(capture: SpanCapture, scripted_llm: ScriptedLLM) -> None:
    expected = smol.success(scripted_llm)
    records = to_records(capture.spans())
    run = run_with_task(records, _marker(expected.task))
    assert run.name == "weather_agent.run"
    assert json.loads(run.attributes["input.value"])["task"] == expected.task
    view = run_view(run, records)
    assert view["final_answer"] == S.SUCCESS_ANSWER
    assert view["agent_name"] == "weather_agent"
    assert view["model_requested"] == smol.MODEL_NAME
    assert view["status"] == "completed"
    tools = [r for r in records if span_class(r) is SpanClass.TOOL]
    assert [t.name for t in tools] == ["SimpleTool", "SimpleTool", "FinalAnswerTool"]
    assert [t.attributes["tool.name"] for t in tools] == ["get_weather", "add", "final_answer"]
    assert frameworks.step_fields(tools[1], "tool_call")["tool_args"] == S.ADD_ARGS
    llm = next(r for r in records if span_class(r) is SpanClass.LLM)
    assert frameworks.step_fields(llm, "think")["finish_reasons"] == '["tool_calls"]'


def test_smolagents_max_steps_leaves_every_span_ok(
    capture: SpanCapture, scripted_llm: ScriptedLLM
) -> None:
    expected = smol.max_steps(scripted_llm)
    records = to_records(capture.spans())
    assert all(r.status_code != 2 for r in records)
    run = run_with_task(records, _marker(expected.task))
    view = run_view(run, records)
    assert view["status"] == "max_steps"
    assert view["final_answer"] == smol.GAVE_UP_ANSWER


def test_smolagents_failed_run_is_ended_and_does_not_capture_the_next(
    capture: SpanCapture, scripted_llm: ScriptedLLM
) -> None:
    failed = smol.fails(scripted_llm)
    after = smol.success(scripted_llm)
    records = to_records(capture.spans())
    failed_run = run_with_task(records, _marker(failed.task))
    assert failed_run.status_code == 2
    assert failed_run.events[-1]["attributes"]["exception.type"].endswith("AgentGenerationError")
    assert run_view(failed_run, records)["status"] == "failed"
    next_run = run_with_task(records, _marker(after.task))
    assert next_run.parent_span_id is None
