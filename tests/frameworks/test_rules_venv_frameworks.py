"""The rules of the frameworks that run in their own venv (CrewAI, LlamaIndex, AutoGen), one
by one, on the value shapes SPANS.md records from the real packages; end to end in
test_venv_frameworks.py."""

from __future__ import annotations

import dataclasses
import json

from collector.conventions import autogen as AG
from collector.conventions import crewai as CR
from collector.conventions import llama_index as LI
from collector.decode import SpanRecord
from collector.mapping import SpanClass, classify
from collector.rules import autogen, crewai, llama_index
from instrumentation.attributes import RunStatus
from tests.frameworks.test_rules import _span

_ERROR = 2


def _exception(kind: str, message: str) -> list[dict]:
    attrs = {"exception.type": kind, "exception.message": message}
    return [{"name": "exception", "attributes": attrs}]


# --- CrewAI -------------------------------------------------------------------------

_CREW_SETTINGS = json.dumps({"agent": {"role": "weather_agent", "max_iter": 2}, "context": ""})


def _crew_task(**extra: object) -> SpanRecord:
    attrs = {
        "openinference.span.kind": "AGENT",
        "graph.node.id": "weather_agent",
        "input.value": _CREW_SETTINGS,
    }
    attrs.update(extra)  # type: ignore[arg-type]
    return _span("weather_agent._execute_core", CR.SCOPE, attrs)


def _crew_call(n: int, *, status: int = 0, **extra: object) -> SpanRecord:
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.invocation_parameters": json.dumps({"model": "asked-for"}),
        "llm.model_name": "served",
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "\nCurrent Task: [t] the task\n\nThis is the ...",
    }
    attrs.update(extra)  # type: ignore[arg-type]
    return _span(
        "ChatCompletion",
        "openinference.instrumentation.openai",
        attrs,
        span_id=f"{n:016x}",
        start_ns=n,
        status_code=status,
    )


def test_crewai_task_span_reads_the_task_output() -> None:
    output = json.dumps({"description": "[t] the task", "raw": "the answer", "agent": "x"})
    fields = crewai.run_fields(_crew_task(**{"output.value": output}))
    assert fields == {
        "agent_name": "weather_agent",
        "task": "[t] the task",
        "final_answer": "the answer",
    }


def test_crewai_agent_kickoff_task_is_its_messages() -> None:
    attrs = {"openinference.span.kind": "AGENT", "graph.node.id": "child_agent"}
    for messages in ("[t] what?", [{"role": "user", "content": "[t] what?"}]):
        value = json.dumps({"messages": messages})
        span = _span("child_agent.kickoff", CR.SCOPE, {**attrs, "input.value": value})
        assert crewai.run_fields(span) == {"agent_name": "child_agent", "task": "[t] what?"}


def test_crewai_settings_are_no_task() -> None:
    assert crewai.run_fields(_crew_task())["task"] is None  # failed: no output


def test_crewai_task_requested_model_and_step_limit_come_from_the_model_calls() -> None:
    calls = [_crew_call(n) for n in range(1, 4)]
    fields = crewai.derive_run_fields(_crew_task(), calls)
    assert fields == {
        "model_requested": "asked-for",
        "task": "[t] the task",
        "status": RunStatus.MAX_STEPS,
    }
    assert "status" not in crewai.derive_run_fields(_crew_task(), calls[:2])
    failed = [*calls[:2], _crew_call(3, status=_ERROR)]  # a failed retry is no extra turn
    assert "status" not in crewai.derive_run_fields(_crew_task(), failed)


# --- LlamaIndex ---------------------------------------------------------------------


def test_llama_index_agent_run_chain_is_the_run() -> None:
    for name in ("FunctionAgent.run", "ReActAgent.run", "AgentWorkflow.run"):
        span = _span(name, LI.SCOPE, {"openinference.span.kind": "CHAIN"})
        assert classify(span) is SpanClass.RUN
        assert llama_index.run_fields(span)["agent_name"] == name.removesuffix(".run")
    step = _span("BaseWorkflowAgent.run_agent_step", LI.SCOPE, {"openinference.span.kind": "CHAIN"})
    assert classify(step) is SpanClass.OTHER


