"""The OpenAI Agents SDK through OpenInference: a run stopped by ``max_turns``
(``MaxTurnsExceeded``, only the agent span's status description tells) reached its step
limit, it did not fail. A hand-off's TOOL span (``handoff to {agent}``) holds the agent
names, not the call: the step is the hand-off tool the model called (``transfer_to_{agent}``
unless the hand-off names its own), with the arguments the model gave it, both from the
turn's ``generation``. A cancelled run ends OK on a ``generation`` that never got its
response. A failed run or model call reads as the error the SDK traced, not its generic
wrapper (``Error in agent run: {'error': ...}``); a run whose last turn failed while its agent
span ended OK (an answer that is not its ``output_type``'s JSON) failed with the turn's
error. The SDK's workflow span is classified in collector/frameworks.py. The same
processor for the SDK in JavaScript writes the same tree: its agent spans name the agent in
``graph.node.id`` only, its workflow root (an AGENT span holding the run's input and output)
is no run, and a failure's data is JSON; its ``MaxTurnsExceededError`` reached the step
limit; a tool call whose arguments it refused has a TOOL span without ``input.value``: its
arguments are those the turn's ``generation`` asked with."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from collector.conventions import openinference as OI
from collector.decode import SpanRecord
from collector.messages import as_text, indexed_keys, loads, turn_user_text
from collector.python_literals import literal_eval
from collector.rules.common import CANCELLED_STEP_ERROR, unanswered
from instrumentation import attributes as A
from instrumentation.attributes import RunStatus

__all__ = [
    "SCOPES",
    "span_class",
    "run_status",
    "run_fields",
    "step_fields",
    "derive_run_fields",
    "derive_step_fields",
]

SCOPES = frozenset({OI.OPENAI_AGENTS_SCOPE, OI.OPENAI_AGENTS_JS_SCOPE})


def span_class(span: SpanRecord) -> str | None:
    """The JavaScript SDK's workflow root: an AGENT span naming no agent, above the agent
    span that is the run (the Python one's is classified in collector/frameworks.py)."""
    attrs = span.attributes
    if (
        span.scope_name == OI.OPENAI_AGENTS_JS_SCOPE
        and _kind(span) == OI.KIND_AGENT
        and OI.AGENT_NAME not in attrs
        and OI.GRAPH_NODE_ID not in attrs
    ):
        return "other"
    return None


def run_status(span: SpanRecord) -> str | None:
    """``max_steps`` for ``MaxTurnsExceeded`` (``MaxTurnsExceededError`` in JavaScript);
    ``cancelled`` for a run torn down from outside (its span failed resetting its context
    in the clean-up's)."""
    if span.status_code != 2:
        return None
    if span.status_message.startswith(OI.OPENAI_AGENTS_MAX_TURNS):
        return RunStatus.MAX_STEPS
    detail = _traced_error(span)
    if detail is not None and detail.startswith(OI.OPENAI_AGENTS_JS_MAX_TURNS):
        return RunStatus.MAX_STEPS
    if OI.OPENAI_AGENTS_TORN_DOWN in span.status_message:
        return RunStatus.CANCELLED
    return None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    """A failed run's error: what the SDK's ``Error in agent run`` wraps (the exception's
    text), as the caller saw it raised."""
    detail = _traced_error(span)
    return {"error": detail} if detail else {}


def _traced_error(span: SpanRecord) -> str | None:
    """The ``error`` of the SDK's SpanError data in a failed span's status (a dict's repr
    from Python, JSON from JavaScript); None for a status of another shape (a tripwire,
    max turns) or one cut short."""
    if span.status_code != 2:
        return None
    _, sep, data = span.status_message.partition(": {")
    if not sep:
        return None
    try:
        parsed = json.loads("{" + data)
    except (ValueError, RecursionError):
        try:
            parsed = literal_eval("{" + data)  # a dict's repr: literals only
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            return None
    detail = parsed.get(OI.OPENAI_AGENTS_ERROR_DETAIL) if isinstance(parsed, dict) else None
    return detail if isinstance(detail, str) and detail else None


def derive_run_fields(run_span: SpanRecord, own: list[SpanRecord]) -> dict[str, Any]:
    """An input guardrail's tripwire fails the run, but only its ``turn`` span says so
    (the agent span stays OK; an output guardrail's fails the agent span itself). A run
    that ended on a tool's result (``tool_use_behavior`` "stop_on_first_tool" or
    ``StopAtTools``: no model call after it) answers with that result; one that ended on a
    tool without a result was cut off in it."""
    if run_span.status_code == 2:
        return {}
    for span in sorted(own, key=lambda s: s.start_ns):
        if span.status_code == 2 and span.status_message.startswith(OI.OPENAI_AGENTS_TRIPWIRE):
            tripped = {"status": RunStatus.FAILED, "error": span.status_message}
            return tripped | _guarded_request(own)
    steps = [s for s in own if _kind(s) in (OI.KIND_LLM, OI.KIND_TOOL) and not _is_handoff(s)]
    ended_on = _failed_last_turn(own, steps)
    if ended_on is not None:
        return {"status": RunStatus.FAILED, "error": ended_on, "final_answer": None}
    last = max(steps, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is not None and _kind(last) == OI.KIND_TOOL and last.status_code != 2:
        result = last.attributes.get(OI.OUTPUT_VALUE)
        if result is not None:
            return {"final_answer": as_text(result)}
        # The SDK asks the model again after every tool unless told to stop on one, whose
        # output is then the answer: a run that ends on a tool that returned nothing was
        # cut off in it (Ctrl-C; the spans end OK). A stop-on-tool returning None reads so too.
        return {"status": RunStatus.CANCELLED}
    calls = [s for s in steps if _kind(s) == OI.KIND_LLM]
    last_call = max(calls, key=lambda s: (s.start_ns, s.end_ns), default=None)
    if last_call is not None and _cut_off(last_call):
        return {"status": RunStatus.CANCELLED}
    return {}


def _failed_last_turn(own: list[SpanRecord], steps: list[SpanRecord]) -> str | None:
    """The error of the failed ``turn`` a run ended on, no model call or tool after it:
    an error the SDK raises itself (an answer that is not the JSON of the agent's
    ``output_type``: ``ModelBehaviorError``) is traced on the span current when it is
    raised, the turn, and the agent span ends OK. The SpanError's data is said only when
    there is some (``Invalid JSON provided``, not ``Invalid JSON provided: {}``)."""
    turns = [s for s in own if s.name == OI.OPENAI_AGENTS_TURN and _kind(s) == OI.KIND_CHAIN]
    last = max(turns, key=lambda s: (s.end_ns, s.start_ns), default=None)
    if last is None or last.status_code != 2 or not last.status_message:
        return None
    if any(s.start_ns >= last.end_ns for s in steps):
        return None
    return _traced_error(last) or last.status_message.removesuffix(_NO_DATA)


def _guarded_request(own: list[SpanRecord]) -> dict[str, Any]:
    """The task of a run an input guardrail stopped before any model call: the request the
    guardrail judged, which ``instrumentation.auto`` puts on the guardrail's span (no span
    of the SDK's holds it). A run with a model call has its task from that call."""
    if any(_kind(s) == OI.KIND_LLM for s in own):
        return {}
    for span in sorted(own, key=lambda s: s.start_ns):
        given = span.attributes.get(OI.INPUT_VALUE) if _kind(span) == OI.KIND_GUARDRAIL else None
        # The SDK's input: the request's text, or its input items (a conversation).
        items = loads(given)
        task = turn_user_text(items) if isinstance(items, list) else given
        if isinstance(task, str) and task:
            return {"task": task}
    return {}


def _cut_off(span: SpanRecord) -> bool:
    """A model call that ended without its response: the SDK recorded what it sent but no
    output and no usage. Without the input (``trace_include_sensitive_data=False``) nothing
    tells, and a streamed answer without usage looks the same: not concluded."""
    return OI.INPUT_VALUE in span.attributes and unanswered(span, _ANSWERED)


# How the processor writes a SpanError whose data is empty.
_NO_DATA = ": {}"
# Set on a ``generation`` once the response arrived (streamed or not).
_ANSWERED = (OI.OUTPUT_VALUE, OI.LLM_TOKEN_COUNT_PROMPT, OI.LLM_TOKEN_COUNT_COMPLETION)
# The SDK's default hand-off tool name, ``Handoff.default_tool_name``: the target agent's
# name after ``transfer_to_``, whitespace and other characters as ``_``, lower case.
_NOT_IN_TOOL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def _kind(span: SpanRecord) -> str:
    return str(span.attributes.get(OI.SPAN_KIND, "")).upper()


def _is_handoff(span: SpanRecord) -> bool:
    return span.name.startswith(OI.OPENAI_AGENTS_HANDOFF_PREFIX) and OI.TOOL_NAME not in (
        span.attributes
    )


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    """A hand-off's arguments are not its ``input.value`` (the agent handing over); its
    name, until the turn's model call tells the one the model called, is the SDK's default.
    A model call cut off by a cancellation says so; one that failed has the error the SDK
    traced (a tool's keeps the SDK's text, which names the tool and whether the run went on).
    A tool whose call or result a guardrail rejected failed with the guardrail's message."""
    if kind == "think" and _kind(span) == OI.KIND_LLM:
        if _cut_off(span):
            return {"error": CANCELLED_STEP_ERROR}
        detail = _traced_error(span)
        return {"error": detail} if detail else {}
    rejected = _rejection(span) if kind == "tool_call" else None
    if rejected is not None:
        return {"error": rejected}
    if kind != "tool_call" or not _is_handoff(span):
        return {}
    target = span.attributes.get(OI.OUTPUT_VALUE)
    if not isinstance(target, str) or not target:
        target = span.name.removeprefix(OI.OPENAI_AGENTS_HANDOFF_PREFIX)
    name = _NOT_IN_TOOL_NAME.sub("_", f"transfer_to_{target}").lower()
    return {"tool_args": {}, "tool_name": name}


def _rejection(span: SpanRecord) -> str | None:
    """A tool guardrail's ``reject_content``: the SDK ends the tool's span OK with the message
    the model was told as its output, and ``instrumentation.auto`` names the guardrail on it
    (no span of the SDK's does). One that raises fails the span itself (the SDK's error)."""
    guardrail = span.attributes.get(A.TOOL_REJECTED_BY)
    if span.status_code == 2 or not isinstance(guardrail, str) or not guardrail:
        return None
    told = span.attributes.get(OI.OUTPUT_VALUE)
    # The message is left out of traces with the SDK's sensitive data (as the tool's output).
    if told is None or not as_text(told):
        return f"Rejected by the {guardrail}"
    return f"Rejected by the {guardrail}: {as_text(told)}"


def derive_step_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    """A hand-off's tool name and arguments: the one tool call of the turn's model call that
    no tool span of the turn ran. A JS tool span without its input (the SDK refused the
    arguments before running the tool): the arguments of the one call of that tool the turn's
    model call asked for that no sibling tool span ran with."""
    if span.parent_span_id is None:
        return {}
    if _is_handoff(span):
        return _handoff_fields(span, trace_spans)
    if span.scope_name == OI.OPENAI_AGENTS_JS_SCOPE and _kind(span) == OI.KIND_TOOL:
        return _refused_arguments(span, trace_spans)
    return {}


def _turn_calls(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> list[dict[str, Any]]:
    """The tool calls the model calls of the span's turn (its siblings) asked for."""
    calls: dict[tuple[str, int, int], dict[str, Any]] = {}
    for generation in _turn(span, trace_spans):
        for message, rest, value in indexed_keys(generation.attributes, OI.FLAT_MESSAGE, "output"):
            if rest.startswith("tool_calls."):
                index, _, field = rest.removeprefix("tool_calls.").partition(".")
                calls.setdefault((generation.span_id, message, int(index)), {})[field] = value
    return list(calls.values())


def _turn(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> list[SpanRecord]:
    return [s for s in trace_spans.values() if s.parent_span_id == span.parent_span_id]


def _refused_arguments(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    if OI.INPUT_VALUE in span.attributes:
        return {}
    name = span.attributes.get(OI.TOOL_NAME)
    ran = [
        loads(s.attributes.get(OI.INPUT_VALUE))
        for s in _turn(span, trace_spans)
        if s.attributes.get(OI.TOOL_NAME) == name and OI.INPUT_VALUE in s.attributes
    ]
    asked = [
        loads(c.get(OI.TOOL_CALL_FUNCTION_ARGUMENTS) or "{}")
        for c in _turn_calls(span, trace_spans)
        if c.get(OI.TOOL_CALL_FUNCTION_NAME) == name
    ]
    for arguments in ran:
        if arguments in asked:
            asked.remove(arguments)
    if len(asked) != 1 or not isinstance(asked[0], Mapping):
        return {}
    return {"tool_args": asked[0]}


def _handoff_fields(span: SpanRecord, trace_spans: Mapping[str, SpanRecord]) -> dict[str, Any]:
    turn = _turn(span, trace_spans)
    ran = {s.attributes.get(OI.TOOL_NAME) for s in turn if OI.TOOL_NAME in s.attributes}
    calls = _turn_calls(span, trace_spans)
    handoffs = [c for c in calls if c.get(OI.TOOL_CALL_FUNCTION_NAME) not in ran]
    if len(handoffs) != 1:
        return {}
    fields: dict[str, Any] = {}
    name = handoffs[0].get(OI.TOOL_CALL_FUNCTION_NAME)
    if isinstance(name, str) and name:
        fields["tool_name"] = name
    arguments = loads(handoffs[0].get(OI.TOOL_CALL_FUNCTION_ARGUMENTS) or "{}")
    if isinstance(arguments, Mapping):
        fields["tool_args"] = arguments
    return fields
