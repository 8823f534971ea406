"""Runs stopped from outside (a task cancellation, Ctrl-C), empty answers and escaped tool
arguments, on the span shapes SPANS.md records from the real packages (captured with the
scripted model); test_collector_frameworks.py plays the same through the real collector."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from collector import frameworks
from collector.conventions import autogen as AG
from collector.conventions import crewai as CR
from collector.conventions import google_adk as ADK
from collector.conventions import openinference as OI
from collector.conventions import openllmetry as OLL
from collector.conventions import pydantic_ai as PAI
from collector.conventions import strands as ST
from collector.decode import SpanRecord
from collector.mapping import SpanClass, build_run, build_step, classify
from tests.records import span_record

ERROR, UNSET, OK = 2, 0, 1


def _span(
    name: str,
    scope: str,
    attributes: dict[str, Any],
    *,
    span_id: str = "1" * 16,
    parent: str | None = None,
    status: int = UNSET,
    message: str = "",
    events: list[dict[str, Any]] | None = None,
    start: int = 1,
) -> SpanRecord:
    return span_record(
        span_id, name=name, parent_span_id=parent, attributes=attributes, trace_id="t" * 32,
        start_ns=start, end_ns=start + 1, status_code=status, status_message=message,
        events=events or [], scope_name=scope,
    )  # fmt: skip


def _exception(type_name: str, message: str = "") -> dict[str, Any]:
    attributes = {"exception.type": type_name, "exception.message": message}
    return {"name": "exception", "attributes": attributes}


def _step(span: SpanRecord) -> Any:
    return build_step(span, classify(span), "run")


def _derived_status(run: SpanRecord, own: list[SpanRecord]) -> Any:
    fields = frameworks.derive_run_fields(run, [run, *own], is_run=lambda s: s is run, own=own)
    return fields.get("status")


def test_a_run_failed_on_a_cancellation_or_ctrl_c_is_cancelled_without_error() -> None:
    # LangGraph (OpenInference): the graph span fails with the CancelledError and a traceback.
    graph = _span(
        "weather_agent",
        OI.LANGCHAIN_SCOPE,
        {"openinference.span.kind": "AGENT"},
        status=ERROR,
        message="CancelledError()Traceback (most recent call last):\n  ...",
        events=[_exception("asyncio.exceptions.CancelledError")],
    )
    run = build_run(graph, None)
    assert (run.status, run.error) == ("cancelled", None)
    # OpenLLMetry names only the class; Ctrl-C in a sync run raises KeyboardInterrupt.
    for message, event in (
        ("asyncio.exceptions.CancelledError", None),
        ("", _exception("KeyboardInterrupt")),
    ):
        span = _span(
            "weather_agent.workflow",
            OLL.LANGCHAIN_SCOPE,
            {"gen_ai.operation.name": "invoke_agent", "traceloop.span.kind": "workflow"},
            status=ERROR,
            message=message,
            events=[event] if event else [],
        )
        assert build_run(span, None).status == "cancelled"
    # Another failure stays a failure; a CancelledError event on an OK span is no cancellation
    # (AutoGen's agent span carries one on success).
    failed = _span(
        "weather_agent",
        OI.LANGCHAIN_SCOPE,
        {"openinference.span.kind": "AGENT"},
        status=ERROR,
        message="ValueError('x must be 2')",
        events=[_exception("ValueError", "x must be 2")],
    )
    assert build_run(failed, None).status == "failed"
    fine = _span(
        "weather_agent",
        OI.LANGCHAIN_SCOPE,
        {"openinference.span.kind": "AGENT"},
        status=OK,
        events=[_exception("asyncio.exceptions.CancelledError")],
    )
    assert build_run(fine, None).status == "completed"


def test_a_step_cut_by_a_cancellation_says_cancelled() -> None:
    tool = _span(
        "get_weather",
        OI.LANGCHAIN_SCOPE,
        {"openinference.span.kind": "TOOL", "tool.name": "get_weather"},
        status=ERROR,
        message="CancelledError()",
        events=[_exception("asyncio.exceptions.CancelledError")],
    )
    step = _step(tool)
    assert (step.error, step.status) == ("cancelled", "error")


def test_a_strands_run_naming_its_cancellation_is_cancelled() -> None:
    attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "weather_agent",
        "gen_ai.usage.input_tokens": 360,  # the agent's running total: not this run's
        ST.CANCELLATION_TYPE: "CancelledError",
    }
    run = build_run(_span("invoke_agent weather_agent", ST.SCOPE, attributes), None)
    assert (run.status, run.error, run.input_tokens) == ("cancelled", None, None)


def test_a_quiet_cancellation_is_told_by_the_model_call_left_without_its_response() -> None:
    # pydantic-ai: run and cut chat span UNSET, no final_result, no output on the call.
    run = _span(
        "invoke_agent weather_agent",
        PAI.SCOPE,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    answered = _span(
        "chat m",
        PAI.SCOPE,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": []}]),
        },
        span_id="2" * 16,
        parent=run.span_id,
        start=2,
    )
    cut = _span(
        "chat m",
        PAI.SCOPE,
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
        span_id="3" * 16,
        parent=run.span_id,
        start=5,
    )
    assert _derived_status(run, [answered, cut]) == "cancelled"
    assert _derived_status(run, [cut, answered]) == "cancelled"  # by start, not by order
    assert _derived_status(run, [answered]) is None
    assert _step(cut).error == "cancelled"
    assert _step(answered).error is None

    # The OpenAI Agents SDK: every span OK, the cut generation without output or tokens.
    agent = _span(
        "weather_agent",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        status=OK,
    )
    generation = _span(
        "generation",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "LLM", "llm.model_name": "m", "input.value": "[]"},
        span_id="4" * 16,
        parent=agent.span_id,
        status=OK,
    )
    assert _derived_status(agent, [generation]) == "cancelled"
    assert _step(generation).error == "cancelled"

    # ADK: the cut call_llm has no attribute at all.
    adk_run = _span("agent_run [weather_agent]", ADK.SCOPE, {})
    adk_call = _span("call_llm", ADK.SCOPE, {}, span_id="5" * 16, parent=adk_run.span_id)
    assert classify(adk_call) is SpanClass.LLM
    assert _derived_status(adk_run, [adk_call]) == "cancelled"
    assert _step(adk_call).error == "cancelled"

    # LangGraph (OpenLLMetry): the response model is there from the start, the output not.
    lc_call = _span(
        "ChatOpenAI.chat",
        OLL.LANGCHAIN_SCOPE,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "gen_ai.response.model": "m",
            "gen_ai.input.messages": "[]",
        },
    )
    assert _step(lc_call).error == "cancelled"


def test_an_answer_with_no_text_is_an_empty_answer() -> None:
    # ADK: the last call answered with content but no part.
    run = _span("agent_run [weather_agent]", ADK.SCOPE, {})
    call = _span(
        "call_llm",
        ADK.SCOPE,
        {
            "gen_ai.request.model": "m",
            ADK.LLM_RESPONSE: json.dumps({"content": {"parts": [], "role": "model"}}),
            "gen_ai.usage.input_tokens": 120,
        },
        span_id="2" * 16,
        parent=run.span_id,
    )
    fields = frameworks.derive_run_fields(run, [run, call], is_run=lambda s: s is run, own=[call])
    assert fields["final_answer"] == ""
    assert "status" not in fields
    # Strands: the run's choice event has an empty message.
    strands_run = _span(
        "invoke_agent weather_agent",
        ST.SCOPE,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
        status=OK,
        events=[
            {"name": ST.EVENT_CHOICE, "attributes": {"message": "", "finish_reason": "end_turn"}}
        ],
    )
    assert build_run(strands_run, None).final_answer == ""
    # The Agents SDK: the last generation's output message has no content.
    agent = _span(
        "weather_agent",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        status=OK,
    )
    generation = _span(
        "generation",
        OI.OPENAI_AGENTS_SCOPE,
        {
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 120,
            "output.value": "[]",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "",
        },
        span_id="3" * 16,
        parent=agent.span_id,
        status=OK,
    )
    derived = frameworks.derive_run_fields(
        agent, [agent, generation], is_run=lambda s: s is agent, own=[generation]
    )
    assert derived["final_answer"] == ""
    assert "status" not in derived


def test_tool_arguments_written_with_ascii_escapes_are_stored_as_their_text() -> None:
    # The Agents SDK's tool span (OpenInference): input.value with \\u escapes.
    arguments = {"query": {"city": "Zürich", "tags": ["café"]}, "note": "日本語 ✓"}
    tool = _span(
        "search",
        OI.OPENAI_AGENTS_SCOPE,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "search",
            "input.value": json.dumps(arguments),
        },
        status=OK,
    )
    step = _step(tool)
    assert "Zürich" in step.tool_args and "日本語 ✓" in step.tool_args
    assert json.loads(step.tool_args) == arguments


def test_a_call_recorded_without_content_is_not_taken_for_a_cut_one() -> None:
    # The Agents SDK with trace_include_sensitive_data=False, streamed without usage: no input,
    # no output, no tokens on any generation; nothing tells a cut call from a whole one.
    agent = _span(
        "weather_agent",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        status=OK,
    )
    generation = _span(
        "generation",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "LLM", "llm.model_name": "m"},
        span_id="4" * 16,
        parent=agent.span_id,
        status=OK,
    )
    assert _derived_status(agent, [generation]) is None
    assert _step(generation).error is None
    # OpenLLMetry with TRACELOOP_TRACE_CONTENT=false, streamed without usage.
    lc_call = _span(
        "ChatOpenAI.chat",
        OLL.LANGCHAIN_SCOPE,
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"},
    )
    assert _step(lc_call).error is None


def test_an_autogen_run_cancelled_during_a_tool_is_cancelled() -> None:
    # Captured (SPANS.md): an AssistantAgent run cancelled while its tool ran; every span
    # UNSET, no exception; the TOOL span without output.
    run = _span(
        "invoke_agent weather_agent",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather_agent"},
    )
    call = _span(
        "OpenAIChatCompletionClient.create",
        AG.AGENTCHAT_SCOPE,
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "m",
            "llm.token_count.prompt": 120,
            "output.value": json.dumps({"finish_reason": "function_calls", "content": []}),
        },
        span_id="2" * 16,
        parent=run.span_id,
        status=OK,
        start=2,
    )
    tool = _span(
        "weather_agent.get_weather",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "TOOL", "tool.name": "get_weather", "input.value": "{}"},
        span_id="3" * 16,
        parent=run.span_id,
        start=4,
    )
    assert _derived_status(run, [call, tool]) == "cancelled"
    assert _step(tool).error == "cancelled"
    finished = dataclasses.replace(tool, attributes={**tool.attributes, "output.value": "ok"})
    assert _derived_status(run, [call, finished]) is None
    assert _step(finished).error is None


def test_escaped_arguments_on_genai_tool_spans_are_stored_as_their_text() -> None:
    # pydantic-ai's gen_ai.tool.call.arguments is the model's argument text: a server that
    # escapes non-ASCII (json.dumps does) sends "Z\u00fcrich".
    arguments = {"city": "Zürich", "note": "日本語", "nul": "a\u0000b"}
    tool = _span(
        "execute_tool search",
        PAI.SCOPE,
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search",
            "gen_ai.tool.call.arguments": json.dumps(arguments),
        },
    )
    stored = _step(tool).tool_args
    assert "Zürich" in stored and "日本語" in stored
    assert "\\u0000" in stored  # control characters stay escaped
    assert json.loads(stored) == arguments
    # A lone surrogate cannot be written out, and DuckDB's JSON refuses its escape: the
    # text is kept whole as a JSON string (tests/security covers storing it).
    lone = dataclasses.replace(
        tool, attributes={**tool.attributes, "gen_ai.tool.call.arguments": '{"x": "\\ud800"}'}
    )
    assert json.loads(_step(lone).tool_args) == '{"x": "\\ud800"}'


def test_a_live_copy_of_a_call_is_running_not_cut_off() -> None:
    # The instrumentation's pending copy of a model call, exported when it starts: no
    # response yet, which is no cancellation.
    live = _span(
        "chat m",
        PAI.SCOPE,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "m",
            "agent_audit.pending": True,
            "agent_audit.pending_parent_id": "9" * 16,
        },
    )
    step = _step(live)
    assert (step.status, step.error) == ("running", None)


def test_a_crewai_task_and_tool_cut_by_ctrl_c_are_cancelled() -> None:
    # Captured: Ctrl-C in a CrewAI tool leaves the task's span and the tool's UNSET, without
    # output; a finished task is OK with its TaskOutput.
    task = _span(
        "weather_agent._execute_core",
        CR.SCOPE,
        {"openinference.span.kind": "AGENT", "graph.node.id": "weather_agent"},
    )
    assert build_run(task, None).status == "cancelled"
    done = dataclasses.replace(
        task, status_code=OK, attributes={**task.attributes, "output.value": '{"raw": "ok"}'}
    )
    assert build_run(done, None).status == "completed"
    tool = _span(
        "interrupt.run",
        CR.SCOPE,
        {"openinference.span.kind": "TOOL", "tool.name": "interrupt", "input.value": "{}"},
        span_id="2" * 16,
        parent=task.span_id,
    )
    assert _step(tool).error == "cancelled"


def test_an_agents_sdk_run_cut_by_ctrl_c_in_a_tool_is_cancelled() -> None:
    # Ctrl-C in a tool: the tool's span ends OK without output.value and no model call
    # follows (the SDK asks the model after every tool unless it stops on one, whose output
    # then is the answer). asyncio.run's clean-up then ends the agent span OK ...
    agent = _span(
        "weather_agent",
        OI.OPENAI_AGENTS_SCOPE,
        {"openinference.span.kind": "AGENT", "agent.name": "weather_agent"},
        status=OK,
    )
    answered = _span(
        "generation",
        OI.OPENAI_AGENTS_SCOPE,
        {
            "openinference.span.kind": "LLM",
            "input.value": "[]",
            "output.value": "{}",
            "llm.token_count.prompt": 120,
        },
        span_id="2" * 16,
        parent=agent.span_id,
        status=OK,
        start=2,
    )

    def tool(output: object) -> SpanRecord:
        attributes: dict[str, Any] = {"openinference.span.kind": "TOOL", "tool.name": "interrupt"}
        if output is not None:
            attributes["output.value"] = output
        return _span("interrupt", OI.OPENAI_AGENTS_SCOPE, attributes, span_id="3" * 16,
                     parent=agent.span_id, status=OK, start=5)  # fmt: skip

    assert _derived_status(agent, [answered, tool(None)]) == "cancelled"
    assert _step(tool(None)).error is None  # the same span as a tool that returned None
    # ... a tool that returned something and ended the run (stop_on_first_tool) answers.
    fields = frameworks.derive_run_fields(
        agent, [agent, answered, tool("sunny")], is_run=lambda s: s is agent
    )
    assert fields.get("final_answer") == "sunny" and "status" not in fields
    # ... or fails resetting its span context in the clean-up's context: torn down from
    # outside, not failed.
    torn = dataclasses.replace(
        agent,
        status_code=ERROR,
        status_message="Error in agent run: {'error': \"<Token var=<ContextVar name="
        "'current_span' default=None at 0x7f> at 0x7f> was created in a different Context\"}",
    )
    run = build_run(torn, None)
    assert (run.status, run.error) == ("cancelled", None)
    failed = dataclasses.replace(torn, status_message="Error in agent run: {'error': 'boom'}")
    assert build_run(failed, None).status == "failed"
