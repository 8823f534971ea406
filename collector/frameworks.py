"""Run and step fields from other instrumentations' spans. Pure: no I/O.

Covers the OpenTelemetry GenAI conventions (current and deprecated names), pydantic-ai's
extras, OpenInference (OpenAI Agents SDK, smolagents) and OpenLLMetry. Every function
returns only the fields it found; mapping.py prefers the GenAI attributes it reads itself.
What each framework really emits is written up in tests/frameworks/SPANS.md; the
message shapes are read by collector/messages.py, the keys named in collector/conventions/.

Per span: :func:`span_class_hint`, :func:`run_fields`, :func:`step_fields`. Across a
run's spans (the OpenAI Agents SDK puts the task and the answer only on its model calls;
smolagents' max_steps shows only in the step count): :func:`derive_run_fields`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from collector import rules
from collector.conventions import genai as G
from collector.conventions import openinference as OI
from collector.conventions import openllmetry as OLL
from collector.conventions import pydantic_ai as PAI
from collector.decode import SpanRecord
from collector.event_messages import finish_reasons as event_finish_reasons
from collector.event_messages import model_messages, tool_call_arguments, tool_call_result
from collector.messages import (
    as_text,
    first_user_text,
    flat_messages,
    json_field,
    last_text,
    legacy_messages,
    loads,
    thinking_text,
    turn_user_text,
)
from collector.model_answers import last_answer, llm_input_task
from collector.rules.common import CANCELLED_STEP_ERROR, exception, interrupted
from collector.run_tree import model_calls_below
from collector.span_values import error_text
from instrumentation import attributes as A
from instrumentation.attributes import LLM_OPERATIONS, TOOL_SPAN_PREFIX, RunStatus

__all__ = [
    "span_class_hint",
    "run_fields",
    "step_fields",
    "run_status",
    "derive_run_fields",
    "derive_step_fields",
    "is_model_call",
    "is_legacy_model_call",
    "llm_input_task",
    "stand_in_task",
]

_SMOL_STEP = re.compile(r"^Step \d+$")
_RAW_FINISH_REASON = re.compile(r"finish_reason='([A-Za-z_]+)'")


def span_class_hint(span: SpanRecord) -> str | None:
    """A classification that overrides the generic order, or None.

    OpenInference's OpenAI Agents processor opens an AGENT span for the SDK's trace (the
    "workflow"), with no agent name, above the real agent span; the agent span is the run
    (its status carries the failure, the workflow span stays OK), so the workflow is "other".
    """
    attrs = span.attributes
    if (
        span.scope_name == OI.OPENAI_AGENTS_SCOPE
        and str(attrs.get(OI.SPAN_KIND, "")).upper() == OI.KIND_AGENT
        and OI.AGENT_NAME not in attrs
    ):
        return "other"
    quirks = rules.for_span(span)
    if quirks is not None and hasattr(quirks, "span_class"):
        found: str | None = quirks.span_class(span)
        return found
    return None


def _quirk_fields(span: SpanRecord, hook: str, *args: Any) -> dict[str, Any]:
    """What the span's framework module (collector/rules/) says, or nothing."""
    quirks = rules.for_span(span)
    if quirks is None or not hasattr(quirks, hook):
        return {}
    found: dict[str, Any] = getattr(quirks, hook)(span, *args)
    return found


def stand_in_task(llm: SpanRecord) -> str | None:
    """The task of a run whose run span is missing, from its first model call: the turn's
    user message, as the model call's framework words the request it was given."""
    task = llm_input_task(llm)
    quirks = rules.for_span(llm)
    if task is None or quirks is None or not hasattr(quirks, "prompted_task"):
        return task
    found: str = quirks.prompted_task(task)
    return found


