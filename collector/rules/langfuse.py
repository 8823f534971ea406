"""Code traced with the Langfuse SDK (version 3 and later): ``@observe``, its observation
context managers and its integrations (the OpenAI client from ``langfuse.openai``).

Each observation is a span whose ``langfuse.observation.type`` tells what it is: an
``agent`` is a run, a ``tool`` a tool step, a ``generation`` a model call. ``@observe()``
without a type makes a ``span``: the topmost one of a trace (no parent, or the first Langfuse
observation below another instrumentation's span) is what Langfuse calls the trace, the unit
of work traced, and a run; below, a ``span`` or ``chain`` only groups its calls and is no
step, nor are events, retrievals, embeddings, evaluators and guardrails. A lone
``generation`` with nothing around it is a model call and no run (SPANS.md).

Inputs and outputs are JSON: a decorated call's ``{"args", "kwargs"}`` and its return value;
a generation's request messages (OpenAI's chat shape) and its answer's message. Langfuse
writes no exception event: a failure is status ERROR with the exception's message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import langfuse as LF
from collector.decode import SpanRecord
from collector.messages import as_text, has_tool_call, loads, message_text, turn_user_text
from collector.rules.common import fields_from_calls

__all__ = ["SCOPES", "span_class", "run_fields", "step_fields", "derive_run_fields"]

SCOPES = frozenset({LF.SCOPE})
_STATUS_ERROR = 2


def _type(span: SpanRecord) -> Any:
    return span.attributes.get(LF.OBSERVATION_TYPE)


def span_class(span: SpanRecord) -> str | None:
    kind = _type(span)
    if kind is None:
        return None
    if kind == LF.TYPE_AGENT:
        return "run"
    if kind == LF.TYPE_TOOL:
        return "tool_call"
    if kind == LF.TYPE_GENERATION:
        return "think"
    if kind in LF.GROUPING_TYPES and _is_top(span):
        return "run"
    return "other"


def _is_top(span: SpanRecord) -> bool:
    return span.parent_span_id is None or span.attributes.get(LF.IS_APP_ROOT) is True


def _call(span: SpanRecord) -> tuple[list[Any], dict[str, Any]] | None:
    """A decorated call's positional and keyword arguments, when recorded as such."""
    parsed = loads(span.attributes.get(LF.OBSERVATION_INPUT))
    if not isinstance(parsed, Mapping) or set(parsed) != {LF.CALL_ARGS, LF.CALL_KWARGS}:
        return None
    args, kwargs = parsed[LF.CALL_ARGS], parsed[LF.CALL_KWARGS]
    if not isinstance(args, list) or not isinstance(kwargs, Mapping):
        return None
    return args, dict(kwargs)


def _output(span: SpanRecord) -> str | None:
    """The return value as text; None when there is none (a failed call has none)."""
    value = loads(span.attributes.get(LF.OBSERVATION_OUTPUT))
    return None if value is None else as_text(value)


def _given_text(span: SpanRecord) -> str | None:
    """The text an observation was given: the call's one text argument (beside, say, a
    list of tools), or an input that is text. Anything else tells no task."""
    call = _call(span)
    if call is not None:
        texts = [v for v in (*call[0], *call[1].values()) if isinstance(v, str) and v.strip()]
        return texts[0] if len(texts) == 1 else None
    given = loads(span.attributes.get(LF.OBSERVATION_INPUT))
    return given if isinstance(given, str) and given.strip() else None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {"agent_name": span.name}
    task = _given_text(span)
    if task:
        fields["task"] = task
    answer = _output(span)
    if answer is not None and span.status_code != _STATUS_ERROR:
        fields["final_answer"] = answer
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if kind == "think" and _type(span) == LF.TYPE_GENERATION:
        model = span.attributes.get(LF.OBSERVATION_MODEL)
        if model:
            fields["model"] = str(model)
        usage = loads(span.attributes.get(LF.OBSERVATION_USAGE))
        if isinstance(usage, Mapping):
            for field, names in (("input_tokens", LF.INPUT_TOKENS),
                                 ("output_tokens", LF.OUTPUT_TOKENS)):  # fmt: skip
                found = next((usage[n] for n in names if isinstance(usage.get(n), int)), None)
                if found is not None:
                    fields[field] = found
    elif kind == "tool_call" and _type(span) == LF.TYPE_TOOL:
        fields["tool_name"] = span.name
        call = _call(span)
        if call is not None:
            args, kwargs = call
            fields["tool_args"] = {LF.CALL_ARGS: args, **kwargs} if args else kwargs
        else:
            given = loads(span.attributes.get(LF.OBSERVATION_INPUT))
            if given is not None:
                fields["tool_args"] = given
        result = _output(span)
        if result is not None:
            fields["tool_result"] = result
    return fields


def _messages(span: SpanRecord) -> list[Any]:
    """A generation's request messages: its input, the list under ``messages``, or, for a
    decorated function, the argument that is a list of messages."""
    parsed = loads(span.attributes.get(LF.OBSERVATION_INPUT))
    call = _call(span)
    candidates = [*call[0], *call[1].values()] if call is not None else [parsed]
    for value in candidates:
        if isinstance(value, Mapping):
            value = value.get(LF.MESSAGES)
        if isinstance(value, list) and any(isinstance(m, Mapping) and LF.ROLE in m for m in value):
            return value
    return []


def _generation_task(span: SpanRecord) -> str | None:
    """The user message that opened a generation's turn; for a generation of the user's own
    (``@observe(as_type="generation")`` on a function calling a model) the text it was
    given."""
    messages = _messages(span)
    return turn_user_text(messages) if messages else _given_text(span)


def _answer(span: SpanRecord) -> str | None:
    """A generation's answer text; None when it asked for a tool or got no answer."""
    output = loads(span.attributes.get(LF.OBSERVATION_OUTPUT))
    if isinstance(output, str):
        return output
    if not isinstance(output, Mapping) or has_tool_call(output):
        return None
    return message_text(output) or ""


def derive_run_fields(run_span: SpanRecord, own: Iterable[SpanRecord]) -> dict[str, Any]:
    """The task, answer and models a run's own generations tell (its span's input and
    output win: the caller takes these only where the run span says nothing)."""
    calls = sorted(
        (s for s in own if _type(s) == LF.TYPE_GENERATION), key=lambda s: (s.start_ns, s.end_ns)
    )
    return fields_from_calls(
        run_span,
        calls,
        task_of=_generation_task,
        answer_of=_answer,
        requested_of=_model,
        used_of=_model,
    )


def _model(span: SpanRecord) -> str | None:
    model = span.attributes.get(LF.OBSERVATION_MODEL)
    return str(model) if model else None
