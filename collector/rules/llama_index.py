"""LlamaIndex agents (FunctionAgent, ReActAgent, AgentWorkflow) through
openinference-instrumentation-llama-index.

Every workflow step is a CHAIN span; the run is the agent's ``{Class}.run`` CHAIN span (no
agent name on it, no AGENT span at all), whose ``input.value`` is the workflow's state and
``output.value`` a truncated repr: task and answer come from the model calls, the agent's
name (``FunctionAgent(name=...)``) from its steps' state (``current_agent_name='...'`` in
their ``input.value``); an ``AgentWorkflow`` keeps its class name. A streamed
model call is two LLM spans (the call returning the stream, then its consumption with the
messages), besides a ``_prepare_chat_with_tools`` LLM span: only the one with the
messages is a step. A query or chat engine called on its own (``{Engine}.query`` /
``.chat`` at the trace's root) is a run too, read as OpenInference's root CHAIN is; as a
``QueryEngineTool`` its answer (the ToolOutput's text) is the tool's result.
A tool that raises ends ERROR with no output, and the agent hands the model the error's
text under the call's id: that is its result, read from a later model call's request. A
call of a tool the agent does not have runs no tool span: the agent's message to the model
(``Tool ... not found``) makes it a failed step. A structured output (``output_cls``) is a
conversion after the agent answered: a model call inside one that failed gave no answer.
``max_iterations`` ends the run with ``WorkflowRuntimeError``; a run cancelled
(``handler.cancel_run()``) ends OK with a ``span.cancelled`` event. See SPANS.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from collector.asked_tools import result_told
from collector.conventions import llama_index as LI
from collector.conventions import openinference as OI
from collector.cut_values import cut_json_string
from collector.decode import SpanRecord
from collector.messages import as_text, flat_messages, has_tool_call, last_text, loads
from collector.model_answers import last_answer
from collector.rules.common import exception
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
    "derive_step_fields",
    "tool_calls_told",
]

SCOPES = frozenset({LI.SCOPE})


def _kind(span: SpanRecord) -> str:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper()


def _engine_run(span: SpanRecord) -> bool:
    """A query or chat engine called by the program itself (the trace's root), not as an
    agent's tool."""
    return (
        span.parent_span_id is None
        and _kind(span) == OI.KIND_CHAIN
        and LI.ENGINE_ENTRY_SPAN.match(span.name) is not None
    )


def span_class(span: SpanRecord) -> str | None:
    if _kind(span) == OI.KIND_CHAIN and LI.AGENT_RUN_SPAN.match(span.name):
        return "run"
    if _engine_run(span):
        return "run"
    if _kind(span) == OI.KIND_LLM:
        if span.name.endswith(LI.PREPARE_CALL_SUFFIX):
            return "other"
        if not any(key.startswith(LI.INPUT_MESSAGE_KEY_PREFIX) for key in span.attributes):
            return "other"
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    if not LI.AGENT_RUN_SPAN.match(span.name):
        return {}
    # The state and a truncated repr are no task or answer: the model calls tell them.
    return {"agent_name": span.name.removesuffix(".run"), "task": None, "final_answer": None}


def _tool_args(span: SpanRecord) -> dict[str, Any] | None:
    """A TOOL span's arguments (``input.value`` ``{"args": [...], "kwargs": {...}}``),
    without the workflow Context a hand-off tool is given."""
    call = loads(span.attributes.get(OI.INPUT_VALUE))
    if not (isinstance(call, Mapping) and isinstance(call.get(LI.TOOL_INPUT_KWARGS), Mapping)):
        return None
    args = call.get(LI.TOOL_INPUT_ARGS) or []
    kwargs = {
        key: value
        for key, value in call[LI.TOOL_INPUT_KWARGS].items()
        if not (isinstance(value, str) and LI.INJECTED_CONTEXT.match(value))
    }
    return {"args": args, **kwargs} if args else kwargs


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind != "tool_call":
        return {}
    fields: dict[str, Any] = {}
    args = _tool_args(span)
    if args is not None:
        fields["tool_args"] = args
    output = loads(span.attributes.get(OI.OUTPUT_VALUE))
    cut = cut_json_string(output, (LI.TOOL_OUTPUT_RAW, "text"))  # cut to a preview
    if cut is not None:
        fields["tool_result"] = cut
    if isinstance(output, Mapping) and (
        LI.TOOL_OUTPUT_RAW in output or LI.TOOL_OUTPUT_BLOCKS in output
    ):
        raw = output.get(LI.TOOL_OUTPUT_RAW)
        blocks = output.get(LI.TOOL_OUTPUT_BLOCKS) or []
        text = "\n".join(
            str(b["text"]) for b in blocks if isinstance(b, Mapping) and b.get("text") is not None
        )
        answered = bool(text) and isinstance(raw, Mapping) and set(raw) >= LI.QUERY_RESPONSE_KEYS
        fields["tool_result"] = as_text(raw) if raw is not None and not answered else text
        if output.get(LI.TOOL_OUTPUT_IS_ERROR):
            fields["error"] = text or fields["tool_result"] or "error"
    return fields


def _cancelled(span: SpanRecord) -> bool:
    return any(event.get("name") == LI.CANCELLED_EVENT for event in span.events)


def run_status(span: SpanRecord) -> str | None:
    if _cancelled(span):
        return RunStatus.CANCELLED
    found = exception(span)
    limit_hit = (
        found is not None
        and found[0].rsplit(".", 1)[-1] == LI.STEP_LIMIT_EXCEPTION
        and found[1].startswith(LI.STEP_LIMIT_MESSAGE)
    )
    return RunStatus.MAX_STEPS if limit_hit else None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """The agent's name, and its answer (:func:`_answer`)."""
    fields = _answer(run_span, own)
    name = _agent_name(run_span, own)
    if name:
        fields["agent_name"] = name
    return fields


def _agent_name(run_span: SpanRecord, own: list[SpanRecord]) -> str | None:
    """A single agent's name as its first workflow step's state has it."""
    if run_span.name == LI.WORKFLOW_RUN_SPAN:
        return None  # several agents take turns in it
    for span in sorted(own, key=lambda s: (s.start_ns, s.end_ns)):
        value = loads(span.attributes.get(OI.INPUT_VALUE))  # {"ev": "AgentInput(...)"}
        texts = value.values() if isinstance(value, Mapping) else [value]
        for text in texts:
            found = LI.CURRENT_AGENT.search(text) if isinstance(text, str) else None
            if found:
                return found.group(1) if found.group(1) is not None else found.group(2)
    return None


def _answer(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """A ReActAgent's answer: what follows "Answer:" in its last model answer (the text
    before is its reasoning). A run that ended on a tool (``return_direct=True``: no model
    call after it) answers with the tool's output; a cancelled one has no answer."""
    if _cancelled(run_span):
        return {"final_answer": None}
    if run_span.status_code == 2:
        return {}
    steps = [s for s in own if _kind(s) in (OI.KIND_LLM, OI.KIND_TOOL) and span_class(s) is None]
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is not None and _kind(last) == OI.KIND_TOOL and last.status_code != 2:
        result = step_fields(last, "tool_call").get("tool_result")
        return {"final_answer": result} if result is not None else {}
    failed = {s.span_id for s in own if s.status_code == 2}
    by_id = {s.span_id: s for s in own}
    answered = [s for s in own if _kind(s) == OI.KIND_LLM and s.status_code != 2]
    calls = [s for s in answered if not _inside(s, failed, by_id)]
    for call in sorted(calls, key=lambda s: (s.end_ns, s.start_ns), reverse=True):
        messages = flat_messages(call.attributes, "output")
        if not messages or any(has_tool_call(m) for m in messages):
            continue
        found = LI.REACT_ANSWER.match(last_text(messages) or "")
        if found:
            return {"final_answer": found.group(1).strip()}
        if len(calls) < len(answered):
            # A failed conversion's call answered last: the agent's own last answer is it.
            answer = last_answer(calls)
            return {"final_answer": answer} if answer is not None else {}
        return {}
    return {}


def _inside(span: SpanRecord, failed: set[str], by_id: Mapping[str, SpanRecord]) -> bool:
    """Whether a span of ``failed`` is above ``span`` (within the run's own spans): a
    structured-output conversion that raised, whose model call's text was no answer."""
    parent, depth = span.parent_span_id, 0
    while parent is not None and parent in by_id and depth < 256:
        if parent in failed:
            return True
        parent, depth = by_id[parent].parent_span_id, depth + 1
    return False


def tool_calls_told(span: SpanRecord) -> list[ToldCall]:
    """Calls of tools the agent does not have, told by the model call that followed (its
    tool messages saying so: collector/rules/refused_calls.py)."""
    if _kind(span) != OI.KIND_LLM or span_class(span) is not None:
        return []
    return refused_flat_calls(span, LI.TOOL_NOT_FOUND)


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A tool that raised records no output; the agent sends the model the error's text
    under the call's id (``ToolOutput(is_error=True)``): that is its result, found in the
    trace's model calls (the one that asked for the tool with these arguments names the id,
    a later one was sent the result under it)."""
    attrs = span.attributes
    if _kind(span) != OI.KIND_TOOL or span.status_code != 2 or OI.OUTPUT_VALUE in attrs:
        return {}
    calls = [s for s in trace_spans.values() if _kind(s) == OI.KIND_LLM]
    told = result_told(attrs.get(OI.TOOL_NAME), _tool_args(span), span.start_ns, calls)
    return {"tool_result": told} if told is not None else {}
