"""Any Python code traced with the Traceloop SDK's decorators (OpenLLMetry's
``traceloop.sdk.decorators``: ``@workflow``, ``@agent``, ``@task``, ``@tool``).

Each decorated call is one span ``{name}.{kind}`` with ``traceloop.span.kind``, the entity
name, and the call's arguments and return value as JSON (``traceloop.entity.input`` =
``{"args": [...], "kwargs": {...}}``, ``traceloop.entity.output``). Traceloop's docs trace a
workflow and an agent each "as a single unit": both are runs, and an agent called inside
another run (from a tool, or one of a workflow's agents) is its sub-run. A ``@tool`` is a
tool step. A ``@task`` is a piece of the user's own code grouping the model and tool calls
below it; those calls are the run's steps, so the task itself is no step (DESIGN.md has no
step kind for it, and a step for it would count its calls twice), except that a task with
no parent span is the whole unit traced, and a run. Model calls come from OpenLLMetry's
client instrumentations, or from the SDK's own ``track_llm_call`` in this scope, in the
shape openllmetry_calls.py reads. See SPANS.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from collector.conventions import genai as G
from collector.conventions import openllmetry as OLL
from collector.decode import SpanRecord
from collector.messages import as_text, loads
from collector.rules import openllmetry_calls
from instrumentation.attributes import LLM_OPERATIONS

__all__ = ["SCOPES", "span_class", "run_fields", "step_fields", "derive_run_fields"]

SCOPES = frozenset({OLL.SDK_SCOPE})
_RUN_KINDS = frozenset({OLL.KIND_WORKFLOW, OLL.KIND_AGENT})


def _kind(span: SpanRecord) -> Any:
    return span.attributes.get(OLL.SPAN_KIND)


def span_class(span: SpanRecord) -> str | None:
    kind = _kind(span)
    if kind in _RUN_KINDS:
        return "run"
    if kind == OLL.KIND_TOOL:
        return "tool_call"
    if kind == OLL.KIND_TASK:
        return "run" if span.parent_span_id is None else "other"
    return openllmetry_calls.span_class(span)  # the SDK's own track_llm_call spans


def _call(span: SpanRecord) -> tuple[list[Any], dict[str, Any]] | None:
    """The decorated call's positional and keyword arguments, when recorded."""
    parsed = loads(span.attributes.get(OLL.ENTITY_INPUT))
    if not isinstance(parsed, Mapping):
        return None
    args, kwargs = parsed.get(OLL.ENTITY_ARGS), parsed.get(OLL.ENTITY_KWARGS)
    if not isinstance(args, list) or not isinstance(kwargs, Mapping):
        return None
    return args, dict(kwargs)


def _arguments(call: tuple[list[Any], dict[str, Any]]) -> Any:
    """The arguments as one value: the keyword ones by name, positional ones as a list."""
    args, kwargs = call
    if args and kwargs:
        return {OLL.ENTITY_ARGS: args, **kwargs}
    return args if args else kwargs


def _returned(span: SpanRecord) -> str | None:
    """The decorated function's return value as text (None when it returned None)."""
    if OLL.ENTITY_OUTPUT not in span.attributes:
        return None
    value = loads(span.attributes[OLL.ENTITY_OUTPUT])
    return None if value is None else as_text(value)


def run_fields(span: SpanRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    name = span.attributes.get(OLL.ENTITY_NAME)
    if name:
        fields["agent_name"] = str(name)
    call = _call(span)
    # The task is the call's one argument when it is text. Anything else (several arguments,
    # an object rendered as its class name) is left to the first model call's user message.
    if call is not None:
        values = [*call[0], *call[1].values()]
        if len(values) == 1 and isinstance(values[0], str) and values[0].strip():
            fields["task"] = values[0]
    answer = _returned(span)
    if answer is not None:
        fields["final_answer"] = answer
    return fields


def step_fields(span: SpanRecord, kind: str) -> dict[str, Any]:
    if kind == "think":
        return openllmetry_calls.step_fields(span, kind)
    if kind != "tool_call" or _kind(span) != OLL.KIND_TOOL:
        return {}
    fields: dict[str, Any] = {}
    name = span.attributes.get(OLL.ENTITY_NAME)
    if name:
        fields["tool_name"] = str(name)
    call = _call(span)
    if call is not None:
        fields["tool_args"] = _arguments(call)
    result = _returned(span)
    if result is not None:
        fields["tool_result"] = result
    return fields


def _is_model_call(span: SpanRecord) -> bool:
    attrs = span.attributes
    return (
        attrs.get(G.GEN_AI_OPERATION_NAME) in LLM_OPERATIONS
        or attrs.get(OLL.REQUEST_TYPE) in OLL.MODEL_CALL_TYPES
    )


def derive_run_fields(run_span: SpanRecord, own: Iterable[SpanRecord]) -> dict[str, Any]:
    """A run with no model call of its own (a workflow whose agents did the work) and no
    single text argument: its task is the call's arguments, as JSON."""
    if "task" in run_fields(run_span) or any(_is_model_call(s) for s in own):
        return {}
    call = _call(run_span)
    if call is None or not (call[0] or call[1]):
        return {}
    return {"task": json.dumps(_arguments(call), ensure_ascii=False, default=str)}