def run_status(span: SpanRecord) -> str | None:
    """A status the run span's framework signals beyond its span status (max_steps, or
    cancelled: a run stopped by a task cancellation or Ctrl-C), or None."""
    if interrupted(span):
        return RunStatus.CANCELLED
    quirks = rules.for_span(span)
    if quirks is None or not hasattr(quirks, "run_status"):
        return None
    found: str | None = quirks.run_status(span)
    return found


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """Step fields only other spans of the trace (by span id) tell: ``tool_args``
    (LangChain's, a raised ADK tool's, a GenAI tool span's that names only its call id),
    ``tool_result`` and ``error`` (a failed AutoGen tool, an MCP tool that answered
    ``isError``)."""
    fields = _call_id_fields(span, trace_spans)
    mcp_error = rules.mcp.failed_call_error(span, trace_spans)  # any framework's MCP tool
    if mcp_error:
        fields["error"] = mcp_error
    fields.update(_quirk_fields(span, "derive_step_fields", trace_spans))
    return fields


_NEARBY_CALLS = 4


def _call_id_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A GenAI tool span of before 1.37 names its call (``gen_ai.tool.call.id``) but not
    the arguments or the result: the model call that asked for it holds the arguments, the
    next one the result it was sent."""
    attrs = span.attributes
    call_id = attrs.get(G.GEN_AI_TOOL_CALL_ID)
    if not isinstance(call_id, str) or not call_id or attrs.get(OI.SPAN_KIND):
        return {}
    has_args = attrs.get(A.GEN_AI_TOOL_CALL_ARGUMENTS) is not None
    has_result = attrs.get(A.GEN_AI_TOOL_CALL_RESULT) is not None
    if has_args and has_result:
        return {}
    calls = sorted(
        (s for s in trace_spans.values() if _is_llm(s)), key=lambda s: (s.start_ns, s.span_id)
    )
    fields: dict[str, Any] = {}
    # Only the calls next to the tool are read (a few, for tools run side by side): each
    # holds the conversation so far, and reading them all for every tool would be quadratic.
    if not has_args:
        before = [s for s in calls if s.end_ns <= span.start_ns][-_NEARBY_CALLS:]
        args = tool_call_arguments(call_id, reversed(before))
        if args is not None:
            fields["tool_args"] = args
    if not has_result and span.status_code != 2:
        after = [s for s in calls if s.start_ns >= span.end_ns][:_NEARBY_CALLS]
        result = tool_call_result(call_id, after)
        if result is not None:
            fields["tool_result"] = result
    return fields


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """Task, final answer, models, provider, agent name and tokens of a foreign run span."""
    attrs = span.attributes
    fields: dict[str, Any] = {}
    task = (
        turn_user_text(attrs.get(G.GEN_AI_INPUT_MESSAGES))
        or first_user_text(attrs.get(PAI.ALL_MESSAGES))
        or _input_value_task(attrs.get(OI.INPUT_VALUE))
        or turn_user_text(flat_messages(attrs, "input"))
        or turn_user_text(legacy_messages(attrs, "prompt"))
        or turn_user_text(model_messages(span, "input"))  # events, older GenAI keys
    )
    if task:
        fields["task"] = task
    answer = _final_answer(span)
    if answer is not None:
        fields["final_answer"] = answer
    model = attrs.get(PAI.MODEL_NAME) or attrs.get(OI.LLM_MODEL_NAME)
    if model:
        fields["model_requested"] = str(model)
    provider = attrs.get(OI.LLM_PROVIDER) or attrs.get(OI.LLM_SYSTEM)
    if provider:
        fields["provider"] = str(provider)
    name = (
        attrs.get(OI.AGENT_NAME)
        or attrs.get(PAI.AGENT_NAME)
        or attrs.get(OI.GRAPH_NODE_NAME)
        or attrs.get(G.GEN_AI_WORKFLOW_NAME)
        or _named_by_span(span)
    )
    if name:
        fields["agent_name"] = str(name)
    # No run totals from pydantic-ai's aggregated usage or OpenInference's run token counts:
    # the run's tokens are the sum of its own model calls (steps), which a run span's totals
    # can exceed (smolagents' ``reset=False`` counts the conversation's earlier runs too).
    if rules.litellm.wrote_onto(span):
        # The program's span, named by the program; its usage is the last call LiteLLM
        # wrote onto it: the run's is its calls'.
        fields.update(agent_name=span.name, input_tokens=None, output_tokens=None)
    fields.update(_quirk_fields(span, "run_fields"))
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """Tool and LLM details of a foreign step span; ``kind`` is 'tool_call' or 'think'."""
    attrs = span.attributes
    fields: dict[str, Any] = {}
    if kind == "tool_call":
        name = attrs.get(OI.TOOL_NAME) or _tool_named_by_span(span)
        fields["tool_name"] = str(name)
        args = _tool_args(attrs.get(OI.INPUT_VALUE))
        if args is not None:
            fields["tool_args"] = args
        result = attrs.get(OI.OUTPUT_VALUE)
        if result is not None:
            fields["tool_result"] = _json_string_or_text(result, attrs.get(OI.OUTPUT_MIME_TYPE))
        fields.update(_quirk_fields(span, "step_fields", kind))
        return _mark_interrupted(span, fields)
    # A call that failed names no answering model: the one it asked for, then.
    model = attrs.get(OI.LLM_MODEL_NAME) or _invocation_model(attrs)
    if model:
        fields["model"] = str(model)
    _put_int(fields, "input_tokens", attrs, OI.LLM_TOKEN_COUNT_PROMPT)
    _put_int(fields, "output_tokens", attrs, OI.LLM_TOKEN_COUNT_COMPLETION)
    reasons = _finish_reasons(attrs) or event_finish_reasons(span)
    if reasons:
        fields["finish_reasons"] = json.dumps(reasons)
    thinking = thinking_text(attrs.get(G.GEN_AI_OUTPUT_MESSAGES))
    if thinking:
        fields["thinking"] = thinking
    fields.update(_quirk_fields(span, "step_fields", kind))
    return _mark_interrupted(span, fields)


def _mark_interrupted(span: SpanRecord, fields: dict[str, Any]) -> dict[str, Any]:
    """A step cut off by a cancellation or Ctrl-C says so, not the exception's repr."""
    if interrupted(span):
        fields["error"] = CANCELLED_STEP_ERROR
    return fields


