"""LangChain / LangGraph agents through openinference-instrumentation-langchain.

The run is the agent's graph span (named after the agent; ``metadata.lc_agent_name``).
OpenInference makes a span AGENT only when "agent" is in its name, so the kind says
little: an agent's graph is the span named as its ``lc_agent_name``, and a graph invoked
outside any other graph's node (``ls_integration`` set, no ``langgraph_node``: a team of
agents wired as nodes) is a run too; a parent graph's node that merely holds an agent is
not, whatever its name. A chain invoked on its own (an LCEL ``prompt | model | parser``,
``with_structured_output``: a root CHAIN with no graph) is a run, as any OpenInference
program's root CHAIN is.
task and answer are in its ``input.value`` / ``output.value`` graph state (a chain's: what
it was given and returned, collector/rules/langchain_chains.py). A tool's
``input.value`` is the bare value for a one-argument tool, so the arguments come from the
``tools`` node span above it. Status descriptions carry a traceback. What agent middleware
changes is read in collector/rules/langchain_middleware.py. See SPANS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import loads
from collector.rules import langchain_messages as LC
from collector.rules import langchain_middleware as MW
from collector.rules.common import (
    CANCELLED_STEP_ERROR,
    descendants,
    exception,
    exception_type,
    first_line,
    js_error_line,
)
from collector.rules.langchain_chains import run_answer, run_task
from collector.rules.refused_calls import refused_flat_calls
from collector.told_calls import ToldCall
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_fields",
    "step_fields",
    "run_status",
    "derive_run_fields",
    "derive_run_fields_in_trace",
    "derive_step_fields",
    "tool_calls_told",
]

SCOPES = frozenset({OI.LANGCHAIN_SCOPE, OI.LANGCHAIN_JS_SCOPE})
_STEP_LIMIT_ERRORS = {"GraphRecursionError", *MW.LIMIT_ERRORS}
_STATUS_ERROR = 2
_CANCELLED = "CancelledError"


def _error(span: SpanRecord) -> str | None:
    if span.status_code != _STATUS_ERROR:
        return None
    # LangChain.js (OpenInference's JS instrumentation) records no exception type, and its
    # message followed by the stack: Node's own first line names both.
    js_error = js_error_line(span.status_message)
    if js_error:
        return js_error
    found = exception(span)
    if found and found[0] and found[1]:
        return f"{found[0].rsplit('.', 1)[-1]}: {found[1]}"
    if found and found[1]:
        return first_line(found[1])
    return first_line(span.status_message) if span.status_message else None


def span_class(span: SpanRecord) -> str | None:
    kind = str(span.attributes.get(OI.SPAN_KIND, "")).upper()
    if kind not in (OI.KIND_AGENT, OI.KIND_CHAIN):
        return None
    metadata = loads(span.attributes.get(OI.METADATA))
    if not isinstance(metadata, Mapping):
        metadata = {}
    if metadata.get(OI.LC_AGENT_NAME) == span.name:
        return "run"  # an agent's graph (create_agent), nested or not
    node = metadata.get(OI.LANGGRAPH_NODE)
    if kind == OI.KIND_CHAIN and span.parent_span_id is None and node is None:
        return "run"  # the program's entry outside any graph node: a chain on its own
    if node is None and metadata.get(OI.LS_INTEGRATION) in OI.LANGGRAPH_INTEGRATIONS:
        return "run"  # a graph invoked on its own: the agents' team
    if kind == OI.KIND_AGENT and node == span.name:
        return "other"  # the parent graph's node holding an agent, not the agent
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    attrs = span.attributes
    metadata = loads(attrs.get(OI.METADATA))
    name = metadata.get(OI.LC_AGENT_NAME) if isinstance(metadata, Mapping) else None
    if name != span.name and span_class(span) == "run":
        name = None  # a team graph inside which an agent runs: named after the graph
    fields: dict[str, Any] = {
        "agent_name": str(name or span.name),
        "final_answer": run_answer(attrs.get(OI.INPUT_VALUE), attrs.get(OI.OUTPUT_VALUE)),
    }
    task = run_task(attrs.get(OI.INPUT_VALUE))
    if task:
        fields["task"] = task
    elif LC.is_command(attrs.get(OI.INPUT_VALUE)):
        # Invoked with a Command (resuming after interrupt(), ...): no request of its own,
        # so the task is the one its model calls were working on, not the Command's JSON.
        fields["task"] = None
    error = _error(span)
    if error:
        fields["error"] = error
    limit = MW.limit_stop(attrs.get(OI.OUTPUT_VALUE))
    if limit:  # a limit middleware's message, no model's answer
        fields["final_answer"], fields["error"] = None, limit
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if kind == "tool_call" and str(span.attributes.get(OI.SPAN_KIND, "")).upper() != OI.KIND_TOOL:
        return fields  # a tool call a middleware answered: the GenAI keys hold it
    error = _error(span)
    if kind == "tool_call":
        value = span.attributes.get(OI.INPUT_VALUE)
        parsed = loads(value)
        fields["tool_args"] = parsed if isinstance(parsed, Mapping) else {"input": value}
        message = LC.tool_message(span.attributes.get(OI.OUTPUT_VALUE))
        if message is not None:
            fields["tool_result"] = message["text"]
            if message["status"] == "error" and not error:
                error = message["text"] or "error"
    elif kind == "think":
        served = LC.served_model(span.attributes.get(OI.OUTPUT_VALUE))
        if served:  # a streamed call's llm.model_name is the requested name
            fields["model"] = served
    if error:
        fields["error"] = error
    return fields


def run_status(span: SpanRecord) -> str | None:
    if exception_type(span) in _STEP_LIMIT_ERRORS:
        return RunStatus.MAX_STEPS
    if MW.limit_stop(span.attributes.get(OI.OUTPUT_VALUE)):
        return RunStatus.MAX_STEPS
    return None


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Tool calls a middleware answered itself (collector/rules/langchain_middleware.py),
    those a cancellation cut off in a ``tools`` node, and calls of a tool the agent does not
    have, which the ToolNode answers without running one (told by the next model call)."""
    refused = []
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_LLM:
        refused = refused_flat_calls(span, LC.INVALID_TOOL)
    return MW.answered_tool_calls(span) + _cut_tool_calls(span) + refused