def test_llama_index_only_the_call_with_messages_is_a_model_step() -> None:
    llm = {"openinference.span.kind": "LLM", "llm.model_name": "m"}
    prepare = _span("OpenAILike._prepare_chat_with_tools", LI.SCOPE, llm)
    outer = _span("OpenAILike.astream_chat", LI.SCOPE, llm)
    inner = _span(
        "OpenAILike.astream_chat", LI.SCOPE, {**llm, "llm.input_messages.0.message.role": "user"}
    )
    assert [classify(s) for s in (prepare, outer, inner)] == [
        SpanClass.OTHER,
        SpanClass.OTHER,
        SpanClass.LLM,
    ]


def test_llama_index_tool_output() -> None:
    ok = {"blocks": [{"text": "5"}], "raw_output": 5, "is_error": False}
    span = _span(
        "FunctionTool.acall",
        LI.SCOPE,
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "add",
            "input.value": json.dumps({"kwargs": {"a": 2, "b": 3}}),
            "output.value": json.dumps(ok),
        },
    )
    assert llama_index.step_fields(span, "tool_call") == {
        "tool_args": {"a": 2, "b": 3},
        "tool_result": "5",
    }
    bad = {"blocks": [{"text": "no such city"}], "raw_output": None, "is_error": True}
    span = _span("FunctionTool.acall", LI.SCOPE, {"output.value": json.dumps(bad)})
    fields = llama_index.step_fields(span, "tool_call")
    assert fields["error"] == "no such city"


def test_llama_index_drops_the_injected_workflow_context() -> None:
    kwargs = {"to_agent": "writer", "ctx": "<workflows.context.context.Context object at 0x7f7d>"}
    span = _span("FunctionTool.acall", LI.SCOPE, {"input.value": json.dumps({"kwargs": kwargs})})
    assert llama_index.step_fields(span, "tool_call") == {"tool_args": {"to_agent": "writer"}}


def test_llama_index_max_iterations_is_the_step_limit() -> None:
    limit = _exception("workflows.errors.WorkflowRuntimeError", "Max iterations of 2 reached!")
    other = _exception("workflows.errors.WorkflowRuntimeError", "Something else")
    run = "FunctionAgent.run"
    assert llama_index.run_status(_span(run, LI.SCOPE, {}, events=limit)) == RunStatus.MAX_STEPS
    assert llama_index.run_status(_span(run, LI.SCOPE, {}, events=other)) is None


# --- AutoGen ------------------------------------------------------------------------


def test_autogen_core_invoke_agent_is_the_run_and_nothing_else_is() -> None:
    def core(op: str) -> SpanRecord:
        return _span(f"{op} x", AG.CORE_SCOPE, {"gen_ai.operation.name": op})

    oi_agent = _span(
        "weather_agent.on_messages_stream", AG.AGENTCHAT_SCOPE, {"openinference.span.kind": "AGENT"}
    )
    assert classify(core("invoke_agent")) is SpanClass.RUN
    assert classify(core("create_agent")) is SpanClass.OTHER
    assert classify(core("execute_tool")) is SpanClass.OTHER
    assert classify(oi_agent) is SpanClass.OTHER


def test_autogen_tool_error_comes_from_the_core_span_inside() -> None:
    tool = _span(
        "weather_agent.flaky",
        AG.AGENTCHAT_SCOPE,
        {"openinference.span.kind": "TOOL", "output.value": "x must be 2"},
    )
    inner = _span(
        "execute_tool flaky",
        AG.CORE_SCOPE,
        {"gen_ai.operation.name": "execute_tool"},
        span_id="2" * 16,
        parent_span_id=tool.span_id,
        status_code=_ERROR,
        status_message="ValueError: x must be 2",
    )
    by_id = {tool.span_id: tool, inner.span_id: inner}
    assert autogen.derive_step_fields(tool, by_id) == {"error": "ValueError: x must be 2"}
    fine = {tool.span_id: tool, inner.span_id: dataclasses.replace(inner, status_code=0)}
    assert autogen.derive_step_fields(tool, fine) == {}