def derive_run_fields(
    run_span: SpanRecord,
    trace_spans: Iterable[SpanRecord],
    *,
    is_run: Callable[[SpanRecord], bool],
    own: list[SpanRecord] | None = None,
    calls_below: list[SpanRecord] | None = None,
) -> dict[str, Any]:
    """Fields of a foreign run that only its descendants tell.

    ``trace_spans`` are the known spans of the run's trace; the run's own spans are those
    below ``run_span`` with no other run (``is_run``) in between. Returns any of ``task``
    (first user message of its first model call), ``final_answer`` (the text of its last
    model call that answered without calling a tool; not for failed runs), ``model_requested``,
    ``model_used``, ``provider``, and ``status`` = "max_steps" for a smolagents run that
    stopped at its step limit. What the run span itself states wins (collector/foreign_runs.py
    keeps the task, answer, requested model and provider it states, else takes these as
    derived from the trace stored so far, each derivation replacing the last). ``own`` and
    ``calls_below`` (:func:`model_calls_below`): the run's own spans and the model calls
    below it, when the caller found them for all runs of the trace at once.
    """
    known = list(trace_spans)  # read twice: the run's own spans, and all below it
    if own is None:
        own = _own_spans(run_span, known, is_run)
    llm_spans = sorted(
        (s for s in own if _is_llm(s)), key=lambda s: (s.start_ns, s.end_ns, s.span_id)
    )
    fields: dict[str, Any] = {}
    for span in llm_spans:
        task = llm_input_task(span)
        if task:
            fields["task"] = task
            break
    failed = run_span.status_code == 2
    if not failed:
        answer = last_answer(llm_spans)
        if answer is not None:
            fields["final_answer"] = answer
    # A run whose model calls are all its sub-agents' (an AutoGen team taking turns) reports
    # the model they used; their task and answer are theirs (a framework's module may say
    # the run's are the same, as ADK's for its workflow agents).
    if not llm_spans and calls_below is None:
        calls_below = model_calls_below(known, _is_llm).get(run_span.span_id, [])
    model_spans = llm_spans or calls_below or []
    if model_spans:
        first = model_spans[0].attributes
        # OpenInference's client spans name the answering model in ``llm.model_name`` and
        # the one asked for only in their invocation parameters.
        requested = (
            first.get(G.GEN_AI_REQUEST_MODEL)
            or first.get(OI.LLM_REQUEST_MODEL_NAME)
            or _invocation_model(first)
            or first.get(OI.LLM_MODEL_NAME)
        )
        if requested:
            fields["model_requested"] = str(requested)
        # The model that answered: the response's, of the last call that got one.
        answered = [s.attributes for s in model_spans if s.status_code != 2]
        # Without a response model (ADK, Strands record none), the one it asked for.
        used = next(
            (
                model
                for a in reversed(answered)
                if (
                    model := a.get(G.GEN_AI_RESPONSE_MODEL)
                    or a.get(OI.LLM_MODEL_NAME)
                    or a.get(G.GEN_AI_REQUEST_MODEL)
                )
            ),
            None,
        )
        if used:
            fields["model_used"] = str(used)
        for span in model_spans:
            provider = _provider(span.attributes)
            if provider:
                fields["provider"] = provider
                break
    cause = _failed_step_cause(run_span, own) if failed else None
    if cause:
        fields["error"] = cause
    if not failed and _stopped_at_max_steps(run_span, own):
        fields["status"] = RunStatus.MAX_STEPS
    elif not failed and _interrupted_inside(run_span, own, fields):
        fields["status"] = RunStatus.CANCELLED
    fields.update(_quirk_fields(run_span, "derive_run_fields", own))
    fields.update(_quirk_fields(run_span, "derive_run_fields_in_trace", own, known))
    return fields


