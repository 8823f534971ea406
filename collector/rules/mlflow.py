"""Code traced with MLflow Tracing's own keys (its default export over OTLP): the span type
says what a span is. An ``AGENT`` is a run (one below another run a child run), a ``TOOL`` a
tool step, an ``LLM`` / ``CHAT_MODEL`` a model call; the topmost span of another type
(``@mlflow.trace``'s default ``UNKNOWN``, a ``CHAIN``) is the traced unit of work and a run,
one below it only groups and is no step; retrievers, embeddings, parsers are no steps. A
lone model call with nothing around it is a model call of no run (SPANS.md).
Spans written with MLflow's GenAI-conventions option carry none of these keys and are
read by the conventions (every hook here answers None for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import mlflow as ML
from collector.decode import SpanRecord
from collector.messages import as_text, has_tool_call, loads, message_text, turn_user_text
from collector.rules.common import fields_from_calls

__all__ = ["SCOPES", "span_class", "run_fields", "step_fields", "derive_run_fields"]

SCOPES = frozenset({ML.SCOPE})
_STATUS_ERROR = 2


def _type(span: SpanRecord) -> str | None:
    kind = loads(span.attributes.get(ML.SPAN_TYPE))
    return kind if isinstance(kind, str) else None


def span_class(span: SpanRecord) -> str | None:
    kind = _type(span)
    if kind is None:
        return None
    if kind in ML.RUN_TYPES:
        return "run"
    if kind in ML.TOOL_TYPES:
        return "tool_call"
    if kind in ML.MODEL_TYPES:
        return "think"
    if kind in ML.GROUPING_TYPES and span.parent_span_id is None:
        return "run"
    return "other"


def _inputs(span: SpanRecord) -> Any:
    return loads(span.attributes.get(ML.INPUTS))


def _output(span: SpanRecord) -> str | None:
    value = loads(span.attributes.get(ML.OUTPUTS))
    return None if value is None else as_text(value)


def _given_text(span: SpanRecord) -> str | None:
    """The one text among a call's named arguments, or an input that is text."""
    given = _inputs(span)
    if isinstance(given, Mapping):
        texts = [v for v in given.values() if isinstance(v, str) and v.strip()]
        return texts[0] if len(texts) == 1 else None
    return given if isinstance(given, str) and given.strip() else None


def run_fields(span: SpanRecord) -> dict[str, Any]:
    if _type(span) is None:
        return {}
    fields: dict[str, Any] = {"agent_name": span.name}
    task = _given_text(span)
    if task:
        fields["task"] = task
    answer = _output(span)
    if answer is not None and span.status_code != _STATUS_ERROR:
        fields["final_answer"] = answer
    return fields


def _usage(span: SpanRecord) -> dict[str, int]:
    usage = loads(span.attributes.get(ML.USAGE))
    if not isinstance(usage, Mapping):
        return {}
    pairs = (("input_tokens", ML.INPUT_TOKENS), ("output_tokens", ML.OUTPUT_TOKENS))
    return {field: usage[key] for field, key in pairs if isinstance(usage.get(key), int)}


def _model(span: SpanRecord) -> str | None:
    served = loads(span.attributes.get(ML.MODEL))
    return served if isinstance(served, str) and served else None


def _requested(span: SpanRecord) -> str | None:
    given = _inputs(span)
    model = given.get("model") if isinstance(given, Mapping) else None
    return model if isinstance(model, str) and model else None


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    span_type = _type(span)
    if kind == "think" and span_type in ML.MODEL_TYPES:
        model = _model(span) or _requested(span)
        if model:
            fields["model"] = model
        fields.update(_usage(span))
    elif kind == "tool_call" and span_type in ML.TOOL_TYPES:
        fields["tool_name"] = span.name
        given = _inputs(span)
        if given is not None:
            fields["tool_args"] = given
        result = _output(span)
        if result is not None and span.status_code != _STATUS_ERROR:
            fields["tool_result"] = result
    return fields


def _messages(span: SpanRecord) -> list[Any]:
    given = _inputs(span)
    messages = given.get(ML.MESSAGES) if isinstance(given, Mapping) else None
    return messages if isinstance(messages, list) else []


def _answer(span: SpanRecord) -> str | None:
    """A model call's answer text (an OpenAI response's first choice, or a message); None
    when it asked for a tool."""
    output = loads(span.attributes.get(ML.OUTPUTS))
    if isinstance(output, str):
        return output
    if isinstance(output, Mapping) and isinstance(output.get("choices"), list):
        choice = output["choices"][0] if output["choices"] else None
        output = choice.get("message") if isinstance(choice, Mapping) else None
    if not isinstance(output, Mapping) or has_tool_call(output):
        return None
    return message_text(output) or ""


def derive_run_fields(run_span: SpanRecord, own: Iterable[SpanRecord]) -> dict[str, Any]:
    """The task, answer and models a run's own model calls tell (its span's inputs and
    output win: the caller takes these only where the run span says nothing)."""
    calls = sorted(
        (s for s in own if _type(s) in ML.MODEL_TYPES), key=lambda s: (s.start_ns, s.end_ns)
    )
    return fields_from_calls(
        run_span,
        calls,
        task_of=lambda s: turn_user_text(_messages(s)),
        answer_of=_answer,
        requested_of=_requested,
        used_of=_model,
    )
