"""LangChain / LangGraph agents through OpenLLMetry's opentelemetry-instrumentation-langchain.

One agent run is two ``invoke_agent`` spans: a wrapper around ``Pregel.invoke`` and the
graph's own callback span (``{name}.workflow`` at the top, ``execute_task {name}`` when
nested, where the wrapper is a sibling, not a parent). The graph span is the run; the
wrapper and ``create_agent`` (emitted when the agent is built) are not runs. Tool
arguments are LangChain's ``input_str``, a Python repr. A model call cut off by a
cancellation ends OK without a response (the run span fails with the ``CancelledError``).
See SPANS.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord
from collector.messages import loads
from collector.rules import langchain_messages as LC
from collector.rules.common import (
    CANCELLED_STEP_ERROR,
    exception_type,
    python_literal,
    unanswered,
)
from collector.rules.langchain_chains import run_answer, run_task
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "step_fields",
    "run_status",
    "derive_step_fields",
    "RUN_PARENT_SPANS",
    "run_parents",
]

SCOPES = frozenset({OLL.LANGCHAIN_SCOPE})
_STEP_LIMIT_ERRORS = {"GraphRecursionError"}
_STATUS_ERROR = 2
_UNSET = 0
_CANCELLED = "CancelledError"  # asyncio's: the task running the graph was cancelled
_HANDED_OVER = "ParentCommand"  # langgraph.errors.ParentCommand: a hand-off, no failure
_PAUSED = "GraphInterrupt"  # langgraph.errors.GraphInterrupt: interrupt() asks a human
# Set on a model call's span once the response arrived, streamed or not (the response
# model is not: the requested name is there from the start).
_ANSWERED = (G.GEN_AI_OUTPUT_MESSAGES, A.GEN_AI_USAGE_INPUT_TOKENS, A.GEN_AI_USAGE_OUTPUT_TOKENS)


def _is_graph(attrs: Mapping[str, Any]) -> bool:
    if attrs.get(OLL.SPAN_KIND) == OLL.KIND_WORKFLOW:
        return True
    return (
        attrs.get(G.GEN_AI_OPERATION_NAME) == OLL.OP_EXECUTE_TASK
        and attrs.get(OLL.ENTITY_NAME) is not None
        and attrs.get(OLL.ENTITY_NAME) == attrs.get(OLL.LC_AGENT_NAME)
    )


def span_class(span: SpanRecord) -> str | None:
    attrs = span.attributes
    if _is_graph(attrs):
        return "run"
    if attrs.get(G.GEN_AI_OPERATION_NAME) in {A.OP_CREATE_AGENT, A.OP_INVOKE_AGENT}:
        return "other"  # agent construction, or the wrapper beside the graph's span
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    attrs = span.attributes
    fields: dict[str, Any] = {
        "final_answer": run_answer(attrs.get(OLL.ENTITY_INPUT), attrs.get(OLL.ENTITY_OUTPUT)),
    }
    name = attrs.get(A.GEN_AI_AGENT_NAME) or attrs.get(OLL.ENTITY_NAME)
    if name:
        fields["agent_name"] = str(name)
    task = run_task(attrs.get(OLL.ENTITY_INPUT))
    if task:
        fields["task"] = task
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if (
        kind == "think"
        and G.GEN_AI_INPUT_MESSAGES in span.attributes
        and unanswered(span, _ANSWERED)
    ):  # content recorded (TRACELOOP_TRACE_CONTENT), so its missing output tells
        return {"error": CANCELLED_STEP_ERROR}
    if kind != "tool_call":
        return {}
    fields: dict[str, Any] = {}
    call = loads(span.attributes.get(A.GEN_AI_TOOL_CALL_ARGUMENTS))
    if isinstance(call, Mapping) and "input_str" in call:
        args = python_literal(call["input_str"])
        fields["tool_args"] = args if isinstance(args, Mapping) else {"input": call["input_str"]}
    message = LC.tool_message(span.attributes.get(A.GEN_AI_TOOL_CALL_RESULT))
    if message is not None:
        fields["tool_result"] = message["text"]
        if message["status"] == "error":
            fields["error"] = message["text"] or "error"
    if exception_type(span) == _PAUSED:
        fields["error"] = None  # interrupt(): waiting for a human, resumed by a later run
    return fields


def run_status(span: SpanRecord) -> str | None:
    found = exception_type(span)
    if found == _HANDED_OVER:
        # A tool's Command(graph=Command.PARENT) hands over to another node of the parent
        # graph: LangGraph raises it up to there, OpenLLMetry records it as an error.
        return RunStatus.COMPLETED
    return RunStatus.MAX_STEPS if found in _STEP_LIMIT_ERRORS else None


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A tool that raised records no result: what its ``tools`` node (the parent task span)
    returned for its call is what the model was told (an error middleware's
    ``ToolMessage``), found by the call's id among the calls the node received (by the
    arguments, when it received several of that tool). A tool cut off by a cancellation
    ends without a status or a result, under a ``tools`` node that failed on the
    ``CancelledError``: the step was cancelled."""
    attrs = span.attributes
    if attrs.get(G.GEN_AI_OPERATION_NAME) != A.OP_EXECUTE_TOOL:
        return {}
    if LC.tool_message(attrs.get(A.GEN_AI_TOOL_CALL_RESULT)) is not None:
        return {}
    node = trace_spans.get(span.parent_span_id or "")
    if node is None:
        return {}
    if span.status_code == _UNSET and exception_type(node) == _CANCELLED:
        return {"error": CANCELLED_STEP_ERROR}
    if span.status_code != _STATUS_ERROR:
        return {}
    name = attrs.get(A.GEN_AI_TOOL_NAME) or attrs.get(OLL.ENTITY_NAME)
    calls = [
        c
        for c in LC.node_tool_calls(loads(node.attributes.get(OLL.ENTITY_INPUT)))
        if isinstance(c, Mapping) and c.get("name") == name
    ]
    if len(calls) > 1:
        args = step_fields(span, "tool_call").get("tool_args")
        calls = [c for c in calls if c.get("args") == args]
    call_id = calls[0].get("id") if len(calls) == 1 else None
    sent = LC.reply_for_call(node.attributes.get(OLL.ENTITY_OUTPUT), name, call_id)
    return {"tool_result": sent} if sent is not None else {}


# What run_parents reads (SQL LIKE pattern on span names): the top-level runs' spans.
RUN_PARENT_SPANS = ("%.workflow",)


def _is_workflow(span: SpanRecord) -> bool:
    return span.attributes.get(OLL.SPAN_KIND) == OLL.KIND_WORKFLOW


def run_parents(spans: Iterable[SpanRecord]) -> dict[str, str | None]:
    """``chain.batch([...])``: LangChain starts every input's run from the calling thread
    before running them, and OpenLLMetry makes each run's span the current context as it
    starts, so each input's ``workflow`` span (LangChain's run with no parent run) is the
    child of the previous input's. A ``workflow`` span directly below another one is such a
    sibling (a run LangChain nests is a ``task``, and an agent nested by a tool sits below
    that tool's span): it is placed beside the first input's, below that one's parent."""
    workflows = {s.span_id: s for s in spans if _is_workflow(s)}
    placed: dict[str, str | None] = {}
    for span in workflows.values():
        parent, seen = span.parent_span_id, {span.span_id}
        while parent in workflows and parent not in seen:
            seen.add(parent)
            parent = workflows[parent].parent_span_id
        if parent != span.parent_span_id:
            placed[span.span_id] = parent
    return placed