# --- helpers -----------------------------------------------------------------------


def _invocation_model(attrs: Mapping[str, Any]) -> str | None:
    """The model an OpenInference model call asked for, in its invocation parameters."""
    model = json_field(attrs.get(OI.LLM_INVOCATION_PARAMETERS), "model")
    return model if isinstance(model, str) and model else None


def _own_spans(
    run_span: SpanRecord, trace_spans: Iterable[SpanRecord], is_run: Callable[[SpanRecord], bool]
) -> list[SpanRecord]:
    spans = {s.span_id: s for s in trace_spans if s.trace_id == run_span.trace_id}
    own: list[SpanRecord] = []
    for span in spans.values():
        if span.span_id == run_span.span_id:
            continue
        parent_id, depth = span.parent_span_id, 0
        while parent_id is not None and parent_id in spans and depth < 256:
            if parent_id == run_span.span_id:
                own.append(span)
                break
            if is_run(spans[parent_id]):
                break
            parent_id, depth = spans[parent_id].parent_span_id, depth + 1
    return own


# A method ending a span name: smolagents' and Agno's {agent}.run, DSPy's {Module}.forward.
_METHOD = re.compile(r"[a-z_][a-z0-9_]*")


def _named_by_span(span: SpanRecord) -> str | None:
    """An agent's name its span's name tells when no attribute does: the GenAI
    ``invoke_agent {name}``, or an OpenInference AGENT / CHAIN span named after the agent
    or class whose method it traces."""
    attrs = span.attributes
    op = attrs.get(G.GEN_AI_OPERATION_NAME)
    if isinstance(op, str) and span.name.startswith(f"{op} "):
        return span.name.removeprefix(f"{op} ").strip() or None
    kind = attrs.get(OI.SPAN_KIND)
    if not isinstance(kind, str) or kind.upper() not in (OI.KIND_AGENT, OI.KIND_CHAIN):
        return None
    owner, dot, method = span.name.rpartition(".")
    if owner and dot and _METHOD.fullmatch(method):
        return owner
    return span.name or None