def _cut_tool_calls(span: SpanRecord) -> list[ToldCall]:
    """The calls a ``tools`` node was running when its task was cancelled: LangChain ends a
    tool's span on its result, an ``Exception`` or a ``KeyboardInterrupt``, not on a
    ``CancelledError``, so no span of the tool's ever ends; the node's span fails on the
    cancellation with the calls it was handed as its input."""
    attrs = span.attributes
    if span.status_code != _STATUS_ERROR or exception_type(span) != _CANCELLED:
        return []
    if str(attrs.get(OI.SPAN_KIND, "")).upper() != OI.KIND_CHAIN:
        return []
    metadata = loads(attrs.get(OI.METADATA))
    if not isinstance(metadata, Mapping) or metadata.get(OI.LANGGRAPH_NODE) != span.name:
        return []
    handed = loads(attrs.get(OI.INPUT_VALUE))
    if not LC.handed_tool_calls(handed):
        return []  # a node given the state (a model node, ...): no call of its own
    calls = LC.node_tool_calls(handed)
    return [
        ToldCall(
            name=str(call["name"]),
            arguments=dict(call["args"]) if isinstance(call.get("args"), Mapping) else {},
            call_id=str(call["id"]) if call.get("id") else None,
            result=None,
            error=CANCELLED_STEP_ERROR,
            before_ns=span.end_ns,
        )
        for call in calls
        if isinstance(call, Mapping) and isinstance(call.get("name"), str) and call["name"]
    ]


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The requested model is only in the LLM spans' invocation parameters; the served one
    of a streamed call only in its serialised result."""
    fields: dict[str, Any] = {}
    calls = sorted(own, key=lambda s: s.start_ns)
    for span in calls:
        params = loads(span.attributes.get(OI.LLM_INVOCATION_PARAMETERS))
        if isinstance(params, Mapping) and params.get("model"):
            fields["model_requested"] = str(params["model"])
            break
    for span in reversed(calls):
        served = LC.served_model(span.attributes.get(OI.OUTPUT_VALUE))
        if served and span.status_code != _STATUS_ERROR:
            fields["model_used"] = served
            break
    return fields


def derive_run_fields_in_trace(
    run_span: SpanRecord, own: list[SpanRecord], trace_spans: list[SpanRecord]
) -> dict[str, Any]:
    """A team graph whose agents made every model call: the model its first call asked for."""
    if any(_is_llm(s) for s in own):
        return {}
    return derive_run_fields(
        run_span, [s for s in descendants(run_span, trace_spans) if _is_llm(s)]
    )


def _is_llm(span: SpanRecord) -> bool:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper() == OI.KIND_LLM


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A tool's arguments from the tool calls its ``tools`` node received; a tool that
    raised (no output of its own) has as result what the node sent the model for it (its
    ``ToolMessage``: "Error: ... Please fix your mistakes.")."""
    if str(span.attributes.get(OI.SPAN_KIND, "")).upper() != OI.KIND_TOOL:
        return {}
    parent = trace_spans.get(span.parent_span_id or "")
    calls = LC.node_tool_calls(loads(parent.attributes.get(OI.INPUT_VALUE)) if parent else None)
    message = LC.tool_message(span.attributes.get(OI.OUTPUT_VALUE)) or {}
    name = span.attributes.get(OI.TOOL_NAME)
    matching = [
        c
        for c in calls
        if isinstance(c, Mapping)
        and (c.get("id") == message.get("tool_call_id") if message.get("tool_call_id") else True)
        and c.get("name") == name
    ]
    fields: dict[str, Any] = {}
    call = matching[0] if len(matching) == 1 else None
    if call is not None and isinstance(call.get("args"), Mapping):
        fields["tool_args"] = dict(call["args"])
    if not message and parent is not None and span.status_code == _STATUS_ERROR:
        output = parent.attributes.get(OI.OUTPUT_VALUE)
        sent = LC.reply_for_call(output, name, call.get("id") if call is not None else None)
        if sent is not None:
            fields["tool_result"] = sent
    return fields