def _failed_step_cause(run_span: SpanRecord, own: list[SpanRecord]) -> str | None:
    """Why a failed run failed when its own span does not say (no exception event, as
    Agno's ``run status: error``): the error of its last step, when that step failed. A
    framework with a module of its own (collector/rules/) reads its errors itself."""
    if rules.for_span(run_span) is not None or exception(run_span) is not None:
        return None
    steps = [s for s in own if _is_llm(s) or _is_tool(s)]
    if not steps:
        return None
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns))
    return error_text(last, "") if last.status_code == 2 else None


def _is_tool(span: SpanRecord) -> bool:
    attrs = span.attributes
    kind = attrs.get(OI.SPAN_KIND)
    if isinstance(kind, str):
        return kind.upper() == OI.KIND_TOOL
    return attrs.get(G.GEN_AI_OPERATION_NAME) == A.OP_EXECUTE_TOOL or A.GEN_AI_TOOL_NAME in attrs


def _json_string_or_text(value: Any, mime_type: Any) -> str:
    """An output declared JSON that is one string (DSPy's ``"Completed."``) is that string."""
    if mime_type == OI.MIME_JSON and isinstance(value, str):
        parsed = loads(value)
        if isinstance(parsed, str):
            return parsed
    return as_text(value)


def _tool_named_by_span(span: SpanRecord) -> str:
    """A tool span's name less ``execute_tool``, or, for an OpenInference TOOL span, less
    the method traced (DSPy's ``get_weather.__call__``)."""
    name = span.name.removeprefix(f"{TOOL_SPAN_PREFIX} ")
    if isinstance(span.attributes.get(OI.SPAN_KIND), str):
        owner, _, method = name.rpartition(".")
        if owner and _METHOD.fullmatch(method):
            return owner
    return name


def _interrupted_inside(
    run_span: SpanRecord, own: list[SpanRecord], fields: Mapping[str, Any]
) -> bool:
    """A run that ended without an error or an answer after one of its steps was cut off
    by Ctrl-C or a cancellation (pydantic-ai records the ``KeyboardInterrupt`` on the tool
    it hit, not on the run)."""
    if fields.get("final_answer") is not None or _final_answer(run_span) is not None:
        return False
    return any(interrupted(span) for span in own)


def is_model_call(span: SpanRecord) -> bool:
    """An LLM call, by any convention (a framework hint, OpenInference, GenAI)."""
    return _is_llm(span)


def _is_llm(span: SpanRecord) -> bool:
    hint = span_class_hint(span)
    if hint is not None:
        return hint == "think"
    attrs = span.attributes
    kind = attrs.get(OI.SPAN_KIND)
    if isinstance(kind, str):
        return kind.upper() == OI.KIND_LLM
    op = attrs.get(G.GEN_AI_OPERATION_NAME)
    return op in LLM_OPERATIONS or (op is None and is_legacy_model_call(span))


def is_legacy_model_call(span: SpanRecord) -> bool:
    """A model call of OpenLLMetry before it named the operation: ``llm.request.type`` chat
    or completion, whichever instrumentation (scope) wrote it."""
    return span.attributes.get(OLL.REQUEST_TYPE) in OLL.MODEL_CALL_TYPES


def _stopped_at_max_steps(run_span: SpanRecord, own: list[SpanRecord]) -> bool:
    """smolagents leaves every span OK at its step limit; the steps show it. The limit is
    ``run(max_steps=...)``'s when given, else the agent's."""
    limit = json_field(run_span.attributes.get(OI.INPUT_VALUE), "max_steps")
    if not isinstance(limit, int):
        limit = run_span.attributes.get(OI.SMOLAGENTS_MAX_STEPS)
    if run_span.scope_name != OI.SMOLAGENTS_SCOPE or not isinstance(limit, int):
        return False
    steps = sum(1 for s in own if _SMOL_STEP.match(s.name))
    answered = any(s.attributes.get(OI.TOOL_NAME) == "final_answer" for s in own)
    return steps >= limit and not answered


def _provider(attrs: Mapping[str, Any]) -> str | None:
    for key in (G.GEN_AI_PROVIDER_NAME, G.GEN_AI_SYSTEM, OI.LLM_PROVIDER, OI.LLM_SYSTEM):
        value = attrs.get(key)
        if value:
            return str(value)
    return None


def _final_answer(span: SpanRecord) -> str | None:
    attrs = span.attributes
    answer = last_text(model_messages(span, "output"))  # attributes or events
    if answer:
        return answer
    if PAI.FINAL_RESULT in attrs:  # pydantic-ai
        return as_text(attrs[PAI.FINAL_RESULT])
    value = attrs.get(OI.OUTPUT_VALUE)
    if value is None:
        return None
    if span.status_code == 2 and rules.for_span(span) is None:
        return None  # a failed run's output is its error (Agno's), not an answer
    if span.scope_name == OI.SMOLAGENTS_SCOPE and value == "None":
        return None  # str(None): the run produced no answer
    parsed = loads(value)
    if isinstance(parsed, dict):
        # A program's result object (DSPy's Prediction: trajectory, reasoning, answer).
        named = next((parsed[k] for k in _ANSWER_KEYS if isinstance(parsed.get(k), str)), None)
        if named is not None:
            return str(named)
    return as_text(value)


_ANSWER_KEYS = ("answer", "final_answer", "output", "response", "result")


def _input_value_task(value: Any) -> str | None:
    """OpenInference ``input.value``: smolagents' {"task": ...}, a message list, or text."""
    if value is None:
        return None
    parsed = loads(value)
    task = json_field(value, "task")  # smolagents' run() arguments, even part-redacted
    if isinstance(task, str):
        return task
    if isinstance(parsed, list):
        return turn_user_text(parsed)
    if isinstance(parsed, dict):
        only = _only_text(parsed)  # DSPy's {"input_args": {"question": ...}}
        if only is not None:
            return only
    return value if isinstance(value, str) else as_text(value)


def _only_text(value: Any, depth: int = 0) -> str | None:
    """The one text a JSON object of one key holds (at any depth of such objects)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1 and depth < 8:
        return _only_text(next(iter(value.values())), depth + 1)
    return None


# How an instrumentation wraps a Python call's arguments.
_CALL_WRAPPER = frozenset({"args", "kwargs"})


def _tool_args(value: Any) -> Any:
    """OpenInference ``input.value`` of a tool: smolagents and DSPy wrap the call's
    args/kwargs."""
    if value is None:
        return None
    parsed = loads(value)
    # smolagents adds flags beside both (sanitize_inputs_outputs); DSPy sends kwargs alone.
    if isinstance(parsed, dict) and (set(parsed) >= _CALL_WRAPPER or set(parsed) == {"kwargs"}):
        kwargs = parsed.get("kwargs") or {}
        args = parsed.get("args") or []
        if args and kwargs:
            return {"args": args, **kwargs}
        return args if args and not kwargs else kwargs
    return value


def _finish_reasons(attrs: Mapping[str, Any]) -> list[str]:
    single = attrs.get(OI.LLM_FINISH_REASON)
    if isinstance(single, str) and single:
        return [single]
    raw = attrs.get(OI.OUTPUT_VALUE)
    if isinstance(raw, str) and "finish_reason=" in raw:  # smolagents: the client's repr
        return _RAW_FINISH_REASON.findall(raw)
    return []


def _put_int(fields: dict[str, Any], name: str, attrs: Mapping[str, Any], key: str) -> None:
    value = attrs.get(key)
    if name not in fields and isinstance(value, int) and not isinstance(value, bool):
        fields[name] = value
